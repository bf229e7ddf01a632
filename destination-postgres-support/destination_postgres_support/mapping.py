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

# kind → (temp-table type, binary COPY type)
PG_TYPES = {
    "text": ("TEXT", "text"),
    "id": ("TEXT", "text"),  # a primary key: text, but only from a string or an integer
    "int": ("INTEGER", "int4"),
    # Binary COPY writes timestamptz and timestamp alike: microseconds since 2000-01-01, UTC for timestamptz.
    # So an aware UTC datetime lands in a TIMESTAMP column as its naive UTC value (Prisma's convention)
    # without a per-value .replace(tzinfo=None), which was the largest single cost of mapping an issue.
    "ts": ("TIMESTAMP(3)", "timestamptz"),
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


def to_id(value: Any) -> str | None:
    """A record's id: a string or an integer. An object or list would land as its JSON text, a key no
    other record could ever match."""
    if value is None or isinstance(value, str):
        return to_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise BadValue(f"expected a string or integer id, got {type(value).__name__}")


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
    """An ISO-8601 instant as an aware UTC datetime (see PG_TYPES["ts"]); naive input is taken as UTC."""
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
        try:
            parsed = dt.datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError):
            raise BadValue(f"{value!r} is not a time (seconds since 1970) Postgres can hold") from None
    else:
        raise BadValue(f"expected an ISO-8601 timestamp, got {type(value).__name__}")
    tz = parsed.tzinfo
    if tz is UTC:
        return parsed
    return parsed.replace(tzinfo=UTC) if tz is None else parsed.astimezone(UTC)


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
    "id": to_id,
    "int": to_int,
    "ts": to_timestamp,
    "tags": to_tags,
    "bool": to_bool,
}


# ─── sources: where a column's value comes from ───────────────────────────────
# Sources are data rather than closures, so `TableMapping` can compile a table into one straight-line
# function (see `_compiled`). Each is also callable on a record: that is the reference the compiled code is
# tested against, and what explains a bad value column by column.


@dataclass(frozen=True)
class Key:
    """A top-level field."""

    name: str

    def __call__(self, record: Mapping[str, Any]) -> Any:
        return record.get(self.name)

    def expr(self, scope: _Scope) -> str:
        return f"get({self.name!r})"


@dataclass(frozen=True)
class Path:
    """A field inside nested objects; None as soon as a step is not an object."""

    keys: tuple[str, ...]

    def __call__(self, record: Mapping[str, Any]) -> Any:
        value: Any = record
        for key in self.keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    def expr(self, scope: _Scope) -> str:
        code = f"get({self.keys[0]!r})"
        for key in self.keys[1:]:
            t = scope.temp()
            code = f"({t}.get({key!r}) if isinstance(({t} := {code}), dict) else None)"
        return code


@dataclass(frozen=True)
class CustomField:
    """`custom_fields[slug].value` (Pylon's object form) or the `[{slug, value}]` array form of seed 003.

    A multi-select keeps its `values` joined by ", ".
    """

    slug: str

    def __call__(self, record: Mapping[str, Any]) -> Any:
        return custom_value(custom_fields(record).get(self.slug))

    def expr(self, scope: _Scope) -> str:
        scope.needs_custom_fields = True
        return f"custom_value(custom.get({self.slug!r}))"


@dataclass(frozen=True)
class FirstOf:
    """The first source that is not None."""

    sources: tuple[Any, ...]

    def __call__(self, record: Mapping[str, Any]) -> Any:
        for source in self.sources:
            value = source(record)
            if value is not None:
                return value
        return None

    def expr(self, scope: _Scope) -> str:
        code = self.sources[-1].expr(scope)
        for source in reversed(self.sources[:-1]):
            t = scope.temp()
            code = f"({t} if ({t} := {source.expr(scope)}) is not None else {code})"
        return code


@dataclass(frozen=True)
class Derived:
    """Any function of the whole record."""

    function: Callable[[Mapping[str, Any]], Any]

    def __call__(self, record: Mapping[str, Any]) -> Any:
        return self.function(record)

    def expr(self, scope: _Scope) -> str:
        return f"{scope.constant(self.function)}(record)"


def custom_fields(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """slug → custom-field entry, from either form (in the array form the first entry of a slug wins)."""
    fields = record.get("custom_fields")
    if isinstance(fields, dict):
        return fields
    if isinstance(fields, list):
        return {e.get("slug"): e for e in reversed(fields) if isinstance(e, dict)}
    return {}


def custom_value(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    value = entry.get("value")
    if value is None and entry.get("values"):
        value = ", ".join(str(v) for v in entry["values"])
    return value


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


# issues.type in seed 003's spelling ("Conversation or Ticket"): Pylon sends `conversation`/`ticket`, older
# API versions `Conversation`/`Ticket`, and a dashboard filter on one spelling must find every issue of a type.
ISSUE_TYPES = {"conversation": "Conversation", "ticket": "Ticket"}


def issue_type(record: Mapping[str, Any]) -> Any:
    """The type in seed 003's spelling, whatever its case; a value outside the two is kept as sent."""
    value = record.get("type")
    return ISSUE_TYPES.get(value.lower(), value) if isinstance(value, str) else value


MESSAGE_HTML = FirstOf((Key("message_html"), Key("body_html")))


def message_text(record: Mapping[str, Any]) -> Any:
    text = record.get("body_text")
    if text is not None:
        return text
    html = MESSAGE_HTML(record)
    return html_to_text(html) if isinstance(html, str) else None


# ─── compiling a table ──────────────────────────────────────────────────────

# Per kind: the test under which a value already is what its column holds, so the converter is not called.
_ALREADY = {
    "text": "v.__class__ is str and '\\x00' not in v",
    "id": "v.__class__ is str and '\\x00' not in v",
    "int": "v.__class__ is int and INT4_MIN <= v <= INT4_MAX",
    "bool": "v is None or v.__class__ is bool",
}


class _Scope:
    """Names used by the generated source: temporaries and the objects it refers to."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "isinstance": isinstance,
            "dict": dict,
            "custom_fields": custom_fields,
            "custom_value": custom_value,
            "BadValue": BadValue,
            "INT4_MIN": INT4_MIN,
            "INT4_MAX": INT4_MAX,
        }
        self.temps = 0
        self.needs_custom_fields = False

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def constant(self, value: Any) -> str:
        name = f"k{len(self.namespace)}"
        self.namespace[name] = value
        return name


# ─── tables ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    source: Key | Path | CustomField | FirstOf | Derived
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

    def row(self, record: Mapping[str, Any]) -> tuple:
        """The record as a row of this table; BadValue names the column that cannot take its value."""
        return self._compiled(record)

    def reference_row(self, record: Mapping[str, Any]) -> tuple:
        """What `row` computes, one column at a time: the definition the compiled function is tested against."""
        values = []
        for column in self.columns:
            try:
                value = CONVERTERS[column.kind](column.source(record))
            except BadValue as err:
                raise BadValue(f"field {column.name!r}: {err}") from None
            if value is None:
                if column.required:
                    raise BadValue(f"required field {column.name!r} is missing")
                value = column.default
            values.append(value)
        return tuple(values)

    @cached_property
    def _compiled(self) -> Callable[[Mapping[str, Any]], tuple]:
        """The columns as one generated function: no loop, no call per source, and a converter only for a value
        that is not already of its column's type. Mapping rows is the writer's main per-record cost, and this
        runs it ~3x faster than `reference_row`. A bad value falls back to `reference_row`, which raises
        naming the column."""
        scope = _Scope()
        body = []
        for i, column in enumerate(self.columns):
            body.append(f"v = {column.source.expr(scope)}")
            convert = scope.constant(CONVERTERS[column.kind])
            if column.kind in _ALREADY:
                body.append(f"if not ({_ALREADY[column.kind]}): v = {convert}(v)")
            else:
                body.append(f"v = {convert}(v)")
            if column.required:
                body.append("if v is None: raise BadValue")
            elif column.default is not None:
                body.append(f"if v is None: v = {scope.constant(column.default)}")
            body.append(f"c{i} = v")
        prologue = ["get = record.get"] + (["custom = custom_fields(record)"] if scope.needs_custom_fields else [])
        scope.namespace["reference_row"] = self.reference_row
        source = "\n".join(
            [
                "def row(record):",
                *(f"    {line}" for line in prologue),
                "    try:",
                *(f"        {line}" for line in body),
                "    except BadValue:",
                "        return reference_row(record)",
                f"    return ({', '.join(f'c{i}' for i in range(len(self.columns)))},)",
            ]
        )
        exec(compile(source, f"<row of {self.table}>", "exec"), scope.namespace)  # our own source, from data
        return scope.namespace["row"]


def issues(slugs: CustomFieldSlugs) -> TableMapping:
    return TableMapping(
        stream="issues",
        table="issues",
        columns=(
            Column("id", "id", Key("id"), required=True),
            Column("title", "text", Key("title"), default=""),
            Column("state", "text", Key("state"), default=""),
            Column("priority", "text", FirstOf((CustomField(slugs.priority), Key("priority")))),
            Column("source", "text", Key("source")),
            Column("category", "text", CustomField(slugs.category)),
            Column("handler", "text", CustomField(slugs.handler)),
            Column("resolution_type", "text", CustomField(slugs.resolution_type)),
            Column("self_servable", "text", CustomField(slugs.self_servable)),
            Column("account_id", "text", FirstOf((Path(("account", "id")), Key("account_id")))),
            Column("assignee_id", "text", FirstOf((Path(("assignee", "id")), Key("assignee_id")))),
            Column("created_at", "ts", Key("created_at"), required=True),
            Column("closed_at", "ts", Derived(closed_at)),
            Column("first_response_at", "ts", Key("first_response_time")),
            Column("first_response_seconds", "int", Key("first_response_seconds")),
            Column("business_hours_first_response_seconds", "int", Key("business_hours_first_response_seconds")),
            Column("resolution_time", "ts", Key("resolution_time")),
            Column("body_html", "text", Key("body_html")),
            Column("number_of_touches", "int", Key("number_of_touches")),
            Column("link", "text", Key("link")),
            Column("type", "text", Derived(issue_type)),
            Column("type_raw", "text", Key("type")),  # as the API sent it
            Column("tags", "tags", Key("tags")),
            Column("updated_at", "ts", Key("updated_at")),
            Column("requester_id", "text", FirstOf((Path(("requester", "id")), Key("requester_id")))),
            Column("team_id", "text", FirstOf((Path(("team", "id")), Key("team_id")))),
        ),
    )


ACCOUNTS = TableMapping(
    stream="accounts",
    table="accounts",
    columns=(
        Column("id", "id", Key("id"), required=True),
        Column("name", "text", Key("name"), default=""),
        Column("domain", "text", FirstOf((Key("domain"), Key("primary_domain")))),
        Column("updated_at", "ts", Key("updated_at")),
    ),
)

USERS = TableMapping(
    stream="users",
    table="users",
    columns=(
        Column("id", "id", Key("id"), required=True),
        Column("name", "text", Key("name"), default=""),
        Column("email", "text", Key("email")),
        Column("updated_at", "ts", Key("updated_at")),
    ),
)

MESSAGES = TableMapping(
    stream="issue_messages",
    table="messages",
    columns=(
        Column("id", "id", Key("id"), required=True),
        Column("issue_id", "id", Key("issue_id"), required=True),
        Column("sender_type", "text", Derived(sender_type)),
        Column("sender_name", "text", FirstOf((Path(("author", "name")), Path(("sender", "name"))))),
        Column("body_text", "text", Derived(message_text)),
        Column("body_html", "text", MESSAGE_HTML),
        Column("created_at", "ts", FirstOf((Key("timestamp"), Key("created_at"))), required=True),
        Column("is_private", "bool", Key("is_private")),
    ),
    # messages carry no updated_at: the last version received wins
    cursor=None,
)


def core_mappings(slugs: CustomFieldSlugs) -> dict[str, TableMapping]:
    """Stream name → mapping, for the streams source-pylon emits that seed 003 models."""
    return {m.stream: m for m in (issues(slugs), ACCOUNTS, USERS, MESSAGES)}


# Flush order: parents before children, so foreign keys find their rows.
FLUSH_ORDER = ("accounts", "users", "issues", "issue_messages")
