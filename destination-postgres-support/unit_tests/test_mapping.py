"""Seed 003's field mapping, field by field."""

from __future__ import annotations

import datetime as dt

from destination_postgres_support.config import CustomFieldSlugs
from destination_postgres_support.generic import fit_identifier, table_name
from destination_postgres_support.html_text import html_to_text
from destination_postgres_support.mapping import MESSAGES, issues


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
    assert row["created_at"] == dt.datetime(2024, 1, 1, 13, 0, 0, 123000)  # naive UTC


def test_closed_at_falls_back_to_resolution_time_of_closed_issues():
    resolved = {"resolution_time": "2024-01-02T00:00:00Z"}
    assert _issue_row({**BASE, **resolved, "state": "closed"})["closed_at"] == dt.datetime(2024, 1, 2)
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
