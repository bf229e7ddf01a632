"""Through real `main.py read` processes: messages reach the pipe as they are emitted, and waits are said.

The emulator runs in this process, so its request log and the line reader share one monotonic clock.
A subprocess runs the source at Planhat's real pace (no time scale), so the waits here come from the
emulator: a page answered late, and a 429 whose Retry-After sets the backoff.
"""

from __future__ import annotations

import logging
import time

import pytest
import yaml
from airbyte_cdk.models import SyncMode

from emulators.planhat import PlanhatEmulator
from source_planhat import waits
from source_planhat.client import TIMEOUT_SECONDS, Pacer
from source_planhat.waits import HEARTBEAT_SECONDS, pause

from .conftest import CONNECTOR_ROOT, TIME_SCALE, Read, catalog_of, config_for

pytestmark = pytest.mark.slow


STALL_SECONDS = 3.0


class StallingPlanhat(PlanhatEmulator):
    """Answers every page of companies after the first STALL_SECONDS late, saying nothing meanwhile."""

    def list_model(self, model: str, request):
        if model == "companies" and request.query.get("offset", "0") != "0":
            time.sleep(STALL_SECONDS)
        return super().list_model(model, request)


def test_records_before_a_stalled_page_reach_the_pipe_while_the_page_is_awaited(serve_emulator, tmp_path):
    """The CDK's print buffer held the first page's records until the next message, after the stall:
    nothing is logged during a stall shorter than a logged wait, so only writing each message through
    gets them out. (Planhat states come at stream ends, where the CDK's own log lines flush them.)"""
    server = serve_emulator(StallingPlanhat(seed=1, size=12), time_scale=TIME_SCALE)
    config = config_for(server, page_sizes={"companies": 5})
    read = Read(tmp_path, config, catalog_of(["companies"], SyncMode.full_refresh))
    assert read.wait() == 0
    first_page, second_page = server.log.entries(family="companies")[:2]
    first_records = [at for at, _ in read.of_type("RECORD")][:5]
    assert len(first_records) == 5
    assert max(first_records) < second_page.at + STALL_SECONDS  # out before the stalled page came back
    assert max(first_records) - first_page.at < 1.0  # within a second of the call that brought them


def companies_then_users(planhat, tmp_path, **fault):
    """companies (one STATE at its end), then users, whose first call meets `fault`."""
    server = planhat()
    server.faults.add(family="users", times=1, **fault)
    read = Read(tmp_path, config_for(server), catalog_of(["companies", "users"]))
    assert read.wait() == 0
    companies = server.log.entries(family="companies")
    users = server.log.entries(family="users")
    state_at = next(
        at for at, m in read.of_type("STATE") if m["state"]["stream"]["stream_descriptor"]["name"] == "companies"
    )
    return read, companies[-1], users, state_at


def test_a_rate_limit_backoff_is_logged_with_its_length_while_the_state_is_already_out(planhat, tmp_path):
    """A 429 asking for 6 s: the retry line says what waits, how long, and why; the STATE is not held."""
    read, last_companies_call, users, state_at = companies_then_users(
        planhat, tmp_path, kind="status", status=429, retry_after=6
    )
    refused, retried = users[0], users[1]
    assert retried.at - refused.at >= 6.0
    assert state_at < retried.at and state_at - last_companies_call.at < 1.0
    said = [(at, text) for at, text in read.logs() if refused.at < at < retried.at]
    assert len(said) == 1, read.logs()
    at, text = said[0]
    assert at < refused.at + 1.0  # said when the wait began
    assert "GET /users: HTTP 429" in text and "quota" in text and "retry 1 of 8 in 6.0 s" in text


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_pacer_waits_say_which_limit_and_beat_while_they_last(caplog):
    """A budget wait of a minute is said when it starts and again every heartbeat, naming its limit."""
    clock = FakeTime()
    pacer = Pacer(2, clock=lambda: clock.now, sleep=clock.sleep)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        for _ in range(3):
            pacer.wait_turn("GET /companies")
    assert clock.now == pytest.approx(60.0)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Waiting 60.0 s for the requests_per_minute budget (2 calls per 60 s) before GET /companies.",
        "Waiting 30.0 s for the requests_per_minute budget (2 calls per 60 s) before GET /companies.",
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="airbyte"):
        pacer.observe_remaining(6)
        pacer.wait_turn("GET /endusers")
    assert "Waiting 10.0 s for Planhat's quota: it reported 6 calls left" in caplog.records[0].getMessage()


def test_a_short_pacing_wait_is_not_logged(caplog):
    """Routine pacing (a second here and there) would drown the log."""
    clock = FakeTime()
    pacer = Pacer(1000, time_scale=60, clock=lambda: clock.now, sleep=clock.sleep)
    pacer.observe_remaining(1)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        pacer.wait_turn("GET /companies")
    assert clock.now == pytest.approx(1.0) and not caplog.records


def test_a_wait_longer_than_a_heartbeat_says_it_goes_on(caplog):
    """A Retry-After of minutes must not leave the source silent past maxSecondsBetweenMessages."""
    slept: list[float] = []
    with caplog.at_level(logging.INFO, logger="airbyte"):
        pause(75, "to retry GET /companies", sleep=slept.append)
    assert slept == [HEARTBEAT_SECONDS, HEARTBEAT_SECONDS, 15]
    assert [r.getMessage() for r in caplog.records] == [
        "Still waiting 45 s to retry GET /companies.",
        "Still waiting 15 s to retry GET /companies.",
    ]


def test_max_seconds_between_messages_outlasts_the_longest_silence_the_code_allows():
    """Airbyte fails a sync silent for longer than this: no wait is silent past a heartbeat, and the
    longest request then runs to its timeouts before it is retried with a log line."""
    metadata = yaml.safe_load((CONNECTOR_ROOT / "metadata.yaml").read_text())["data"]
    longest_silence = HEARTBEAT_SECONDS + sum(TIMEOUT_SECONDS)
    assert metadata["maxSecondsBetweenMessages"] >= 2 * longest_silence


def test_a_short_wait_is_said_once_the_source_has_been_quiet_for_a_heartbeat(monkeypatch):
    """Many small calls in a row with nothing to emit would otherwise leave the source silent for minutes."""
    monkeypatch.setattr(waits, "quiet_seconds", lambda: 0.0)
    assert not waits.worth_saying(3.0) and waits.worth_saying(5.0)
    monkeypatch.setattr(waits, "quiet_seconds", lambda: HEARTBEAT_SECONDS - 2.0)
    assert waits.worth_saying(3.0)
