"""Every request an emulator answered, for tests to assert on."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    family: str | None  # None when no route matched
    headers: dict[str, str]
    body: bytes
    status: int | None  # None when the connection was reset or hung up
    fault: str | None  # the injected fault kind, if one fired
    at: float  # time.monotonic() when it arrived

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["body"] = self.body.decode("utf-8", "replace")
        return data


class RequestLog:
    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, family: str | None = None, method: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [
                e
                for e in self._entries
                if (family is None or e.family == family) and (method is None or e.method == method)
            ]

    def count(self, family: str | None = None, method: str | None = None) -> int:
        return len(self.entries(family, method))

    def by_family(self) -> Counter[str]:
        return Counter(e.family or "<unmatched>" for e in self.entries())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
