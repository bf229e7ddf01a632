"""Record shapes shared by the generator and the mutation API."""

from __future__ import annotations

from datetime import datetime

APP_URL = "https://app.usepylon.com"
# Business hours are 10 h x 5 days of the week's 168 h; Pylon computes the real thing.
BUSINESS_SHARE = 50 / 168


def blank_issue(issue_id: str, number: int, created_at: str) -> dict:
    """Every field the API documents for an issue, unset; generation and add_issue start here."""
    return {
        "id": issue_id,
        "number": number,
        "title": None,
        "body_html": None,
        "state": "new",
        "type": "conversation",
        "source": "manual",
        "link": f"{APP_URL}/issues?issueNumber={number}",
        "created_at": created_at,
        "updated_at": created_at,
        "latest_message_time": None,
        "first_response_time": None,
        "first_response_seconds": None,
        "business_hours_first_response_seconds": None,
        "resolution_time": None,
        "resolution_seconds": None,
        "business_hours_resolution_seconds": None,
        "resolution_breach_time": None,
        "snoozed_until_time": None,
        "number_of_touches": 0,
        "time_in_status_seconds": {},
        "business_hours_time_in_status_seconds": {},
        "account": None,
        "assignee": None,
        "requester": None,
        "team": None,
        "tags": [],
        "custom_fields": {},
        "csat_responses": [],
        "external_issues": [],
        "attachment_urls": [],
        "slack": None,
    }


def field_value(slug: str, kind: str, value) -> dict:
    """A custom field value as issues carry it: multiselects use `values`, the rest `value`."""
    if kind == "multiselect":
        return {"slug": slug, "values": list(value)}
    return {"slug": slug, "value": value, "values": []}


def person_ref(record: dict | None) -> dict | None:
    return None if record is None else {"id": record["id"], "email": record["email"]}


def business(seconds: int | None) -> int | None:
    return None if seconds is None else int(seconds * BUSINESS_SHARE)


def parse_iso(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))
