"""The Planhat REST API as the reference describes it, with switches for what is unknown.

- Lists are bare JSON arrays with `limit`/`offset`/`sort`/`select`/`companyId` (NPS filters on `cId`).
- `sort_mode="ignored"` serves every list in its natural (insertion) order whatever `sort` says, as an
  API that does not honour `sort=-updatedAt` would; `limit_cap=N` silently serves at most N records a page.
- `forbidden={"assets", ...}` answers 403 on those models, as a service account without that permission.
- One quota for the whole API (200 calls a minute, Planhat's soft limit) with `X-Rate-Limit-Limit` and
  `X-Rate-Limit-Remaining` on every answer and a bare 429 (no Retry-After, as documented). Each model is
  its own route family (faults can target "nps" alone) and every family counts against the one bucket
  "api" of the server's limiter, so `--time-scale`, `EmulatorServer(limits={"api": 5})` (`{}` for no
  quota) and `server.limiter.reset()` / `DELETE /_emulator/limits` act on the quota like on any limit.
- A wrong token (a token of another region) answers 401.
- Mutations for incremental tests: `touch`, `update`, `add_*` in-process, or the admin routes under
  `/_emulator/planhat/` from another process.
"""

from __future__ import annotations

import base64
import functools
import threading
from datetime import timedelta

from ..server import ADMIN_PREFIX, Emulator, HttpError, Request, Response, Route
from .data import MODEL_NAMES, PlanhatData

QUOTA_BUCKET = "api"  # every model counts against it
QUOTA_PER_MINUTE = 200  # reference: soft quota 200 calls/minute on the main API
# reference: conversations default to 30; 2,000 for conversations, 10,000 for tickets, 5,000 for
# companies are the known maxima; 2,000 elsewhere is what other clients assume. Past the maximum the
# emulator serves the maximum, silently.
DEFAULT_LIMIT = {"conversations": 30}
FALLBACK_DEFAULT_LIMIT = 100
MAX_LIMIT = {"conversations": 2000, "tickets": 10000, "companies": 5000}
FALLBACK_MAX_LIMIT = 2000
# How each model points at its company, for the `companyId` filter.
COMPANY_KEY = {"nps": "cId", "issues": "companyIds"}
NO_COMPANY = {"users", "campaigns", "customfields", "companies"}
LEAN_COMPANY_FIELDS = ("_id", "name", "externalId", "sourceId", "slug")
SORT_MODES = ("honoured", "ignored")
ADMIN = f"{ADMIN_PREFIX}/planhat"


class PlanhatEmulator(Emulator):
    name = "planhat"
    limits = {QUOTA_BUCKET: QUOTA_PER_MINUTE}
    TOKEN = "planhat-test-token"

    def __init__(
        self,
        seed: int = 0,
        size: int = 20,
        *,
        token: str = TOKEN,
        per_company: dict[str, float] | None = None,
        sort_mode: str = "honoured",
        limit_cap: int | None = None,
        forbidden: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(seed, size)
        self.token = token
        self.data = PlanhatData(seed, size, per_company)
        self.clock = self.data.now
        self._settings_lock = threading.Lock()
        self.configure(sort_mode=sort_mode, limit_cap=limit_cap, forbidden=forbidden)

    def configure(self, **settings) -> None:
        """Change behaviours at run time (also POST /_emulator/planhat/settings)."""
        unknown = set(settings) - {"sort_mode", "limit_cap", "forbidden"}
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        with self._settings_lock:
            if "sort_mode" in settings:
                if settings["sort_mode"] not in SORT_MODES:
                    raise ValueError(f"sort_mode must be one of {SORT_MODES}")
                self.sort_mode = settings["sort_mode"]
            if "limit_cap" in settings:
                cap = settings["limit_cap"]
                if cap is not None and cap < 1:
                    raise ValueError("limit_cap must be at least 1")
                self.limit_cap = cap
            if "forbidden" in settings:
                unknown_models = set(settings["forbidden"]) - set(MODEL_NAMES)
                if unknown_models:
                    raise ValueError(f"unknown models in forbidden: {sorted(unknown_models)}")
                self.forbidden = set(settings["forbidden"])

    # -- the kit's hooks ---------------------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        basic = "Basic " + base64.b64encode(f"{self.token}:".encode()).decode()
        if header not in (f"Bearer {self.token}", basic):
            return Response(401, self.error_body(401, "Unauthorized"))
        return None

    def bucket(self, family: str) -> str:
        return QUOTA_BUCKET

    def quota_headers(self, limit: int | None, remaining: int | None) -> dict[str, str]:
        if limit is None:
            return {}
        return {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining)}

    def rate_limited(self, family: str, wait_seconds: float) -> Response:
        return Response(429, self.error_body(429, "Too many requests"))

    def error_body(self, status: int, message: str) -> dict:
        return {"message": message}

    def routes(self) -> list[Route]:
        found = []
        for model in MODEL_NAMES:
            found.append(Route("GET", f"/{model}", model, functools.partial(self.list_model, model)))
            found.append(Route("GET", f"/{model}/{{record_id}}", model, functools.partial(self.get_one, model)))
        found.append(Route("GET", "/leancompanies", "leancompanies", self.list_lean_companies))
        admin = [
            ("POST", "/settings", self.admin_settings),
            ("GET", "/stats", self.admin_stats),
            ("POST", "/{model}/{record_id}/touch", self.admin_touch),
            ("POST", "/{model}", self.admin_add),
        ]
        found += [Route(m, ADMIN + p, "_admin", h, admin=True) for m, p, h in admin]
        return found

    # -- lists -------------------------------------------------------------------------------

    def _check_permission(self, model: str) -> None:
        if model in self.forbidden:
            raise HttpError(403, self.error_body(403, f"Forbidden: no read permission on {model}"))

    def list_model(self, model: str, request: Request) -> list[dict]:
        self._check_permission(model)
        with self.lock:
            records = list(self.data.models[model])
        records = self._filter_company(model, records, request.query.get("companyId"))
        records = self._sort(records, request.query.get("sort"))
        offset = _int(request.query.get("offset"), 0, "offset")
        limit = _int(request.query.get("limit"), DEFAULT_LIMIT.get(model, FALLBACK_DEFAULT_LIMIT), "limit")
        limit = min(limit, MAX_LIMIT.get(model, FALLBACK_MAX_LIMIT))
        if self.limit_cap:
            limit = min(limit, self.limit_cap)
        chunk = records[offset : offset + limit]
        return [self._public(model, r, request.query.get("select")) for r in chunk]

    def list_lean_companies(self, request: Request) -> list[dict]:
        self._check_permission("companies")
        full = self.list_model("companies", request)
        return [{k: c.get(k) for k in LEAN_COMPANY_FIELDS} for c in full]

    def get_one(self, model: str, request: Request) -> dict:
        self._check_permission(model)
        record = self.find(model, request.params["record_id"])
        if record is None:
            raise HttpError(404, self.error_body(404, "Not found"))
        return dict(record)  # GET-by-id: `owner` stays the bare id (reference)

    def _filter_company(self, model: str, records: list[dict], raw: str | None) -> list[dict]:
        if not raw or model in NO_COMPANY:
            return records
        wanted = set(raw.split(","))
        key = COMPANY_KEY.get(model, "companyId")
        if key == "companyIds":
            return [r for r in records if wanted.intersection(r.get(key) or ())]
        return [r for r in records if r.get(key) in wanted]

    def _sort(self, records: list[dict], sort: str | None) -> list[dict]:
        if not sort or self.sort_mode == "ignored":
            return records
        field, descending = sort.lstrip("-"), sort.startswith("-")
        present = [r for r in records if r.get(field) is not None]
        missing = [r for r in records if r.get(field) is None]
        present.sort(key=lambda r: r[field], reverse=descending)
        return present + missing

    def _public(self, model: str, record: dict, select: str | None) -> dict:
        served = dict(record)
        if model == "companies":
            # Lists embed the owner as {_id, nickName}; GET-by-id keeps the id (reference).
            for key in ("owner", "coOwner"):
                if served.get(key):
                    user = self.find("users", served[key])
                    served[key] = {"_id": served[key], "nickName": user["nickName"] if user else None}
        if select:
            fields = set(select.split(",")) | {"_id"}
            served = {k: v for k, v in served.items() if k in fields}
        return served

    # -- data changes, for incremental tests -------------------------------------------------

    def find(self, model: str, record_id: str) -> dict | None:
        with self.lock:
            return next((r for r in self.data.models[model] if r["_id"] == record_id), None)

    def tick(self) -> str:
        """The emulator's clock moves one minute per change, so each change sorts after the last."""
        with self.lock:
            self.clock += timedelta(minutes=1)
            return self.data.fake.iso(self.clock)

    def update(self, model: str, record_id: str, **fields) -> dict:
        with self.lock:
            record = self.find(model, record_id)
            if record is None:
                raise KeyError(f"no {model} record {record_id}")
            record.update(fields)
            record["updatedAt"] = self.tick()
            return record

    def touch(self, model: str, record_id: str) -> dict:
        return self.update(model, record_id)

    def add(self, model: str, company_id: str | None = None, **fields) -> dict:
        """A new record, created now; children need `company_id`."""
        with self.lock:
            if model == "companies":
                record = self.data.add_company()
            else:
                company = self.find("companies", company_id) if company_id else None
                if company is None:
                    raise KeyError(f"adding to {model} needs the id of an existing company")
                builders = {
                    "endusers": self.data.add_enduser,
                    "conversations": self.data.add_conversation,
                    "tickets": functools.partial(self.data.add_conversation, ticket=True),
                    "nps": self.data.add_nps,
                }
                builder = builders.get(model) or functools.partial(self.data.add_child, model)
                record = builder(company)
            stamp = self.tick()
            record.update(_id=self.data.fake.object_id(self.clock), createDate=stamp, updatedAt=stamp, **fields)
            return record

    # -- admin routes ------------------------------------------------------------------------

    def admin_settings(self, request: Request) -> dict:
        try:
            self.configure(**request.json())
        except (TypeError, ValueError) as exc:
            raise HttpError(400, {"error": str(exc)}) from exc
        return {"ok": True}

    def admin_stats(self, request: Request) -> dict:
        with self.lock:
            return {"counts": {m: len(r) for m, r in self.data.models.items()}, "clock": self.data.fake.iso(self.clock)}

    def admin_touch(self, request: Request) -> dict:
        try:
            return self.touch(request.params["model"], request.params["record_id"])
        except KeyError as exc:
            raise HttpError(404, {"error": str(exc)}) from exc

    def admin_add(self, request: Request) -> dict:
        body = request.json()
        try:
            return self.add(request.params["model"], body.pop("companyId", None), **body)
        except KeyError as exc:
            raise HttpError(404, {"error": str(exc)}) from exc


def _int(raw: str | None, default: int, name: str) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise HttpError(400, {"message": f"{name} must be an integer"}) from exc
    if value < 0:
        raise HttpError(400, {"message": f"{name} must not be negative"})
    return value
