"""Pylon streams → rows of seed 003's tables, as data: one `TableMapping` per stream.

Each column names where its value comes from (a getter over the raw record) and its kind (how the value is
checked and converted for binary COPY). Seed 003's field-mapping table, column by column; the loader adds
`synced_at` and the computed columns (first_response_hours, resolution_hours) in SQL.

Records are parsed JSON, so objects are plain dicts: getters test `isinstance(x, dict)`, several times cheaper
than the `Mapping` ABC, on a path that runs ~25 times per record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from .config import CustomFieldSlugs
from .html_text import html_to_text

Getter = Callable[[Mapping[str, Any]], Any]

# kind → (temp-table type, binary COPY type)
PG_TYPES = {
    "text": ("TEXT", "text"),
    "int": ("INTEGER", "int4"),
    "ts": ("TIMESTAMP(3)", "timestamp"),
    "tags": ("TEXT[]", "text[]"),
    "bool": ("BOOLEAN", "bool"),
}
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
UTC = dt.timezone.utc


class BadValue(ValueError):
    """A field whose value cannot become its column's type."""


def strip_nul(text: str) -> str:
    # Postgres text cannot hold \x00.
    return text.replace("\x00", "") if "\x00" in text else text


def to_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, (dict, list)):
        return strip_nul(orjson.dumps(value).decode())
    return str(value)


def to_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValue(f"expected an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise BadValue(f"expected an integer, got {value[:40]!r}") from None
    if not isinstance(value, int):
        raise BadValue(f"expected an integer, got {type(value).__name__}")
    if not INT4_MIN <= value <= INT4_MAX:
        raise BadValue(f"{value} does not fit a 32-bit INTEGER column")
    return value


def to_timestamp(value: Any) -> dt.datetime | None:
    """An ISO-8601 instant as naive UTC (Prisma's TIMESTAMP(3) convention); naive input is taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)  # Python ≥ 3.11 reads a "Z" suffix as UTC
        except ValueError:
            text = value.strip()
            if text.endswith("z"):
                text = text[:-1] + "+00:00"
            try:
                parsed = dt.datetime.fromisoformat(text)
            except ValueError:
                raise BadValue(f"expected an ISO-8601 timestamp, got {value[:40]!r}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = dt.datetime.fromtimestamp(value, UTC)
    else:
        raise BadValue(f"expected an ISO-8601 timestamp, got {type(value).__name__}")
    tz = parsed.tzinfo
    if tz is not None:
        parsed = (parsed if tz is UTC else parsed.astimezone(UTC)).replace(tzinfo=None)
    return parsed


def to_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [strip_nul(value)]
    if not isinstance(value, list):
        raise BadValue(f"expected a list of tags, got {type(value).__name__}")
    tags = []
    for tag in value:
        if isinstance(tag, dict):  # some readers emit tag objects {id, value}
            tag = tag.get("value", tag.get("name"))
        if tag is not None:
            tags.append(to_text(tag))
    return tags


def to_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadValue(f"expected a boolean, got {value!r}")


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "text": to_text,
    "int": to_int,
    "ts": to_timestamp,
    "tags": to_tags,
    "bool": to_bool,
}


# ─── getters ────────────────────────────────────────────────────────────────


def field(name: str) -> Getter:
    return lambda record: record.get(name)


def nested(*path: str) -> Getter:
    def get(record: Mapping[str, Any]) -> Any:
        value: Any = record
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return get


def first_of(*getters: Getter) -> Getter:
    def get(record: Mapping[str, Any]) -> Any:
        for getter in getters:
            value = getter(record)
            if value is not None:
                return value
        return None

    return get


def custom_field(slug: str) -> Getter:
    """`custom_fields[slug].value` (Pylon's object form) or the `[{slug, value}]` array form of seed 003.

    A multi-select keeps its `values` joined by ", ".
    """

    def value_of(entry: Any) -> Any:
        if not isinstance(entry, dict):
            return entry
        value = entry.get("value")
        if value is None and entry.get("values"):
            value = ", ".join(str(v) for v in entry["values"])
        return value

    def get(record: Mapping[str, Any]) -> Any:
        fields = record.get("custom_fields")
        if isinstance(fields, dict):
            return value_of(fields.get(slug))
        if isinstance(fields, list):
            for entry in fields:
                if isinstance(entry, dict) and entry.get("slug") == slug:
                    return value_of(entry)
        return None

    return get


def closed_at(record: Mapping[str, Any]) -> Any:
    """Pylon's closed_at when present, else the resolution_time of a closed issue."""
    value = record.get("closed_at")
    if value is None and record.get("state") == "closed":
        value = record.get("resolution_time")
    return value


def sender_type(record: Mapping[str, Any]) -> str:
    author = record.get("author")
    if isinstance(author, dict):
        if author.get("user"):
            return "team"
        if author.get("contact"):
            return "customer"
    sender = record.get("sender")  # seed 003's `sender.type`, for records shaped like the note
    if isinstance(sender, dict) and sender.get("type") in ("team", "customer", "system"):
        return sender["type"]
    return "system"


def message_html(record: Mapping[str, Any]) -> Any:
    return first_of(field("message_html"), field("body_html"))(record)


def message_text(record: Mapping[str, Any]) -> Any:
    text = record.get("body_text")
    if text is not None:
        return text
    html = message_html(record)
    return html_to_text(html) if isinstance(html, str) else None


# ─── tables ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    get: Getter
    # NOT NULL columns of the Prisma schema take this when the record has no value
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class TableMapping:
    stream: str
    table: str
    columns: tuple[Column, ...]
    key: str = "id"
    # newer-wins column: a row never replaces one with a later value here
    cursor: str | None = "updated_at"

    @cached_property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @cached_property
    def cursor_index(self) -> int | None:
        return self.column_names.index(self.cursor) if self.cursor else None

    @cached_property
    def _steps(self) -> tuple[tuple[Getter, Callable[[Any], Any], Any, bool, str], ...]:
        # resolved once: row() runs for every record
        return tuple((c.get, CONVERTERS[c.kind], c.default, c.required, c.name) for c in self.columns)

    def row(self, record: Mapping[str, Any]) -> tuple:
        values = []
        for get, convert, default, required, name in self._steps:
            try:
                value = convert(get(record))
            except BadValue as err:
                raise BadValue(f"field {name!r}: {err}") from None
            if value is None:
                if required:
                    raise BadValue(f"required field {name!r} is missing")
                value = default
            values.append(value)
        return tuple(values)


def issues(slugs: CustomFieldSlugs) -> TableMapping:
    return TableMapping(
        stream="issues",
        table="issues",
        columns=(
            Column("id", "text", field("id"), required=True),
            Column("title", "text", field("title"), default=""),
            Column("state", "text", field("state"), default=""),
            Column("priority", "text", first_of(custom_field(slugs.priority), field("priority"))),
            Column("source", "text", field("source")),
            Column("category", "text", custom_field(slugs.category)),
            Column("handler", "text", custom_field(slugs.handler)),
            Column("resolution_type", "text", custom_field(slugs.resolution_type)),
            Column("self_servable", "text", custom_field(slugs.self_servable)),
            Column("account_id", "text", first_of(nested("account", "id"), field("account_id"))),
            Column("assignee_id", "text", first_of(nested("assignee", "id"), field("assignee_id"))),
            Column("created_at", "ts", field("created_at"), required=True),
            Column("closed_at", "ts", closed_at),
            Column("first_response_at", "ts", field("first_response_time")),
            Column("first_response_seconds", "int", field("first_response_seconds")),
            Column("business_hours_first_response_seconds", "int", field("business_hours_first_response_seconds")),
            Column("resolution_time", "ts", field("resolution_time")),
            Column("body_html", "text", field("body_html")),
            Column("number_of_touches", "int", field("number_of_touches")),
            Column("link", "text", field("link")),
            Column("type", "text", field("type")),
            Column("tags", "tags", field("tags")),
            Column("updated_at", "ts", field("updated_at")),
            Column("requester_id", "text", first_of(nested("requester", "id"), field("requester_id"))),
            Column("team_id", "text", first_of(nested("team", "id"), field("team_id"))),
        ),
    )


ACCOUNTS = TableMapping(
    stream="accounts",
    table="accounts",
    columns=(
        Column("id", "text", field("id"), required=True),
        Column("name", "text", field("name"), default=""),
        Column("domain", "text", first_of(field("domain"), field("primary_domain"))),
        Column("updated_at", "ts", field("updated_at")),
    ),
)

USERS = TableMapping(
    stream="users",
    table="users",
    columns=(
        Column("id", "text", field("id"), required=True),
        Column("name", "text", field("name"), default=""),
        Column("email", "text", field("email")),
        Column("updated_at", "ts", field("updated_at")),
    ),
)

MESSAGES = TableMapping(
    stream="issue_messages",
    table="messages",
    columns=(
        Column("id", "text", field("id"), required=True),
        Column("issue_id", "text", field("issue_id"), required=True),
        Column("sender_type", "text", sender_type),
        Column("sender_name", "text", first_of(nested("author", "name"), nested("sender", "name"))),
        Column("body_text", "text", message_text),
        Column("body_html", "text", message_html),
        Column("created_at", "ts", first_of(field("timestamp"), field("created_at")), required=True),
        Column("is_private", "bool", field("is_private")),
    ),
    # messages carry no updated_at: the last version received wins
    cursor=None,
)


def core_mappings(slugs: CustomFieldSlugs) -> dict[str, TableMapping]:
    """Stream name → mapping, for the streams source-pylon emits that seed 003 models."""
    return {m.stream: m for m in (issues(slugs), ACCOUNTS, USERS, MESSAGES)}


# Flush order: parents before children, so foreign keys find their rows.
FLUSH_ORDER = ("accounts", "users", "issues", "issue_messages")
