"""Layouts for the two record shapes this suite produces, chosen by stream name.

- Pylon `issue_documents` (source-pylon) -> the seed-000 layout: Metadata (Issue Details, Dates &
  Times, People, CSAT Responses, External Issues), Description, then the Conversation.
- Planhat `company_documents` (source-planhat) -> the seed-001 layout with Planhat's real field
  names: Basic Information, Custom Fields, Conversations, End Users, NPS, Projects, Assets.

Both tolerate missing fields and render what they do not know under "Other Details", so nothing
a source adds is silently lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .config import Preset
from .documents import (
    GENERIC,
    DustDocument,
    Layout,
    RecordContext,
    clip_title,
    document_id,
    epoch_ms,
    first_present,
    tag,
    valid_source_url,
)
from .sections import Section, heading, humanize, is_empty, lines, render_object, render_value, scalar

BY_STREAM = {"issue_documents": Preset.pylon_issue, "company_documents": Preset.planhat_company}


def section(
    level: int, title: str, content: str | None = None, children: Iterable[Section | None] = ()
) -> Section | None:
    """A titled section, or None when it would have nothing under its title."""
    kept = [c for c in children if c is not None]
    if not content and not kept:
        return None
    return Section(prefix=heading(level, title), content=content, sections=kept)


def person(value: Any) -> str | None:
    """`Name <email>` from {name, email} / {firstName, lastName} / {nickName} / a bare id."""
    if isinstance(value, str):
        return value or None
    if not isinstance(value, dict):
        return None
    name = (
        value.get("name")
        or " ".join(filter(None, [value.get("firstName"), value.get("lastName")]))
        or value.get("nickName")
    )
    email = value.get("email")
    if name and email:
        return f"{name} <{email}>"
    return name or email or value.get("id") or value.get("_id")


def duration(seconds: Any) -> str | None:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return " ".join(p for p in parts if p) or f"{int(seconds)}s"


def rest(record: dict, known: set[str], level: int) -> Section | None:
    remaining = {k: v for k, v in record.items() if k not in known and not is_empty(v)}
    if not remaining:
        return None
    body = render_object(remaining, level, heading(level, "Other Details"))
    return None if body.is_empty() else body


# -- Pylon -----------------------------------------------------------------------------------

PYLON_KNOWN = {
    "id", "number", "title", "link", "state", "type", "source", "created_at", "updated_at",
    "latest_message_time", "first_response_time", "resolution_time", "resolution_breach_time",
    "snoozed_until_time", "first_response_seconds", "business_hours_first_response_seconds",
    "resolution_seconds", "business_hours_resolution_seconds", "account", "requester", "assignee",
    "team", "tags", "custom_fields", "csat_responses", "external_issues", "body_html", "messages",
    "text",  # source-pylon's own plain-text rendering of the same issue: rendered here instead
    "issue_id", "_ab_source_file_url",
}  # fmt: skip
AUTHOR_KINDS = {"user": "support", "contact": "customer", "system": "system"}


def custom_fields(value: Any) -> list[tuple[str, Any]]:
    """Pylon sends an object keyed by slug; seed 003 describes an array of {slug, value}: accept both."""
    entries = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value or []]
    out = []
    for key, entry in entries:
        if not isinstance(entry, dict):
            entry = {"value": entry}
        slug = entry.get("slug") or key
        shown = entry.get("values") or entry.get("value")
        if slug and not is_empty(shown):
            out.append((humanize(str(slug)), ", ".join(map(scalar, shown)) if isinstance(shown, list) else shown))
    return out


def custom_value(record: dict, slug: str) -> Any:
    fields = record.get("custom_fields")
    entry = fields.get(slug) if isinstance(fields, dict) else None
    if entry is None and isinstance(fields, list):
        entry = next((e for e in fields if isinstance(e, dict) and e.get("slug") == slug), None)
    if isinstance(entry, dict):
        return entry.get("value") or (entry.get("values") or [None])[0]
    return entry


def pylon_issue(record: dict, ctx: RecordContext) -> DustDocument:
    account = record.get("account") or {}
    team = record.get("team") or {}
    tags = [str(t.get("value") or t.get("name")) if isinstance(t, dict) else str(t) for t in record.get("tags") or []]
    number = record.get("number")
    title = clip_title(
        f"Pylon Issue {number if number is not None else record.get('id')}: {record.get('title') or '(no title)'}"
    )
    priority = record.get("priority") or custom_value(record, "priority")

    details = lines([
        ("Number", number), ("ID", record.get("id")), ("State", record.get("state")), ("Type", record.get("type")),
        ("Source", record.get("source")), ("Priority", priority), ("Account", account.get("name")),
        ("Domain", account.get("primary_domain") or account.get("domain")), ("Account Type", account.get("type")),
        ("Team", team.get("name") or team.get("id")), ("Tags", ", ".join(tags)),
        *[(label, v) for label, v in custom_fields(record.get("custom_fields")) if label != "Priority"],
        ("Link", record.get("link")),
    ])  # fmt: skip
    dates = lines([
        ("Created", record.get("created_at")), ("Updated", record.get("updated_at")),
        ("First response", record.get("first_response_time")),
        ("Time to first response", duration(record.get("first_response_seconds"))),
        ("Time to first response (business hours)", duration(record.get("business_hours_first_response_seconds"))),
        ("Latest message", record.get("latest_message_time")), ("Resolution", record.get("resolution_time")),
        ("Time to resolution", duration(record.get("resolution_seconds"))),
        ("Time to resolution (business hours)", duration(record.get("business_hours_resolution_seconds"))),
        ("Resolution breach", record.get("resolution_breach_time")), ("Snoozed until", record.get("snoozed_until_time")),
    ])  # fmt: skip
    people = lines([
        ("Requester", person(record.get("requester")) or "(Unknown)"),
        ("Assignee", person(record.get("assignee")) or "(Unassigned)"),
    ])  # fmt: skip
    csat = "".join(
        f"Score: {scalar(r.get('score'))}" + (f" — {scalar(r['comment'])}" if r.get("comment") else "") + "\n"
        for r in record.get("csat_responses") or []
        if isinstance(r, dict) and (r.get("score") is not None or r.get("comment"))
    )
    external = "".join(
        f"{e.get('external_id') or '(no id)'}" + (f" ({e['source']})" if e.get("source") else "")
        + (f": {e['link']}" if e.get("link") else "") + "\n"
        for e in record.get("external_issues") or []
        if isinstance(e, dict)
    )  # fmt: skip
    metadata = section(2, "Metadata", children=[
        section(3, "Issue Details", details), section(3, "Dates & Times", dates), section(3, "People", people),
        section(3, "CSAT Responses", csat or None), section(3, "External Issues", external or None),
    ])  # fmt: skip
    description = scalar(record.get("body_html") or "")
    messages = []
    for message in record.get("messages") or []:
        if not isinstance(message, dict):
            continue
        text = scalar(message.get("message_html") or message.get("text") or "")
        kind = AUTHOR_KINDS.get(message.get("author_kind") or "", message.get("author_kind") or "")
        if message.get("is_private"):
            kind = f"{kind}, internal note" if kind else "internal note"
        fallback = "System" if message.get("author_kind") == "system" else "(unknown)"
        who = message.get("author_name") or message.get("author_email") or fallback
        when = message.get("timestamp")
        label = who + (f" ({kind})" if kind and kind != who.lower() else "") + (f" — {when}" if when else "")
        messages.append(Section(prefix=heading(3, label), content=(text + "\n") if text else None))
    root = Section(
        prefix=heading(1, title),
        sections=[
            s
            for s in (
                metadata,
                section(2, "Description", description + "\n" if description else None),
                section(2, "Conversation", children=messages),
                rest(record, PYLON_KNOWN | set(ctx.settings.exclude_fields), 2),
            )
            if s is not None
        ],
    )
    issue_tags = [
        tag("state", record.get("state")) if record.get("state") else None,
        tag("priority", priority) if priority else None,
        tag("type", str(record.get("type")).lower()) if record.get("type") else None,
        tag("account", account.get("name")) if account.get("name") else None,
        tag("assignee", person_name(record.get("assignee"))) if person_name(record.get("assignee")) else None,
        tag("team", team.get("name")) if team.get("name") else None,
        *(tag("tag", t) for t in tags),
    ]
    return DustDocument(
        document_id=document_id(ctx, record, prefix="pylon-issue", key_fields=["id"]),
        title=title,
        section=root,
        stream=ctx.stream,
        tags=list(dict.fromkeys(t for t in issue_tags if t)),
        timestamp=epoch_ms(record.get("updated_at") or record.get("created_at")),
        source_url=valid_source_url(record.get("link")),
    )


def person_name(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("name") or value.get("nickName") or value.get("email")
    return value if isinstance(value, str) and value else None


# -- Planhat ---------------------------------------------------------------------------------

PLANHAT_KNOWN = {
    "_id", "name", "slug", "externalId", "sourceId", "owner", "coOwner", "phase", "phaseSince", "status",
    "domains", "tags", "h", "hProfile", "hDiff", "custom", "createDate", "lastUpdated", "updatedAt",
    "renewalDate", "renewalDaysFromNow", "customerFrom", "customerTo", "mr", "mrr", "arr", "nrr30", "nps",
    "conversations", "endusers", "projects", "assets",
}  # fmt: skip


def items(
    level: int, title: str, records: Any, item_title, fields: list[tuple[str, str]], text_field: str | None = None
) -> Section | None:
    """A list section: one sub-section per record, `Label: value` lines, an optional long text."""
    children = []
    for index, record in enumerate(records if isinstance(records, list) else [], 1):
        if not isinstance(record, dict):
            continue
        content = lines(
            [(label, names(record.get(key)) if key == "users" else record.get(key)) for label, key in fields]
        )
        text = scalar(record.get(text_field) or "") if text_field else ""
        if text:
            content = (content or "") + f"{humanize(text_field)}:\n{text}\n"
        extra = (
            render_object({k: v for k, v in (record.get("custom") or {}).items()}, level + 1, None)
            if isinstance(record.get("custom"), dict)
            else None
        )
        children.append(Section(prefix=heading(level + 1, item_title(record, index)), content=content,
                                sections=[extra] if extra and not extra.is_empty() else []))  # fmt: skip
    return section(level, title, children=children)


def names(value: Any) -> str | None:
    if not isinstance(value, list):
        return None
    shown = [person(v) for v in value]
    return ", ".join(s for s in shown if s) or None


def planhat_company(record: dict, ctx: RecordContext) -> DustDocument:
    # source-planhat nests the company under `company` next to its related lists; a plain `companies`
    # record is the company itself. The document-level fields (updatedAt: newest of any part) win; the
    # company's own NPS score is kept aside, as the list of NPS responses has the same key.
    company = record["company"] if isinstance(record.get("company"), dict) else record
    nps_score = company.get("nps") if not isinstance(company.get("nps"), list) else None
    if company is not record:
        record = {**company, **{k: v for k, v in record.items() if k != "company"}}
    company_id = record.get("_id")
    title = clip_title(str(record.get("name") or company_id or "Planhat company"))
    basic = lines([
        ("Name", record.get("name")), ("ID", company_id), ("External ID", record.get("externalId")),
        ("Status", record.get("status")), ("Phase", record.get("phase")), ("Phase since", record.get("phaseSince")),
        ("Health", record.get("h")), ("Health change", record.get("hDiff")),
        ("Owner", person(record.get("owner"))), ("Co-owner", person(record.get("coOwner"))),
        ("Domains", ", ".join(map(str, record.get("domains") or []))), ("Tags", ", ".join(map(str, record.get("tags") or []))),
        ("Customer from", record.get("customerFrom")), ("Customer to", record.get("customerTo")),
        ("Renewal date", record.get("renewalDate")), ("Days to renewal", record.get("renewalDaysFromNow")),
        ("MRR", record.get("mrr") if record.get("mrr") is not None else record.get("mr")), ("ARR", record.get("arr")),
        ("NRR (30 days)", record.get("nrr30")), ("NPS", nps_score),
        ("Created", record.get("createDate")), ("Last updated", record.get("updatedAt") or record.get("lastUpdated")),
    ])  # fmt: skip
    custom = record.get("custom") if isinstance(record.get("custom"), dict) else {}
    custom_lines, custom_children = [], []
    for key, value in custom.items():
        line, child = render_value(key, value, 2)
        custom_lines.append(line) if line else None
        custom_children.append(child) if child else None

    def dated(name_key: str, date_key: str, fallback: str):
        def title_of(r: dict, index: int) -> str:
            name = r.get(name_key) or f"{fallback} {index}"
            when = r.get(date_key)
            return f"{scalar(name)} — {when}" if when else scalar(name)

        return title_of

    conversations = [
        {**c, "_endusers": names(c.get("endusers"))} for c in record.get("conversations") or [] if isinstance(c, dict)
    ]
    sections = [
        section(2, "Basic Information", basic),
        section(2, "Custom Fields", "\n".join(custom_lines) + "\n" if custom_lines else None, custom_children),
        items(
            2,
            "Conversations",
            conversations,
            dated("subject", "date", "Conversation"),
            [
                ("Type", "type"),
                ("Date", "date"),
                ("Status", "status"),
                ("Users", "users"),
                ("End users", "_endusers"),
                ("Tags", "tags"),
                ("Link", "url"),
            ],
            text_field="description",
        ),  # fmt: skip
        items(
            2,
            "End Users",
            record.get("endusers"),
            lambda r, i: person(r) or f"End user {i}",
            [
                ("Email", "email"),
                ("Position", "position"),
                ("Phone", "phone"),
                ("Primary", "primary"),
                ("Last active", "lastActive"),
                ("NPS", "nps"),
                ("NPS comment", "npsComment"),
                ("NPS date", "npsDate"),
            ],
        ),  # fmt: skip
        items(
            2,
            "NPS",
            _nps(record),
            dated("email", "dateAnswered", "NPS response"),
            [
                ("Score", "score"),
                ("Comment", "comment"),
                ("Date answered", "dateAnswered"),
                ("Date sent", "dateSent"),
                ("Source", "source"),
            ],
        ),  # fmt: skip
        items(
            2,
            "Projects",
            record.get("projects"),
            lambda r, i: scalar(r.get("name") or f"Project {i}"),
            [
                ("Start date", "startDate"),
                ("End date", "endDate"),
                ("MRR", "mrr"),
                ("ARR", "arr"),
                ("NRR", "nrr"),
                ("Currency", "currency"),
                ("External ID", "externalId"),
            ],
        ),  # fmt: skip
        items(
            2,
            "Assets",
            record.get("assets"),
            lambda r, i: scalar(r.get("name") or f"Asset {i}"),
            [
                ("Serial number", "serialNumber"),
                ("Value", "value"),
                ("Currency", "_currency"),
                ("Install date", "installDate"),
                ("Status", "status"),
                ("Owner", "ownerName"),
                ("External ID", "externalId"),
            ],
        ),  # fmt: skip
        rest(record, PLANHAT_KNOWN | set(ctx.settings.exclude_fields), 2),
    ]
    owner_name = person_name(record.get("owner"))
    company_tags = [
        tag("status", record.get("status")) if record.get("status") else None,
        tag("health", record.get("h")) if record.get("h") is not None else None,
        tag("phase", record.get("phase")) if record.get("phase") else None,
        tag("owner", owner_name) if owner_name else None,
    ]
    return DustDocument(
        document_id=document_id(ctx, record, prefix="planhat-company", key_fields=["_id"]),
        title=title,
        section=Section(prefix=heading(1, title), sections=[s for s in sections if s is not None]),
        stream=ctx.stream,
        tags=[t for t in company_tags if t],
        timestamp=epoch_ms(first_present(record, ("updatedAt", "lastUpdated", "createDate"))),
        source_url=None,
    )


def _nps(record: dict) -> list:
    """`nps` is the company's score (a number) on Planhat; company_documents sends the responses as a list."""
    return record.get("nps") if isinstance(record.get("nps"), list) else []


LAYOUTS: dict[Preset, Layout] = {
    Preset.generic: GENERIC,
    Preset.pylon_issue: Layout(pylon_issue, frozenset(PYLON_KNOWN | {"priority"})),
    Preset.planhat_company: Layout(planhat_company, frozenset(PLANHAT_KNOWN | {"company"})),
}


def layout_for(stream: str, preset: Preset) -> Layout:
    if preset == Preset.auto:
        preset = BY_STREAM.get(stream, Preset.generic)
    return LAYOUTS[preset]
