"""`main.py check` answers a person waiting in the Airbyte UI: within seconds, exactly, for every way it can fail."""

from __future__ import annotations

import socket
import time

import pytest

from .conftest import make_config, run_main

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


def test_an_unreachable_host_fails_the_check_in_seconds_naming_the_url(pylon, tmp_path, startup):
    server = pylon(size=1)
    url = f"http://127.0.0.1:{closed_port()}"
    outcome = run_main(tmp_path, "check", make_config(server, base_url=url))
    assert outcome.code == 0 and outcome.status["status"] == "FAILED"
    assert url in outcome.status["message"] and "GET /me" in outcome.status["message"]
    assert not outcome.status["message"].startswith(("'", '"'))  # the CDK sent repr(message)
    assert outcome.seconds - startup < CHECK_BOUND_S


def test_a_hung_api_fails_the_check_in_seconds(pylon, tmp_path, startup):
    """A host that accepts and never answers: the sync's 60 s read timeout would keep the person waiting minutes."""
    server = pylon(size=1)
    server.faults.add("hang", family="me", times=10, delay=60)
    outcome = run_main(tmp_path, "check", make_config(server))
    ended = time.monotonic()
    assert outcome.code == 0 and outcome.status["status"] == "FAILED"
    assert "ReadTimeout" in outcome.status["message"] and server.url in outcome.status["message"]
    assert server.log.count(family="me") == 2
    assert ended - server.log.entries(family="me")[0].at < POLICY_BOUND_S  # the check's own time
    assert outcome.seconds - startup < CHECK_BOUND_S


def test_a_wrong_token_fails_the_check_at_once_as_a_token_problem(pylon, tmp_path, startup):
    server = pylon(size=1)
    outcome = run_main(tmp_path, "check", make_config(server, api_token="not-the-pylon-token-5c2e"))
    assert outcome.code == 0 and outcome.status["status"] == "FAILED"
    assert "401" in outcome.status["message"] and "API token" in outcome.status["message"]
    assert server.log.count(family="me") == 1  # a 401 is never retried
    assert "not-the-pylon-token-5c2e" not in outcome.stdout + outcome.stderr
    assert outcome.seconds - startup < CHECK_BOUND_S
