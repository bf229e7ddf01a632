"""Routes and storage of the Dust emulator."""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..server import Emulator, HttpError, Request, Response, route
from . import validation as rules
from .validation import error, invalid

WORKSPACE_ID = "w_support"
SPACE_ID = "vlt_support"
DATA_SOURCE_ID = "dts_support"
MANAGED_DATA_SOURCE_ID = "dts_slack"  # synced by a Dust connector: API upserts are refused
API_KEY = "sk-dust-test"
READ_ONLY_KEY = "sk-dust-readonly"  # valid for the workspace, cannot write to the data source
OTHER_WORKSPACE_KEY = "sk-dust-other"  # a real key of another workspace

DS = "/api/v1/w/{wId}/spaces/{spaceId}/data_sources/{dsId}"
UPSERTS = "upserts"  # the rate-limited family; GET, DELETE, tables and rows are not limited
UPSERTS_PER_MINUTE = 120  # per workspace, sliding 60 s window, shared by every key
DEFAULT_LIST_LIMIT = 10
MAX_LIST_LIMIT = 1000  # larger limits are clamped: clients must page on `total`
MANAGED_MESSAGE = "You cannot upsert a document on a managed data source."


@dataclass
class StoredDocument:
    document_id: str
    title: str | None
    text: str
    section: dict | None
    mime_type: str | None
    tags: list[str]
    timestamp: int | float | None
    source_url: str | None
    created: int
    hash: str
    upserts: int = 1  # how many times this id was upserted

    def listed(self) -> dict:
        """What list and get return (the text only on get)."""
        data = asdict(self)
        data.pop("section")
        data.pop("upserts")
        data["text_size"] = len(self.text)
        data["chunk_count"] = max(1, len(self.text) // 2000)
        return data


@dataclass
class DataSource:
    sId: str
    name: str
    connector_provider: str | None = None
    documents: dict[str, StoredDocument] = field(default_factory=dict)
    tables: dict[str, dict] = field(default_factory=dict)
    rows: dict[str, dict[str, dict]] = field(default_factory=dict)

    def describe(self) -> dict:
        return {"sId": self.sId, "name": self.name, "description": None, "connectorProvider": self.connector_provider}


class DustEmulator(Emulator):
    """One workspace in one region, one space, a writable and a managed data source.

    `region` is the region this server plays; `workspace_region` where the workspace really
    lives (a mismatch answers 404 workspace_not_found, as the wrong regional host does).
    `latency_s + latency_per_mb_s * MB of text` is how long each upsert takes, in real seconds.
    """

    name = "dust"
    limits = {UPSERTS: UPSERTS_PER_MINUTE}

    def __init__(
        self,
        seed: int = 0,
        size: int = 0,
        *,
        region: str = "us",
        workspace_region: str | None = None,
        latency_s: float = 0.0,
        latency_per_mb_s: float = 0.0,
        plan_document_chars: int = rules.PLAN_DOCUMENT_CHARS,
        storage_quota_chars: int | None = None,
    ) -> None:
        super().__init__(seed, size)
        self.region = region
        self.workspace_region = workspace_region or region
        self.latency_s = latency_s
        self.latency_per_mb_s = latency_per_mb_s
        self.plan_document_chars = plan_document_chars
        self.storage_quota_chars = storage_quota_chars
        self.keys = {
            API_KEY: (WORKSPACE_ID, True),
            READ_ONLY_KEY: (WORKSPACE_ID, False),
            OTHER_WORKSPACE_KEY: ("w_other", True),
        }
        self.spaces: dict[str, dict[str, DataSource]] = {
            SPACE_ID: {
                DATA_SOURCE_ID: DataSource(DATA_SOURCE_ID, "Support knowledge"),
                MANAGED_DATA_SOURCE_ID: DataSource(MANAGED_DATA_SOURCE_ID, "managed-slack", "slack"),
            }
        }
        self.upserts_accepted = 0
        self._clock = 0

    # -- the API's envelope, auth and 429 ---------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        kind = {404: "not_found", 429: "rate_limit_error"}.get(status, "internal_server_error")
        return {"error": {"type": kind, "message": message}}

    def rate_limited(self, family: str, wait_seconds: float) -> Response:
        # Dust sends no Retry-After: clients have to wait for the window on their own.
        return Response(429, {"error": {"type": "rate_limit_error", "message": "You have reached the rate limit."}})

    def authorize(self, request: Request) -> Response | None:
        workspace = request.params.get("wId")
        if workspace != WORKSPACE_ID or self.workspace_region != self.region:
            return error(404, "workspace_not_found", f"The workspace {workspace!r} was not found.").response
        header = request.headers.get("authorization")
        if not header:
            return error(
                401, "not_authenticated", "The request does not have valid authentication credentials."
            ).response
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return error(401, "malformed_authorization_header_error", "Malformed Authorization header").response
        if token not in self.keys:
            return error(401, "invalid_api_key_error", "The API key provided is invalid or disabled.").response
        if self.keys[token][0] != workspace:
            return error(401, "workspace_auth_error", "The API key does not belong to this workspace.").response
        return None

    # -- helpers ----------------------------------------------------------------------------

    def _space(self, request: Request) -> dict[str, DataSource]:
        space = self.spaces.get(request.params["spaceId"])
        if space is None:
            raise error(404, "space_not_found", f"The space {request.params['spaceId']!r} was not found.")
        return space

    def _data_source(self, request: Request) -> DataSource:
        found = self._space(request).get(request.params["dsId"])
        if found is None:
            raise error(404, "data_source_not_found", f"The data source {request.params['dsId']!r} was not found.")
        return found

    def _writable(self, request: Request) -> DataSource:
        source = self._data_source(request)
        if source.connector_provider:
            raise error(403, "data_source_auth_error", MANAGED_MESSAGE)
        token = request.headers["authorization"].partition(" ")[2]
        if not self.keys[token][1]:
            raise error(403, "data_source_auth_error", "You cannot write to this data source with this API key.")
        return source

    def _storage_used(self) -> int:
        return sum(len(d.text) for space in self.spaces.values() for s in space.values() for d in s.documents.values())

    # -- data sources and documents ---------------------------------------------------------

    @route("GET", "/api/v1/w/{wId}/spaces", "spaces")
    def list_spaces(self, request: Request):
        # Dust lists the spaces the key can access as {spaces: [{sId, name, kind, ...}]}.
        with self.lock:
            return {"spaces": [{"sId": s, "name": s, "kind": "regular"} for s in self.spaces]}

    @route("GET", "/api/v1/w/{wId}/spaces/{spaceId}/data_sources", "data_sources")
    def list_data_sources(self, request: Request):
        return {"data_sources": [s.describe() for s in self._space(request).values()]}

    @route("POST", DS + "/documents/{documentId}", UPSERTS)
    def upsert_document(self, request: Request):
        if len(request.body) > rules.MAX_BODY_BYTES:
            raise error(413, "request_too_large", "Request body too large.")
        body = request.json()
        if not isinstance(body, dict):
            raise invalid("request body must be a JSON object")
        with self.lock:
            source = self._writable(request)
        text = rules.document_text(body)
        if len(text) > self.plan_document_chars:
            raise error(
                403,
                "data_source_quota_error",
                f"Data sources document upload size is limited to {self.plan_document_chars} characters on your plan.",
            )
        if self.storage_quota_chars is not None and self._storage_used() + len(text) > self.storage_quota_chars:
            raise error(403, "workspace_quota_error", "The workspace storage quota is exceeded.")
        delay = self.latency_s + self.latency_per_mb_s * len(text) / 1_000_000
        if delay:
            time.sleep(delay)
        document_id = request.params["documentId"]
        with self.lock:
            self._clock += 1
            previous = source.documents.get(document_id)
            stored = StoredDocument(
                document_id=document_id,
                title=body.get("title"),
                text=text,
                section=None if isinstance(body.get("text"), str) else copy.deepcopy(body.get("section")),
                mime_type=body.get("mime_type"),
                tags=list(body.get("tags") or []),
                timestamp=body.get("timestamp"),  # stored as sent: seconds land in 1970, as on Dust
                source_url=body.get("source_url"),
                created=previous.created if previous else self._clock,
                hash=hashlib.sha256(text.encode()).hexdigest(),
                upserts=previous.upserts + 1 if previous else 1,
            )
            source.documents[document_id] = stored
            self.upserts_accepted += 1
        if body.get("light_document_output"):
            document = {
                "hash": stored.hash,
                "text_size": len(text),
                "chunk_count": max(1, len(text) // 2000),
                "token_count": len(text) // 4,
                "created": stored.created,
            }
        else:
            document = stored.listed() | {"text": text}
        return {"document": document, "data_source": source.describe()}

    @route("GET", DS + "/documents/{documentId}", "documents")
    def get_document(self, request: Request):
        with self.lock:
            found = self._data_source(request).documents.get(request.params["documentId"])
            if found is None:  # Dust answers 400, not 404, for a missing document
                raise error(400, "data_source_error", f"Document {request.params['documentId']!r} not found.")
            return {"document": found.listed() | {"text": found.text, "section": found.section}}

    @route("GET", DS + "/documents", "documents")
    def list_documents(self, request: Request):
        try:
            limit = min(int(request.query.get("limit", DEFAULT_LIST_LIMIT)), MAX_LIST_LIMIT)
            offset = int(request.query.get("offset", 0))
        except ValueError as exc:
            raise invalid(f"limit and offset must be integers: {exc}") from exc
        if limit < 1 or offset < 0:
            raise invalid("limit must be positive and offset not negative")
        wanted = request.query_lists.get("document_ids")
        with self.lock:
            documents = self._data_source(request).documents
            ids = sorted(documents) if wanted is None else sorted(set(wanted) & documents.keys())
            page = [documents[i].listed() for i in ids[offset : offset + limit]]
        return {"documents": page, "total": len(ids)}

    @route("DELETE", DS + "/documents/{documentId}", "documents")
    def delete_document(self, request: Request):
        with self.lock:
            source = self._writable(request)
            source.documents.pop(request.params["documentId"], None)
        return {"document": {"document_id": request.params["documentId"]}}

    # -- tables and rows (not rate limited) -------------------------------------------------

    @route("GET", DS + "/tables", "tables")
    def list_tables(self, request: Request):
        with self.lock:
            return {"tables": list(copy.deepcopy(self._data_source(request).tables).values())}

    @route("POST", DS + "/tables", "tables")
    def upsert_table(self, request: Request):
        body = request.json()
        rules.check_table_body(body)
        with self.lock:
            source = self._writable(request)
            for other in source.tables.values():
                if other["name"] == body["name"] and other["table_id"] != body["table_id"]:
                    raise invalid(f"A table named {body['name']!r} already exists in this data source.")
            table = {k: body.get(k) for k in ("table_id", "name", "title", "description", "timestamp", "tags")}
            source.tables[body["table_id"]] = table
            source.rows.setdefault(body["table_id"], {})
        return {"table": table}

    @route("POST", DS + "/tables/{tId}/rows", "tables")
    def upsert_rows(self, request: Request):
        if len(request.body) > rules.MAX_ROWS_BODY_BYTES:
            raise error(413, "request_too_large", "Request body too large.")
        body = request.json()
        rows = body.get("rows")
        if not isinstance(rows, list):
            raise invalid("`rows` must be an array")
        for index, row in enumerate(rows):
            rules.check_row(row, index)
        with self.lock:
            source = self._writable(request)
            table_id = request.params["tId"]
            if table_id not in source.tables:  # Dust fails with a 500 here, not a 404
                raise error(500, "internal_server_error", f"Table {table_id!r} not found.")
            stored = source.rows[table_id]
            if body.get("truncate"):
                stored.clear()
            for row in rows:
                stored[row["row_id"]] = copy.deepcopy(row["value"])
            return {"table": source.tables[table_id]}

    @route("GET", DS + "/tables/{tId}/rows", "tables")
    def list_rows(self, request: Request):
        limit, offset = int(request.query.get("limit", 100)), int(request.query.get("offset", 0))
        with self.lock:
            stored = self._data_source(request).rows.get(request.params["tId"])
            if stored is None:
                raise error(404, "table_not_found", "Table not found.")
            ids = sorted(stored)
            rows = [{"row_id": i, "value": stored[i]} for i in ids[offset : offset + limit]]
        return {"rows": rows, "offset": offset, "limit": limit, "total": len(ids)}

    @route("DELETE", DS + "/tables/{tId}/rows/{rId}", "tables")
    def delete_row(self, request: Request):
        with self.lock:
            stored = self._writable(request).rows.get(request.params["tId"], {})
            stored.pop(request.params["rId"], None)
        return {"success": True}

    # -- inspection, in-process and over HTTP -----------------------------------------------

    def source(self, data_source_id: str = DATA_SOURCE_ID) -> DataSource:
        return self.spaces[SPACE_ID][data_source_id]

    def documents(self, data_source_id: str = DATA_SOURCE_ID) -> dict[str, StoredDocument]:
        with self.lock:
            return dict(self.source(data_source_id).documents)

    def tables(self, data_source_id: str = DATA_SOURCE_ID) -> dict[str, dict]:
        with self.lock:
            return copy.deepcopy(self.source(data_source_id).tables)

    def rows(self, table_id: str, data_source_id: str = DATA_SOURCE_ID) -> dict[str, dict]:
        with self.lock:
            return copy.deepcopy(self.source(data_source_id).rows.get(table_id, {}))

    def put_document(self, document_id: str, text: str, data_source_id: str = DATA_SOURCE_ID, **fields) -> None:
        """Arrange a document as if an earlier sync (or another tool) had written it."""
        with self.lock:
            self._clock += 1
            self.source(data_source_id).documents[document_id] = StoredDocument(
                document_id=document_id,
                title=fields.get("title"),
                text=text,
                section=None,
                mime_type=fields.get("mime_type"),
                tags=list(fields.get("tags") or []),
                timestamp=fields.get("timestamp"),
                source_url=fields.get("source_url"),
                created=self._clock,
                hash=hashlib.sha256(text.encode()).hexdigest(),
            )

    @route("GET", "/_emulator/dust/documents", "_admin", admin=True)
    def admin_documents(self, request: Request):
        data_source_id = request.query.get("data_source", DATA_SOURCE_ID)
        return {
            "documents": [
                asdict(d) for d in sorted(self.documents(data_source_id).values(), key=lambda d: d.document_id)
            ],
            "upserts_accepted": self.upserts_accepted,
        }

    @route("GET", "/_emulator/dust/tables", "_admin", admin=True)
    def admin_tables(self, request: Request):
        data_source_id = request.query.get("data_source", DATA_SOURCE_ID)
        tables = self.tables(data_source_id)
        return {"tables": [t | {"rows": self.rows(tid, data_source_id)} for tid, t in tables.items()]}

    @route("POST", "/_emulator/dust/settings", "_admin", admin=True)
    def admin_settings(self, request: Request):
        settings = request.json()
        allowed = {"latency_s", "latency_per_mb_s", "plan_document_chars", "storage_quota_chars", "workspace_region"}
        unknown = set(settings) - allowed
        if unknown:
            raise HttpError(400, {"error": {"type": "invalid_request_error", "message": f"unknown settings {unknown}"}})
        with self.lock:
            for key, value in settings.items():
                setattr(self, key, value)
        return {"ok": True}

    @route("DELETE", "/_emulator/dust/data", "_admin", admin=True)
    def admin_clear(self, request: Request):
        with self.lock:
            for space in self.spaces.values():
                for source in space.values():
                    source.documents.clear()
                    source.tables.clear()
                    source.rows.clear()
            self.upserts_accepted = 0
        return {"ok": True}
