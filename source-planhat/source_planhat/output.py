"""Where the source's messages leave it: each one written through to stdout at once.

Why not the CDK's `launch()`: it prints through its PrintBuffer, which writes a message out only when a
later write comes 0.1 s or more after its previous write-out. A STATE printed just before a rate-limit
wait therefore sat in memory for the whole wait (issue 15: states of t=0 s reached the pipe at t=45 s),
unseen by the destination and lost if the sync was killed meanwhile. One write(2) per message costs
nothing next to the HTTP call that produced it.

It also remembers when it last wrote, so a wait can tell how long the source has been silent (waits.py).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from airbyte_cdk.logger import PRINT_BUFFER


class PromptStdout:
    """A text stream that writes each piece through to the real stdout, one writer at a time."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._lock = threading.Lock()
        self.last_write = time.monotonic()

    def write(self, text: str) -> int:
        with self._lock:
            self._target.write(text)
            self._target.flush()
            self.last_write = time.monotonic()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._target.flush()


_active: PromptStdout | None = None


def quiet_seconds() -> float:
    """Seconds since the last message went out; 0 when the source runs in-process (as in unit tests)."""
    return time.monotonic() - _active.last_write if _active else 0.0


@contextmanager
def prompt_stdout() -> Iterator[PromptStdout]:
    """Send print() and the CDK's log handler (which writes LOG messages to PRINT_BUFFER) through one
    PromptStdout for the block, so messages and log lines keep their order and none waits."""
    global _active
    out = PromptStdout(sys.__stdout__ or sys.stdout)
    handlers = [
        h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler) and h.stream is PRINT_BUFFER
    ]
    saved_stdout = sys.stdout
    sys.stdout = out  # type: ignore[assignment]
    for handler in handlers:
        handler.setStream(out)  # type: ignore[arg-type]
    _active = out
    try:
        yield out
    finally:
        _active = None
        for handler in handlers:
            handler.setStream(PRINT_BUFFER)
        sys.stdout = saved_stdout
