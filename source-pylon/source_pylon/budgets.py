"""Per-family request budgets: at most N requests in any moving window, shared by every thread.

Why not the CDK's `MovingWindowCallRatePolicy`: it stamps a call when the budget is acquired, before
the request is sent, while the server counts it when it arrives. With network latency two calls one
window apart at the client land less than a window apart at the server, which then sees N+1 calls in
its window and answers 429. This limiter stamps a call when its response has come back (always after
the server counted it) and counts calls in flight as taken, so the server can never see more than N.
It also blocks on a condition variable instead of sleeping in a loop, and needs no background thread.
A wait worth mentioning is logged, and a long one is cut into heartbeats (waits.py).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from .waits import HEARTBEAT_SECONDS, announce, worth_saying


class MovingWindowBudget:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic, name: str = "request"
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a budget needs a positive limit and window")
        self.name = name
        self.limit = limit
        self.window = window
        self._clock = clock
        self._finished: deque[float] = deque()  # when each call of the current window completed
        self._in_flight = 0
        self._cond = threading.Condition()

    def _wait_seconds(self, now: float) -> float:
        """0 when a call may start now, else how long until that could change."""
        while self._finished and self._finished[0] + self.window <= now:
            self._finished.popleft()
        if len(self._finished) + self._in_flight < self.limit:
            return 0.0
        if self._finished:
            return self._finished[0] + self.window - now
        return self.window  # every slot is in flight: a release will wake us sooner

    def acquire(self, purpose: str = "the next call") -> None:
        with self._cond:
            say = True  # on the first wait, and again after each heartbeat spent waiting
            while True:
                wait = self._wait_seconds(self._clock())
                if wait <= 0:
                    self._in_flight += 1
                    return
                if say and worth_saying(wait):
                    limit = f"{self.limit} requests per {self.window:g} s, setting rate_limits.{self.name}"
                    announce(wait, f"for the {self.name} rate budget ({limit}) before {purpose}")
                step = min(wait, HEARTBEAT_SECONDS)
                say = not self._cond.wait(step) and step == HEARTBEAT_SECONDS

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._finished.append(self._clock())
            self._cond.notify_all()

    @contextmanager
    def slot(self, purpose: str = "the next call") -> Iterator[None]:
        self.acquire(purpose)
        try:
            yield
        finally:
            self.release()


class Budgets:
    """One MovingWindowBudget per endpoint family."""

    def __init__(self, limits: Mapping[str, int], window: float) -> None:
        self.window = window
        self._budgets = {family: MovingWindowBudget(limit, window, name=family) for family, limit in limits.items()}

    def __getitem__(self, family: str) -> MovingWindowBudget:
        return self._budgets[family]
