"""Sliding-window rate limits per route family, on a scalable clock."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MINUTE = 60.0


class SlidingWindowLimiter:
    """At most `limits[family]` requests in any window of one (scaled) minute.

    `time_scale` shrinks the window: with a scale of 60 "a minute" lasts one second, so a
    test exercises a 20/min limit in seconds while the limit keeps its proportions.
    Families without a limit are never throttled.
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

    def acquire(self, family: str) -> float | None:
        """Count one request; None if allowed, else the seconds until a slot frees up."""
        limit = self.limits.get(family)
        if limit is None:
            return None
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(family, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= limit:
                return hits[0] + self.window - now
            hits.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
