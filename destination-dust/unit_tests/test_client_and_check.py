"""The HTTP policy in isolation and `check`, each failure with its own message."""

from __future__ import annotations

import threading
import time

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_dust import DestinationDust
from destination_dust.client import TRANSIENT_ATTEMPTS, DustClient, UpsertLimiter, backoff_s
from destination_dust.config import DustConfig
from emulators.dust.api import (
    DATA_SOURCE_ID,
    MANAGED_DATA_SOURCE_ID,
    OTHER_WORKSPACE_KEY,
    READ_ONLY_KEY,
    SPACE_ID,
    DataSource,
)

from .conftest import CLIENT_OPTIONS


def check(config: dict):
    return DestinationDust(client_options=CLIENT_OPTIONS).check(None, config)


def test_check_succeeds_and_leaves_no_trace(config, emulator):
    """A green check must not leave its probe document behind."""
    status = check(config)
    assert status.status.value == "SUCCEEDED", status.message
    assert emulator.documents() == {}


def test_each_check_failure_has_its_own_message(config, emulator):
    """The user fixes what the message names: key, region, space, data source, managed, write access."""
    messages = {
        "bad key": check({**config, "api_key": "sk-wrong"}).message,
        "other workspace key": check({**config, "api_key": OTHER_WORKSPACE_KEY}).message,
        "space": check({**config, "space_id": "vlt_nope"}).message,
        "data source": check({**config, "data_source_id": "dts_nope"}).message,
        "managed": check({**config, "data_source_id": MANAGED_DATA_SOURCE_ID}).message,
        "read only": check({**config, "api_key": READ_ONLY_KEY}).message,
        "workspace": check({**config, "workspace_id": "w_nope"}).message,
    }
    assert "invalid_api_key_error" in messages["bad key"]
    assert "workspace_auth_error" in messages["other workspace key"]
    assert "Space 'vlt_nope'" in messages["space"]
    assert "Data source 'dts_nope' was not found" in messages["data source"]
    assert "managed by a Dust connector" in messages["managed"]
    assert "cannot write" in messages["read only"]
    assert "region" in messages["workspace"]
    assert len(set(messages.values())) == len(messages)


def test_check_reports_the_wrong_region(config, emulator):
    """A workspace lives in one region: the other region's host answers 404 workspace_not_found."""
    emulator.workspace_region = "eu"
    status = check(config)
    assert status.status.value == "FAILED" and "region" in status.message


def test_check_rejects_an_invalid_config_without_a_traceback(config):
    """A typo in the config is a message, not a crash."""
    status = check({**config, "upserts_per_minute": 0})
    assert status.status.value == "FAILED" and "upserts_per_minute" in status.message


def test_limiter_never_lets_more_than_the_limit_start_in_a_window():
    """Shared by every worker: the budget is per workspace, not per thread."""
    limiter = UpsertLimiter(5, window_s=0.5)
    starts: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(4):
            slot = limiter.acquire()
            with lock:
                starts.append(time.monotonic())
            limiter.release(slot)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    assert len(starts) == 16
    assert all(starts[i + 5] - starts[i] >= 0.5 - 0.01 for i in range(len(starts) - 5))


def test_backoff_is_capped_and_jittered():
    """Retries must spread out (jitter) and never wait absurdly long (cap)."""
    waits = [backoff_s(a) for a in range(12)]
    assert all(w <= 30 for w in waits) and waits[0] <= 1
    assert len({round(backoff_s(3), 6) for _ in range(10)}) > 1


def test_list_documents_pages_on_total_and_batches_ids(config, dust, emulator):
    """The list endpoint caps its pages: a client that trusts one page would miss documents."""
    for i in range(130):
        emulator.put_document(f"d-{i:03d}", "x", tags=[f"content_hash:{i}"])
    client = DustClient(DustConfig.model_validate(config), **CLIENT_OPTIONS)
    assert len(list(client.list_documents())) == 130
    wanted = [f"d-{i:03d}" for i in range(0, 130, 2)] + ["missing"]
    found = list(client.list_documents(wanted))
    assert len(found) == 65 and all(d["tags"] for d in found)
    calls = [e for e in dust.log.entries(family="documents") if "document_ids" in e.query]
    assert len(calls) == 2  # 66 ids in batches of 50


def test_hyphenated_paths_are_not_used(config, dust):
    """Seed 002 used `data-sources`, which Dust answers with 404."""
    DustClient(DustConfig.model_validate(config), **CLIENT_OPTIONS).upsert_document("a", {"text": "x"})
    assert all("/data_sources/" in e.path for e in dust.log.entries(family="upserts"))


@pytest.mark.parametrize("field", ["api_key"])
def test_the_key_is_a_secret(field):
    """The key must be masked in Airbyte's logs and never appear in a repr."""
    from destination_dust.config import connection_specification

    assert connection_specification()["properties"][field]["airbyte_secret"] is True
    config = DustConfig(api_key="sk-secret", workspace_id="w", space_id="s", data_source_id="d")
    assert "sk-secret" not in repr(config)


@pytest.mark.parametrize("kind", ["truncated", "malformed"])
@pytest.mark.parametrize("family", ["documents", "upserts", "spaces", "data_sources"])
def test_a_body_cut_short_or_garbled_is_retried_like_a_5xx(config, dust, emulator, kind, family):
    """A truncated body (IncompleteRead) or a 200 that is not JSON is the network's doing: one of them
    must not fail the sync, and a 200 upsert whose answer is garbled must not count as written."""
    dust.faults.add(kind, family=family, times=2)
    client = DustClient(DustConfig.model_validate({**config, "space_id": None}), **CLIENT_OPTIONS)
    client.find_space()
    client.upsert_document("d-1", {"text": "x"})
    assert [d["document_id"] for d in client.list_documents(["d-1"])] == ["d-1"]
    assert "d-1" in emulator.documents()


def test_a_body_that_stays_garbled_fails_as_transient_after_the_retries(config, dust):
    """Retried under the same policy as 5xx: give up after TRANSIENT_ATTEMPTS, as transient_error."""
    dust.faults.add("malformed", family="documents", fraction=1.0)
    client = DustClient(DustConfig.model_validate(config), **CLIENT_OPTIONS)
    with pytest.raises(AirbyteTracedException) as failure:
        list(client.list_documents(["d-1"]))
    assert failure.value.failure_type == FailureType.transient_error
    assert "not JSON" in failure.value.message
    assert dust.log.count(family="documents") == TRANSIENT_ATTEMPTS


def test_without_space_id_the_space_holding_the_data_source_is_found_and_reported(config, dust, emulator):
    """Seed 000's .env has no DUST_SPACE_ID: check must name the space it found, write must use it."""
    spaceless = {k: v for k, v in config.items() if k != "space_id"}
    emulator.spaces["vlt_other"] = {"dts_other": DataSource("dts_other", "Other")}
    status = check(spaceless)
    assert status.status.value == "SUCCEEDED" and f"space {SPACE_ID!r}" in status.message
    client = DustClient(DustConfig.model_validate(spaceless), **CLIENT_OPTIONS)
    assert client.find_space() == SPACE_ID
    client.upsert_document("d-1", {"text": "x"})
    assert "d-1" in emulator.documents()


def test_without_space_id_no_or_several_spaces_holding_it_is_a_config_error(config, emulator):
    """The user must learn which data source was looked for, and where it was found."""
    spaceless = {k: v for k, v in config.items() if k != "space_id"}
    status = check({**spaceless, "data_source_id": "dts_nope"})
    assert status.status.value == "FAILED" and "'dts_nope'" in status.message
    emulator.spaces["vlt_copy"] = {DATA_SOURCE_ID: DataSource(DATA_SOURCE_ID, "Copy")}
    status = check(spaceless)
    assert status.status.value == "FAILED" and f"{SPACE_ID}, vlt_copy" in status.message
    with pytest.raises(AirbyteTracedException) as failure:
        DustClient(DustConfig.model_validate(spaceless), **CLIENT_OPTIONS).find_space()
    assert failure.value.failure_type == FailureType.config_error
