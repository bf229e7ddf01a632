"""Seed 003's field mapping, field by field."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from destination_postgres_support.config import CustomFieldSlugs
from destination_postgres_support.generic import fit_identifier, table_name
from destination_postgres_support.html_text import html_to_text
from destination_postgres_support.mapping import MESSAGES, BadValue, core_mappings, issues

from .conftest import catalog_for, write_in_process


def _issue_row(record, slugs=None):
    mapping = issues(slugs or CustomFieldSlugs())
    return dict(zip(mapping.column_names, mapping.row(record), strict=False))


BASE = {"id": "i", "title": "t", "state": "new", "created_at": "2024-01-01T10:00:00.123-03:00"}


def test_custom_fields_object_and_array_forms():
    obj = {
        "custom_fields": {"category": {"slug": "category", "value": "platform-bug"}, "self-servable": {"value": "no"}}
    }
    arr = {"custom_fields": [{"slug": "category", "value": "platform-bug"}, {"slug": "self-servable", "value": "no"}]}
    for form in (obj, arr):
        row = _issue_row({**BASE, **form})
        assert (row["category"], row["self_servable"], row["handler"]) == ("platform-bug", "no", None)


def test_slug_map_is_configurable():
    row = _issue_row({**BASE, "custom_fields": {"kind": {"value": "x"}}}, CustomFieldSlugs(category="kind"))
    assert row["category"] == "x"


def test_relations_tags_and_timestamps():
    row = _issue_row({**BASE, "account": {"id": "a"}, "assignee": {"id": "u"}, "tags": None, "team": {"id": "tm"}})
    assert (row["account_id"], row["assignee_id"], row["team_id"], row["tags"]) == ("a", "u", "tm", [])
    # UTC, sent as timestamptz: the TIMESTAMP(3) column holds it as naive UTC (test_schema reads it back)
    assert row["created_at"] == dt.datetime(2024, 1, 1, 13, 0, 0, 123000, tzinfo=dt.timezone.utc)


def test_closed_at_falls_back_to_resolution_time_of_closed_issues():
    resolved = {"resolution_time": "2024-01-02T00:00:00Z"}
    closed = _issue_row({**BASE, **resolved, "state": "closed"})["closed_at"]
    assert closed == dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    assert _issue_row({**BASE, **resolved})["closed_at"] is None


def test_message_sender_and_text():
    def row(author):
        record = {"id": "m", "issue_id": "i", "timestamp": "2024-01-01T00:00:00Z", "message_html": "<p>a&amp;b</p>"}
        return dict(zip(MESSAGES.column_names, MESSAGES.row({**record, "author": author}), strict=False))

    assert row({"name": "T", "user": {"id": "u"}})["sender_type"] == "team"
    assert row({"name": "C", "contact": {"id": "c"}})["sender_type"] == "customer"
    assert row({"name": "Bot"})["sender_type"] == "system"
    assert row({"name": "T", "user": {"id": "u"}})["body_text"] == "a&b"


def test_html_to_text_keeps_paragraphs_and_drops_tags():
    html = "<p>Hello &amp; welcome,<br>Jane</p><p>Second</p><ul><li>one</li><li>two</li></ul><script>x()</script>"
    assert html_to_text(html) == "Hello & welcome,\nJane\n\nSecond\n\n- one\n- two"
    assert html_to_text("plain &lt;text&gt;") == "plain <text>"


def test_identifiers_fit_63_bytes_and_stay_distinct():
    long_a, long_b = "é" * 40 + "a", "é" * 40 + "b"
    assert len(fit_identifier(long_a).encode()) <= 63
    assert fit_identifier(long_a) != fit_identifier(long_b)
    assert table_name("sync_log") == "airbyte_sync_log"


def _random_value(rng: random.Random, depth: int = 0):
    """A JSON value of any shape, biased towards what the columns read (strings, ids, timestamps)."""
    choices = [
        None,
        "",
        "plain",
        "with\x00nul",
        "2024-03-01T10:00:00Z",
        "2024-03-01T10:00:00.5-03:00",
        "2024-03-01 10:00:00",
        "not a time",
        0,
        7,
        2**40,
        -1,
        3.0,
        2.5,
        True,
        False,
        "12",
    ]
    if depth < 2:
        choices += [
            {"id": rng.choice(["a", None, 5]), "name": rng.choice(["n", None])},
            {"user": {"id": "u"}, "name": "x"},
            {"contact": {"id": "c"}},
            {"value": rng.choice(["v", None]), "values": rng.choice([None, [], ["x", 2]])},
            [rng.choice(["t", {"value": "tv"}, {"name": "tn"}, None, 3]) for _ in range(rng.randint(0, 3))],
            [{"slug": rng.choice(["priority", "category", "handler"]), "value": rng.choice(["p", None])}],
        ]
    value = rng.choice(choices)
    if isinstance(value, dict) and depth < 2 and rng.random() < 0.3:
        value = {**value, "id": _random_value(rng, depth + 1)}
    return value


FIELDS = sorted(
    {
        "id", "title", "state", "priority", "source", "custom_fields", "account", "account_id", "assignee",
        "assignee_id", "created_at", "closed_at", "resolution_time", "first_response_time",
        "first_response_seconds", "business_hours_first_response_seconds", "body_html", "number_of_touches",
        "link", "type", "tags", "updated_at", "requester", "requester_id", "team", "team_id", "name", "domain",
        "primary_domain", "email", "issue_id", "author", "sender", "message_html", "body_text", "timestamp",
        "is_private",
    }
)  # fmt: skip


VALID = {"id": "x", "issue_id": "i", "created_at": "2024-01-01T00:00:00Z", "title": "t", "state": "new"}


@pytest.mark.parametrize("stream", ["issues", "accounts", "users", "issue_messages"])
def test_compiled_rows_match_the_column_by_column_definition(stream):
    """row() runs generated code; reference_row() states the mapping one column at a time. Same rows, same errors."""
    mapping = core_mappings(CustomFieldSlugs())[stream]
    rng = random.Random(stream)
    outcomes = {"row": 0, "error": 0}
    for _ in range(4000):
        if rng.random() < 0.3:
            record = {k: _random_value(rng) for k in FIELDS if rng.random() < 0.6}
        else:  # a valid record with a few fields of any shape, so rows (not only errors) get compared
            record = {**VALID, **{k: _random_value(rng) for k in rng.sample(FIELDS, rng.randint(0, 3))}}
        try:
            expected = mapping.reference_row(record)
        except BadValue as err:
            with pytest.raises(BadValue) as raised:
                mapping.row(record)
            assert str(raised.value) == str(err)
            outcomes["error"] += 1
        else:
            assert mapping.row(record) == expected, record
            outcomes["row"] += 1
    assert min(outcomes.values()) > 800, outcomes


@pytest.mark.parametrize("session_zone", ["UTC", "Asia/Tokyo", "America/Sao_Paulo"])
def test_timestamps_land_as_naive_utc_whatever_the_session_time_zone(pg_url, pg_conn, session_zone):
    """Timestamps go over binary COPY as timestamptz: what lands in TIMESTAMP(3) must not shift with TimeZone."""
    config = {"database_url": f"{pg_url} options='-c TimeZone={session_zone}'"}
    issue = {**BASE, "updated_at": "2024-05-01T12:00:00Z", "closed_at": "2024-01-02T03:04:05.678+09:00"}
    line = {"type": "RECORD", "record": {"stream": "issues", "data": issue, "emitted_at": 1}}
    write_in_process(config, catalog_for(["issues"]), [json.dumps(line)])
    row = pg_conn.execute("SELECT created_at, closed_at, updated_at FROM issues").fetchone()
    assert row == (
        dt.datetime(2024, 1, 1, 13, 0, 0, 123000),
        dt.datetime(2024, 1, 1, 18, 4, 5, 678000),
        dt.datetime(2024, 5, 1, 12, 0),
    )
    assert pg_conn.execute("SELECT last_issue_updated_at FROM sync_log").fetchone()[0] == dt.datetime(2024, 5, 1, 12)
