"""The one HTTP policy: pacing under budgets, retries (429, 5xx, broken bodies), Retry-After, and error classes."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

import pytest
from airbyte_cdk.models import FailureType, Status
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_pylon import SourcePylon
from source_pylon.budgets import MovingWindowBudget
from source_pylon.client import CHECK_ATTEMPTS, MAX_ATTEMPTS, SYNC, PylonClient, backoff_seconds, should_retry
from source_pylon.config import PylonConfig

from .conftest import make_config


def client_for(server, **overrides) -> PylonClient:
    return PylonClient(PylonConfig.parse(make_config(server, **overrides)))


def test_budget_is_never_exceeded_even_from_concurrent_threads(pylon):
    """Pacing, not failing: 4 threads x 15 calls against a 20-per-window family must see no 429."""
    server = pylon(size=5)
    client = client_for(server)

    def work():
        for _ in range(15):
            client.request("GET", "/issue-statuses", "issue_statuses", "test")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [e.status for e in server.log.entries(family="issue_statuses")]
    assert statuses == [200] * 60  # 60 calls at 10 per window: paced over 6 windows without one 429


def test_moving_window_budget_counts_calls_in_flight_and_stamps_them_when_done():
    now = [0.0]
    budget = MovingWindowBudget(2, 60.0, clock=lambda: now[0])
    budget.acquire()
    budget.acquire()
    assert budget._wait_seconds(now[0]) > 0  # two in flight: a third must wait
    now[0] = 5.0
    budget.release()  # completed at t=5: its slot frees at t=65, not at t=60
    budget.release()
    assert budget._wait_seconds(64.9) == pytest.approx(0.1)
    assert budget._wait_seconds(65.0) == 0


def test_429_then_200_is_retried_waiting_for_the_next_window(pylon, sync, sleeps):
    """Pylon documents no Retry-After: a bare 429 must wait out the window, not hammer the API."""
    server = pylon(size=5)
    server.faults.add("status", family="accounts", times=2, status=429)
    result = sync(server, "accounts", config=make_config(server, rate_limit_window_seconds=60))
    assert not result.errors
    assert len(result.records("accounts")) == len(server.emulator.data.accounts)
    assert [e.status for e in server.log.entries(family="accounts")] == [429, 429, 200]
    assert len(sleeps) == 2 and all(delay >= 60 for delay in sleeps)


def test_retry_after_is_honoured(pylon, sync, sleeps):
    server = pylon(size=5)
    server.faults.add("status", family="users", times=1, status=429, retry_after=90)
    result = sync(server, "users")
    assert not result.errors and len(result.records("users")) == 12
    assert sleeps[0] >= 90


@pytest.mark.parametrize(
    "fault", [{"kind": "status", "status": 502}, {"kind": "reset"}, {"kind": "malformed"}, {"kind": "truncated"}]
)
def test_5xx_resets_and_broken_bodies_are_retried(pylon, sync, sleeps, fault):
    """A 200 with half a body must be retried like a 5xx, never parsed into a partial page."""
    server = pylon(size=20)
    server.faults.add(family="issues_search", times=2, **fault)
    result = sync(server, "issues")
    assert not result.errors
    assert len(result.records("issues")) == 20
    assert len(sleeps) == 2


def test_a_hung_request_times_out_and_is_retried(pylon, sync, sleeps, monkeypatch):
    monkeypatch.setattr("source_pylon.client.SYNC", dataclasses.replace(SYNC, timeout=(10, 0.3)))
    server = pylon(size=5)
    server.faults.add("hang", family="teams", times=1, delay=2)
    result = sync(server, "teams")
    assert not result.errors and len(result.records("teams")) == 3


def test_persistent_5xx_fails_as_transient_after_outlasting_a_minute(pylon, sync, sleeps):
    """Giving up within a rate-limit window turns a short outage into a failed sync."""
    server = pylon(size=5)
    server.faults.add("status", family="tags", times=100, status=503)
    result = sync(server, "tags", expecting_exception=True)
    error = result.errors[0]
    assert error.failure_type == FailureType.transient_error
    assert "GET /tags" in error.message and "stream tags" in error.message
    assert server.log.count(family="tags") == MAX_ATTEMPTS
    assert sum(sleeps) > 60


def test_bad_token_is_a_config_error_naming_the_endpoint(pylon, sync):
    server = pylon(size=5)
    result = sync(server, "issues", config=make_config(server, api_token="wrong"), expecting_exception=True)
    error = result.errors[0]
    assert error.failure_type == FailureType.config_error
    assert "401" in error.message and "POST /issues/search" in error.message and "API token" in error.message
    assert server.log.count() == 1  # never retried


def test_forbidden_stream_is_a_config_error_naming_the_stream(pylon, sync):
    server = pylon(size=5, forbidden={"knowledge_bases"})
    result = sync(server, "knowledge_bases", "tags", expecting_exception=True)
    error = result.errors[0]
    assert error.failure_type == FailureType.config_error
    assert "stream knowledge_bases" in error.message and "403" in error.message and "deselect" in error.message
    assert len(result.records("tags")) == 12  # the other streams still sync


def test_backoff_is_capped_exponential_and_never_below_retry_after():
    assert should_retry(None) and should_retry(429) and should_retry(503)
    assert not should_retry(401) and not should_retry(403) and not should_retry(400)
    delays = [backoff_seconds(attempt, 500, None, 60) for attempt in range(1, 10)]
    assert delays[0] >= 2 and delays[1] >= 4 and max(delays) <= 60 * 1.25
    assert backoff_seconds(1, 503, 120, 60) >= 120
    assert backoff_seconds(1, 429, None, 60) >= 60
    assert backoff_seconds(1, 429, 5, 60) >= 5


def test_check_uses_me_and_reports_bad_tokens(pylon):
    server = pylon(size=5)
    good = SourcePylon().check(logging.getLogger("airbyte"), make_config(server))
    assert good.status == Status.SUCCEEDED
    assert [e.path for e in server.log.entries()] == ["/me"]
    bad = SourcePylon().check(logging.getLogger("airbyte"), make_config(server, api_token="nope"))
    assert bad.status == Status.FAILED and "API token" in bad.message and "GET /me" in bad.message


def test_check_against_a_dead_api_fails_in_seconds_not_minutes(pylon, sleeps):
    """A person pressing "Test connection" must not wait out the sync's minutes of retries."""
    server = pylon(size=1)
    server.faults.add("status", family="me", fraction=1.0, status=503)
    result = SourcePylon().check(logging.getLogger("airbyte"), make_config(server))
    assert result.status == Status.FAILED and "GET /me" in result.message and "503" in result.message
    assert server.log.count(family="me") == CHECK_ATTEMPTS and len(sleeps) == CHECK_ATTEMPTS - 1


def test_invalid_config_is_a_config_error():
    with pytest.raises(AirbyteTracedException) as raised:
        PylonConfig.parse({"api_token": "x", "page_size": 5000, "start_date": "last week"})
    assert raised.value.failure_type == FailureType.config_error
    assert "page_size" in raised.value.message and "start_date" in raised.value.message
    assert "x" not in raised.value.message.split(":")[0]


def test_pacing_holds_a_real_budget(pylon, sync):
    """With budgets equal to the emulator's limits, a whole issue-family sync gets no 429 at all."""
    server = pylon(size=60, messages_per_issue=1)
    started = time.monotonic()
    result = sync(server, "issues", "issue_messages", "issue_threads")
    assert not result.errors
    assert all(e.status == 200 for e in server.log.entries())
    # 60 message fetches at 20 per 0.2 s window take at least two more windows.
    assert time.monotonic() - started >= 0.4
