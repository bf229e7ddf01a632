"""The HTTP policy (client.py) and the config (config.py), without a server."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import requests_mock
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_planhat.client import (
    BACKOFF_CAP_SECONDS,
    MAX_RETRIES,
    QUOTA_RESET_MAX_SECONDS,
    Pacer,
    PermissionDenied,
    PlanhatClient,
)
from source_planhat.client import backoff_seconds as real_backoff  # imported before the autouse patch
from source_planhat.config import PlanhatConfig, spec
from source_planhat.source import parse_config

ROOT = Path(__file__).resolve().parents[1]
URL = "https://api-eu.planhat.com"


def make_client(sleeps=None):
    return PlanhatClient(
        URL,
        "tok",
        10_000,
        target="region 'api-eu' (" + URL + ")",
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )


def test_spec_json_is_generated_from_the_config_model():
    """spec.json is what Airbyte shows; a hand edit or a model change without regenerating drifts."""
    assert json.loads((ROOT / "spec.json").read_text()) == spec(), "regenerate spec.json from config.spec()"
    props = spec()["connectionSpecification"]["properties"]
    assert props["api_token"]["airbyte_secret"] is True
    assert props["region"]["enum"] == ["api", "api-eu", "api-eu2", "api-eu3", "api-us2", "custom"]


def test_region_gives_the_cluster_url_and_custom_needs_one():
    assert PlanhatConfig(api_token="t", region="api-eu2").url == "https://api-eu2.planhat.com"
    assert PlanhatConfig(api_token="t", region="custom", base_url="http://x:1/").url == "http://x:1"
    with pytest.raises(AirbyteTracedException) as raised:
        parse_config({"api_token": "t", "region": "custom"})
    assert raised.value.failure_type == FailureType.config_error and "base_url" in raised.value.message


def test_page_sizes_above_the_known_maximum_are_refused():
    """A page size the server silently caps is exactly the truncation risk the reference warns of."""
    assert PlanhatConfig(api_token="t").page_size("conversations") == 2000
    assert PlanhatConfig(api_token="t").page_size("companies") == 5000
    with pytest.raises(AirbyteTracedException, match="conversations must be between 1 and 2000"):
        parse_config({"api_token": "t", "page_sizes": {"conversations": 5000}})
    with pytest.raises(AirbyteTracedException, match="unknown stream"):
        parse_config({"api_token": "t", "page_sizes": {"nope": 5}})


def test_the_token_is_sent_as_bearer_and_never_logged():
    with requests_mock.Mocker() as mock:
        mock.get(f"{URL}/companies", json=[])
        make_client().get("/companies", {"limit": 1})
        assert mock.last_request.headers["Authorization"] == "Bearer tok"
    assert "s3cr3t" not in repr(PlanhatConfig(api_token="s3cr3t"))


def test_401_is_a_config_error_about_token_and_region():
    with requests_mock.Mocker() as mock:
        mock.get(f"{URL}/companies", status_code=401, text="Unauthorized")
        with pytest.raises(AirbyteTracedException) as raised:
            make_client().get("/companies")
    assert raised.value.failure_type == FailureType.config_error
    assert "token" in raised.value.message and "api-eu" in raised.value.message


def test_403_raises_permission_denied_for_the_stream_to_skip():
    with requests_mock.Mocker() as mock:
        mock.get(f"{URL}/assets", status_code=403, json={"message": "Forbidden"})
        with pytest.raises(PermissionDenied, match="/assets"):
            make_client().get("/assets")


def test_429_then_200_is_retried_after_a_backoff(no_real_backoff):
    with requests_mock.Mocker() as mock:
        mock.get(f"{URL}/companies", [{"status_code": 429}, {"status_code": 503}, {"json": [{"_id": "a"}]}])
        assert make_client().get("/companies") == [{"_id": "a"}]
        assert mock.call_count == 3
    assert len(no_real_backoff) == 2


def test_persistent_5xx_ends_as_a_transient_error_after_outlasting_the_reset_window(no_real_backoff):
    with requests_mock.Mocker() as mock:
        mock.get(f"{URL}/companies", status_code=500)
        with pytest.raises(AirbyteTracedException) as raised:
            make_client().get("/companies")
        assert mock.call_count == MAX_RETRIES + 1
    assert raised.value.failure_type == FailureType.transient_error
    assert sum(no_real_backoff) >= QUOTA_RESET_MAX_SECONDS


def test_backoff_is_capped_exponential_with_jitter_and_honours_retry_after():
    rng = random.Random(3)
    lows = [min(real_backoff(a, rng) for _ in range(200)) for a in range(MAX_RETRIES)]
    assert sum(lows) >= QUOTA_RESET_MAX_SECONDS  # even the unluckiest series outlasts the reset
    assert max(real_backoff(a, rng) for a in range(20)) <= BACKOFF_CAP_SECONDS
    assert real_backoff(0, rng, retry_after=45) >= 45


def test_garbled_body_is_retried():
    with requests_mock.Mocker() as mock:
        mock.get(f"{URL}/companies", [{"text": "[{not json"}, {"json": []}])
        assert make_client().get("/companies") == []


def test_other_4xx_is_a_system_error():
    with requests_mock.Mocker() as mock:
        mock.get(f"{URL}/companies", status_code=400, text="bad sort")
        with pytest.raises(AirbyteTracedException) as raised:
            make_client().get("/companies")
    assert raised.value.failure_type == FailureType.system_error


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds


def test_pacer_keeps_any_minute_under_the_budget():
    clock = FakeTime()
    pacer = Pacer(5, clock=lambda: clock.now, sleep=clock.sleep)
    sent = []
    for _ in range(12):
        pacer.wait_turn()
        sent.append(clock.now)
    assert sent[:5] == [0.0] * 5 and sent[5] == pytest.approx(60.0) and sent[10] == pytest.approx(120.0)


def test_pacer_spreads_the_last_calls_when_the_server_runs_low():
    """X-Rate-Limit-Remaining counts other clients of the tenant too; low means slow down now."""
    clock = FakeTime()
    pacer = Pacer(1000, clock=lambda: clock.now, sleep=clock.sleep)
    pacer.wait_turn()
    pacer.observe_remaining(100)
    pacer.wait_turn()
    assert clock.now == 0.0
    pacer.observe_remaining(4)
    pacer.wait_turn()
    assert clock.now == pytest.approx(15.0)
