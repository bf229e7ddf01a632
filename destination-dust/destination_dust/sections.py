"""Dust's section tree and the generic rendering of any record into it.

Dust concatenates prefix + content + children without separators, and repeats a prefix with
every chunk beneath it: prefixes here are short Markdown headings, and each piece of text
carries its own newlines.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .html import readable

INLINE_TEXT_CHARS = 200  # longer (or multi-line) strings get their own titled sub-section
MAX_SECTION_LEVEL = 10  # nesting rendered as sub-sections; Markdown has six heading levels already
TITLE_KEYS = (
    "title",
    "name",
    "subject",
    "summary",
    "display_name",
    "displayName",
    "label",
    "email",
    "number",
    "id",
    "_id",
)


@dataclass
class Section:
    prefix: str | None = None
    content: str | None = None
    sections: list[Section] = field(default_factory=list)

    def text(self) -> str:
        return (self.prefix or "") + (self.content or "") + "".join(s.text() for s in self.sections)

    def size(self) -> int:
        return len(self.prefix or "") + len(self.content or "") + sum(s.size() for s in self.sections)

    def to_dict(self) -> dict:
        return {"prefix": self.prefix, "content": self.content, "sections": [s.to_dict() for s in self.sections]}

    def is_empty(self) -> bool:
        return not self.content and all(s.is_empty() for s in self.sections)


def heading(level: int, text: str) -> str:
    return f"{'#' * min(level, 6)} {text}\n" if level <= 1 else f"\n{'#' * min(level, 6)} {text}\n"


def humanize(key: str) -> str:
    """`first_response_time` / `renewalDate` -> `First response time` / `Renewal date`."""
    key = re.sub(r"_html$", "", key) or key
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key.strip("_")).replace("_", " ").replace("-", " ").split()
    if not words:
        return key
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return text[0].upper() + text[1:]


def singular(label: str) -> str:
    return label[:-1] if label.endswith("s") and not label.endswith("ss") else label


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {} or (isinstance(value, str) and not value.strip())


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return readable(value)
    return str(value)


def lines(pairs: list[tuple[str, Any]]) -> str | None:
    """`Label: value` lines, empty values left out; None when nothing is left."""
    out = [f"{label}: {scalar(value)}" for label, value in pairs if not is_empty(value)]
    out = [line for line in out if not line.endswith(": ")]
    return "\n".join(out) + "\n" if out else None


def item_title(item: dict, fallback: str) -> str:
    for key in TITLE_KEYS:
        value = item.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return scalar(value)[:120].replace("\n", " ")
    return fallback


def render_value(label: str, value: Any, level: int) -> tuple[str | None, Section | None]:
    """A field as one `Label: value` line, or as a titled sub-section; (None, None) when empty."""
    if is_empty(value):
        return None, None
    if isinstance(value, dict | list) and level >= MAX_SECTION_LEVEL:
        # Deeper than any heading helps a reader: the rest of the value as compact JSON, under its label.
        return render_value(label, json.dumps(value, ensure_ascii=False, default=str), level)
    if isinstance(value, dict):
        section = render_object(value, level + 1, heading(level + 1, label))
        return None, (None if section.is_empty() else section)
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            kept = [scalar(v) for v in value if not is_empty(v)]
            return (f"{label}: {', '.join(kept)}" if kept else None), None
        children = []
        for index, item in enumerate(value, 1):
            if isinstance(item, dict):
                child = render_object(
                    item, level + 2, heading(level + 2, item_title(item, f"{singular(label)} {index}"))
                )
            else:
                child = Section(content=json.dumps(item, ensure_ascii=False, default=str) + "\n")
            if not child.is_empty():
                children.append(child)
        return None, (Section(prefix=heading(level + 1, label), sections=children) if children else None)
    text = scalar(value)
    if not text:
        return None, None
    if "\n" in text or len(text) > INLINE_TEXT_CHARS:
        return None, Section(prefix=heading(level + 1, label), content=text + "\n")
    return f"{label}: {text}", None


def render_object(record: dict, level: int, prefix: str | None, skip: set[str] | frozenset = frozenset()) -> Section:
    """Scalars first as lines (in the record's order), then nested objects and lists as sub-sections."""
    out_lines, children = [], []
    for key, value in record.items():
        if key in skip:
            continue
        line, child = render_value(humanize(key), value, level)
        if line:
            out_lines.append(line)
        if child:
            children.append(child)
    content = "\n".join(out_lines) + "\n" if out_lines else None
    return Section(prefix=prefix, content=content, sections=children)
