"""The one HTTP policy of the connector: auth, pacing under Planhat's quota, retries, failure classes.

Every number here comes from reference/planhat-api.md ("reference") or is derived from one there.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .waits import HEARTBEAT_SECONDS, announce, pause, worth_saying

logger = logging.getLogger("airbyte")

MINUTE = 60.0
# reference: "window resets every 60-120 s" after a 429, and no Retry-After is documented.
QUOTA_RESET_MAX_SECONDS = 120.0
# When the server says this few calls remain in its window, the rest are spread over a window instead of
# spent at once: other clients of the same tenant share the quota (reference: X-Rate-Limit-Remaining).
LOW_REMAINING = 10
REMAINING_HEADER = "X-Rate-Limit-Remaining"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 60.0
# With "equal jitter" each wait is at least half its exponential step, so the shortest possible series
# 1+2+4+8+16+30+30+30 = 121 s outlasts the longest reset window (120 s) before we give up.
MAX_RETRIES = 8
RETRY_AFTER_CAP_SECONDS = 300.0
TIMEOUT_SECONDS = (10, 120)  # connect, read: a 2,000-record page of conversations can take a while
# `check` answers a person waiting in the Airbyte UI: one retry, short timeouts, a short wait, so a dead
# host or a wrong token is reported in seconds (it took 190 s when check retried as a sync does).
CHECK_RETRIES = 1
CHECK_TIMEOUT_SECONDS = (3, 3)  # GET /companies?limit=1 is the cheapest call there is
CHECK_WAIT_CAP_SECONDS = 1.0
# Requests that died before a usable answer: refused, reset, timed out, or a body cut short (the server
# promised more bytes than it sent: IncompleteRead, surfacing from requests as ChunkedEncodingError).
TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    http.client.HTTPException,
)
# The base URL cannot be requested at all: the user's to fix, and no retry will help.
UNUSABLE_URL_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


@dataclass(frozen=True)
class Persistence:
    """How hard one call tries before it fails: a sync outlasts the quota's reset, a check answers fast."""

    retries: int
    timeout: tuple[float, float]  # connect, read
    wait_cap: float  # the longest wait between two attempts, Retry-After included


SYNC = Persistence(MAX_RETRIES, TIMEOUT_SECONDS, RETRY_AFTER_CAP_SECONDS)
CHECK = Persistence(CHECK_RETRIES, CHECK_TIMEOUT_SECONDS, CHECK_WAIT_CAP_SECONDS)


class PermissionDenied(Exception):
    """A 403: the service account may not read this model (reference: permissions are per model)."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"403 on GET {path}: {detail}")
        self.path = path
        self.detail = detail


class NotFound(AirbyteTracedException):
    """A 404 (undocumented in Planhat): fatal for a list, expected for a record deleted meanwhile."""


class Unanswered(AirbyteTracedException):
    """Every attempt failed on transport or a retryable status: transient for a sync, "unreachable" for a check."""

    def __init__(self, path: str, problem: str, retries: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.problem = problem
        self.retries = retries


class Pacer:
    """At most `per_minute` requests in any (scaled) minute, and a slow-down when the server runs low.

    `time_scale` shrinks every wait (60 makes a minute last one second) so tests and benchmarks against
    the emulator keep the proportions of the real quota. A wait worth mentioning is logged with the limit
    behind it, and a long one is cut into heartbeats (waits.py).
    """

    def __init__(
        self,
        per_minute: int,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self.window = MINUTE / time_scale
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._pause_until = 0.0
        self._pause_reason = ""

    def wait_turn(self, purpose: str = "the next call") -> None:
        with self._lock:
            say = True  # on the first wait, and again after each heartbeat spent waiting
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                wait, reason = self._pause_until - now, self._pause_reason
                if len(self._sent) >= self.per_minute and self._sent[0] + self.window - now > wait:
                    wait = self._sent[0] + self.window - now
                    reason = f"the requests_per_minute budget ({self.per_minute} calls per {self.window:g} s)"
                if wait <= 0:
                    self._sent.append(now)
                    return
                if say and worth_saying(wait):
                    announce(wait, f"for {reason} before {purpose}")
                step = min(wait, HEARTBEAT_SECONDS)
                self._sleep(step)
                say = step == HEARTBEAT_SECONDS

    def observe_remaining(self, remaining: int) -> None:
        """Spread the calls the server says are left over one window, rather than spend them at once."""
        if remaining <= LOW_REMAINING:
            spacing = self.window / max(remaining, 1)
            with self._lock:
                if self._clock() + spacing > self._pause_until:
                    self._pause_until = self._clock() + spacing
                    self._pause_reason = (
                        f"Planhat's quota: it reported {remaining} calls left in its window ({REMAINING_HEADER}), "
                        "so the rest are spread over a minute"
                    )


def backoff_seconds(attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
    """Capped exponential with equal jitter, never below the server's Retry-After (itself capped)."""
    step = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
    delay = step / 2 + rng.uniform(0, step / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return delay


def retry_after_seconds(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    raw = response.headers.get("Retry-After")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


class PlanhatClient:
    """GETs against one Planhat cluster; returns parsed JSON or raises a classified failure."""

    def __init__(
        self,
        base_url: str,
        token: str,
        requests_per_minute: int,
        *,
        target: str | None = None,
        time_scale: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.target = target or f"base_url {self.base_url}"
        self.time_scale = time_scale
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.pacer = Pacer(requests_per_minute, time_scale, sleep=sleep)
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.requests_sent = 0

    def get(self, path: str, params: dict[str, Any] | None = None, persistence: Persistence | None = None) -> Any:
        persistence = persistence or SYNC
        last_problem = ""
        retry_after: float | None = None  # what the last failed answer asked for, if anything
        for attempt in range(persistence.retries + 1):
            if attempt:
                delay = (
                    min(backoff_seconds(attempt - 1, self._rng, retry_after), persistence.wait_cap) / self.time_scale
                )
                logger.info(f"GET {path}: {last_problem}; retry {attempt} of {persistence.retries} in {delay:.1f} s")
                pause(delay, f"to retry GET {path}", self._sleep)
                retry_after = None
            self.pacer.wait_turn(f"GET {path}")
            self.requests_sent += 1
            try:
                response = self.session.get(self.base_url + path, params=params, timeout=persistence.timeout)
            except UNUSABLE_URL_ERRORS as exc:
                raise AirbyteTracedException(
                    message=f"The Planhat base URL {self.base_url} cannot be requested ({type(exc).__name__}): "
                    "set base_url to a full URL such as https://api-eu.planhat.com, or leave it out and set region.",
                    internal_message=f"GET {self.base_url}{path}: {exc}",
                    failure_type=FailureType.config_error,
                ) from None
            except TRANSPORT_ERRORS as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                continue
            self._observe_quota(response)
            if response.status_code in RETRY_STATUSES:
                retry_after = retry_after_seconds(response)
                last_problem = f"HTTP {response.status_code}"
                if response.status_code == 429:
                    last_problem += " (the tenant's Planhat quota is used up)"
                continue
            if response.status_code == 401:
                raise self._unauthorized(path)
            if response.status_code == 403:
                raise PermissionDenied(path, _snippet(response))
            if response.status_code == 404:
                raise NotFound(
                    message=f"Planhat answered 404 to GET {path}.",
                    internal_message=f"GET {self.base_url}{path}: 404 {_snippet(response)}",
                    failure_type=FailureType.system_error,
                )
            if response.status_code != 200:
                raise AirbyteTracedException(
                    message=f"Planhat answered {response.status_code} to GET {path}; this is a bug in the connector "
                    "or an API change.",
                    internal_message=f"GET {path} params={params}: {response.status_code} {_snippet(response)}",
                    failure_type=FailureType.system_error,
                )
            try:
                # orjson parses the bytes as they came, with no str decode in between: pages run to megabytes.
                return orjson.loads(response.content)
            except orjson.JSONDecodeError:  # a truncated or garbled body: the next attempt usually gets it whole
                last_problem = "a body that is not JSON"
        raise Unanswered(
            path,
            last_problem,
            persistence.retries,
            message=f"Planhat kept failing on GET {path} ({last_problem}) after {persistence.retries} "
            f"{'retry' if persistence.retries == 1 else 'retries'}"
            + (" over more than two minutes; the sync can be retried later." if persistence is SYNC else "."),
            internal_message=f"GET {path} params={params}: {last_problem}",
            failure_type=FailureType.transient_error,
        )

    def _observe_quota(self, response: requests.Response) -> None:
        raw = response.headers.get(REMAINING_HEADER)
        if raw is not None and raw.strip().isdigit():
            self.pacer.observe_remaining(int(raw))

    def _unauthorized(self, path: str) -> AirbyteTracedException:
        return AirbyteTracedException(
            message=f"Planhat refused the API token (401 on GET {path}). Check that the token is a valid service "
            f"account token and that the {self.target} is your tenant's: a token used on another region's "
            "cluster is answered with 401.",
            internal_message=f"401 on GET {self.base_url}{path}",
            failure_type=FailureType.config_error,
        )


def _snippet(response: requests.Response, size: int = 300) -> str:
    return response.text[:size].replace("\n", " ")
