"""Sliding-window rate limits per bucket (a route family, or several sharing one quota), on a scalable clock."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MINUTE = 60.0


class SlidingWindowLimiter:
    """At most `limits[bucket]` requests in any window of one (scaled) minute.

    `time_scale` shrinks the window: with a scale of 60 "a minute" lasts one second, so a
    test exercises a 20/min limit in seconds while the limit keeps its proportions.
    Buckets without a limit are never throttled.
    """

    def __init__(
        self,
        limits: dict[str, int],
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.limits = dict(limits)
        self.window = MINUTE / time_scale
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, bucket: str) -> float | None:
        """Count one request; None if allowed, else the seconds until a slot frees up."""
        limit = self.limits.get(bucket)
        if limit is None:
            return None
        now = self._clock()
        with self._lock:
            hits = self._window(bucket, now)
            if len(hits) >= limit:
                return hits[0] + self.window - now
            hits.append(now)
            return None

    def remaining(self, bucket: str) -> int | None:
        """Requests the window still allows (None if unlimited): what APIs report in quota headers."""
        limit = self.limits.get(bucket)
        if limit is None:
            return None
        with self._lock:
            return max(limit - len(self._window(bucket, self._clock())), 0)

    def _window(self, bucket: str, now: float) -> deque[float]:
        """The bucket's hits still inside the window ending `now`; call with the lock held."""
        hits = self._hits.setdefault(bucket, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
