"""The POST /issues/search filter tree, compiled once into a predicate over stored issues.

Validation is as strict as the documented contract: unknown fields or operators, missing
values and trees deeper than three levels answer 400, so a connector's filter bug shows
up here rather than as a silently wrong result set.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from . import catalog
from .paging import BadRequest, parse_time

MAX_DEPTH = 3
Predicate = Callable[[dict], bool]


def _ref(key: str) -> Callable[[dict], str | None]:
    return lambda issue: (issue.get(key) or {}).get("id")


def _custom(slug: str) -> Callable[[dict], object]:
    def read(issue: dict):
        fields = issue.get("custom_fields") or {}
        entry = fields.get(slug) if isinstance(fields, dict) else None
        if not entry:
            return None
        return entry.get("values") or entry.get("value")

    return read


# field -> (kind, how to read it from a stored issue); the kind decides the operators allowed.
FIELDS: dict[str, tuple[str, Callable[[dict], object]]] = {
    "created_at": ("time", lambda i: i.get("created_at")),
    "updated_at": ("time", lambda i: i.get("updated_at")),
    "resolved_at": ("time", lambda i: i.get("resolution_time")),
    "latest_message_activity_at": ("time", lambda i: i.get("latest_message_time")),
    "account_id": ("id", _ref("account")),
    "requester_id": ("id", _ref("requester")),
    "assignee_id": ("id", _ref("assignee")),
    "team_id": ("id", _ref("team")),
    "state": ("id", lambda i: i.get("state")),
    # Older issues say "Conversation"/"Ticket"; the filter value is compared case-insensitively.
    "issue_type": ("type", lambda i: i.get("type")),
    "tags": ("list", lambda i: i.get("tags")),
    "title": ("text", lambda i: i.get("title")),
    "body_html": ("text", lambda i: i.get("body_html")),
}
for _slug, _label, _kind, _object_type, _options in catalog.CUSTOM_FIELDS:
    if _object_type == "issue":
        FIELDS[_slug] = ("list" if _kind == "multiselect" else "id", _custom(_slug))

PRESENCE = {"is_set", "is_unset"}
OPERATORS_BY_KIND = {
    "time": {"time_is_after", "time_is_before", "time_range"} | PRESENCE,
    "id": {"equals", "not_equals", "in", "not_in"} | PRESENCE,
    "type": {"equals", "not_equals", "in", "not_in"} | PRESENCE,
    "list": {"contains", "does_not_contain", "in", "not_in"} | PRESENCE,
    "text": {"contains", "does_not_contain", "string_contains"} | PRESENCE,
}
# Operators Pylon documents that no field here supports are "not supported for field", not unknown.
KNOWN_OPERATORS = set().union(*OPERATORS_BY_KIND.values()) | {"and", "or", "greater_than", "less_than"}


def compile_filter(node, depth: int = 1) -> Predicate:
    if not isinstance(node, dict):
        raise BadRequest("filter must be an object")
    if depth > MAX_DEPTH:
        raise BadRequest(f"filter is nested deeper than {MAX_DEPTH} levels")
    operator = node.get("operator")
    if operator not in KNOWN_OPERATORS:
        raise BadRequest(f"unknown filter operator {operator!r}")
    if operator in ("and", "or"):
        subfilters = node.get("subfilters")
        if not isinstance(subfilters, list) or not subfilters:
            raise BadRequest(f"operator {operator!r} needs a non-empty subfilters list")
        children = [compile_filter(child, depth + 1) for child in subfilters]
        combine = all if operator == "and" else any
        return lambda issue: combine(child(issue) for child in children)
    return _leaf(node, operator)


def _leaf(node: dict, operator: str) -> Predicate:
    field = node.get("field")
    if field not in FIELDS:
        raise BadRequest(f"unknown filter field {field!r}")
    kind, read = FIELDS[field]
    if operator not in OPERATORS_BY_KIND[kind]:
        raise BadRequest(f"operator {operator!r} is not supported for field {field!r}")

    if operator in PRESENCE:
        want = operator == "is_set"
        return lambda issue: (read(issue) not in (None, "", [])) == want
    if kind == "time":
        return _time(field, operator, node, read)

    if operator in ("in", "not_in"):
        values = node.get("values")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadRequest(f"operator {operator!r} on {field!r} needs `values`, a list of strings")
        wanted = {_norm(kind, v) for v in values}
        hit = (
            (lambda i: bool(wanted & set(read(i) or [])))
            if kind == "list"
            else (lambda i: _norm(kind, read(i)) in wanted)
        )
        return hit if operator == "in" else (lambda issue: not hit(issue))

    value = node.get("value")
    if not isinstance(value, str):
        raise BadRequest(f"operator {operator!r} on {field!r} needs `value`, a string")
    if kind == "list":
        hit = lambda i: value in (read(i) or [])  # noqa: E731
    elif kind == "text":
        hit = lambda i: value.lower() in (read(i) or "").lower()  # noqa: E731
    else:
        hit = lambda i: _norm(kind, read(i)) == _norm(kind, value)  # noqa: E731
    return (lambda issue: not hit(issue)) if operator in ("not_equals", "does_not_contain") else hit


def _norm(kind: str, value):
    return value.lower() if kind == "type" and isinstance(value, str) else value


def _time(field: str, operator: str, node: dict, read) -> Predicate:
    def moment(issue: dict) -> datetime | None:
        raw = read(issue)
        return datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None

    if operator == "time_range":
        values = node.get("values")
        if not isinstance(values, list) or len(values) != 2:
            raise BadRequest(f"time_range on {field!r} needs `values`: [start, end]")
        # Pylon does not say; the emulator uses a half-open [start, end) so ranges tile without overlap.
        start, end = (parse_time(v, f"{field} bound") for v in values)
        return lambda issue: (m := moment(issue)) is not None and start <= m < end
    bound = parse_time(node.get("value"), f"{field} value")
    # Both bounds are exclusive: a record exactly on the bound matches neither side.
    if operator == "time_is_after":
        return lambda issue: (m := moment(issue)) is not None and m > bound
    return lambda issue: (m := moment(issue)) is not None and m < bound
