"""Records as PyAirbyte writes them from its cache render as the source's own: `_airbyte_*` columns left out,
lower-cased top-level keys found again, naive timestamps read as UTC and spelled like the `Z` form."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from destination_dust.config import StreamSettings
from destination_dust.documents import RecordContext, build_document, epoch_ms, normalize, utc_text
from destination_dust.presets import layout_for

from .conftest import catalog, configured, state, write

RECORDS = Path(__file__).parent / "records"
CACHE_COLUMNS = {
    "_airbyte_raw_id": "06b0ec0d-863f-73e6-8000-f94fd559c7b1",
    "_airbyte_extracted_at": "2026-12-01T12:43:04.389000",
    "_airbyte_meta": {"changes": [], "sync_id": None},
}


def sample(name: str) -> dict:
    return json.loads((RECORDS / f"{name}.json").read_text())


def naive(value):
    """How a timestamp comes back from PyAirbyte's DuckDB cache: no `Z`, the fraction as datetime.isoformat()."""
    return utc_text(value).removesuffix("Z").replace(".000", "") if isinstance(value, str) else value


def from_cache(data: dict) -> dict:
    """The record PyAirbyte sends from its cache: its columns added, top-level keys lower-cased, top-level
    timestamps without their `Z` (nested objects come back as the JSON they were)."""
    return {**{key.lower(): naive(value) for key, value in copy.deepcopy(data).items()}, **CACHE_COLUMNS}


def render(stream: str, data: dict, primary_key: str, declared=()):
    ctx = RecordContext(stream, [[primary_key]], StreamSettings(name=stream), frozenset(declared))
    return build_document(data, ctx, layout_for(stream, ctx.settings.preset))


def same(a, b) -> bool:
    return (a.document_id, a.title, a.section.text(), a.tags, a.timestamp, a.content_hash) == (
        b.document_id,
        b.title,
        b.section.text(),
        b.tags,
        b.timestamp,
        b.content_hash,
    )


def test_airbyte_columns_are_not_part_of_the_document():
    """Otherwise every document written from a cache shows "Airbyte raw id" / "Airbyte extracted at" lines,
    and its hash changes on every sync (a new raw id each time): endless re-uploads."""
    data = sample("generic")
    document = render("tickets", {**data, **CACHE_COLUMNS}, "id")
    assert same(document, render("tickets", data, "id"))
    assert "Airbyte" not in document.section.text()
    assert normalize({"id": 1, **CACHE_COLUMNS}, set()) == {"id": 1}


def test_lower_cased_top_level_keys_are_found_again():
    """PyAirbyte's cache turns Planhat's `updatedAt` into `updatedat`: the preset missed it and showed the
    company's own, older update time as "Last updated", and an `Updatedat` line under Other Details."""
    data = sample("planhat_company")
    lowered = {key.lower(): value for key, value in data.items()}
    assert "updatedat" in lowered and "updatedAt" not in lowered
    document = render("company_documents", lowered, "_id")
    assert same(document, render("company_documents", data, "_id"))
    assert "Updatedat" not in document.section.text()

    # the generic layout finds its fields (here `updatedAt`, the timestamp) and the catalog's spelling
    generic = {"id": 1, "title": "T", "updatedAt": "2026-01-12T14:20:52Z", "renewalDate": "2026-06-30"}
    lowered = {key.lower(): value for key, value in generic.items()}
    declared = list(generic)
    assert same(render("things", lowered, "id", declared), render("things", generic, "id", declared))
    assert render("things", lowered, "id").timestamp == epoch_ms("2026-01-12T14:20:52Z")

    # an exact key always wins, and two spellings of one name are both kept as sent
    assert normalize({"updatedat": 1, "updatedAt": 2}, {"updatedAt"}) == {"updatedat": 1, "updatedAt": 2}
    assert normalize({"updatedat": 1, "UPDATEDAT": 2}, {"updatedAt"}) == {"updatedat": 1, "UPDATEDAT": 2}
    assert normalize({"name": "x"}, {"Name", "NAME"}) == {"name": "x"}  # ambiguous: left alone


def test_naive_timestamps_are_utc_and_spelled_like_the_z_form():
    """A timestamp without an offset is UTC (epoch_ms says so): the text must say the same instant the
    same way, or a document written from the cache differs from the source's on every date."""
    for spelling in ("2026-01-12T14:20:52", "2026-01-12T14:20:52.000Z", "2026-01-12T14:20:52+00:00"):
        assert utc_text(spelling) == "2026-01-12T14:20:52Z"
    assert utc_text("2026-12-01T12:43:04.389000") == utc_text("2026-12-01T12:43:04.389Z") == "2026-12-01T12:43:04.389Z"
    assert utc_text("2026-12-01T12:43:04.000100") == "2026-12-01T12:43:04.000100Z"
    for kept in ("2026-01-12T15:20:52+01:00", "2026-01-12", "2026-02-30T00:00:00", "at 2026-01-12T14:20:52"):
        assert utc_text(kept) == kept, "another offset, a date, no date at all: not ours to rewrite"

    data = {"id": 1, "title": "T", "updated_at": "2026-01-12T14:20:52Z", "nested": {"at": "2026-01-12T14:20:52"}}
    document = render("things", {**data, "updated_at": "2026-01-12T14:20:52"}, "id")
    assert same(document, render("things", data, "id"))
    assert "At: 2026-01-12T14:20:52Z" in document.section.text()


def test_a_write_from_the_cache_after_one_from_the_source_changes_nothing(config, emulator):
    """The documents are a function of the data: re-writing the same companies from PyAirbyte's cache must
    make zero upserts (a differing hash would re-upload every document at 120 a minute)."""
    data = sample("planhat_company")
    cat = catalog(configured("company_documents", primary_key=(("_id",),), properties={"_id": {}, "updatedAt": {}}))

    def message(record: dict, emitted_at: int) -> dict:
        return {"type": "RECORD", "record": {"stream": "company_documents", "data": record, "emitted_at": emitted_at}}

    write(config, cat, [message(data, 1_767_225_600_000), state("company_documents", 1)])
    accepted, texts = emulator.upserts_accepted, {i: d.text for i, d in emulator.documents().items()}
    assert accepted == 1
    # PyAirbyte's emitted_at is in seconds; it must not matter either
    write(config, cat, [message(from_cache(data), 1_767_225_600), state("company_documents", 2)])
    assert emulator.upserts_accepted == accepted
    assert {i: d.text for i, d in emulator.documents().items()} == texts
