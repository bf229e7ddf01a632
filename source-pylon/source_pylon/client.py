"""THE HTTP policy of the connector: session, auth, pacing, pagination, and what to do with each failure.

Three small functions decide retries (`should_retry`, `retry_after_seconds`, `backoff_seconds`);
`PylonClient.request` applies them. Failures are classified by who can fix them: 401/403 are
config errors, 429/5xx/timeouts/broken bodies are transient, anything else is a bug (system error).
"""

from __future__ import annotations

import http.client
import logging
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .budgets import Budgets
from .config import DEFAULT_BASE_URL, PylonConfig
from .dates import utc_now
from .waits import pause

logger = logging.getLogger("airbyte")

CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60  # a 999-issue search page can take a while
MAX_ATTEMPTS = 8  # with the waits below, retrying spans > 3 minutes: it outlasts a whole rate-limit window
# `check` answers a person waiting in the Airbyte UI: two tries, short timeouts, a short wait, so a dead
# host, a hung one or a wrong token is reported in seconds, not the sync's minutes.
CHECK_ATTEMPTS = 2
CHECK_TIMEOUT_SECONDS = (3, 3)  # connect, read: GET /me is the cheapest call there is
CHECK_WAIT_CAP_SECONDS = 1.0
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 60.0  # one rate-limit window (Pylon docs: limits are per minute)
JITTER_FRACTION = 0.25  # spread the retries of concurrent callers
MAX_RETRY_AFTER_SECONDS = 600.0  # a longer Retry-After is a server bug: fail rather than hang for hours
USER_AGENT = "airbyte-source-pylon/0.1.0"

# Requests that died before a usable answer: reset, timeout, truncated or malformed body.
TRANSPORT_ERRORS = (requests.RequestException, http.client.HTTPException, ValueError)
# The base URL cannot be requested at all (caught before TRANSPORT_ERRORS): the user's to fix, no retry helps.
UNUSABLE_URL_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


@dataclass(frozen=True)
class Persistence:
    """How hard one call tries before it fails: a sync outlasts a rate-limit window, a check answers fast."""

    attempts: int
    timeout: tuple[float, float]  # connect, read
    wait_cap: float  # the longest wait between two attempts, Retry-After included


SYNC = Persistence(MAX_ATTEMPTS, (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS), MAX_RETRY_AFTER_SECONDS)
CHECK = Persistence(CHECK_ATTEMPTS, CHECK_TIMEOUT_SECONDS, CHECK_WAIT_CAP_SECONDS)


class NotFound(Exception):
    """A 404: callers fetching children of an issue deleted mid-sync skip it; others treat it as a bug."""


class Unanswered(AirbyteTracedException):
    """Every attempt failed on transport or a retryable status: transient for a sync, "unreachable" for a check."""

    def __init__(self, where: str, problem: str, attempts: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.where = where
        self.problem = problem
        self.attempts = attempts


def should_retry(status: int | None) -> bool:
    """None means no usable response (connection error, timeout, malformed body)."""
    return status is None or status == 429 or status >= 500


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """How long the server asks us to wait, from `Retry-After` (seconds or an HTTP date)."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max((parsedate_to_datetime(value) - utc_now()).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def backoff_seconds(attempt: int, status: int | None, retry_after: float | None, window: float) -> float:
    """Capped exponential with jitter; never below Retry-After; a bare 429 waits for the next window."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    if status == 429 and retry_after is None:
        delay = max(delay, window)  # no hint: the window that refused us has certainly rolled over by then
    delay *= 1 + random.uniform(0, JITTER_FRACTION)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def _api_errors(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        errors = body.get("errors") or body.get("error")
        if isinstance(errors, list):
            return "; ".join(str(e) for e in errors)
        if errors:
            return str(errors)
    return str(body)[:200]


class PylonClient:
    def __init__(self, config: PylonConfig) -> None:
        self.config = config
        self.base_url = config.url
        self.page_size = config.page_size
        self.budgets = Budgets(config.rate_limits.model_dump(), config.rate_limit_window_seconds)
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {config.api_token.get_secret_value()}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        path: str,
        family: str,
        stream: str,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        persistence: Persistence | None = None,
    ) -> dict[str, Any]:
        """One API call, paced by the family's budget, retried per the policy above; returns the JSON body."""
        persistence = persistence or SYNC
        attempts = persistence.attempts
        where = f"{method} {path} (stream {stream})"
        budget = self.budgets[family]
        problem = ""
        for attempt in range(1, attempts + 1):
            response = None
            status: int | None = None
            with budget.slot(where):
                try:
                    response = self.session.request(
                        method,
                        self.base_url + path,
                        params=params,
                        json=json,
                        timeout=persistence.timeout,
                    )
                    status = response.status_code
                    if response.ok:
                        body = response.json()
                        if not isinstance(body, dict):
                            raise ValueError(f"expected a JSON object, got {type(body).__name__}")
                        return body
                except UNUSABLE_URL_ERRORS as exc:
                    raise AirbyteTracedException(
                        message=f"The Pylon API base URL {self.base_url} cannot be requested ({type(exc).__name__}): "
                        f"set base_url to a full URL such as {DEFAULT_BASE_URL}.",
                        internal_message=f"{where}: {exc}",
                        failure_type=FailureType.config_error,
                    ) from None
                except TRANSPORT_ERRORS as exc:
                    status = None  # a 200 with a broken body is as retryable as a reset
                    problem = f"{type(exc).__name__}: {exc}"
            if status is not None:
                self._raise_unless_retryable(status, response, where)
                problem = f"HTTP {status}: {_api_errors(response)}"
            retry_after = retry_after_seconds(response)
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
                break
            if attempt == attempts:
                break
            delay = min(backoff_seconds(attempt, status, retry_after, self.budgets.window), persistence.wait_cap)
            logger.warning(f"Pylon {where}: {problem}; retry {attempt}/{attempts - 1} in {delay:.1f}s")
            pause(delay, f"to retry {where}")  # module-level so tests can patch it
        raise Unanswered(
            where,
            problem,
            attempts,
            message=f"Pylon kept failing for {where} after {attempts} attempts ({problem}). This is usually "
            "temporary: rerun later (a sync resumes from its last state). If it persists, check the base URL.",
            internal_message=f"{where}: {problem}",
            failure_type=FailureType.transient_error,
        )

    def _raise_unless_retryable(self, status: int, response: requests.Response, where: str) -> None:
        if should_retry(status):
            return
        detail = _api_errors(response)
        if status == 401:
            raise AirbyteTracedException(
                message=f"Pylon rejected the API token (401) for {where}. Check that the token is complete and "
                "not revoked, or create a new one in Pylon under Settings → API tokens (admins only).",
                internal_message=f"{where}: 401 {detail}",
                failure_type=FailureType.config_error,
            )
        if status == 403:
            raise AirbyteTracedException(
                message=f"The Pylon API token may not read {where} (403 forbidden). Use a token of an admin "
                "with access to this data, or deselect the stream.",
                internal_message=f"{where}: 403 {detail}",
                failure_type=FailureType.config_error,
            )
        if status == 404:
            raise NotFound(f"{where}: 404 {detail}")
        raise AirbyteTracedException(
            message=f"Pylon answered {status} to {where}: {detail}. This is a bug in the connector or a change in "
            "the Pylon API; please report it.",
            internal_message=f"{where}: {status} {detail}",
            failure_type=FailureType.system_error,
        )

    def pages(
        self,
        method: str,
        path: str,
        family: str,
        stream: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        paginated: bool = True,
    ) -> Iterator[list[dict[str, Any]]]:
        """The `data` of each page until `has_next_page` is false; a page without `data` is empty."""
        cursor: str | None = None
        seen_cursors: set[str] = set()
        while True:
            query = dict(params or {})
            payload = dict(body) if body is not None else None
            if paginated:
                paging = {"limit": self.page_size, **({"cursor": cursor} if cursor else {})}
                if payload is None:
                    query.update(paging)
                else:
                    payload.update(paging)
            page = self.request(method, path, family, stream, params=query or None, json=payload)
            data = page.get("data")
            yield [record for record in data if isinstance(record, dict)] if isinstance(data, list) else []
            pagination = page.get("pagination") or {}
            if not paginated or not pagination.get("has_next_page"):
                return
            cursor = pagination.get("cursor")
            if not cursor or cursor in seen_cursors:
                raise AirbyteTracedException(
                    message=f"Pylon said more pages follow for {method} {path} (stream {stream}) but gave "
                    f"{'no' if not cursor else 'a repeated'} cursor; stopping rather than looping or losing data.",
                    internal_message=f"{path}: has_next_page with cursor {cursor!r}",
                    failure_type=FailureType.system_error,
                )
            seen_cursors.add(cursor)

    def records(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for page in self.pages(*args, **kwargs):
            yield from page
