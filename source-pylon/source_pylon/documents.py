"""issue_documents: one self-contained record per issue, ready to index as a document (e.g. in Dust).

It carries the issue joined with its account, people and team, its custom fields, CSAT and external
issues, and its whole message thread in order, as structured data: how it reads as a document (seed 000's
layout) is destination-dust's preset, and any other destination gets the same data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .dates import try_parse

Lookup = Callable[[str, str | None], Mapping[str, Any] | None]


def normalize_custom_fields(value: Any) -> dict[str, dict[str, Any]]:
    """Pylon sends an object keyed by slug; seed 003 describes an array of {slug, value}: accept both."""
    entries = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else []
    keys = list(value.keys()) if isinstance(value, Mapping) else [None] * len(entries)
    out: dict[str, dict[str, Any]] = {}
    for key, entry in zip(keys, entries, strict=False):
        if not isinstance(entry, Mapping):
            entry = {"value": entry}
        slug = entry.get("slug") or key
        if not slug:
            continue
        values = entry.get("values")
        out[str(slug)] = {
            "slug": str(slug),
            "value": entry.get("value"),
            "values": list(values) if isinstance(values, list) else [],
        }
    return out


def tag_names(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(t.get("value") or t.get("name")) if isinstance(t, Mapping) else str(t) for t in value if t]


def author_kind(author: Mapping[str, Any] | None) -> str:
    """`user` (team member), `contact` (customer) or `system`: exactly one of user/contact is set, or neither."""
    author = author or {}
    if author.get("user"):
        return "user"
    if author.get("contact"):
        return "contact"
    return "system"


def _person(ref: Mapping[str, Any] | None, *found: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not ref:
        return None
    record = next((f for f in found if f), None) or {}
    return {"id": ref.get("id"), "name": record.get("name"), "email": ref.get("email") or record.get("email")}


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    author = message.get("author") or {}
    person = author.get("user") or author.get("contact") or {}
    return {
        "id": message.get("id"),
        "timestamp": message.get("timestamp"),
        "author_name": author.get("name"),
        "author_email": person.get("email") if isinstance(person, Mapping) else None,
        "author_kind": author_kind(author),
        "is_private": bool(message.get("is_private")),
        "source": message.get("source"),
        "message_html": message.get("message_html"),
    }


def _in_order(messages: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    def key(indexed: tuple[int, Mapping[str, Any]]) -> tuple[int, Any, int]:
        moment = try_parse(indexed[1].get("timestamp"))
        return (0, moment, indexed[0]) if moment else (1, None, indexed[0])

    return [m for _, m in sorted(enumerate(messages), key=key)]


def build_document(issue: Mapping[str, Any], messages: list[Mapping[str, Any]], lookup: Lookup) -> dict[str, Any]:
    """`lookup(kind, id)` finds a record of accounts/contacts/users/teams, or None."""
    account_ref = issue.get("account") or {}
    account = lookup("accounts", account_ref.get("id")) if account_ref else None
    requester_ref = issue.get("requester")
    assignee_ref = issue.get("assignee")
    requester_id = (requester_ref or {}).get("id")
    assignee_id = (assignee_ref or {}).get("id")
    team_ref = issue.get("team") or {}
    team = lookup("teams", team_ref.get("id")) if team_ref else None
    custom_fields = normalize_custom_fields(issue.get("custom_fields"))
    thread = [_message(m) for m in _in_order(messages)]

    document = {
        "id": issue.get("id"),
        "number": issue.get("number"),
        "title": issue.get("title"),
        "link": issue.get("link"),
        "state": issue.get("state"),
        "type": issue.get("type"),
        "source": issue.get("source"),
        "created_at": issue.get("created_at"),
        "updated_at": issue.get("updated_at"),
        "latest_message_time": issue.get("latest_message_time"),
        "first_response_time": issue.get("first_response_time"),
        "resolution_time": issue.get("resolution_time"),
        "account": {
            "id": account_ref.get("id"),
            "name": (account or {}).get("name"),
            "domain": (account or {}).get("domain"),
            "primary_domain": (account or {}).get("primary_domain"),
            "type": (account or {}).get("type"),
        }
        if account_ref.get("id")
        else None,
        # A requester is usually a customer (contact) but can be a team member (user).
        "requester": _person(requester_ref, lookup("contacts", requester_id), lookup("users", requester_id)),
        "assignee": _person(assignee_ref, lookup("users", assignee_id)),
        "team": {"id": team_ref.get("id"), "name": (team or {}).get("name")} if team_ref.get("id") else None,
        "tags": tag_names(issue.get("tags")),
        "custom_fields": custom_fields,
        "csat_responses": [c for c in issue.get("csat_responses") or [] if isinstance(c, Mapping)],
        "external_issues": [e for e in issue.get("external_issues") or [] if isinstance(e, Mapping)],
        "body_html": issue.get("body_html"),
        "messages": thread,
    }
    return document
