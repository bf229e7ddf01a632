"""Pylon's cursor pagination: opaque base64 of "<created_at>|<id>", ordered by created_at then id."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone

from ..server import HttpError

# Pylon documents `limit` as "greater than 0 and less than 1000" and no default; the emulator
# picks 100 so a client that never sends a limit still has to follow cursors on big lists.
DEFAULT_PAGE_SIZE = 100
MAX_LIMIT = 999


class BadRequest(HttpError):
    """A 400 with Pylon's errors envelope; the request id is filled in by the emulator."""

    def __init__(self, message: str) -> None:
        super().__init__(400, {"errors": [message]})


def sort_key(record: dict) -> tuple[str, str]:
    # Statuses have no id, only a slug; records the API serves without a time carry _created_at.
    return record.get("created_at") or record["_created_at"], record.get("id") or record["slug"]


def encode_cursor(key: tuple[str, str]) -> str:
    return base64.b64encode(f"{key[0]}|{key[1]}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, sep, ident = base64.b64decode(cursor.encode(), validate=True).decode().partition("|")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadRequest(f"invalid cursor {cursor!r}") from exc
    if not sep or not ident:
        raise BadRequest(f"invalid cursor {cursor!r}")
    return created, ident


def parse_limit(raw) -> int:
    """`limit` from a query string or a JSON body; absent means DEFAULT_PAGE_SIZE."""
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise BadRequest("limit must be an integer")
    try:
        limit = int(raw)
    except ValueError as exc:
        raise BadRequest(f"limit must be an integer, got {raw!r}") from exc
    if not 0 < limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be greater than 0 and less than {MAX_LIMIT + 1}, got {limit}")
    return limit


def parse_time(raw, name: str) -> datetime:
    """An RFC 3339 time with an offset; naive times are rejected rather than guessed at."""
    if not isinstance(raw, str) or not raw:
        raise BadRequest(f"{name} must be an RFC 3339 time")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name} is not an RFC 3339 time: {raw!r}") from exc
    if moment.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone offset: {raw!r}")
    return moment.astimezone(timezone.utc)


def page(records: list[dict], cursor: str | None, limit: int, cap: int | None) -> tuple[list[dict], str | None, bool]:
    """One page after `cursor`: (records, cursor of the last one, whether more follow).

    The cursor is a position, not an offset, so records added or updated between pages
    neither shift nor repeat the ones already served. `cap` is a server-side maximum that
    silently overrides a larger `limit`, as some APIs do.
    """
    ordered = sorted(records, key=sort_key)
    if cursor:
        after = decode_cursor(cursor)
        ordered = [r for r in ordered if sort_key(r) > after]
    size = min(limit, cap) if cap else limit
    chunk = ordered[:size]
    last = encode_cursor(sort_key(chunk[-1])) if chunk else None
    return chunk, last, len(ordered) > size
