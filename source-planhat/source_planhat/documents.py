"""One self-contained record per company, for indexing as a document (the seed-001 layout, real fields).

The record keeps the structured data (the company with its owner resolved, and its conversations,
endusers, NPS responses, projects and assets as Planhat serves them) and adds what a document store
needs: `document_id`, `title`, `tags` and `text`, a readable rendering in the seed's sections.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from .paging import parse_time

RELATED = ("conversations", "endusers", "nps", "projects", "assets")
TAG_RE = re.compile(r"<[^>]+>")
BLOCK_RE = re.compile(r"</?(p|div|br|li|ul|ol|h\d)[^>]*>", re.IGNORECASE)


def build(company: Mapping[str, Any], related: Mapping[str, list[dict]], users: Mapping[str, dict]) -> dict:
    company = dict(company)
    company["owner"] = resolve_user(company.get("owner"), users)
    company["coOwner"] = resolve_user(company.get("coOwner"), users)
    children = {name: sorted(related.get(name, []), key=_newest_first) for name in RELATED}
    endusers_by_id = {e["_id"]: e for e in children["endusers"]}
    return {
        "_id": company["_id"],
        "document_id": f"planhat-company-{company.get('slug') or company['_id']}",
        "title": company.get("name") or company["_id"],
        "updatedAt": newest_update(company, children),
        "tags": tags(company),
        "company": company,
        **children,
        "text": render(company, children, endusers_by_id),
    }


def resolve_user(owner: Any, users: Mapping[str, dict]) -> dict | None:
    """`owner` is an id on GET-by-id and {_id, nickName} on lists (reference); both become one shape."""
    if not owner:
        return None
    user_id = owner.get("_id") if isinstance(owner, Mapping) else owner
    nick = owner.get("nickName") if isinstance(owner, Mapping) else None
    user = users.get(user_id) or {}
    full = " ".join(p for p in (user.get("firstName"), user.get("lastName")) if p)
    return {
        "_id": user_id,
        "nickName": nick or user.get("nickName"),
        "name": full or nick or user.get("nickName"),
        "email": user.get("email"),
    }


def newest_update(company: Mapping[str, Any], children: Mapping[str, list[dict]]) -> str | None:
    stamps = [company.get("updatedAt")] + [r.get("updatedAt") for rs in children.values() for r in rs]
    dated = [(moment, s) for s in stamps if (moment := parse_time(s)) is not None]
    return max(dated)[1] if dated else None


def tags(company: Mapping[str, Any]) -> list[str]:
    """The seed's tags (status, health, phase, owner) from the real fields (`h`, not `health`)."""
    found = []
    if company.get("status"):
        found.append(f"status:{company['status']}")
    if company.get("h") is not None:
        found.append(f"health:{company['h']}")
    if company.get("phase"):
        found.append(f"phase:{company['phase']}")
    owner = company.get("owner")
    if owner and owner.get("name"):
        found.append(f"owner:{owner['name']}")
    return found


def plain(text: Any) -> str:
    """HTML (conversation descriptions) to readable text."""
    if not text:
        return ""
    text = BLOCK_RE.sub("\n", str(text))
    text = html.unescape(TAG_RE.sub("", text))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def render(company: Mapping[str, Any], children: Mapping[str, list[dict]], endusers: Mapping[str, dict]) -> str:
    lines = [f"# {company.get('name') or company['_id']}", "", "## Basic Information"]
    owner, co_owner = company.get("owner"), company.get("coOwner")
    facts = [
        ("Status", company.get("status")),
        ("Phase", company.get("phase")),
        ("Health", company.get("h")),
        ("Owner", _person(owner)),
        ("Co-owner", _person(co_owner)),
        ("Domains", ", ".join(company.get("domains") or [])),
        ("Tags", ", ".join(company.get("tags") or [])),
        ("MRR", company.get("mrr")),
        ("ARR", company.get("arr")),
        ("NPS", company.get("nps")),
        ("Renewal date", company.get("renewalDate")),
        ("Customer from", company.get("customerFrom")),
        ("Created", company.get("createDate")),
        ("Updated", company.get("updatedAt")),
        ("External id", company.get("externalId")),
    ]
    lines += _facts(facts)
    custom = company.get("custom") or {}
    if custom:
        lines += ["", "## Custom Fields", *_facts(sorted(custom.items()))]

    lines += ["", f"## Conversations ({len(children['conversations'])})"]
    for conv in children["conversations"]:
        people = [u.get("name") for u in conv.get("users") or [] if isinstance(u, Mapping)]
        people += [e.get("name") for e in conv.get("endusers") or [] if isinstance(e, Mapping)]
        lines += ["", f"### {conv.get('subject') or '(no subject)'}"]
        lines += _facts(
            [("Type", conv.get("type")), ("Date", conv.get("date")), ("People", ", ".join(filter(None, people)))]
        )
        body = plain(conv.get("description")) or conv.get("snippet") or ""
        if body:
            lines += ["", body]

    lines += ["", f"## End Users ({len(children['endusers'])})"]
    for user in children["endusers"]:
        name = user.get("name") or " ".join(filter(None, (user.get("firstName"), user.get("lastName"))))
        lines += ["", f"### {name or user.get('email') or user['_id']}"]
        lines += _facts(
            [
                ("Position", user.get("position")),
                ("Email", user.get("email")),
                ("Phone", user.get("phone")),
                ("Primary", "yes" if user.get("primary") else None),
                ("Last active", user.get("lastActive")),
            ]
        )

    lines += ["", f"## NPS ({len(children['nps'])})"]
    for answer in children["nps"]:
        who = endusers.get(answer.get("euId") or "", {}).get("name") or answer.get("email")
        lines += ["", f"### Score {answer.get('score')}"]
        lines += _facts([("Answered", answer.get("dateAnswered")), ("By", who), ("Comment", answer.get("comment"))])

    lines += ["", f"## Projects ({len(children['projects'])})"]
    for project in children["projects"]:
        lines += ["", f"### {project.get('name') or project['_id']}"]
        lines += _facts(
            [("Start", project.get("startDate")), ("End", project.get("endDate")), ("MRR", project.get("mrr"))]
        )

    lines += ["", f"## Assets ({len(children['assets'])})"]
    for asset in children["assets"]:
        lines += ["", f"### {asset.get('name') or asset['_id']}"]
        lines += _facts(
            [
                ("Status", asset.get("status")),
                ("Serial number", asset.get("serialNumber")),
                ("Value", asset.get("value")),
                ("Installed", asset.get("installDate")),
                ("Owner", asset.get("ownerName")),
            ]
        )
    return "\n".join(lines) + "\n"


def _person(user: Mapping[str, Any] | None) -> str | None:
    if not user:
        return None
    return f"{user['name']} <{user['email']}>" if user.get("email") else user.get("name")


def _facts(pairs) -> list[str]:
    return [f"- {label}: {value}" for label, value in pairs if value not in (None, "", [])]


def _newest_first(record: Mapping[str, Any]) -> tuple:
    moment = parse_time(record.get("date") or record.get("dateAnswered") or record.get("createDate"))
    return (moment is None, -(moment.timestamp() if moment else 0), record.get("_id") or "")
