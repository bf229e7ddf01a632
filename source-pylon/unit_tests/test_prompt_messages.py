"""Through real `main.py read` processes: messages reach the pipe as they are emitted, and waits are said.

The emulator runs in this process, so its request log and the line reader share one monotonic clock:
"the STATE arrived before the next request" means it arrived while the source was still waiting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from source_pylon import waits
from source_pylon.client import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
from source_pylon.waits import HEARTBEAT_SECONDS, LOG_WAITS_FROM_SECONDS, pause

from .conftest import CONNECTOR_ROOT, Read, catalog, make_config

pytestmark = pytest.mark.slow


def survey_read(pylon, tmp_path: Path, window_seconds: float) -> tuple[Read, Any]:
    """survey_responses under a budget of one call per window: one STATE per survey, then a wait."""
    server = pylon(size=10)
    config = make_config(server, rate_limit_window_seconds=window_seconds, rate_limits={"survey_responses": 1})
    read = Read(tmp_path, config, catalog("survey_responses"))
    assert read.wait() == 0
    calls = server.log.entries(family="survey_responses")
    assert len(calls) == 2  # the CSAT and the NPS survey, one budget window apart
    return read, calls


def first_state_after(read: Read, request_at: float) -> float:
    return next(at for at, message in read.of_type("STATE") if at > request_at)


def test_a_state_before_a_silent_rate_limit_wait_reaches_the_pipe_during_the_wait(pylon, tmp_path):
    """The CDK's print buffer held such a STATE until the next message, after the wait: a destination could
    not commit it and a sync killed meanwhile lost it. A 3 s wait is too short to be logged, so nothing
    else flushes the buffer: only writing each message through gets the STATE out."""
    read, (first, second) = survey_read(pylon, tmp_path, window_seconds=3.0)
    state_at = first_state_after(read, first.at)
    assert second.at - first.at > 2.5  # the source did wait out the budget between the two calls
    assert state_at < second.at  # on the pipe while the source still waited
    assert state_at - first.at < 1.0  # and within a second of the call whose records it closes
    assert not [text for at, text in read.logs() if first.at < at < second.at and "Waiting" in text]


def test_a_long_rate_limit_wait_is_logged_with_its_length_and_limit_while_it_lasts(pylon, tmp_path):
    """Without the line, a source pacing under a budget looks hung to whoever watches the sync."""
    read, (first, second) = survey_read(pylon, tmp_path, window_seconds=8.0)
    state_at = first_state_after(read, first.at)
    assert state_at < second.at and state_at - first.at < 1.0
    said = [(at, text) for at, text in read.logs() if "Waiting" in text and "survey_responses" in text]
    assert len(said) == 1, read.logs()
    at, text = said[0]
    assert first.at < at < second.at  # said when the wait began, not after it
    seconds = float(text.split("Waiting ")[1].split(" s ")[0])
    assert LOG_WAITS_FROM_SECONDS <= seconds <= 8.0
    assert "1 requests per 8 s" in text and "rate_limits.survey_responses" in text
    assert "GET /surveys/" in text and "(stream survey_responses)" in text


def test_a_wait_longer_than_a_heartbeat_says_it_goes_on(caplog):
    """A Retry-After of minutes must not leave the source silent past maxSecondsBetweenMessages."""
    slept: list[float] = []
    with caplog.at_level("INFO", logger="airbyte"):
        pause(75, "to retry GET /accounts", sleep=slept.append)
    assert slept == [HEARTBEAT_SECONDS, HEARTBEAT_SECONDS, 15]
    assert [r.getMessage() for r in caplog.records] == [
        "Still waiting 45 s to retry GET /accounts.",
        "Still waiting 15 s to retry GET /accounts.",
    ]


def test_max_seconds_between_messages_outlasts_the_longest_silence_the_code_allows():
    """Airbyte fails a sync silent for longer than this: no wait is silent past a heartbeat, and the
    longest request then runs to its timeouts before it is retried with a warning."""
    metadata = yaml.safe_load((CONNECTOR_ROOT / "metadata.yaml").read_text())["data"]
    longest_silence = HEARTBEAT_SECONDS + CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
    assert metadata["maxSecondsBetweenMessages"] >= 2 * longest_silence


def test_a_short_wait_is_said_once_the_source_has_been_quiet_for_a_heartbeat(monkeypatch):
    """Issues without threads, one paced call each, would otherwise leave the source silent for minutes."""
    monkeypatch.setattr(waits, "quiet_seconds", lambda: 0.0)
    assert not waits.worth_saying(3.0) and waits.worth_saying(LOG_WAITS_FROM_SECONDS)
    monkeypatch.setattr(waits, "quiet_seconds", lambda: HEARTBEAT_SECONDS - 2.0)
    assert waits.worth_saying(3.0)
