"""The Dust HTTP client: every retry, pacing and error-classification rule lives here.

Numbers cite reference/dust-api.md. Failures are classified by who can fix them:
- the user (bad key, wrong region or ids, managed data source, storage quota) -> config_error;
- nobody but time (429, 5xx, timeouts, resets, a body cut short or not JSON) -> retried, then
  transient_error;
- the record itself (400 on an upsert, 403 data_source_quota_error, 413) -> `RecordRejected`,
  which the writer handles with the configured policy;
- anything else is a bug -> system_error.
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.adapters import HTTPAdapter

from .config import DustConfig

logger = logging.getLogger("airbyte")

WINDOW_S = 60.0  # Dust's upsert limit is a sliding 60 s window per workspace
UPSERT_TIMEOUT_S = 60.0  # synchronous upserts of big documents take seconds; Dust's own client waits 60 s
READ_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
TRANSIENT_ATTEMPTS = 6  # 5xx / timeouts / resets: 1+2+4+8+16 s of backoff, about a minute
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
# 429 carries no Retry-After: wait for the window to slide, longer each time, and give up only after
# several windows of refusals (another integration may be using the whole workspace budget).
RATE_LIMIT_FIRST_WAIT_WINDOWS = 1 / 6
RATE_LIMIT_GIVE_UP_WINDOWS = 6
LIST_IDS_PER_CALL = 50  # document_ids per list call: keeps the query string well under 8 kB
LIST_PAGE_SIZE = 500
LIST_ROWS_PAGE_SIZE = 500
CHECK_DOCUMENT_ID = "airbyte-connection-check"
CHECK_ATTEMPTS = 2  # a check answers in seconds; the sync's retries are for long runs
# Dust's 8 MB body limit on the spaces path (reference), read as 10^6 bytes per MB, the lower reading:
# the writer splits documents so that no upsert body is larger.
UPSERT_BODY_LIMIT_BYTES = 8_000_000
# The network's fault, never the request's: refused or reset connections, timeouts, and a body cut
# short (Content-Length promised more; requests raises ChunkedEncodingError, http.client IncompleteRead).
TRANSIENT_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    http.client.IncompleteRead,
)
MANAGED_HINT = "it is managed by a Dust connector; use a folder or a data source created for the API"


class DustError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(f"{status} {kind}: {message}")
        self.status, self.kind, self.message = status, kind, message


class RecordRejected(DustError):
    """Dust refused this one document (400, 403 data_source_quota_error, 413): the record's fault."""


def encode_body(body: dict) -> bytes:
    """The bytes an upsert sends: compact UTF-8 JSON (requests' default escapes every non-ASCII
    character, up to 12 bytes for one emoji, which would put text far under the character limit
    over the body limit)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def error_of(response: requests.Response) -> DustError:
    try:
        body = response.json().get("error") or {}
    except (ValueError, AttributeError):
        body = {}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    return DustError(response.status_code, body.get("type") or "unknown", body.get("message") or response.text[:300])


def is_transient(status: int) -> bool:
    return status >= 500 or status in (408, 409)


def backoff_s(attempt: int) -> float:
    """Capped exponential backoff with full jitter on the upper half."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 -- jitter, not security


def rate_limit_wait_s(window_s: float, refusals: int) -> float:
    return min(window_s, window_s * RATE_LIMIT_FIRST_WAIT_WINDOWS * 2**refusals)


class UpsertLimiter:
    """At most `per_window` upserts in any `window_s`, shared by every worker thread.

    A slot counts from the moment it is taken until `window_s` after its request *finished*:
    Dust counts a request when it arrives, which is always before the response, so this never
    lets the server's window hold more than the limit, whatever the latency. `pause` holds every
    worker back after a 429 (the workspace budget is shared with other integrations).
    """

    def __init__(self, per_window: int, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self.per_window = per_window
        self.window_s = window_s
        self._clock = clock
        self._stamps: dict[int, float] = {}  # slot -> finish time; math.inf while in flight
        self._ids = itertools.count()
        self._paused_until = 0.0
        self._cond = threading.Condition()

    def acquire(self) -> int:
        with self._cond:
            while True:
                now = self._clock()
                for slot, stamp in list(self._stamps.items()):
                    if stamp <= now - self.window_s:
                        del self._stamps[slot]
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif len(self._stamps) < self.per_window:
                    slot = next(self._ids)
                    self._stamps[slot] = math.inf
                    return slot
                else:
                    oldest = min(self._stamps.values())
                    wait = None if oldest == math.inf else oldest + self.window_s - now
                self._cond.wait(timeout=wait)

    def release(self, slot: int) -> None:
        with self._cond:
            self._stamps[slot] = self._clock()
            self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._cond.notify_all()


@dataclass
class UpsertResult:
    document_id: str
    attempts: int
    rate_limited: int  # 429s absorbed


class DustClient:
    """The narrow set of calls the writer needs, with the HTTP policy applied to each."""

    def __init__(
        self,
        config: DustConfig,
        *,
        window_s: float = WINDOW_S,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self.window_s = window_s
        self.limiter = UpsertLimiter(config.upserts_per_minute, window_s)
        self._sleep = sleep
        self.session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=config.concurrency + 4)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["Authorization"] = f"Bearer {config.api_key.get_secret_value()}"
        self.session.headers["User-Agent"] = "airbyte-destination-dust/0.1.0"
        self.workspace_url = f"{config.url}/api/v1/w/{quote(config.workspace_id, safe='')}"
        self.space_id: str | None = config.space_id  # found by `find_space` when the config has none
        self.rate_limited_total = 0
        self._count_lock = threading.Lock()

    @property
    def space_url(self) -> str:
        if self.space_id is None:
            raise RuntimeError("the space is not known yet: call find_space() first")
        return f"{self.workspace_url}/spaces/{quote(self.space_id, safe='')}"

    @property
    def base(self) -> str:
        return f"{self.space_url}/data_sources/{quote(self.config.data_source_id, safe='')}"

    # -- the space ---------------------------------------------------------------------------

    def find_space(self, attempts: int = TRANSIENT_ATTEMPTS) -> str:
        """The configured space, or the one space holding the data source; a config_error otherwise.

        Seed 000's .env predates spaces: without a space ID, list the spaces the key can see and
        the data sources of each, and keep the space whose data sources include ours.
        """
        if self.space_id is not None:
            return self.space_id
        wanted = self.config.data_source_id
        listing = self._json(
            self._send("GET", f"{self.workspace_url}/spaces", "listing spaces", attempts), "listing spaces"
        )
        spaces = [s for s in listing.get("spaces") or [] if isinstance(s, dict) and isinstance(s.get("sId"), str)]
        holding = []
        for space in spaces:
            url = f"{self.workspace_url}/spaces/{quote(space['sId'], safe='')}/data_sources"
            response = self._send("GET", url, f"listing the data sources of space {space['sId']}", attempts)
            if response.status_code in (403, 404):  # a space the key may list but not read
                continue
            sources = self._json(response, f"listing the data sources of space {space['sId']}").get("data_sources")
            if find_data_source(sources or [], wanted) is not None:
                holding.append(space)
        names = ", ".join(
            s["sId"] + (f" ({s['name']})" if s.get("name") not in (None, s["sId"]) else "") for s in holding
        )
        if not holding:
            raise _config_error(
                f"No space of workspace {self.config.workspace_id!r} that this API key can see holds data source "
                f"{wanted!r} ({len(spaces)} spaces searched): check the data source ID, or set space_id."
            )
        if len(holding) > 1:
            raise _config_error(
                f"Data source {wanted!r} is in {len(holding)} spaces: {names}. Set space_id to one of them."
            )
        self.space_id = holding[0]["sId"]
        logger.info(f"space_id is not set: data source {wanted!r} was found in space {names}")
        return self.space_id

    # -- the calls ---------------------------------------------------------------------------

    def upsert_document(self, document_id: str, body: dict) -> UpsertResult:
        """Synchronous upsert, paced by the shared limiter; raises RecordRejected for a bad record."""
        refusals = transient = attempts = 0
        waited = 0.0
        while True:
            attempts += 1
            failure: Exception | None = None
            slot = self.limiter.acquire()
            try:
                response = self.session.post(
                    f"{self.base}/documents/{document_id}",
                    data=encode_body(body),
                    headers={"Content-Type": "application/json"},
                    timeout=(CONNECT_TIMEOUT_S, UPSERT_TIMEOUT_S),
                )
            except TRANSIENT_EXCEPTIONS as exc:
                response, failure = None, exc
            finally:
                self.limiter.release(slot)
            if response is not None and response.status_code == 429:
                with self._count_lock:
                    self.rate_limited_total += 1
                wait = rate_limit_wait_s(self.window_s, refusals)
                if waited + wait > RATE_LIMIT_GIVE_UP_WINDOWS * self.window_s:
                    raise _transient(f"Dust kept answering 429 for {waited:.0f}s while upserting {document_id}")
                logger.info(f"Dust rate limit reached (429); every worker waits {wait:.1f}s")
                self.limiter.pause(wait)
                refusals, waited = refusals + 1, waited + wait
                continue
            problem = repr(failure) if response is None else transient_problem(response)
            if problem is not None:  # an upsert is idempotent: a 200 with a garbled body is retried too
                transient += 1
                if transient >= TRANSIENT_ATTEMPTS:
                    raise _transient(f"upserting document {document_id} failed {transient} times: {problem}")
                self._sleep(backoff_s(transient - 1))
                continue
            if response.ok:
                return UpsertResult(document_id, attempts, refusals)
            problem = error_of(response)
            if response.status_code in (400, 413) or problem.kind == "data_source_quota_error":
                raise RecordRejected(problem.status, problem.kind, problem.message)
            raise self._fatal(problem, f"upserting document {document_id}")

    def delete_document(self, document_id: str) -> None:
        self._request("DELETE", f"{self.base}/documents/{document_id}", f"deleting document {document_id}")

    def list_documents(self, document_ids: Iterable[str] | None = None) -> Iterator[dict]:
        """Documents (with tags) of the data source, or only those of `document_ids`, paged on `total`."""
        if document_ids is None:
            yield from self._pages({})
            return
        ids = list(dict.fromkeys(document_ids))
        for start in range(0, len(ids), LIST_IDS_PER_CALL):
            yield from self._pages({"document_ids": ids[start : start + LIST_IDS_PER_CALL]})

    def upsert_table(self, body: dict) -> dict:
        return self._request("POST", f"{self.base}/tables", f"creating table {body.get('table_id')}", json=body)

    def upsert_rows(self, table_id: str, rows: list[dict]) -> dict:
        # Never `truncate`: it would drop what an earlier attempt wrote under the same generation.
        body = {"rows": rows, "truncate": False}
        return self._request("POST", f"{self.base}/tables/{table_id}/rows", f"upserting rows of {table_id}", json=body)

    def list_rows(self, table_id: str) -> Iterator[dict]:
        """Every row ({row_id, value}) of the table, paged on `total`."""
        offset = 0
        while True:
            page = self._request(
                "GET",
                f"{self.base}/tables/{table_id}/rows",
                f"listing rows of {table_id}",
                params={"limit": LIST_ROWS_PAGE_SIZE, "offset": offset},
            )
            rows = page.get("rows") or []
            yield from rows
            offset += len(rows)
            if not rows or offset >= int(page.get("total") or 0):
                return

    def delete_row(self, table_id: str, row_id: str) -> None:
        self._request(
            "DELETE",
            f"{self.base}/tables/{table_id}/rows/{quote(row_id, safe='')}",
            f"deleting row {row_id} of {table_id}",
        )

    def check(self) -> str | None:
        """None when the key, region, space and data source allow writing; else what is wrong."""
        where = f"{self.config.url} (workspace {self.config.workspace_id})"
        try:
            self.find_space(attempts=CHECK_ATTEMPTS)
            response = self._send("GET", f"{self.space_url}/data_sources", "listing data sources", CHECK_ATTEMPTS)
        except AirbyteTracedException as exc:
            return exc.message
        if response.status_code == 401:
            return f"Dust rejected the API key ({error_of(response).kind}): check that it is a valid key of this workspace."
        if response.status_code == 404:
            problem = error_of(response)
            if problem.kind == "space_not_found":
                return f"Space {self.space_id!r} was not found in workspace {self.config.workspace_id!r}."
            return (
                f"Workspace {self.config.workspace_id!r} was not found at {self.config.url}: check the workspace ID "
                f"and the region (a workspace lives in one region; this is {self.config.region if not self.config.base_url else 'a custom URL'})."
            )
        if response.status_code == 403:
            return f"The API key may not access space {self.space_id!r}: {error_of(response).message}"
        if not response.ok:
            return f"Dust answered {error_of(response)} when listing the data sources of {where}."
        try:
            sources = self._json(response, "listing data sources").get("data_sources") or []
        except AirbyteTracedException as exc:
            return exc.message
        found = find_data_source(sources, self.config.data_source_id)
        if found is None:
            return f"Data source {self.config.data_source_id!r} was not found in space {self.space_id!r}."
        if found.get("connectorProvider"):
            return f"Data source {self.config.data_source_id!r} cannot take API upserts: {MANAGED_HINT}."
        probe = {"title": "Airbyte connection check", "text": "Written and deleted by Airbyte's connection check."}
        try:
            response = self._send(
                "POST",
                f"{self.base}/documents/{CHECK_DOCUMENT_ID}",
                "probing write access",
                attempts=CHECK_ATTEMPTS,
                json=probe,
            )
        except AirbyteTracedException as exc:
            return exc.message
        if response.status_code == 403:
            problem = error_of(response)
            if "managed" in problem.message:
                return f"Data source {self.config.data_source_id!r} cannot take API upserts: {MANAGED_HINT}."
            return f"The API key cannot write to data source {self.config.data_source_id!r}: {problem.message}"
        if not response.ok and response.status_code != 429:  # 429 proves the key got past auth
            return f"A test upsert into {self.config.data_source_id!r} failed: {error_of(response)}"
        if response.ok:
            self.delete_document(CHECK_DOCUMENT_ID)
        return None

    # -- plumbing ----------------------------------------------------------------------------

    def _pages(self, params: dict) -> Iterator[dict]:
        offset = 0
        while True:
            page = self._request(
                "GET",
                f"{self.base}/documents",
                "listing documents",
                params={**params, "limit": LIST_PAGE_SIZE, "offset": offset},
            )
            documents = page.get("documents") or []
            yield from documents
            offset += len(documents)
            if not documents or offset >= int(page.get("total") or 0):
                return

    def _send(
        self, method: str, url: str, what: str, attempts: int = TRANSIENT_ATTEMPTS, **kwargs
    ) -> requests.Response:
        """The response of the first non-transient attempt; transient failures retried with backoff.

        A 2xx whose body is not a JSON object is transient too: every successful Dust answer is one,
        so a body cut short or garbled on the way is the network's doing (and GET, DELETE and
        document upserts are idempotent, so a retry is safe).
        """
        if "json" in kwargs:
            kwargs["data"] = encode_body(kwargs.pop("json"))
            kwargs["headers"] = {"Content-Type": "application/json"}
        for attempt in range(attempts):
            try:
                response = self.session.request(method, url, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), **kwargs)
                problem = transient_problem(response)
                if problem is None:
                    return response
            except TRANSIENT_EXCEPTIONS as exc:
                problem = repr(exc)
            if attempt + 1 < attempts:
                self._sleep(backoff_s(attempt))
        raise _transient(f"{what} failed {attempts} times: {problem}")

    def _request(self, method: str, url: str, what: str, **kwargs) -> Any:
        response = self._send(method, url, what, **kwargs)
        if not response.ok:
            raise self._fatal(error_of(response), what)
        return self._json(response, what)

    def _json(self, response: requests.Response, what: str) -> dict:
        if not response.ok:
            raise self._fatal(error_of(response), what)
        return response.json()  # `_send` only returns a 2xx whose body is a JSON object

    def _fatal(self, problem: DustError, what: str) -> AirbyteTracedException:
        user_fixable = problem.status in (401, 403, 404)
        hint = {
            401: "Dust rejected the API key",
            403: "Dust refused the write",
            404: f"Not found at {self.config.url}: check the workspace, space and data source IDs and the region",
        }.get(problem.status, "Dust refused the request")
        return AirbyteTracedException(
            message=f"{hint} while {what}: {problem.kind}: {problem.message}",
            internal_message=str(problem),
            failure_type=FailureType.config_error if user_fixable else FailureType.system_error,
        )


def transient_problem(response: requests.Response) -> str | None:
    """What makes this answer worth another attempt (None: it is final, good or bad)."""
    if is_transient(response.status_code):
        return str(error_of(response))
    if response.ok:
        try:
            body = response.json()
        except ValueError:
            return f"{response.status_code} with a body that is not JSON ({len(response.content)} bytes)"
        if not isinstance(body, dict):
            return f"{response.status_code} with a JSON {type(body).__name__} instead of an object"
    return None


def find_data_source(sources: list, wanted: str) -> dict | None:
    """The data source listed under `wanted` as its sId (or name, as Dust also accepts)."""
    return next(
        (s for s in sources if isinstance(s, dict) and wanted in (s.get("sId"), s.get("name"), s.get("id"))), None
    )


def _transient(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.transient_error)


def _config_error(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)
