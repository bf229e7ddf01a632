"""Faults injected on demand, per route family, for the next K calls or a fraction of calls."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from enum import Enum


class FaultKind(str, Enum):
    STATUS = "status"  # an error response: 429 bursts, 5xx, 401/403 ...
    SLOW = "slow"  # the real response, after `delay` seconds
    HANG = "hang"  # no response for `delay` seconds, then the connection closes
    RESET = "reset"  # the TCP connection is reset (RST) before any byte is sent
    MALFORMED = "malformed"  # 200 with a body that is not JSON
    TRUNCATED = "truncated"  # the real response cut in half, Content-Length promising the whole


@dataclass
class Fault:
    kind: FaultKind
    family: str = "*"  # a route family, or "*" for every API route
    times: int | None = None  # fire on the next `times` matching calls...
    fraction: float | None = None  # ...or on this share of them (seeded, so repeatable)
    status: int = 500
    retry_after: float | None = None  # seconds, sent as Retry-After with STATUS faults
    delay: float = 0.0
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if (self.times is None) == (self.fraction is None):
            raise ValueError("a fault needs exactly one of `times` or `fraction`")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


class FaultInjector:
    """Holds the armed faults; the server asks it once per API request."""

    def __init__(self, seed: int = 0, families: set[str] | None = None) -> None:
        self.families = families  # the API's route families; None accepts any name
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, kind: FaultKind | str, family: str = "*", **options) -> Fault:
        # A fault aimed at a family no route has would never fire, and the test arming it would prove nothing.
        if self.families is not None and family != "*" and family not in self.families:
            raise ValueError(f"no route family {family!r}; this API has {', '.join(sorted(self.families))}")
        fault = Fault(kind=kind, family=family, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def pick(self, family: str) -> Fault | None:
        """The fault to apply to this call, if any; armed faults fire in the order added."""
        with self._lock:
            for fault in self._faults:
                if fault.family not in ("*", family) or fault.exhausted:
                    continue
                if fault.fraction is not None and self._rng.random() >= fault.fraction:
                    continue
                fault.fired += 1
                return fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if not f.exhausted]
