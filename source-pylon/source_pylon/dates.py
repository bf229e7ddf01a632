"""RFC 3339 times as Pylon sends them, and the one sortable text form the sync cache stores."""

from __future__ import annotations

from datetime import datetime, timezone

SORTABLE = "%Y-%m-%dT%H:%M:%S.%fZ"


def parse_time(value: str) -> datetime:
    """Accepts `Z` or an offset and any fractional digits; always returns an aware UTC datetime."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:  # Python 3.10 accepts only 3 or 6 fractional digits
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        text = f"{head}.{(digits + '000000')[:6]}{tail[len(digits) :]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def try_parse(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def sortable(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(SORTABLE)


def rfc3339(moment: datetime) -> str:
    """What Pylon's filters and our state carry: UTC to the second (plus microseconds when set)."""
    moment = moment.astimezone(timezone.utc)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
