"""`main.py check` answers a person waiting in the Airbyte UI: within seconds, exactly, for every way it can fail.

It took 190 s to fail against an unreachable host: it retried as a sync does (8 retries over > 2 minutes).
"""

from __future__ import annotations

import socket
import time

import pytest

from emulators.planhat import PlanhatEmulator

from .conftest import config_for, run_main

CHECK_BOUND_S = 20  # generous: the policy allows ~7 s (2 x 3 s read timeout + 1 s)
POLICY_BOUND_S = 12  # from the first request to the exit, on a hung host


@pytest.fixture(scope="module")
def startup(tmp_path_factory) -> float:
    """Seconds a `main.py spec` takes here: the imports every command pays, which the bound should not count
    (on a loaded machine they alone ran to 10 s)."""
    return run_main(tmp_path_factory.mktemp("spec"), "spec", None).seconds


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_host_fails_the_check_in_seconds_naming_the_url(planhat, tmp_path, startup):
    server = planhat()
    url = f"http://127.0.0.1:{closed_port()}"
    outcome = run_main(tmp_path, "check", config_for(server, base_url=url))
    assert outcome.code == 0 and outcome.status["status"] == "FAILED"
    assert url in outcome.status["message"] and "GET /companies" in outcome.status["message"]
    assert not outcome.status["message"].startswith(("'", '"'))  # the CDK sent repr(message)
    assert outcome.seconds - startup < CHECK_BOUND_S


def test_a_hung_api_fails_the_check_in_seconds(planhat, tmp_path, startup):
    server = planhat()
    server.faults.add("hang", family="companies", times=10, delay=60)
    outcome = run_main(tmp_path, "check", config_for(server))
    ended = time.monotonic()
    assert outcome.code == 0 and outcome.status["status"] == "FAILED"
    assert "ReadTimeout" in outcome.status["message"] and server.url in outcome.status["message"]
    assert server.log.count(family="companies") == 2
    assert ended - server.log.entries(family="companies")[0].at < POLICY_BOUND_S  # the check's own time
    assert outcome.seconds - startup < CHECK_BOUND_S


def test_a_wrong_token_fails_the_check_at_once_as_a_token_problem(planhat, tmp_path, startup):
    server = planhat()
    outcome = run_main(tmp_path, "check", config_for(server, api_token="not-the-planhat-token-9d1b"))
    assert outcome.code == 0 and outcome.status["status"] == "FAILED"
    assert "401" in outcome.status["message"] and f"base_url {server.url}" in outcome.status["message"]
    assert server.log.count(family="companies") == 1  # a 401 is never retried
    assert "not-the-planhat-token-9d1b" not in outcome.stdout + outcome.stderr
    assert outcome.seconds - startup < CHECK_BOUND_S


def test_base_url_is_honoured_without_region_custom(planhat, tmp_path, startup):
    """Issue 14: base_url with the default region silently went to api.planhat.com."""
    server = planhat()
    config = {"api_token": PlanhatEmulator.TOKEN, "base_url": server.url}
    outcome = run_main(tmp_path, "check", config)
    assert outcome.status == {"status": "SUCCEEDED"}
    assert [e.path for e in server.log.entries()] == ["/companies"]
    config_with_region = {**config, "region": "api-eu"}
    assert run_main(tmp_path, "check", config_with_region).status == {"status": "SUCCEEDED"}
