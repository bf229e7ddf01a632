"""From a record to the Dust document: id, title, tags, timestamp, source_url, content hash.

The rules here come from reference/dust-api.md: ids `[A-Za-z0-9_.-]` ≤128 chars, titles ≤512,
tags `key:value` ≤512, timestamps in epoch milliseconds from the record's own update time,
source_url only when http(s) with no `//` in its path.

A document is a function of the record's data, not of the way it travelled: PyAirbyte writing from its
cache adds `_airbyte_*` columns, lower-cases top-level keys and reads timestamps back without their `Z`.
`normalize` undoes that before any layout sees the record (README, "Records from PyAirbyte's cache").
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from .config import StreamSettings
from .generations import GENERATION_TAG
from .sections import Section, heading, humanize, render_object, scalar

MAX_ID_CHARS = 128
MAX_TITLE_CHARS = 512
MAX_TAG_CHARS = 512
HASH_TAG = "content_hash"
STREAM_TAG = "airbyte_stream"  # how a refresh finds the stream's documents of older generations
PARTS_TAG = "parts"  # on split documents: how many parts the record has
# Bumped when rendering changes, so a new connector version re-uploads what it now renders differently.
RENDER_VERSION = "1"
UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31: beyond it a "timestamp" is not a date
TIMESTAMP_FIELDS = ("updated_at", "updatedAt", "lastUpdated", "last_updated", "modified_at", "modifiedAt", "updated")
CREATED_FIELDS = ("created_at", "createdAt", "createDate", "created")
URL_FIELDS = ("link", "url", "source_url", "html_url", "web_url", "permalink")
TITLE_FIELDS = ("title", "name", "subject", "summary", "display_name", "displayName", "label")
GENERIC_FIELDS = frozenset(TIMESTAMP_FIELDS + CREATED_FIELDS + URL_FIELDS + TITLE_FIELDS)
# Airbyte's reserved column prefix: what a platform or PyAirbyte adds about the record, not the record.
AIRBYTE_COLUMN_PREFIX = "_airbyte_"
# An ISO 8601 date-time in UTC or with no offset (read as UTC); microseconds at most, or the text is kept.
UTC_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]00(:?00)?)?")


@dataclass
class RecordContext:
    stream: str
    primary_key: list[list[str]]
    settings: StreamSettings
    declared: frozenset[str] = frozenset()  # the catalog schema's top-level properties, as spelled there

    def field_names(self) -> set[str]:
        """The top-level names this stream's settings, key and schema spell (for `normalize`)."""
        s = self.settings
        paths = [*s.id_fields, *s.tag_fields, *s.exclude_fields, s.title_field, s.timestamp_field, s.source_url_field]
        names = {p.split(".")[0] for p in paths if p} | {path[0] for path in self.primary_key if path}
        return names | set(self.declared)


@dataclass
class DustDocument:
    document_id: str
    title: str
    section: Section
    stream: str
    tags: list[str] = field(default_factory=list)
    timestamp: int | None = None
    source_url: str | None = None
    generation: int | None = None  # the sync's generation_id; not content, so not in the hash

    @property
    def content_hash(self) -> str:
        """Everything Dust stores for the document; equal hashes mean an upsert would change nothing."""
        payload = json.dumps(
            [RENDER_VERSION, self.section.text(), self.title, sorted(self.tags), self.timestamp, self.source_url],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def all_tags(self) -> list[str]:
        tags = [*self.tags, tag(STREAM_TAG, self.stream), tag(HASH_TAG, self.content_hash)]
        if self.generation is not None:
            tags.append(tag(GENERATION_TAG, self.generation))
        return tags

    def body(self) -> dict:
        body: dict[str, Any] = {
            "title": self.title,
            "mime_type": "text/markdown",
            "section": self.section.to_dict(),
            "tags": self.all_tags(),
            "light_document_output": True,
            "async": False,
        }
        if self.timestamp is not None:
            body["timestamp"] = self.timestamp
        if self.source_url:
            body["source_url"] = self.source_url
        return body


def stored_hash(listed: dict) -> str | None:
    """The content hash a previous sync left in the tags of a listed document."""
    for value in listed.get("tags") or []:
        if isinstance(value, str) and value.startswith(HASH_TAG + ":"):
            return value.split(":", 1)[1]
    return None


def stored_tag(listed: dict, key: str) -> str | None:
    for value in listed.get("tags") or []:
        if isinstance(value, str) and value.startswith(key + ":"):
            return value.split(":", 1)[1]
    return None


# -- field rules -----------------------------------------------------------------------------


def sanitize_id(raw: str) -> str:
    """A safe, unique document id: unsafe characters replaced and, when anything had to change
    (replacement or truncation), a hash of the original appended so two ids never collide."""
    safe = UNSAFE_ID_CHARS.sub("_", raw)
    if safe == raw and len(raw) <= MAX_ID_CHARS:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
    return f"{safe[: MAX_ID_CHARS - len(digest) - 1]}-{digest}"


def field_value(record: dict, path: str) -> Any:
    """`a.b` reads nested objects; a plain name reads the top level."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class MissingKey(ValueError):
    """A record of a keyed stream without a value for one of its key fields.

    The policy (README, "Document ids"): a stream with a key (the catalog's primary key, `id_fields`
    or a preset's) never falls back to a content hash, because the next version of the record would
    get another id and both would stay in Dust. Such a record is rejected (fail, or skip_and_report).
    """

    def __init__(self, field: str, fields: list[str]) -> None:
        super().__init__(f"it has no value for {field!r}, a field of its key ({', '.join(fields)})")
        self.field = field


def key_values(record: dict, fields: list[str]) -> list[Any]:
    values = [field_value(record, f) for f in fields]
    for name, value in zip(fields, values, strict=True):
        if value is None or value == "":
            raise MissingKey(name, fields)
    return values


def content_id(record: dict) -> str:
    """A keyless stream's id: a hash of the record, so the same record is always the same document."""
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def document_id(
    ctx: RecordContext, record: dict, prefix: str | None = None, key_fields: list[str] | None = None
) -> str:
    fields = ctx.settings.id_fields or key_fields or [".".join(path) for path in ctx.primary_key]
    prefix = prefix or ctx.stream
    if fields:
        return sanitize_id("-".join([prefix, *(str(v) for v in key_values(record, fields))]))
    return sanitize_id(f"{prefix}-{content_id(record)}")


def epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds from an ISO 8601 string or an epoch number (seconds or milliseconds)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return None  # JSON's 1e400 reads as infinity
        ms = int(value * 1000) if abs(value) < 100_000_000_000 else int(value)
        return ms if abs(ms) <= MAX_EPOCH_MS else None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return epoch_ms(float(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def first_present(record: dict, names: tuple[str, ...]) -> Any:
    for name in names:
        if record.get(name) not in (None, ""):
            return record[name]
    return None


def valid_source_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc and "//" not in parts.path and " " not in url:
        return url
    return None


def tag(key: str, value: Any) -> str:
    return f"{key}:{scalar(value).replace(chr(10), ' ')}"[:MAX_TAG_CHARS]


def tags_of(record: dict, fields: list[str]) -> list[str]:
    out = []
    for name in fields:
        value = field_value(record, name)
        values = value if isinstance(value, list) else [value]
        label = name.split(".")[-1]
        for item in values:
            if isinstance(item, dict):
                item = item.get("name") or item.get("value") or item.get("id")
            if item not in (None, "") and not isinstance(item, dict | list):
                out.append(tag(label, item))
    return list(dict.fromkeys(out))


def clip_title(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


# -- the generic layout and per-stream overrides ---------------------------------------------


def generic_document(record: dict, ctx: RecordContext) -> DustDocument:
    """Any record: title line, then scalars as `Label: value` lines, nested data as sub-sections."""
    key_text = "-".join(str(field_value(record, ".".join(p))) for p in ctx.primary_key) if ctx.primary_key else None
    title_key = next((k for k in TITLE_FIELDS if record.get(k) not in (None, "")), None)
    title_value = record[title_key] if title_key else None
    title = scalar(title_value) if title_value is not None else f"{humanize(ctx.stream)} {key_text or ''}".strip()
    title = clip_title(title)
    return DustDocument(
        document_id=document_id(ctx, record),
        title=title,
        section=render_object(record, 1, heading(1, title), skip={title_key} if title_key else frozenset()),
        stream=ctx.stream,
        timestamp=epoch_ms(first_present(record, TIMESTAMP_FIELDS) or first_present(record, CREATED_FIELDS)),
        source_url=valid_source_url(first_present(record, URL_FIELDS)),
    )


@dataclass(frozen=True)
class Layout:
    """A rendering and the top-level fields it reads by name (so `normalize` can find them in any case)."""

    render: Callable[[dict, RecordContext], DustDocument]
    fields: frozenset[str] = frozenset()

    def __call__(self, record: dict, ctx: RecordContext) -> DustDocument:
        return self.render(record, ctx)


GENERIC = Layout(generic_document, GENERIC_FIELDS)


def utc_text(value: str) -> str:
    """A UTC or offset-less ISO date-time in one spelling: `2026-01-12T14:20:52Z`, the fraction only when
    it is not zero (3 digits when whole milliseconds, else 6). Anything else is returned as it came.

    So `…:52`, `…:52Z`, `…:52.000Z` and `…:52+00:00` (the same instant) render alike: a naive timestamp
    is UTC, as in epoch_ms, and PyAirbyte's cache drops the `Z` and rewrites the fraction."""
    if not UTC_DATETIME.fullmatch(value):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return value  # 2026-02-30T…: not a date, so not ours to rewrite
    text = moment.replace(tzinfo=None, microsecond=0).isoformat(timespec="seconds")
    micro = moment.microsecond
    fraction = "" if not micro else f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}"
    return f"{text}{fraction}Z"


def utc_values(value: Any) -> Any:
    if isinstance(value, str):
        return utc_text(value)
    if isinstance(value, dict):
        return {k: utc_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [utc_values(v) for v in value]
    return value


def normalize(record: dict, known: set[str] | frozenset[str]) -> dict:
    """The record's data only, as the source spelled it:
    - top-level `_airbyte_*` fields are left out (PyAirbyte's raw id, extraction time and meta);
    - a top-level key that is not one of the `known` names but equals exactly one of them but for case,
      with that name absent, takes that name (`updatedat` -> `updatedAt`); ambiguous ones stay as they are;
    - UTC and offset-less date-times, at any depth, get one spelling (`utc_text`).
    """
    data = {k: v for k, v in record.items() if not k.startswith(AIRBYTE_COLUMN_PREFIX)}
    by_case: dict[str, list[str]] = {}
    for name in known:
        by_case.setdefault(name.casefold(), []).append(name)
    unknown_by_case: dict[str, list[str]] = {}
    for key in data:
        if key not in known:
            unknown_by_case.setdefault(key.casefold(), []).append(key)
    renamed = {}
    for folded, keys in unknown_by_case.items():
        names = by_case.get(folded, [])
        if len(keys) == 1 and len(names) == 1 and names[0] not in data:
            renamed[keys[0]] = names[0]
    return {renamed.get(k, k): utc_values(v) for k, v in data.items()}


def build_document(record: dict, ctx: RecordContext, layout: Layout) -> DustDocument:
    """Run the layout on the normalized record minus excluded fields, then apply the stream's explicit settings."""
    settings = ctx.settings
    record = normalize(record, ctx.field_names() | layout.fields)
    if settings.exclude_fields:
        record = {k: v for k, v in record.items() if k not in set(settings.exclude_fields)}
    document = layout(record, ctx)
    changes: dict[str, Any] = {}
    if settings.title_field and field_value(record, settings.title_field) not in (None, ""):
        changes["title"] = clip_title(scalar(field_value(record, settings.title_field)))
        if document.section.prefix == heading(1, document.title):
            changes["section"] = replace(document.section, prefix=heading(1, changes["title"]))
    if settings.timestamp_field:
        changes["timestamp"] = epoch_ms(field_value(record, settings.timestamp_field))
    if settings.source_url_field:
        changes["source_url"] = valid_source_url(field_value(record, settings.source_url_field))
    if settings.tag_fields:
        changes["tags"] = list(dict.fromkeys(document.tags + tags_of(record, settings.tag_fields)))
    if settings.id_fields:
        changes["document_id"] = document_id(ctx, record)
    return replace(document, **changes) if changes else document
