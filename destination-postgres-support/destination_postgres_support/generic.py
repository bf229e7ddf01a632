"""Any stream seed 003 does not model → its own table: primary-key columns, the record as jsonb, and
Airbyte's metadata columns. Nothing a user selects is dropped.

Table and column names come from stream and field names, so they are sanitised, kept apart from the
dashboard's tables, cut to Postgres' 63-byte limit with a hash suffix, and always quoted by the loader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .mapping import BadValue, to_text

MAX_IDENTIFIER_BYTES = 63
_UNSAFE = re.compile(r"[^a-z0-9_]+")
# Tables the destination owns: a generic stream never lands in one of them.
RESERVED_TABLES = frozenset(
    [
        "issues",
        "accounts",
        "users",
        "messages",
        "sync_log",
        "schema_migrations",
        "sla_targets",
        "business_hours_settings",
        "issue_sla_status",
        "_support_pending_messages",
    ]
)
GENERIC_PREFIX = "airbyte_"
META_COLUMNS = (
    ("_airbyte_raw_id", "TEXT NOT NULL"),
    ("_airbyte_extracted_at", "TIMESTAMPTZ"),
    ("_airbyte_loaded_at", "TIMESTAMPTZ NOT NULL DEFAULT now()"),
    ("_airbyte_generation_id", "BIGINT"),
    ("_airbyte_meta", "JSONB"),
    ("_airbyte_cursor", "JSONB"),
    ("_airbyte_data", "JSONB NOT NULL"),
)


def fit_identifier(name: str, limit: int = MAX_IDENTIFIER_BYTES) -> str:
    """`name` cut to `limit` bytes; a cut name ends in a hash of the whole so two long names stay apart."""
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    cut = name.encode()[: limit - 9].decode(errors="ignore")
    return f"{cut}_{digest}"


def sanitize(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name.lower()).strip("_") or "stream"
    if cleaned[0].isdigit():
        cleaned = "_" + cleaned
    return cleaned


def table_name(stream: str, namespace: str | None = None) -> str:
    base = sanitize(f"{namespace}_{stream}" if namespace else stream)
    if base in RESERVED_TABLES or base.startswith("_airbyte") or base.startswith("_support"):
        base = GENERIC_PREFIX + base
    return fit_identifier(base)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """JSON for a jsonb column; jsonb rejects \\u0000, so NULs are removed first when present.

    orjson stops at 254 levels of nesting; the standard library goes on to Python's recursion limit.
    """
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except RecursionError:
            raise BadValue("the record is nested too deeply to store (more than ~900 levels)") from None
        except ValueError as err:
            raise BadValue(str(err)) from None
    if "\\u0000" in text:
        text = orjson.dumps(_strip_nul(value)).decode()
    return text


def _dig(record: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


@dataclass(frozen=True)
class GenericStream:
    stream: str
    namespace: str | None
    table: str
    key_paths: tuple[tuple[str, ...], ...]
    key_columns: tuple[str, ...]
    cursor_path: tuple[str, ...] | None
    dedup: bool
    generation_id: int | None

    @classmethod
    def build(
        cls,
        stream: str,
        namespace: str | None,
        primary_key: list[list[str]] | None,
        cursor_field: list[str] | None,
        dedup: bool,
        generation_id: int | None,
    ) -> GenericStream:
        key_paths = tuple(tuple(path) for path in (primary_key or []) if path)
        columns: list[str] = []
        for path in key_paths:
            column = fit_identifier(sanitize("_".join(path)))
            while column in columns or column.startswith("_airbyte"):
                column = fit_identifier("pk_" + column)
            columns.append(column)
        return cls(
            stream=stream,
            namespace=namespace,
            table=table_name(stream, namespace),
            key_paths=key_paths,
            key_columns=tuple(columns),
            cursor_path=tuple(cursor_field) if cursor_field else None,
            dedup=dedup and bool(key_paths),
            generation_id=generation_id,
        )

    def row(self, record: Mapping[str, Any], emitted_at: Any, meta: Any) -> tuple:
        keys = []
        for path in self.key_paths:
            value = _dig(record, list(path))
            if value is None:
                raise BadValue(f"primary key field {'.'.join(path)!r} is missing")
            keys.append(to_text(value))
        cursor = _dig(record, list(self.cursor_path)) if self.cursor_path else None
        extracted_at = None
        if isinstance(emitted_at, (int, float)) and not isinstance(emitted_at, bool):
            extracted_at = dt.datetime.fromtimestamp(emitted_at / 1000, dt.timezone.utc)
        return (
            *keys,
            str(uuid.uuid4()),
            extracted_at,
            self.generation_id,
            json_text(meta) if meta is not None else '{"changes": []}',
            json_text(cursor) if cursor is not None else None,
            json_text(record),
        )
