"""The issues stream: exact search requests, 30-day slices, exclusive bounds, lookback, dedupe, state."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airbyte_cdk.models import (
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    StreamDescriptor,
    SyncMode,
)

from .conftest import make_config


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def stream_state(name: str, value: dict) -> AirbyteStateMessage:
    return AirbyteStateMessage(
        type=AirbyteStateType.STREAM,
        stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=name), stream_state=AirbyteStateBlob(value)),
    )


def is_probe(entry) -> bool:
    """A one-result search asking whether a year-long span holds any issue (SyncCache.first_active)."""
    return entry.json().get("limit") == 1


def search_windows(server, probes: bool = False) -> list[tuple[datetime, datetime | None]]:
    """(after, before) of each search (or of each probe); the last window is open-ended (before None)."""
    windows = []
    for entry in server.log.entries(family="issues_search"):
        if is_probe(entry) != probes:
            continue
        tree = entry.json()["filter"]
        if tree["operator"] == "and":
            after, before = tree["subfilters"]
            assert (before["field"], before["operator"]) == ("updated_at", "time_is_before")
        else:
            after, before = tree, None
        assert (after["field"], after["operator"]) == ("updated_at", "time_is_after")
        windows.append((_t(after["value"]), _t(before["value"]) if before else None))
    return windows


def test_search_requests_are_30_day_windows_widened_by_a_second(pylon, sync):
    """Exclusive time_is_after/before: without the 1 s widening, issues exactly on a slice bound vanish."""
    server = pylon(size=40)
    result = sync(server, "issues")

    epoch = _t(server.emulator.landmarks()["epoch"])
    windows = search_windows(server)
    assert windows[0][0] == epoch - timedelta(seconds=1)
    for (after, before), (next_after, _) in zip(windows, windows[1:], strict=False):
        assert before - after == timedelta(days=30, seconds=2)
        assert next_after == before - timedelta(seconds=2)  # consecutive windows overlap by the widening
    # The last window is open-ended, so issues updated while the sync runs are read too.
    assert windows[-1][1] is None
    assert windows[-1][0] >= datetime.now(timezone.utc) - timedelta(days=31)
    bodies = [e.json() for e in server.log.entries(family="issues_search") if not is_probe(e)]
    assert all(b["limit"] == 999 and "cursor" not in b for b in bodies)  # one page each at the maximum size
    # two years of history: the first year-long span is probed, holds issues, and costs just that probe
    assert search_windows(server, probes=True) == [
        (epoch - timedelta(seconds=1), epoch + timedelta(days=365, seconds=1))
    ]

    ids = [r["id"] for r in result.records("issues")]
    assert len(ids) == len(set(ids)) == 40
    boundary = set(server.emulator.landmarks()["boundary_updated_at"])
    on_bounds = [r for r in result.records("issues") if r["updated_at"] in boundary]
    assert len(on_bounds) == 6  # every pinned issue on a 30-day bound, including two in the same second


def test_a_start_date_years_before_the_first_issue_skips_the_empty_years(pylon, sync):
    """The default start date predates Pylon: one search per empty 30-day window was ~4 minutes of a first sync."""
    server = pylon(size=40)
    epoch = _t(server.emulator.landmarks()["epoch"])
    start = epoch - timedelta(days=4 * 365 + 20)
    result = sync(server, "issues", config=make_config(server, start_date=start.strftime("%Y-%m-%dT%H:%M:%SZ")))

    probes = search_windows(server, probes=True)
    assert [after + timedelta(seconds=1) for after, _ in probes] == [start + timedelta(days=365 * k) for k in range(5)]
    windows = search_windows(server)
    first = start + timedelta(days=4 * 365, seconds=-1)  # 20 days before the first issue
    assert windows[0][0] == first and all(after >= first for after, _ in windows)  # the empty years: 4 probes
    assert result.requests["issues_search"] == len(probes) + len(windows)
    assert len({r["id"] for r in result.records("issues")}) == 40


def test_a_first_sync_starts_its_windows_near_the_first_issue_not_at_its_year_long_span(pylon, sync):
    """Issue 12: with the first issue 11 months into the first span that holds one, the sync searched 11 empty
    30-day windows (48 searches here; ~33 s more at Pylon's 20 a minute). Halving the span costs 3 probes."""
    server = pylon(size=40)
    epoch = _t(server.emulator.landmarks()["epoch"])
    first_issue = min(_t(i["updated_at"]) for i in server.emulator.data.issues)
    start = epoch - timedelta(days=330)
    result = sync(server, "issues", config=make_config(server, start_date=start.strftime("%Y-%m-%dT%H:%M:%SZ")))

    probes, windows = search_windows(server, probes=True), search_windows(server)
    assert probes[0] == (start - timedelta(seconds=1), start + timedelta(days=365, seconds=1))  # the span
    assert len(probes) == 1 + 3  # then halved three times, to less than 60 days before its issue
    first_window = windows[0][0] + timedelta(seconds=1)
    assert first_issue - timedelta(days=60) <= first_window <= first_issue  # at most one empty window
    spent = result.requests["issues_search"]
    assert spent == len(probes) + len(windows)
    windows_from_span_start = -(-(datetime.now(timezone.utc) - start) // timedelta(days=30))  # ceil
    assert spent <= 1 + windows_from_span_start - 8  # 40 searches, where the span alone cost 48
    assert len({r["id"] for r in result.records("issues")}) == 40


def test_an_incremental_sync_with_a_cursor_months_old_starts_its_windows_near_the_next_change(pylon, sync):
    """Found by the model histories: the part of the range shorter than a year was never probed, so a sync whose
    cursor was months old (the seeds end 2026-01-15; the one change is now) searched 9+ empty windows first."""
    server = pylon(size=40)
    newest = max(_t(i["updated_at"]) for i in server.emulator.data.issues)
    changed = server.emulator.update_issue(server.emulator.data.issues[0]["id"], title="Changed now")
    cursor = newest + timedelta(days=8)  # past the lookback: nothing but the change is after it
    result = sync(
        server, "issues", state=[stream_state("issues", {"updated_at": cursor.strftime("%Y-%m-%dT%H:%M:%SZ")})]
    )

    probes, windows = search_windows(server, probes=True), search_windows(server)
    change = _t(changed["updated_at"])
    assert change - cursor > timedelta(days=300)  # the gap this test is about (it grows with the date)
    assert probes and probes[0][0] < cursor and probes[0][1] >= change - timedelta(days=1)  # the span, probed
    assert len(probes) <= 1 + 3  # then halved to less than two windows before the change
    assert change - timedelta(days=60) <= windows[0][0] + timedelta(seconds=1)  # at most one empty window
    assert result.requests["issues_search"] == len(probes) + len(windows) <= 6  # where every window cost 11+
    assert [r["id"] for r in result.records("issues")] == [changed["id"]]


def test_pagination_follows_cursors_until_has_next_page_is_false(pylon, sync):
    """A connector that stops on an empty cursor or ignores has_next_page loses whole pages of issues."""
    server = pylon(size=60, page_cap=4)  # the server returns at most 4 per page whatever we ask
    result = sync(server, "issues")

    assert len({r["id"] for r in result.records("issues")}) == 60
    searches = [e.json() for e in server.log.entries(family="issues_search")]
    assert any("cursor" in body for body in searches)
    assert all(e.status == 200 for e in server.log.entries())


def test_incremental_sync_applies_lookback_and_emits_only_changed_issues(pylon, sync):
    """The lookback re-searches the last hour; issues already emitted at that version are not emitted again."""
    server = pylon(size=30)
    first = sync(server, "issues")
    state = first.final_state()
    cursor = _t(first.states("issues")[-1]["updated_at"])

    issues = server.emulator.data.issues
    changed = [issues[3]["id"], issues[17]["id"]]
    for issue_id in changed:
        server.emulator.update_issue(issue_id, state="on_hold")
    second = sync(server, "issues", state=state)

    assert sorted(r["id"] for r in second.records("issues")) == sorted(changed)
    assert all(r["state"] == "on_hold" for r in second.records("issues"))
    (after, _), *_ = search_windows(server)
    assert after == cursor - timedelta(minutes=60) - timedelta(seconds=1)


def test_lookback_finds_an_issue_indexed_late(pylon, sync):
    """An issue whose updated_at is older than the saved cursor (indexed late) is still read within the lookback."""
    server = pylon(size=10)
    first = sync(server, "issues")
    cursor = _t(first.states("issues")[-1]["updated_at"])
    late = server.emulator.add_issue(updated_at=(cursor - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))

    second = sync(server, "issues", state=first.final_state())
    assert [r["id"] for r in second.records("issues")] == [late["id"]]


def test_state_is_checkpointed_per_window(pylon, sync):
    server = pylon(size=40)
    result = sync(server, "issues")
    cursors = [s["updated_at"] for s in result.states("issues") if s]
    assert len(cursors) >= 30 and cursors == sorted(cursors)  # one per window at least, never moving back
    # After a whole read the cursor is the sync's start, not the last update: the next sync searches one window.
    assert _t(cursors[-1]) >= datetime.now(timezone.utc) - timedelta(minutes=5)
    second = sync(server, "issues", state=result.final_state())
    assert second.requests["issues_search"] == 1 and not second.records("issues")


def test_custom_fields_array_form_and_tags_are_normalised(pylon, sync):
    """Seed 003 describes custom_fields as an array: both forms must land as one object keyed by slug."""
    server = pylon(size=15, custom_fields_form="array")
    records = sync(server, "issues").records("issues")
    with_fields = [r for r in records if r["custom_fields"]]
    assert with_fields
    for record in with_fields:
        assert isinstance(record["custom_fields"], dict)
        for slug, value in record["custom_fields"].items():
            assert value["slug"] == slug and set(value) == {"slug", "value", "values"}
    assert all(r["tags"] is None or all(isinstance(t, str) for t in r["tags"]) for r in records)


def test_full_refresh_reads_everything_from_start_date_ignoring_state(pylon, sync):
    server = pylon(size=12)
    state = [stream_state("issues", {"updated_at": "2030-01-01T00:00:00Z"})]
    result = sync(server, "issues", state=state, mode=SyncMode.full_refresh)
    assert len(result.records("issues")) == 12


def test_unreadable_state_falls_back_to_start_date(pylon, sync):
    server = pylon(size=8)
    result = sync(server, "issues", state=[stream_state("issues", {"updated_at": "yesterday"})])
    assert len(result.records("issues")) == 8


def test_start_date_as_a_plain_date(pylon, sync):
    server = pylon(size=8)
    config = make_config(server, start_date="2024-01-01")
    assert len(sync(server, "issues", config=config).records("issues")) == 8
