"""Rendering: the exact documents for the two presets and a generic record (golden files), and the field rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from destination_dust.config import StreamSettings
from destination_dust.documents import (
    MAX_ID_CHARS,
    RecordContext,
    build_document,
    document_id,
    epoch_ms,
    sanitize_id,
    valid_source_url,
)
from destination_dust.html import html_to_text
from destination_dust.presets import layout_for

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"  # UPDATE_GOLDEN=1 pytest ... rewrites the files


def render(stream: str, name: str, primary_key=(("id",),), **settings):
    data = json.loads((HERE / "records" / f"{name}.json").read_text())
    ctx = RecordContext(stream, [list(p) for p in primary_key], StreamSettings(name=stream, **settings))
    return build_document(data, ctx, layout_for(stream, ctx.settings.preset))


def as_golden(document) -> str:
    meta = {
        "document_id": document.document_id,
        "title": document.title,
        "tags": document.all_tags()[:-1],  # the hash tag changes with any rendering tweak; compared via text
        "timestamp": document.timestamp,
        "source_url": document.source_url,
    }
    return json.dumps(meta, indent=2, ensure_ascii=False) + "\n---\n" + document.section.text()


@pytest.mark.parametrize(
    ("stream", "name", "key"),
    [
        ("issue_documents", "pylon_issue", "id"),
        ("company_documents", "planhat_company", "_id"),
        ("tickets", "generic", "id"),
    ],
)
def test_rendered_documents_match_the_golden_files(stream, name, key):
    """The documents people and agents read: any change to layout must be a deliberate golden update."""
    document = render(stream, name, primary_key=((key,),))
    golden = GOLDEN / f"{name}.txt"
    if UPDATE or not golden.exists():
        golden.write_text(as_golden(document))
    assert as_golden(document) == golden.read_text()


def test_pylon_preset_follows_seed_000_and_adds_the_thread():
    """Seed 000's layout (Metadata/Issue Details/Dates & Times/People/CSAT/External, Description) + Conversation."""
    document = render("issue_documents", "pylon_issue")
    text = document.section.text()
    order = ["## Metadata", "### Issue Details", "### Dates & Times", "### People", "### CSAT Responses",
             "### External Issues", "## Description", "## Conversation"]  # fmt: skip
    assert [text.index(h) for h in order] == sorted(text.index(h) for h in order)
    assert document.title == "Pylon Issue 4821: Enum options for legal form field"
    assert document.document_id == "pylon-issue-205b0e91-b8b6-424b-8c83-1adb2416f037"
    assert {"state:closed", "priority:medium", "account:Payset", "assignee:Bruno Costa"} <= set(document.tags)
    assert document.timestamp == epoch_ms("2025-04-22T08:02:11Z")
    assert document.source_url == "https://app.usepylon.com/issues?issueNumber=4821"
    assert "### Bruno Costa (support, internal note) — 2025-04-21T11:02:00Z" in text
    assert "source-pylon's own rendering" not in text and "<p>" not in text


def test_pylon_preset_tolerates_a_bare_issue():
    """source-pylon may leave any field null: the preset must still produce a document."""
    ctx = RecordContext("issue_documents", [["id"]], StreamSettings(name="issue_documents"))
    document = build_document(
        {"id": "x1", "messages": None, "account": None}, ctx, layout_for("issue_documents", ctx.settings.preset)
    )
    assert document.title == "Pylon Issue x1: (no title)"
    assert "Requester: (Unknown)" in document.section.text()


def test_planhat_preset_uses_real_field_names():
    """Seed 001 read `health`/`owner` wrongly so those tags never appeared: h and the resolved owner are used."""
    document = render("company_documents", "planhat_company", primary_key=(("_id",),))
    assert {"status:customer", "health:72", "phase:Adoption", "owner:Carla Souza"} <= set(document.tags)
    text = document.section.text()
    for heading in (
        "## Basic Information",
        "## Custom Fields",
        "## Conversations",
        "## End Users",
        "## NPS",
        "## Projects",
        "## Assets",
    ):
        assert heading in text
    assert document.timestamp == epoch_ms("2026-01-10T09:30:00.000Z")
    # the company's own score survives next to the list of NPS responses, which has the same key
    basic = text.split("## Basic Information", 1)[1].split("\n## ", 1)[0]
    assert "NPS: 42" in basic


def test_stream_settings_override_the_preset():
    """Per-stream settings beat the defaults: title, tags, timestamp, url, id and excluded fields."""
    document = render(
        "tickets",
        "generic",
        title_field="status",
        tag_fields=["tags", "status"],
        timestamp_field="comments",
        source_url_field="requester.email",
        exclude_fields=["description"],
        id_fields=["subject"],
    )
    assert document.title == "open" and document.section.text().startswith("# open\n")
    assert {"tags:hardware", "tags:urgent", "status:open"} <= set(document.tags)
    assert document.timestamp is None and document.source_url is None
    assert document.document_id == "tickets-Printer_on_fire-" + document.document_id.rsplit("-", 1)[1]
    assert "smoking" not in document.section.text()


def test_ids_are_safe_bounded_and_unique():
    """Dust ids: [A-Za-z0-9_.-], <=128 chars; two different keys must never share a document."""
    assert sanitize_id("tickets-42") == "tickets-42"
    a, b = sanitize_id("t-a/b"), sanitize_id("t-a_b")
    assert a != b and all(c.isalnum() or c in "_.-" for c in a)
    long_a, long_b = sanitize_id("x" * 300 + "a"), sanitize_id("x" * 300 + "b")
    assert len(long_a) <= MAX_ID_CHARS and long_a != long_b
    ctx = RecordContext("s", [["org"], ["id"]], StreamSettings(name="s"))
    assert document_id(ctx, {"org": "o1", "id": 7}) == "s-o1-7"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-08T19:45:59Z", 1736365559000),
        ("2025-01-08T19:45:59.000+00:00", 1736365559000),
        (1736365559, 1736365559000),  # seconds
        (1736365559000, 1736365559000),  # already milliseconds
        ("1736365559", 1736365559000),
        ("not a date", None),
        (None, None),
    ],
)
def test_timestamps_are_epoch_milliseconds(value, expected):
    """Dust stores seconds as-is (dates in 1970): everything must arrive in milliseconds."""
    assert epoch_ms(value) == expected


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://app.usepylon.com/issues?issueNumber=1", True),
        ("http://x.io/a/b", True),
        ("https://x.io//double", False),
        ("ftp://x.io/a", False),
        ("javascript:alert(1)", False),
        ("", False),
        (None, False),
    ],
)
def test_source_url_only_when_dust_accepts_it(url, ok):
    """Dust answers 400 to a bad source_url: an invalid one must be dropped, not sent."""
    assert (valid_source_url(url) is not None) is ok


def test_html_becomes_readable_text():
    """Agents and people read text, not markup."""
    html = '<div><p>Hello&nbsp;<b>there</b></p><ul><li>one</li><li>two</li></ul><script>x()</script><a href="https://a.io">docs</a></div>'
    assert html_to_text(html) == "Hello there\n\n- one\n- two\n\ndocs (https://a.io)"


def test_titles_and_tags_are_capped():
    """Title >512 is a 400 from Dust; tags are capped at 512 like Dust's own connectors."""
    ctx = RecordContext("s", [["id"]], StreamSettings(name="s", tag_fields=["label"]))
    document = build_document(
        {"id": 1, "title": "t" * 900, "label": "l" * 900}, ctx, layout_for("s", ctx.settings.preset)
    )
    assert len(document.title) == 512
    assert all(len(t) <= 512 for t in document.all_tags())


def test_deep_records_render_deep_values_as_json_not_endless_headings():
    """A record nested hundreds deep must neither crash (recursion) nor become hundreds of sub-sections."""
    value: dict = {"leaf": "here"}
    for _ in range(300):
        value = {"a": value}
    ctx = RecordContext("things", [["id"]], StreamSettings(name="things"))
    document = build_document({"id": 1, "x": value}, ctx, layout_for("things", ctx.settings.preset))

    def depth(section, level=0):
        return max([level, *(depth(child, level + 1) for child in section.sections)])

    assert depth(document.section) <= 12
    assert '"leaf": "here"' in document.section.text()
