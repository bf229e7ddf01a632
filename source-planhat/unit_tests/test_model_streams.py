"""The model streams against the Planhat emulator: paging, both sort behaviours, 403 skipping, 401, quota."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import FailureType, Level, SyncMode

from .conftest import config_for, records, states_of, sync


def api_calls(server, path):
    return [e for e in server.log.entries() if e.path == path]


def test_full_read_pages_on_id_until_an_empty_page(planhat):
    """Offset paging must be stable (sort=_id) and end on an EMPTY page, or records go missing."""
    server = planhat()
    out = sync(config_for(server, page_sizes={"endusers": 10}), ["endusers"], mode=SyncMode.full_refresh)

    emulated = server.emulator.data.models["endusers"]
    assert [r["_id"] for r in records(out, "endusers")] == sorted(r["_id"] for r in emulated)
    calls = api_calls(server, "/endusers")
    assert [(c.query["offset"], c.query["limit"], c.query["sort"]) for c in calls] == [
        ("0", "10", "_id"),
        ("10", "10", "_id"),
        ("20", "10", "_id"),
        ("30", "10", "_id"),
        ("36", "10", "_id"),
    ]


def test_a_server_that_silently_caps_limit_loses_nothing(planhat):
    """Stop-on-short-page would end after page one here; the offset must follow what was received."""
    server = planhat(limit_cap=7)
    out = sync(config_for(server), ["conversations", "companies"], mode=SyncMode.full_refresh)

    assert len(records(out, "conversations")) == len(server.emulator.data.models["conversations"]) == 48
    assert len(records(out, "companies")) == 12
    offsets = [c.query["offset"] for c in api_calls(server, "/conversations")]
    assert offsets == ["0", "7", "14", "21", "28", "35", "42", "48"]  # the last page held 6, then empty


def _changed_twice(server, model):
    emulated = server.emulator.data.models[model]
    return [server.emulator.touch(model, emulated[i]["_id"])["_id"] for i in (2, 5)]


def test_incremental_reads_newest_first_and_stops_past_the_cursor(planhat):
    """With a sorting server the second sync costs a page and one probe, and emits only what changed."""
    server = planhat()
    config = config_for(server, lookback_window=0, page_sizes={"conversations": 5})
    first = sync(config, ["conversations"])
    assert len(records(first, "conversations")) == 48
    assert states_of(first)[0].stream.stream_state.updatedAt == max(
        r["updatedAt"] for r in server.emulator.data.models["conversations"]
    )

    changed = _changed_twice(server, "conversations")
    server.log.clear()
    second = sync(config, ["conversations"], state=states_of(first))

    emitted = [r["_id"] for r in records(second, "conversations")]
    assert set(changed) <= set(emitted) and len(emitted) == 3  # the two changes and the old newest (cursor tie)
    sorts = [c.query["sort"] for c in api_calls(server, "/conversations")]
    assert sorts == ["-updatedAt", "updatedAt"]  # one page, then the probe proving the server sorts


def test_incremental_stays_correct_when_the_server_ignores_sort(planhat):
    """An unsorted answer must not stop the read early: everything is read and filtered on the cursor."""
    server = planhat(sort_mode="ignored")
    config = config_for(server, lookback_window=0, page_sizes={"conversations": 5})
    first = sync(config, ["conversations"])
    assert len(records(first, "conversations")) == 48

    changed = _changed_twice(server, "conversations")
    server.log.clear()
    second = sync(config, ["conversations"], state=states_of(first))

    emitted = [r["_id"] for r in records(second, "conversations")]
    assert set(changed) <= set(emitted) and len(emitted) <= 3
    assert len(api_calls(server, "/conversations")) >= 48 // 5 + 1  # read to the empty page


def test_a_page_that_only_looks_sorted_is_verified_before_stopping(planhat):
    """A short page from a non-sorting server can descend by chance; the probe must catch it."""
    server = planhat(sort_mode="ignored")
    config = config_for(server, lookback_window=0, page_sizes={"companies": 1})
    first = sync(config, ["companies"])
    newest_last = server.emulator.data.models["companies"][-1]["_id"]
    server.emulator.touch("companies", newest_last)
    second = sync(config, ["companies"], state=states_of(first))
    assert newest_last in [r["_id"] for r in records(second, "companies")]


def test_start_date_bounds_the_first_incremental_read(planhat):
    server = planhat()
    out = sync(config_for(server, start_date="2025-10-01T00:00:00Z"), ["companies"])
    expected = [c for c in server.emulator.data.models["companies"] if c["updatedAt"] >= "2025-10-01T00:00:00Z"]
    assert sorted(r["_id"] for r in records(out, "companies")) == sorted(c["_id"] for c in expected)


def test_forbidden_model_is_skipped_with_one_warning_and_the_sync_goes_on(planhat):
    """One unpermitted model must not fail the sync (the public connector's worst flaw)."""
    server = planhat(forbidden={"assets"})
    out = sync(config_for(server), ["companies", "assets", "projects"])

    assert not out.errors
    assert len(records(out, "companies")) == 12 and len(records(out, "projects")) == 12
    assert records(out, "assets") == []
    warnings = [m.log.message for m in out.logs if m.log.level == Level.WARN]
    assert len(warnings) == 1
    assert "'assets'" in warnings[0] and "read permission on assets" in warnings[0]


def test_bad_token_or_wrong_region_is_a_config_error_naming_both(planhat):
    server = planhat()
    out = sync(config_for(server, api_token="token-of-api-eu"), ["companies"], expecting_exception=True)
    errors = [e.trace.error for e in out.errors]
    assert errors and errors[0].failure_type == FailureType.config_error
    assert "token" in errors[0].message and "region" in errors[0].message


def test_429_and_5xx_are_retried_until_the_read_succeeds(planhat, no_real_backoff):
    server = planhat()
    server.faults.add("status", family="companies", times=2, status=429)
    server.faults.add("status", family="companies", times=1, status=502)
    out = sync(config_for(server), ["companies"])
    assert not out.errors and len(records(out, "companies")) == 12
    assert len(no_real_backoff) == 3


@pytest.mark.parametrize("kind", ["truncated", "reset", "malformed"])
def test_a_broken_answer_is_retried_like_a_5xx(planhat, no_real_backoff, kind):
    """A body cut short (IncompleteRead, raised by requests as ChunkedEncodingError) failed the sync with the
    CDK's generic system_error (issue 16); source-pylon retried the same fault and succeeded."""
    server = planhat()
    server.faults.add(kind, family="companies", times=2)
    out = sync(config_for(server), ["companies"])
    assert not out.errors and len(records(out, "companies")) == 12
    assert len(no_real_backoff) == 2


def test_paced_under_the_quota_without_a_single_429(planhat):
    """A sync needing more calls than one minute's quota must wait for the window, not hit 429."""
    server = planhat(limits={"api": 20})
    config = config_for(server, requests_per_minute=20, page_sizes={"conversations": 2})
    out = sync(config, ["conversations"], mode=SyncMode.full_refresh)  # 25 calls: over one window
    assert len(records(out, "conversations")) == 48
    statuses = [e.status for e in server.log.entries()]
    assert len(statuses) == 25 and 429 not in statuses
