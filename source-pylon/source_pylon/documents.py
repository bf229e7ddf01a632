"""issue_documents: one self-contained record per issue, ready to index as a document (e.g. in Dust).

It carries the issue joined with its account, people and team, its custom fields, CSAT and external
issues, and its whole message thread in order, plus `text`: the same as readable plain text, in the
layout of the Pylon→Dust script it replaces (seed 000), extended with tags, custom fields and messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from typing import Any

from .dates import try_parse

Lookup = Callable[[str, str | None], Mapping[str, Any] | None]

BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in BLOCK_TAGS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str | None) -> str:
    if not html:
        return ""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)


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
    document["text"] = render_text(document)
    return document


def render_text(doc: Mapping[str, Any]) -> str:
    account = doc.get("account") or {}
    requester = doc.get("requester") or {}
    assignee = doc.get("assignee") or {}

    def person(p: Mapping[str, Any], missing: str) -> str:
        if not p:
            return missing
        name, email = p.get("name"), p.get("email")
        return f"{name} <{email}>" if name and email else name or email or missing

    lines = [
        f"Pylon Issue #{doc.get('number')}: {doc.get('title') or '(untitled)'}",
        "",
        "Issue Details:",
        f"ID: {doc.get('id')}",
        f"State: {doc.get('state')}",
        f"Type: {doc.get('type')}",
        f"Source: {doc.get('source')}",
        f"Link: {doc.get('link')}",
        f"Account: {account.get('name') or '(none)'}",
        f"Domain: {account.get('primary_domain') or account.get('domain') or '(none)'}",
        f"Account Type: {account.get('type') or '(none)'}",
        f"Team: {(doc.get('team') or {}).get('name') or '(none)'}",
        f"Tags: {', '.join(doc.get('tags') or []) or '(none)'}",
        "",
        "Dates & Times:",
        f"Created: {doc.get('created_at')}",
        f"Updated: {doc.get('updated_at')}",
        f"First response: {doc.get('first_response_time') or '(none)'}",
        f"Resolution: {doc.get('resolution_time') or '(unresolved)'}",
        "",
        "People:",
        f"Requester: {person(requester, '(Unknown)')}",
        f"Assignee: {person(assignee, '(Unassigned)')}",
        "",
        "Custom Fields:",
    ]
    for slug, field in (doc.get("custom_fields") or {}).items():
        value = ", ".join(str(v) for v in field.get("values") or []) or field.get("value")
        lines.append(f"{slug}: {value}")
    lines += ["", "CSAT Responses:"]
    for response in doc.get("csat_responses") or []:
        comment = f" - {response.get('comment')}" if response.get("comment") else ""
        lines.append(f"Score {response.get('score')}{comment}")
    lines += ["", "External Issues:"]
    for external in doc.get("external_issues") or []:
        lines.append(f"{external.get('source')} {external.get('external_id')}: {external.get('link')}")
    lines += ["", "Description:", html_to_text(doc.get("body_html")), "", "Messages:"]
    for message in doc.get("messages") or []:
        private = " (internal note)" if message.get("is_private") else ""
        lines.append(
            f"[{message.get('timestamp')}] {message.get('author_name') or 'System'} ({message.get('author_kind')}){private}:"
        )
        lines.append(html_to_text(message.get("message_html")))
    return "\n".join(lines).strip() + "\n"
