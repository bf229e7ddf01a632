"""Dust's request rules, each answering with the status and error type the reference gives."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ..server import HttpError

# reference/dust-api.md, "Limits and their status codes" and "Tables"
MAX_TITLE_CHARS = 512
MAX_BODY_BYTES = 8 * 1024 * 1024  # spaces path
MAX_ROWS_BODY_BYTES = 1024 * 1024
PLAN_DOCUMENT_CHARS = 2 * 1024 * 1024  # Free/Pro plan, counted in characters of the full text
COLUMN_KEY = re.compile(r"^[a-z0-9_]+$")


def error(status: int, kind: str, message: str) -> HttpError:
    return HttpError(status, {"error": {"type": kind, "message": message}})


def invalid(message: str) -> HttpError:
    return error(400, "invalid_request_error", message)


def section_text(section: dict) -> str:
    """Full text of a section tree: prefix + content + children, no separators (as Dust does)."""
    parts = [section.get("prefix") or "", section.get("content") or ""]
    parts.extend(section_text(child) for child in section.get("sections") or [])
    return "".join(parts)


def check_section(section: Any, path: str = "section") -> None:
    if not isinstance(section, dict):
        raise invalid(f"{path} must be an object")
    for key in ("prefix", "content"):
        if section.get(key) is not None and not isinstance(section[key], str):
            raise invalid(f"{path}.{key} must be a string or null")
    children = section.get("sections")
    if children is None:
        children = []
    if not isinstance(children, list):
        raise invalid(f"{path}.sections must be an array")
    for index, child in enumerate(children):
        check_section(child, f"{path}.sections[{index}]")


def check_source_url(url: Any) -> None:
    if url is None:
        return
    parts = urlsplit(url) if isinstance(url, str) else None
    if not parts or parts.scheme not in ("http", "https") or not parts.netloc or "//" in parts.path:
        raise invalid(f"Invalid source_url: {url!r} must be a valid http(s) URL without '//' in its path")


def document_text(body: dict) -> str:
    """The text Dust indexes; raises the 400s of the upsert body rules."""
    if "parents" in body or "parent_id" in body:
        raise invalid("Setting parents or parent_id is not allowed with this API key")
    title = body.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > MAX_TITLE_CHARS):
        raise invalid(f"Invalid title: at most {MAX_TITLE_CHARS} characters")
    check_source_url(body.get("source_url"))
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        raise invalid("tags must be an array of strings")
    timestamp = body.get("timestamp")
    if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, int | float)):
        raise invalid("timestamp must be a number")
    if isinstance(body.get("text"), str):
        return body["text"]  # `text` wins over `section`
    if body.get("section") is not None:
        check_section(body["section"])
        return section_text(body["section"])
    raise invalid("Invalid request body: one of `text` or `section` is required")


def check_table_body(body: dict) -> None:
    if "mime_type" in body:
        raise invalid("mime_type is not allowed when upserting a table")
    for key in ("table_id", "name"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise invalid(f"`{key}` is required")


def check_row(row: Any, index: int) -> None:
    if not isinstance(row, dict) or not isinstance(row.get("row_id"), str) or not isinstance(row.get("value"), dict):
        raise invalid(f"rows[{index}] must be {{row_id: string, value: object}}")
    for key, value in row["value"].items():
        if not COLUMN_KEY.match(key):
            raise invalid(f"Invalid column name {key!r} in rows[{index}]: keys must match ^[a-z0-9_]+$")
        if value is None or isinstance(value, str | int | float | bool):
            continue
        if isinstance(value, dict) and value.get("type") == "datetime" and isinstance(value.get("epoch"), int | float):
            continue
        raise invalid(f"Invalid value for column {key!r} in rows[{index}]: arrays and objects are not allowed")
