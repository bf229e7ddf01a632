"""How the source waits: a long wait says so in the log, and no wait leaves the source silent for long.

Airbyte fails a sync whose source emits nothing for `maxSecondsBetweenMessages` (metadata.yaml), and a
person watching a sync cannot tell a source pacing under Planhat's quota from a hung one. So a wait of
LOG_WAITS_FROM_SECONDS or more is logged (what it waits for, how long, which limit), a longer one is
cut into slices of at most HEARTBEAT_SECONDS with a line after each, and a short pacing wait is logged
too once the source has been quiet for a heartbeat (many small batches of related records, say).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .output import quiet_seconds

logger = logging.getLogger("airbyte")

LOG_WAITS_FROM_SECONDS = 5.0  # shorter waits are routine pacing: logging each would drown the log
HEARTBEAT_SECONDS = 30.0  # the longest stretch a wait keeps the source silent


def worth_saying(seconds: float) -> bool:
    """A wait this long, now, deserves a log line: it is long, or the source has been quiet too long."""
    return seconds >= LOG_WAITS_FROM_SECONDS or quiet_seconds() + seconds >= HEARTBEAT_SECONDS


def announce(seconds: float, reason: str) -> None:
    quiet = quiet_seconds()
    silence = f"; nothing emitted for {quiet:.0f} s" if quiet >= LOG_WAITS_FROM_SECONDS else ""
    logger.info(f"Waiting {seconds:.1f} s {reason}{silence}.")


def pause(seconds: float, reason: str, sleep: Callable[[float], object] = time.sleep) -> None:
    """Sleep `seconds` (the caller logged why), in slices of HEARTBEAT_SECONDS with a line after each."""
    remaining = seconds
    while remaining > 0:
        step = min(remaining, HEARTBEAT_SECONDS)
        sleep(step)
        remaining -= step
        if remaining > 0:
            logger.info(f"Still waiting {remaining:.0f} s {reason}.")
