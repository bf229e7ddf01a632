"""The write path against the Dust emulator: state echo, skip-unchanged, sync modes, pacing, failures."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_dust import DestinationDust
from emulators.dust.api import MANAGED_DATA_SOURCE_ID

from .conftest import CLIENT_OPTIONS, catalog, complete, configured, record, state, states, write


def ticket(i: int, **changes) -> dict:
    return {"id": i, "title": f"Ticket {i}", "status": "open", "updated_at": "2026-01-02T03:04:05Z", **changes}


def test_state_is_echoed_with_its_id_and_the_record_count(config, emulator):
    """Airbyte >= 1.7 fails a sync whose echoed states lack `id`; the platform compares the counts."""
    messages = [record("tickets", ticket(1)), record("tickets", ticket(2)), state("tickets", 2, state_id=17)]
    messages += [record("tickets", ticket(3)), state("tickets", 3, state_id=18)]
    output = states(write(config, catalog(configured("tickets")), messages))
    assert [s["state"]["id"] for s in output] == [17, 18]
    assert [s["state"]["destinationStats"]["recordCount"] for s in output] == [2.0, 1.0]
    assert output[0]["state"]["stream"]["stream_state"] == {"cursor": 2}
    assert output[0]["state"]["sourceStats"] == {"recordCount": 1.0}
    assert sorted(emulator.documents()) == ["tickets-1", "tickets-2", "tickets-3"]


def test_state_waits_for_every_upsert_before_it(config, emulator):
    """With upserts in flight on several threads, an early echo would let a crash lose records."""
    emulator.latency_s = 0.05
    messages = []
    for batch in range(3):
        messages += [record("tickets", ticket(batch * 10 + i)) for i in range(8)]
        messages.append(state("tickets", batch, state_id=batch))
    seen = []
    destination = DestinationDust(client_options=CLIENT_OPTIONS)
    for message in destination.write({**config, "concurrency": 4}, catalog(configured("tickets")), messages):
        if message["type"] == "STATE":
            seen.append((message["state"]["id"], emulator.upserts_accepted))
    assert [sid for sid, _ in seen] == [0, 1, 2]
    assert all(count >= 8 * (sid + 1) for sid, count in seen)


def test_resync_of_unchanged_data_makes_zero_upserts_and_a_change_exactly_one(config, dust, emulator):
    """Re-sending unchanged documents burns the workspace's 120/min budget for nothing."""
    messages = [record("tickets", ticket(i)) for i in range(30)] + [state("tickets", 30)]
    write(config, catalog(configured("tickets")), messages)
    assert emulator.upserts_accepted == 30
    dust.log.clear()

    write(config, catalog(configured("tickets")), messages)
    assert emulator.upserts_accepted == 30
    assert dust.log.count(family="upserts") == 0
    assert dust.log.count(family="documents") >= 1  # the hashes were read through the list endpoint

    messages[4] = record("tickets", ticket(4, status="closed"))
    write(config, catalog(configured("tickets")), messages)
    assert emulator.upserts_accepted == 31
    assert "Status: closed" in emulator.documents()["tickets-4"].text


def test_duplicates_in_one_sync_end_with_the_last_version(config, emulator):
    """append_dedup: the newest record for a key must win, even with upserts running concurrently."""
    messages = [record("tickets", ticket(1, status=f"s{n}")) for n in range(5)]
    messages.insert(2, state("tickets", 1))
    messages += [record("tickets", ticket(1, status="final")), state("tickets", 2)]
    write(config, catalog(configured("tickets")), messages)
    assert "Status: final" in emulator.documents()["tickets-1"].text


def test_overwrite_deletes_the_streams_stale_documents_only_after_it_completed(config, emulator):
    """An overwrite to a new generation must end with exactly the source's records, only once the stream
    completed, without touching other streams or documents another tool wrote."""
    first = [record("tickets", ticket(i)) for i in range(4)] + [record("notes", {"id": 1, "text": "keep me"})]
    write(config, catalog(configured("tickets", "overwrite"), configured("notes")), [*first, state("tickets", 1)])
    emulator.put_document("foreign-doc", "written by someone else")

    cat = catalog(configured("tickets", "overwrite", generation_id=2, minimum_generation_id=2), configured("notes"))
    second = [record("tickets", ticket(i)) for i in (1, 2)]
    write(config, cat, [*second, state("tickets", 2)])  # no COMPLETE: nothing may go
    assert len(emulator.documents()) == 6
    write(config, cat, [*second, complete("tickets"), state("tickets", 2)])
    assert sorted(emulator.documents()) == ["foreign-doc", "notes-1", "tickets-1", "tickets-2"]


def test_refresh_generation_prunes_like_overwrite(config, emulator):
    """A truncate refresh arrives as append_dedup with minimum_generation_id == generation_id."""
    write(config, catalog(configured("tickets")), [record("tickets", ticket(i)) for i in range(3)])
    refresh = configured("tickets", "append_dedup", generation_id=3, minimum_generation_id=3)
    write(config, catalog(refresh), [record("tickets", ticket(2)), complete("tickets")])
    assert sorted(emulator.documents()) == ["tickets-2"]


def test_upserts_are_paced_under_the_limit_with_no_429(config, dust, emulator):
    """The 120/min window is per workspace: going over it costs 429s and, unpaced, a failed sync."""
    messages = [record("tickets", ticket(i)) for i in range(150)]
    write({**config, "upserts_per_minute": 120, "concurrency": 8}, catalog(configured("tickets")), messages)
    assert emulator.upserts_accepted == 150
    assert [e.status for e in dust.log.entries(family="upserts")].count(429) == 0


def test_429_from_another_integration_is_waited_out(config, dust, emulator):
    """Another tool sharing the workspace can exhaust the window: wait for it, don't fail."""
    dust.faults.add("status", family="upserts", times=3, status=429)
    write(config, catalog(configured("tickets")), [record("tickets", ticket(i)) for i in range(5)])
    assert len(emulator.documents()) == 5


def test_5xx_and_resets_are_retried_then_fail_as_transient(config, dust, emulator):
    """Dust's 5xx and dropped connections are the network's fault: retry, then ask Airbyte to retry."""
    dust.faults.add("status", family="upserts", times=2, status=502)
    dust.faults.add("reset", family="upserts", times=1)
    write(config, catalog(configured("tickets")), [record("tickets", ticket(1))])
    assert "tickets-1" in emulator.documents()

    dust.faults.add("status", family="upserts", fraction=1.0, status=503)
    with pytest.raises(AirbyteTracedException) as failure:
        write(config, catalog(configured("tickets")), [record("tickets", ticket(2))])
    assert failure.value.failure_type == FailureType.transient_error


def test_a_rejected_record_fails_the_sync_naming_stream_document_and_error(config, emulator):
    """`fail` (the default): the user must learn which record Dust refused and why."""
    emulator.plan_document_chars = 12_000
    big = ticket(2, body="word " * 3000)
    with pytest.raises(AirbyteTracedException) as failure:
        write(config, catalog(configured("tickets")), [record("tickets", ticket(1)), record("tickets", big)])
    message = failure.value.message
    assert "tickets-2" in message and "'tickets'" in message and "data_source_quota_error" in message
    assert failure.value.failure_type == FailureType.config_error


def test_skip_and_report_writes_the_rest_and_echoes_states(config, emulator, caplog):
    """`skip_and_report`: one bad record must not block the others, and it must be reported."""
    emulator.plan_document_chars = 12_000
    messages = [record("tickets", ticket(1)), record("tickets", ticket(2, body="word " * 3000)), state("tickets", 2)]
    output = write({**config, "on_rejected_record": "skip_and_report"}, catalog(configured("tickets")), messages)
    assert sorted(emulator.documents()) == ["tickets-1"]
    assert len(states(output)) == 1
    assert "tickets-2" in caplog.text and "data_source_quota_error" in caplog.text


def test_managed_data_source_is_a_config_error(config):
    """Dust refuses API upserts on connector-managed data sources: say so, don't retry."""
    with pytest.raises(AirbyteTracedException) as failure:
        write(
            {**config, "data_source_id": MANAGED_DATA_SOURCE_ID},
            catalog(configured("tickets")),
            [record("tickets", ticket(1))],
        )
    assert failure.value.failure_type == FailureType.config_error
    assert "managed" in failure.value.message


def test_streams_without_primary_key_get_content_ids(config, emulator):
    """Without a key, the same record must map to the same document (no duplicates on re-sync)."""
    cat = catalog(configured("events", "append", primary_key=()))
    messages = [record("events", {"kind": "login", "at": "2026-01-01T00:00:00Z"})] * 2
    write(config, cat, messages)
    write(config, cat, messages)
    assert len(emulator.documents()) == 1
    assert emulator.upserts_accepted == 1


def test_interleaved_streams_keep_their_own_buffers(config, emulator):
    """Flushing one stream's buffer must never drop or mix another's records."""
    messages = []
    for i in range(60):
        messages.append(record("tickets", ticket(i)))
        messages.append(record("notes", {"id": i, "text": f"note {i}"}))
    messages.append(state("notes", 1))
    write(config, catalog(configured("tickets"), configured("notes")), messages)
    names = emulator.documents()
    assert sum(n.startswith("tickets-") for n in names) == 60 and sum(n.startswith("notes-") for n in names) == 60
