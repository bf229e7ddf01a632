"""Recorded message files (messages/*.jsonl), replayed through write() and through `python main.py write`
against a real Postgres. Each test says what a user would lose if it failed."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from .conftest import WriteFailed, catalog_for, complete, load_lines, streams_in


def states(outputs):
    return [o for o in outputs if o.get("type") == "STATE"]


def replay(run_write, config, name, **modes):
    lines = load_lines(name)
    return run_write(config, catalog_for(streams_in(lines), **modes), lines)


def test_duplicates_collapse(run_write, config, pg_conn):
    """Duplicated records must not duplicate rows."""
    replay(run_write, config, "duplicates")
    assert pg_conn.execute("SELECT id, title FROM issues").fetchall() == [("i-1", "same version again")]
    assert pg_conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
    assert pg_conn.execute("SELECT status FROM sync_log").fetchone()[0] == "completed"


def test_a_garbage_line_fails_the_sync_naming_it_after_committing_what_came_before(run_write, config, pg_conn):
    """Garbage on stdin must say where it is, and must not cost the records accepted before it."""
    with pytest.raises(WriteFailed) as failure:
        replay(run_write, config, "garbage_line")
    assert "line 4 of the input is not an Airbyte message" in failure.value.error
    rows = pg_conn.execute("SELECT id FROM issues ORDER BY id").fetchall()
    assert rows == [("i-1",), ("i-2",)]
    assert pg_conn.execute("SELECT status FROM sync_log").fetchone()[0] == "failed"
    if run_write.mode == "main.py write":
        assert [s["state"]["id"] for s in states(failure.value.outputs)] == [1]


def test_older_version_never_overwrites_newer(run_write, config, pg_conn):
    """An older issue version arriving later (same batch or a later one) must not roll the row back."""
    replay(run_write, config, "out_of_order_versions")
    title, state, closed_at, updated_at = pg_conn.execute(
        "SELECT title, state, closed_at, updated_at FROM issues"
    ).fetchone()
    assert (title, state) == ("newest", "closed")
    assert closed_at == updated_at == dt.datetime(2024, 3, 6, 10)


def test_interleaved_streams_keep_each_others_records(run_write, config, pg_conn):
    """Flushing one stream's buffer (on STATE or batch size) must never drop another stream's records."""
    outputs = replay(run_write, config, "interleaved_streams")
    assert [s["state"]["id"] for s in states(outputs)] == [1, 2, 3]
    assert pg_conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 3
    assert pg_conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2
    assert pg_conn.execute("SELECT id, name FROM accounts ORDER BY id").fetchall() == [
        ("acc-1", "Acme"),
        ("acc-2", "Beta"),
    ]
    assert pg_conn.execute("SELECT name FROM users").fetchall() == [("Bea",)]
    counts = [s["state"]["destinationStats"]["recordCount"] for s in states(outputs)]
    assert counts == [2.0, 3.0, 2.0]  # records of that stream since its previous state


def test_late_state_is_echoed_with_its_id_after_everything(run_write, config, pg_conn):
    """Airbyte ≥ 1.7 fails a sync whose echoed state lacks the source's `id`; the count must match."""
    outputs = replay(run_write, config, "late_state")
    (state,) = states(outputs)
    assert state["state"]["id"] == {"opaque": "id-1"}
    assert state["state"]["destinationStats"] == {"recordCount": 5.0}
    assert state["state"]["stream"]["stream_state"] == {"cursor": "late"}
    assert pg_conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 5


def test_nul_bytes_are_stripped(run_write, config, pg_conn):
    """Postgres rejects \\x00 in text and jsonb: one NUL in a record must not fail the sync."""
    replay(run_write, config, "nul_bytes")
    assert pg_conn.execute("SELECT id, title, body_html, tags FROM issues").fetchone() == (
        "i-1",
        "nultitle",
        "<p>ab</p>",
        ["xy"],
    )
    assert pg_conn.execute("SELECT body_text FROM messages").fetchone()[0] == "hello"
    data = pg_conn.execute("SELECT _airbyte_data FROM ticket_forms").fetchone()[0]
    assert data == {"id": "f-1", "name": "badname", "nested": {"k": "v"}}


def test_reserved_words_and_hostile_stream_names_get_safe_tables(run_write, config, pg_conn):
    """Stream names are user input: SQL keywords, quotes, injection attempts and 80-char names must land
    in their own quoted tables, and never in (or against) the dashboard's tables."""
    replay(run_write, config, "reserved_words")
    tables = {
        row[0]
        for row in pg_conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    }
    assert {"select", "user", "issues_drop_table_issues", "quoted_name", "airbyte_messages"} <= tables
    assert any(t.startswith("a" * 40) and len(t.encode()) <= 63 for t in tables)
    assert pg_conn.execute('SELECT id, _airbyte_data FROM "select"').fetchone() == (
        "1",
        {"id": "1", "user": "x", "order": 2},
    )
    assert pg_conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 0
    assert pg_conn.execute("SELECT id FROM airbyte_messages").fetchone()[0] == "not-pylon"


def test_messages_before_their_issue_are_kept_then_loaded(run_write, config, pg_conn):
    """Messages can arrive before their issue: they must wait (no FK violation), load when it arrives,
    feed first_response_at, and those whose issue never comes must be reported, not dropped."""
    replay(run_write, config, "messages_before_issue")
    assert pg_conn.execute("SELECT id FROM messages ORDER BY id").fetchall() == [("m-1",), ("m-2",), ("m-3",)]
    # earliest team message, though it arrived last: 13:30 UTC
    assert pg_conn.execute("SELECT first_response_at FROM issues").fetchone()[0] == dt.datetime(2024, 3, 4, 13, 30)
    assert pg_conn.execute("SELECT id, issue_id FROM _support_pending_messages").fetchall() == [("m-9", "i-missing")]
    errors = json.loads(pg_conn.execute("SELECT errors FROM sync_log").fetchone()[0])
    assert any("i-missing (1)" in e for e in errors)


def test_seed_business_hours_example(run_write, config, pg_conn):
    """Seed 003: created Friday 17:00 BRT, first team reply Monday 09:00 = 2 business hours."""
    replay(run_write, config, "business_hours_seed")
    rows = dict(
        (r[0], r[1:])
        for r in pg_conn.execute(
            "SELECT id, first_response_at, first_response_hours, resolution_hours, first_response_source FROM issues"
        )
    )
    assert rows["i-1"] == (dt.datetime(2024, 3, 11, 12), 2.0, 5.0, None)
    # Pylon's own first_response_time wins over the messages
    assert rows["i-2"] == (dt.datetime(2024, 3, 8, 20, 30), 0.5, None, "pylon")


def test_an_unanswered_open_issue_has_no_response_or_resolution_hours(run_write, config, pg_conn):
    """0 hours would read as an instant reply on the dashboard: unknown must stay NULL."""
    replay(run_write, config, "unanswered")
    row = pg_conn.execute("SELECT first_response_at, first_response_hours, resolution_hours FROM issues").fetchone()
    assert row == (None, None, None)
    assert pg_conn.execute("SELECT business_hours_between(NULL, now()::timestamp)").fetchone()[0] is None


def test_holidays_do_not_count(run_write, config, pg_conn):
    """A configured holiday (Carnival Tuesday) adds no business hours: Monday 17:00 → Wednesday 09:00 = 2h."""
    replay(run_write, config, "holiday")
    assert pg_conn.execute("SELECT first_response_hours FROM issues").fetchone()[0] == 2.0


def _seed_old_sync(config, pg_conn):
    """A previous sync's data, written by the destination itself."""
    from .conftest import write_in_process

    lines = [
        json.dumps({"type": "RECORD", "record": {"stream": s, "data": d, "emitted_at": 1}})
        for s, d in [("accounts", {"id": "acc-old", "name": "Old"}), ("ticket_forms", {"id": "f-old"})]
    ] + complete("accounts", "ticket_forms")
    write_in_process(config, catalog_for(["accounts", "ticket_forms"]), lines)


def test_overwrite_failing_midway_keeps_the_old_data(run_write, config, pg_conn):
    """An overwrite that dies halfway must leave the previous data in place, never an empty table."""
    _seed_old_sync(config, pg_conn)
    with pytest.raises(WriteFailed) as failure:
        replay(run_write, config, "overwrite_failing", overwrite=["accounts", "ticket_forms"])
    assert "primary key field 'id' is missing" in failure.value.error
    # the old generation stays until a refresh completes; what came before the bad record is committed
    assert pg_conn.execute("SELECT id FROM ticket_forms ORDER BY id").fetchall() == [("f-new",), ("f-old",)]
    assert ("acc-old",) in pg_conn.execute("SELECT id FROM accounts").fetchall()
    statuses = sorted(r[0] for r in pg_conn.execute("SELECT status FROM sync_log"))
    assert statuses == ["completed", "failed"]


def test_overwrite_replaces_once_the_stream_completes(run_write, config, pg_conn):
    """A completed overwrite must leave exactly the new generation."""
    _seed_old_sync(config, pg_conn)
    replay(run_write, config, "overwrite_completes", overwrite=["accounts", "ticket_forms"])
    assert pg_conn.execute("SELECT id FROM ticket_forms").fetchall() == [("f-new",)]
    assert pg_conn.execute("SELECT id FROM accounts").fetchall() == [("acc-new",)]
