"""Oversize records become parts; table streams become Dust table rows."""

from __future__ import annotations

import pytest

from destination_dust.client import encode_body
from destination_dust.documents import DustDocument
from destination_dust.sections import Section
from destination_dust.split import DocumentTooLarge, pack, split_document
from destination_dust.tables import column_names, slug

from .conftest import catalog, complete, configured, record, state, write

MAX = 10_000  # the smallest maximum the spec allows


def thread(n_messages: int, size: int = 500) -> dict:
    messages = [
        {"id": f"m{i}", "timestamp": f"2026-01-01T00:{i % 60:02d}:00Z", "author_name": "Ana", "author_kind": "contact",
         "message_html": f"<p>{'x' * size} message {i}</p>"}
        for i in range(n_messages)
    ]  # fmt: skip
    return {
        "id": "i1",
        "number": 1,
        "title": "Long thread",
        "state": "new",
        "updated_at": "2026-01-02T00:00:00Z",
        "messages": messages,
    }


def test_oversize_record_is_split_into_parts_under_the_limit(config, emulator):
    """Dust refuses (403) documents over the plan limit: no document may ever exceed the configured maximum."""
    write(
        {**config, "max_document_chars": MAX},
        catalog(configured("issue_documents")),
        [record("issue_documents", thread(60))],
    )
    documents = emulator.documents()
    assert "pylon-issue-i1" not in documents
    parts = sorted(documents)
    assert parts[0] == "pylon-issue-i1-part1" and len(parts) >= 3
    assert all(len(d.text) <= MAX for d in documents.values())
    count = len(parts)
    assert documents["pylon-issue-i1-part2"].title == f"Pylon Issue 1: Long thread (Part 2 of {count})"
    assert all(d.text.startswith("# Pylon Issue 1: Long thread\n") for d in documents.values())
    joined = "".join(documents[f"pylon-issue-i1-part{i}"].text for i in range(1, count + 1))
    assert all(f"message {i}\n" in joined for i in range(60))  # nothing lost


def test_a_shrinking_document_deletes_parts_that_no_longer_exist(config, emulator):
    """Leftover parts would make agents quote messages that are no longer in the source."""
    cfg, cat = {**config, "max_document_chars": MAX}, catalog(configured("issue_documents"))
    write(cfg, cat, [record("issue_documents", thread(60))])
    before = len(emulator.documents())
    write(cfg, cat, [record("issue_documents", thread(30))])
    after = emulator.documents()
    assert 1 < len(after) < before
    assert all(d.title.endswith(f"of {len(after)})") for d in after.values())

    write(cfg, cat, [record("issue_documents", thread(2))])
    assert sorted(emulator.documents()) == ["pylon-issue-i1"]
    write(cfg, cat, [record("issue_documents", thread(60))])
    assert "pylon-issue-i1" not in emulator.documents()


def test_unchanged_split_document_is_not_resent(config, emulator):
    """Skip-unchanged must hold for parts too."""
    cfg, cat = {**config, "max_document_chars": MAX}, catalog(configured("issue_documents"))
    write(cfg, cat, [record("issue_documents", thread(60))])
    accepted = emulator.upserts_accepted
    write(cfg, cat, [record("issue_documents", thread(60))])
    assert emulator.upserts_accepted == accepted


def test_pack_cuts_a_single_huge_section_at_line_breaks():
    """One enormous message cannot be split at a section boundary: cut at blank lines and lines."""
    section = Section(prefix="# T\n", sections=[Section(prefix="\n## Body\n", content="line\n" * 5000)])
    pieces = pack(section, 2000)
    assert all(p.size() <= 2000 for p in pieces)
    assert "".join(p.text() for p in pieces).count("line\n") == 5000


def test_parts_fit_the_body_limit_in_bytes_not_only_in_characters():
    """Characters are not bytes: 6-byte escapes (control characters) and 4-byte emoji under the character
    limit would still be answered 413; every part's upsert body must fit, and all the text stay."""
    text = "\u0001" * 30_000 + "\U0001f600" * 20_000  # 50k characters, 260k bytes of JSON
    document = DustDocument("d", "T", Section(prefix="# T\n", content=text), "tickets", tags=["a:b"])
    parts = split_document(document, max_chars=100_000, max_body_bytes=60_000)
    assert len(parts) > 4
    assert all(len(encode_body(p.body())) <= 60_000 for p in parts)
    assert "".join(p.section.text().removeprefix("# T\n") for p in parts) == text


def test_a_document_whose_tags_alone_fill_the_body_fails_loudly():
    """Every part repeats the tags: if they alone are over the limit, no split helps; say so."""
    document = DustDocument("d", "T", Section(content="x"), "tickets", tags=[f"t:{i}" for i in range(10_000)])
    with pytest.raises(DocumentTooLarge, match="title and tags alone take"):
        split_document(document, max_chars=100_000, max_body_bytes=50_000)


def test_column_names_are_slugs_and_collisions_are_stable():
    """Dust answers 400 to a column key outside ^[a-z0-9_]+$; two fields must never share a column."""
    assert (
        slug("renewalDate") == "renewal_date" and slug("Contract Type!") == "contract_type" and slug("__") == "column"
    )
    first = column_names(["first_name", "First Name", "firstName"])
    again = column_names(["firstName", "First Name", "first_name"])
    assert first == again and len(set(first.values())) == 3 and first["first_name"] == "first_name"


def test_table_stream_writes_typed_rows_with_stable_ids(config, emulator):
    """Rows: slugged columns, nested values as JSON, datetimes typed, row_id from the primary key."""
    properties = {
        "id": {"type": "integer"},
        "updatedAt": {"type": "string", "format": "date-time"},
        "Owner Name": {"type": "string"},
    }
    cat = catalog(configured("accounts", properties=properties))
    cfg = {**config, "streams": [{"name": "accounts", "target": "table"}]}
    rows = [
        record("accounts", {"id": i, "updatedAt": "2026-01-01T00:00:00Z", "Owner Name": "Ana", "meta": {"a": [1]}})
        for i in range(3)
    ]
    write(cfg, cat, [*rows, state("accounts", 1)])
    tables = emulator.tables()
    assert list(tables) == ["airbyte_accounts"] and tables["airbyte_accounts"]["name"] == "accounts"
    stored = emulator.rows("airbyte_accounts")
    assert sorted(stored) == ["0", "1", "2"]
    assert stored["1"] == {
        "id": 1,
        "updated_at": {"type": "datetime", "epoch": 1767225600000},
        "owner_name": "Ana",
        "meta": '{"a": [1]}',
        "_airbyte_generation_id": 1,
    }
    assert emulator.upserts_accepted == 0  # tables do not spend the document budget


def test_table_rows_go_in_batches_under_the_body_limit_and_never_truncate(config, dust, emulator):
    """Dust answers 413 over 1 MB; a `truncate` would drop rows written by earlier batches or attempts."""
    cat = catalog(configured("accounts", "overwrite", generation_id=2, minimum_generation_id=2))
    cfg = {**config, "streams": [{"name": "accounts", "target": "table"}]}
    write(cfg, catalog(configured("accounts")), [record("accounts", {"id": "old"})])
    dust.log.clear()
    big = "y" * 200_000
    write(cfg, cat, [*(record("accounts", {"id": i, "blob": big}) for i in range(12)), complete("accounts")])
    batches = [e.json() for e in dust.log.entries(family="tables", method="POST") if e.path.endswith("/rows")]
    assert len(batches) >= 3 and all(len(e.body) < 1024 * 1024 for e in dust.log.entries(family="tables"))
    assert not any(b["truncate"] for b in batches)
    assert sorted(emulator.rows("airbyte_accounts"), key=int) == [str(i) for i in range(12)]  # "old" pruned
