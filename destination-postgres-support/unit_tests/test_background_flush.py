"""Batches are written on a background thread while the next one is parsed: its failures and the STATE
ordering must be exactly what a synchronous writer would give."""

from __future__ import annotations

import json
import random

import psycopg
import pytest
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_postgres_support import DestinationPostgresSupport
from destination_postgres_support.html_text import _feed_simple, _TextBuilder, _TextParser
from destination_postgres_support.loader import PostgresBackend
from destination_postgres_support.migrate import migrate

from .conftest import catalog_for, complete, write_subprocess

FAIL_ON_TITLE = """
CREATE FUNCTION fail_on_boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.title = 'boom' THEN RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fail_on_boom BEFORE INSERT ON issues FOR EACH ROW EXECUTE FUNCTION fail_on_boom();
"""


def _record(n: int, title: str = "t") -> str:
    data = {"id": f"i-{n}", "title": title, "state": "new", "created_at": "2024-01-01T00:00:00Z"}
    return json.dumps({"type": "RECORD", "record": {"stream": "issues", "data": data, "emitted_at": 1}})


def _state(state_id: int) -> str:
    return json.dumps({"type": "STATE", "state": {"type": "LEGACY", "data": {"n": state_id}, "id": state_id}})


# batch_size 2: [i-1, i-2] commits, STATE 1; [i-3 boom, i-4] fails on a flush thread; STATE 2 must never
# be echoed. [i-5, i-6] may commit on the other lane meanwhile: an upsert the platform re-sends anyway.
LINES = [_record(1), _record(2), _state(1), _record(3, "boom"), _record(4), _state(2), _record(5), _record(6)]


@pytest.fixture
def failing_issues(config, pg_conn):
    with pg_conn.transaction():
        migrate(pg_conn, "public")
        pg_conn.execute(FAIL_ON_TITLE)
    return config


def _assert_failed_after_state_1(pg_conn, states):
    assert [s["state"]["id"] for s in states] == [1]
    written = {r[0] for r in pg_conn.execute("SELECT id FROM issues")}
    assert {"i-1", "i-2"} <= written and not written & {"i-3", "i-4"}
    assert pg_conn.execute("SELECT status FROM sync_log").fetchone()[0] == "failed"


def test_background_flush_failure_fails_the_sync_and_echoes_no_later_state(failing_issues, pg_conn):
    """If a failed background batch were lost, or a later STATE echoed, the platform would checkpoint past
    records that never reached the database."""
    states = []
    with pytest.raises(AirbyteTracedException) as failure:
        for message in DestinationPostgresSupport().write(failing_issues, catalog_for(["issues"]), LINES):
            states.append({"state": {"id": message.state.id}})
    assert failure.value.failure_type.value == "transient_error"  # 40001: classified as on the main thread
    assert "injected" in failure.value.internal_message
    _assert_failed_after_state_1(pg_conn, states)


def test_background_flush_failure_in_the_cli_exits_non_zero_with_its_failure_type(failing_issues, pg_conn, tmp_path):
    code, outputs = write_subprocess(failing_issues, catalog_for(["issues"]), LINES, tmp_path)
    assert code == 1
    assert outputs[-1]["trace"]["error"]["failure_type"] == "transient_error"
    _assert_failed_after_state_1(pg_conn, [o for o in outputs if o["type"] == "STATE"])


def test_states_go_out_in_order_each_after_its_records_committed(config, pg_url):
    """A STATE echoed before its records commit would lose them in a crash; out of order, it would skip some."""
    lines = []
    for n in range(1, 21):
        lines.append(_record(n))
        if n % 3 == 0:
            lines.append(_state(n))
    seen = []
    for message in DestinationPostgresSupport().write(config, catalog_for(["issues"]), lines):
        with psycopg.connect(pg_url) as other:
            seen.append((message.state.id, other.execute("SELECT count(*) FROM issues").fetchone()[0]))
    assert [state_id for state_id, _ in seen] == list(range(3, 21, 3))
    assert all(committed >= state_id for state_id, committed in seen)


def test_frequent_checkpoints_do_not_shrink_batches(config, mocker):
    """source-pylon checkpoints every 500 records: a commit per STATE would load in tiny batches."""
    merges = mocker.spy(PostgresBackend, "merge_core")
    lines = []
    for n in range(1, 41):
        lines += [_record(n), _state(n)]
    outputs = list(DestinationPostgresSupport().write({**config, "batch_size": 20}, catalog_for(["issues"]), lines))
    assert [m.state.id for m in outputs] == list(range(1, 41))
    assert merges.call_count == 2  # two full batches of 20, not 40 batches of 1


def test_issue_batches_record_their_watermark_and_placeholder_parents(config, pg_conn):
    """sync_log's watermark and the placeholder accounts/users are read from the rows in Python, not SQL."""
    records = [
        {"id": "i-1", "title": "a", "state": "new", "created_at": "2024-01-01T00:00:00Z", "account": {"id": "acc"}},
        {
            "id": "i-2",
            "title": "b",
            "state": "new",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-05-01T00:00:00Z",
            "assignee": {"id": "usr"},
        },
        {
            "id": "i-3",
            "title": "c",
            "state": "new",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-04-01T00:00:00Z",
            "account": {"id": "acc"},
        },
    ]
    lines = [
        json.dumps({"type": "RECORD", "record": {"stream": "issues", "data": r, "emitted_at": 1}}) for r in records
    ]
    list(DestinationPostgresSupport().write(config, catalog_for(["issues"]), lines))
    assert pg_conn.execute("SELECT id, name FROM accounts").fetchall() == [("acc", "acc")]
    assert pg_conn.execute("SELECT id, name FROM users").fetchall() == [("usr", "usr")]
    watermark = pg_conn.execute("SELECT last_issue_updated_at FROM sync_log").fetchone()[0]
    assert watermark.isoformat() == "2024-05-01T00:00:00"


def _parsed_by_html_parser(html: str) -> str:
    builder = _TextBuilder()
    parser = _TextParser(builder)
    parser.feed(html)
    parser.close()
    return builder.text()


PIECES = [
    "<p>",
    "</p>",
    '<P class="x">',
    "<br>",
    "<br/>",
    "<br />",
    "<BR>",
    "<div>",
    "</div>",
    "<ul>",
    "</ul>",
    "<li>",
    "</li>",
    "<ol>",
    "</ol>",
    '<a href="https://x.y/?a=1&amp;b=2">',
    "</a>",
    "<strong>",
    "</strong>",
    "<span style='color: red'>",
    "</span>",
    "<pre>",
    "</pre>",
    "<td>",
    "<th>",
    "<tr>",
    "<table>",
    "</table>",
    "<h2>",
    "</h2>",
    '<img src="a.png" alt=""/>',
    "<hr/>",
    "<p/>",
    "<input disabled/>",
    "text",
    " spaced   words ",
    "\n",
    "\t",
    "a > b",
    "&amp;",
    "&lt;3",
    "&nbsp;",
    "&#233;",
    "&notanentity",
    "caf\u00e9",
    "  ",
    "\r\n",
    # not simple: html.parser takes these
    "<!-- note -->",
    "<script>x()</script>",
    "<style>p{}</style>",
    "a < b",
    "<a href=x/>",
    "<custom-tag>",
    '</p class="x">',
    '<p\vclass="x">',
    "<title>t</title>",
    "<",
]


def test_fast_html_tokenizer_matches_html_parser():
    """body_text must not depend on which tokenizer read the message."""
    rng = random.Random(3)
    fast = 0
    for _ in range(5000):
        html = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))
        builder = _TextBuilder()
        if _feed_simple(builder, html):
            fast += 1
            assert builder.text() == _parsed_by_html_parser(html), html
    assert fast > 1000  # the generator does exercise the fast path


def test_a_held_state_waits_no_longer_than_its_deadline(config, pg_url, monkeypatch):
    """A slow source must still see its checkpoints echoed: past the deadline the buffer is flushed."""
    monkeypatch.setattr("destination_postgres_support.writer.STATE_MAX_WAIT_S", 0.0)
    lines = []
    for n in range(1, 7):
        lines += [_record(n), _state(n)]
    seen = []
    for message in DestinationPostgresSupport().write(config, catalog_for(["issues"]), lines):
        with psycopg.connect(pg_url) as other:
            seen.append((message.state.id, other.execute("SELECT count(*) FROM issues").fetchone()[0]))
    # each STATE goes out once its own batch committed (the next one may have committed on the other lane)
    assert [state_id for state_id, _ in seen] == list(range(1, 7))
    assert all(n <= committed <= n + 1 for n, committed in seen), seen


SLOW_ISSUE_BATCHES = """
CREATE TABLE batch_log (pid INT, started TIMESTAMPTZ, ended TIMESTAMPTZ);
CREATE FUNCTION slow_batch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE started TIMESTAMPTZ := clock_timestamp();
BEGIN
    PERFORM pg_sleep(0.2);
    INSERT INTO batch_log VALUES (pg_backend_pid(), started, clock_timestamp());
    RETURN NULL;
END $$;
CREATE TRIGGER slow_batch AFTER INSERT ON issues FOR EACH STATEMENT EXECUTE FUNCTION slow_batch();
"""


def test_two_lanes_load_disjoint_issue_batches_at_once_and_echo_states_in_order(config, pg_conn, mocker):
    """The second connection is what gets Postgres a second core; the result must not depend on it."""
    with pg_conn.transaction():
        migrate(pg_conn, "public")
        pg_conn.execute(SLOW_ISSUE_BATCHES)  # each batch takes 0.2 s: the next one is parsed long before
    lines = []
    for n in range(1, 201):
        lines.append(_record(n, title=f"title {n}"))
        if n % 25 == 0:
            lines.append(_state(n))
    lines += complete("issues")
    outputs = list(DestinationPostgresSupport().write({**config, "batch_size": 20}, catalog_for(["issues"]), lines))
    assert [m.state.id for m in outputs] == list(range(25, 201, 25))
    batches = pg_conn.execute("SELECT pid, started, ended FROM batch_log ORDER BY started").fetchall()
    assert len(batches) == 10 and len({pid for pid, _, _ in batches}) == 2
    assert any(b[1] < a[2] for a, b in zip(batches, batches[1:], strict=False)), "no two batches loaded at once"
    rows = pg_conn.execute("SELECT id, title FROM issues ORDER BY id").fetchall()
    assert sorted(rows) == sorted((f"i-{n}", f"title {n}") for n in range(1, 201))
    assert pg_conn.execute("SELECT issues_synced, status FROM sync_log").fetchone() == (200, "completed")


def test_a_refused_extra_connection_loads_on_the_lanes_it_has(config, pg_conn, mocker, caplog):
    """A server near its connection limit must not fail a sync that one connection can load."""
    twin = PostgresBackend.twin
    calls = []

    def refuse_the_second(self):
        calls.append(1)
        if len(calls) == 2:
            raise psycopg.OperationalError("FATAL: sorry, too many clients already")
        return twin(self)

    mocker.patch.object(PostgresBackend, "twin", refuse_the_second)
    lines = [_record(n) for n in range(1, 11)] + [_state(10)]
    outputs = list(DestinationPostgresSupport().write({**config, "batch_size": 3}, catalog_for(["issues"]), lines))
    assert [m.state.id for m in outputs] == [10]
    assert pg_conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 10
    assert "loading on 1 connection(s) instead of 2" in caplog.text and "too many clients" in caplog.text
