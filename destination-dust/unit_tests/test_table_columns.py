"""Table columns: a field's column is a function of its name and the catalog, in every record and every sync."""

from __future__ import annotations

from collections import defaultdict

import pytest

from destination_dust import tables
from destination_dust.generations import GENERATION_COLUMN
from destination_dust.tables import ColumnClash, Columns

from .conftest import record, state, write_process

TABLE = "airbyte_metrics"
SETTINGS = {"streams": [{"name": "metrics", "target": "table"}]}


def metrics_catalog(schema: dict) -> dict:
    return {
        "streams": [
            {
                "stream": {"name": "metrics", "json_schema": schema, "supported_sync_modes": ["incremental"]},
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
                "primary_key": [["id"]],
                "generation_id": 1,
                "minimum_generation_id": 0,
                "sync_id": 1,
            }
        ]
    }


def row(row_id: str, *keys: str) -> dict:
    """A record whose every value names its field and row, so a stored row tells which field filled which column."""
    return record("metrics", {"id": row_id, **{key: f"{key}|{row_id}" for key in keys}})


def fields_per_column(stored: dict[str, dict]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for value in stored.values():
        for column, cell in value.items():
            if column not in ("id", GENERATION_COLUMN):
                found[column].add(cell.split("|")[0])
    return found


def columns_per_field(stored: dict[str, dict]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for column, fields in fields_per_column(stored).items():
        for field in fields:
            found[field].add(column)
    return found


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object"},
        {"type": "object", "properties": {"id": {"type": "string"}, "Created At": {"type": "string"}}},
    ],
    ids=["undeclared", "one-spelling-declared"],
)
def test_colliding_field_names_keep_their_own_column_over_two_syncs(config, emulator, tmp_path, schema):
    """Issue 12 (3): `Created At` / `created_at` and `a-b` / `a_b` in one stream used to take columns in the
    order they arrived: `Created At` landed in `created_at` for one row and in `created_at_3d4433` for another,
    and `created_at` held both fields' values. If this fails, agents querying the table read one field's values
    mixed with another's, and a column's meaning changes from one sync to the next."""
    cfg, cat = {**config, **SETTINGS}, metrics_catalog(schema)
    first = [row("1", "Created At", "a-b"), row("2", "created_at", "a_b"), row("3", "Created At", "a-b", "a_b")]
    write_process(tmp_path, cfg, cat, [*first, state("metrics", 1)])
    after_first = columns_per_field(emulator.rows(TABLE))

    # a new process, whose first record has the other spellings
    second = [row("4", "created_at", "a_b"), row("5", "Created At", "a-b"), row("6", "created_at", "Created At")]
    write_process(tmp_path, cfg, cat, [*second, state("metrics", 2)])
    stored = emulator.rows(TABLE)
    assert sorted(stored) == ["1", "2", "3", "4", "5", "6"]

    assert all(len(fields) == 1 for fields in fields_per_column(stored).values()), fields_per_column(stored)
    every_sync = columns_per_field(stored)
    assert sorted(every_sync) == ["Created At", "a-b", "a_b", "created_at"]
    assert all(len(columns) == 1 for columns in every_sync.values()), every_sync
    assert every_sync == after_first, "a field moved to another column in the second sync"
    assert every_sync["a_b"] == {"a_b"}, "a name that is already a column keeps it"
    if "properties" in schema:
        assert every_sync["Created At"] == {"created_at"}, "a declared field keeps the column it always had"
    else:
        assert every_sync["created_at"] == {"created_at"}


def test_undeclared_columns_are_a_function_of_the_name_and_the_declared_fields():
    """The rule behind the test above: neither the order of arrival nor the other fields seen matter."""
    forwards, backwards = Columns([]), Columns([])
    names = ["Created At", "created_at", "a-b", "a_b", "created_at__3d4433", "_airbyte_raw_id", "", "!"]
    assert [forwards[n] for n in names] == [backwards[n] for n in reversed(names)][::-1]
    assert len({forwards[n] for n in names}) == len(names)
    assert forwards["created_at"] == "created_at" and forwards["Created At"].startswith("created_at__")
    assert all(not forwards[n].startswith("_") for n in names), "`_airbyte_generation_id` stays the connector's"

    declared = Columns(["Created At", "id"])  # a declared property keeps the column it had before this rule
    assert declared["Created At"] == "created_at" and declared["id"] == "id"
    assert declared["created_at"] not in ("created_at", "id")


def test_declared_fields_keep_the_columns_they_had():
    """Existing tables: declared properties map as in earlier versions, or their rows change columns."""
    before = {"first_name": "first_name", "First Name": "first_name_96ce6e", "firstName": "first_name_9cf22f"}
    columns = Columns(list(before))
    assert {key: columns[key] for key in before} == before


def test_two_fields_that_would_share_a_column_are_refused_not_merged(monkeypatch):
    """A 24-bit hash can collide; if two names ever got the same column, one field's values would
    silently overwrite the other's: the record is refused instead (a rejected record)."""
    monkeypatch.setattr(tables, "key_hash", lambda key: "abcdef")
    columns = Columns([])
    assert columns["Created At"] == "created_at__abcdef"
    with pytest.raises(ColumnClash, match="'Created At' and 'CREATED AT'"):
        columns["CREATED AT"]
