"""One self-contained record per company, for indexing as a document.

The record is structured data with Planhat's real field names: the company (owner and co-owner resolved
to name and email), and its conversations, endusers, NPS responses, projects and assets as Planhat serves
them, newest first. How it reads as a document (seed 001's layout, tags) is destination-dust's preset;
any other destination gets the same data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .paging import parse_time

RELATED = ("conversations", "endusers", "nps", "projects", "assets")


def build(company: Mapping[str, Any], related: Mapping[str, list[dict]], users: Mapping[str, dict]) -> dict:
    company = dict(company)
    company["owner"] = resolve_user(company.get("owner"), users)
    company["coOwner"] = resolve_user(company.get("coOwner"), users)
    children = {name: sorted(related.get(name, []), key=_newest_first) for name in RELATED}
    return {
        "_id": company["_id"],
        "updatedAt": newest_update(company, children),  # the document changes when any part does
        "company": company,
        **children,
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


def updated_before(document: Mapping[str, Any], moment: datetime) -> bool:
    """Whether the company and every one of its records were provably updated before `moment`.

    A part with no parseable updatedAt cannot be proved old, as in an incremental model read."""
    parts = [document["company"], *(r for name in RELATED for r in document.get(name, []))]
    stamps = [parse_time(part.get("updatedAt")) for part in parts]
    return all(stamp is not None and stamp < moment for stamp in stamps)


def _newest_first(record: Mapping[str, Any]) -> tuple:
    moment = parse_time(record.get("date") or record.get("dateAnswered") or record.get("createDate"))
    return (moment is None, -(moment.timestamp() if moment else 0), record.get("_id") or "")
