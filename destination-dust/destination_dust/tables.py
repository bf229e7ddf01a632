"""A stream with target `table` goes to a Dust table: slugged columns, stable row ids, 1 MB batches.

A field's column is a function of the field's name and the catalog's declared properties, nothing else
(not the order records arrive in, not the other fields seen so far), so it is the same in every record
and every sync, and no two fields share one (README, "Table columns"):
- declared properties: `column_names` of the declared set, as they always were;
- any other field: its own name when that is already a canonical column (`slug(key) == key`) that no
  declared property holds, else `{slug}__{hash}`. A canonical column (a slug) never contains `__`,
  so these two kinds can never meet, whatever fields come later.

Each row carries the generation it was written under (GENERATION_COLUMN); a refresh deletes the rows
of older generations once the stream completed, and never truncates: a truncate on a retried attempt
would throw away the rows the earlier attempt wrote under the same generation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from typing import Any

from .client import DustClient, RecordRejected
from .documents import content_id, epoch_ms, key_values, sanitize_id
from .generations import GENERATION_COLUMN, Generations

logger = logging.getLogger("airbyte")

ROWS_BODY_LIMIT = 1024 * 1024  # Dust's body limit on the rows endpoint (reference/dust-api.md)
ROWS_BODY_BUDGET = ROWS_BODY_LIMIT - 64 * 1024  # room for the envelope and JSON escaping differences
UNDECLARED_SEPARATOR = "__"  # slug() never makes "__": an undeclared field's hashed column is no canonical name
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def slug(name: str) -> str:
    """A column key Dust accepts: ^[a-z0-9_]+$ (camelCase split, everything else underscored)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    return text or "column"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:6]


def column_names(keys: list[str]) -> dict[str, str]:
    """Declared field -> column, collisions resolved deterministically (the same keys always map the same way)."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    # Keys already valid keep their name; the others are placed after them, in sorted order.
    for key in sorted(keys, key=lambda k: (slug(k) != k, k)):
        column = slug(key)
        if column in used:
            column = f"{column}_{key_hash(key)}"
        used.add(column)
        mapping[key] = column
    return mapping


def undeclared_column(key: str, declared: set[str]) -> str:
    """The column of a field the schema does not declare (see the module docstring)."""
    if slug(key) == key and key not in declared:
        return key
    return f"{slug(key)}{UNDECLARED_SEPARATOR}{key_hash(key)}"


class ColumnClash(RuntimeError):
    """Two fields of one stream got the same column (two names with the same slug and 24-bit hash)."""


class Columns:
    """Field -> column for one stream; see the module docstring for the rule."""

    def __init__(self, declared: list[str]) -> None:
        self.mapping = column_names(declared)
        self.declared = set(self.mapping.values())
        self.owners = {column: key for key, column in self.mapping.items()}

    def __getitem__(self, key: str) -> str:
        column = self.mapping.get(key)
        if column is None:
            column = undeclared_column(key, self.declared)
            owner = self.owners.setdefault(column, key)
            if owner != key:  # no silent merge of two fields, however unlikely
                raise ColumnClash(
                    f"fields {owner!r} and {key!r} both map to column {column!r}; declare one of them in the "
                    "stream's schema or leave one out at the source"
                )
            self.mapping[key] = column
        return column


def is_datetime_schema(schema: dict) -> bool:
    return schema.get("format") == "date-time" or str(schema.get("airbyte_type", "")).startswith("timestamp")


class TableWriter:
    """Buffers one stream's rows and sends them in batches under the body limit."""

    def __init__(
        self,
        client: DustClient,
        stream: dict,
        primary_key: list[list[str]],
        generation: int | None,
        id_fields: list[str],
    ):
        self.client = client
        self.stream_name = stream["name"]
        self.table_id = sanitize_id(f"airbyte_{slug(self.stream_name)}")
        self.properties: dict[str, dict] = (stream.get("json_schema") or {}).get("properties") or {}
        self.columns = Columns(list(self.properties))
        self.key_fields = id_fields or [".".join(path) for path in primary_key]
        self.generation = generation
        self.rows: dict[str, dict] = {}
        self.size = 0
        self.created = False
        self.sent_batches = 0
        self.rows_sent = 0

    def column(self, key: str) -> str:
        return self.columns[key]

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None  # JSON's 1e400 reads as infinity, which no JSON body can carry
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        if isinstance(value, str) and (is_datetime_schema(self.properties.get(key) or {}) or ISO_DATETIME.match(value)):
            epoch = epoch_ms(value)
            if epoch is not None:
                return {"type": "datetime", "epoch": epoch}
        return value

    def row_id(self, record: dict) -> str:
        """From the key (a record missing part of it raises MissingKey: documents.py); a hash without one."""
        if self.key_fields:
            return sanitize_id("-".join(str(v) for v in key_values(record, self.key_fields)))
        return content_id(record)

    def add(self, record: dict) -> None:
        value = {self.column(k): self.value(k, v) for k, v in record.items()}
        value[GENERATION_COLUMN] = self.generation
        row = {"row_id": self.row_id(record), "value": value}
        size = len(json.dumps(row, ensure_ascii=False).encode()) + 1
        if size > ROWS_BODY_BUDGET:
            raise RecordRejected(
                413, "row_too_large", f"row {row['row_id']} is {size} bytes, over Dust's 1 MB body limit"
            )
        if self.size + size > ROWS_BODY_BUDGET:
            self.flush()
        previous = self.rows.pop(row["row_id"], None)
        if previous is not None:
            self.size -= len(json.dumps(previous, ensure_ascii=False).encode()) + 1
        self.rows[row["row_id"]] = row
        self.size += size

    def ensure_table(self) -> None:
        if not self.created:
            self.client.upsert_table(
                {
                    "table_id": self.table_id,
                    "name": slug(self.stream_name),
                    "title": self.stream_name,
                    "description": f"Records of the Airbyte stream {self.stream_name}.",
                }
            )
            self.created = True

    def flush(self) -> None:
        if not self.rows:
            return
        self.ensure_table()
        self.client.upsert_rows(self.table_id, list(self.rows.values()))
        self.sent_batches += 1
        self.rows_sent += len(self.rows)
        self.rows, self.size = {}, 0

    def prune(self, generations: Generations) -> int:
        """After the stream completed: delete the rows of older generations; returns how many.

        The table is created first, so a refresh that brought no rows still leaves an (empty) table.
        """
        self.flush()
        self.ensure_table()
        stale = [
            row["row_id"]
            for row in self.client.list_rows(self.table_id)
            if generations.is_stale((row.get("value") or {}).get(GENERATION_COLUMN))
        ]  # listed in full before deleting: deleting while paging on offsets would skip rows
        for row_id in stale:
            self.client.delete_row(self.table_id, row_id)
        return len(stale)
