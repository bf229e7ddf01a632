"""Issues with their messages and threads, generated over an existing workspace.

A mixin of PylonData, split out for size: it reads the workspace's people (`accounts`,
`contacts`, `users`, `teams`), its text helpers and `fake`, and fills `messages`,
`threads`, `_customer_activity` and `_csat`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from . import catalog
from .shapes import blank_issue, business, field_value, parse_iso, person_ref

SNOOZE = timedelta(days=3)  # on_hold issues wake up after this long
SLA_HOURS = {"urgent": 4, "high": 8, "medium": 24, "low": 72}
MESSAGE_AUTHORS = {"contact": 40, "user": 40, "note": 12, "system": 8}  # "note": internal, private
CSAT_SCORES = {5: 50, 4: 25, 3: 12, 2: 7, 1: 6}
ISSUE_TYPES = {"conversation": 55, "ticket": 35, "Conversation": 5, "Ticket": 5}  # old docs capitalise


class IssueGenerator:
    def _issue(self, number: int, created: datetime, pinned: datetime | None) -> dict:
        fake, rng = self.fake, self.fake.rng
        # Everything the issue does happens in (created, horizon]; horizon becomes updated_at.
        horizon = pinned or min(created + timedelta(seconds=rng.randint(600, 20 * 86400)), self.now)
        span = int((horizon - created).total_seconds())
        issue = blank_issue(fake.uuid(), number, self._iso(created))

        account = fake.choice(self.accounts) if fake.chance(0.9) else None
        people = self._contacts_by_account.get(account["id"], []) if account else []
        requester = None if fake.chance(0.05) else fake.choice(people or self.contacts)
        assignee = fake.choice(self.users) if fake.chance(0.85) else None
        team = fake.choice(self.teams) if fake.chance(0.8) else None
        source = fake.weighted(catalog.ISSUE_SOURCES)
        state = fake.weighted(catalog.STATE_WEIGHTS)
        slack = None
        if source == "slack":
            slack = {
                "channel_id": f"C{self._hex(10)}",
                "message_ts": f"{created.timestamp():.6f}",
                "workspace_id": f"T{self._hex(8)}",
            }

        count = self.messages_per_issue if self.messages_per_issue is not None else rng.randint(0, 8)
        messages, threads = [], []
        for index, offset in enumerate(sorted(rng.randint(1, span) for _ in range(count))):
            kind = ("user" if source == "manual" else "contact") if index == 0 else fake.weighted(MESSAGE_AUTHORS)
            if kind == "note" and not threads:
                threads.append(self._thread(issue["id"], created + timedelta(seconds=offset), slack))
            contact = requester or fake.choice(people or self.contacts)
            user = assignee or fake.choice(self.users)
            at = created + timedelta(seconds=offset)
            messages.append(
                self._message(kind, at, source, threads[0]["id"] if kind == "note" else None, contact, user)
            )
            if kind == "contact" and contact["account"]:
                seen = self._customer_activity.get(contact["account"]["id"])
                self._customer_activity[contact["account"]["id"]] = max(seen or "", self._iso(at))
        self.messages[issue["id"]] = messages
        self.threads[issue["id"]] = threads

        replies = [m for m in messages if m["author"]["user"] and not m["is_private"]]
        first_response = int((parse_iso(replies[0]["timestamp"]) - created).total_seconds()) if replies else None
        custom = self._issue_custom_fields(state == "closed")
        priority = custom.get("priority", {}).get("value")
        issue.update(
            title=self._text().rstrip("."),
            body_html=messages[0]["message_html"] if messages else self._html(),
            state=state,
            type=fake.weighted(ISSUE_TYPES),
            source=source,
            updated_at=self._iso(horizon),
            latest_message_time=messages[-1]["timestamp"] if messages else None,
            first_response_time=replies[0]["timestamp"] if replies else None,
            first_response_seconds=first_response,
            business_hours_first_response_seconds=business(first_response),
            resolution_breach_time=self._iso(created + timedelta(hours=SLA_HOURS[priority])) if priority else None,
            snoozed_until_time=self._iso(horizon + SNOOZE) if state == "on_hold" else None,
            number_of_touches=len(replies),
            time_in_status_seconds=self._time_in_status(span, first_response, state),
            account={"id": account["id"], "external_ids": account["external_ids"]} if account else None,
            assignee=person_ref(assignee),
            requester=person_ref(requester),
            team={"id": team["id"]} if team else None,
            tags=None if fake.chance(0.1) else rng.sample([t for t, _ in catalog.ISSUE_TAGS], k=rng.randint(0, 3)),
            custom_fields=custom,
            external_issues=self._external_issues(),
            attachment_urls=[f"https://files.usepylon.com/{self._hex(16).lower()}/screenshot.png"]
            if fake.chance(0.1)
            else [],
            slack=slack,
        )
        issue["business_hours_time_in_status_seconds"] = {
            k: business(v) for k, v in issue["time_in_status_seconds"].items()
        }
        if state == "closed":
            last_activity = parse_iso(issue["latest_message_time"]) if messages else created + timedelta(seconds=1)
            resolved = fake.between(last_activity, horizon)
            seconds = int((resolved - created).total_seconds())
            issue.update(
                resolution_time=self._iso(resolved),
                resolution_seconds=seconds,
                business_hours_resolution_seconds=business(seconds),
            )
            if fake.chance(0.4):
                score = fake.weighted(CSAT_SCORES)
                comment = self._text() if fake.chance(0.6) else ""
                issue["csat_responses"] = [{"score": score, "comment": comment}]
                self._csat.append((issue, score, comment))
        return issue

    def _message(self, kind: str, at: datetime, source: str, thread_id: str | None, contact: dict, user: dict) -> dict:
        author = {"name": "Pylon", "avatar_url": None, "contact": None, "user": None}  # system
        if kind == "contact":
            author.update(name=contact["name"], avatar_url=contact["avatar_url"], contact=person_ref(contact))
        elif kind in ("user", "note"):
            author.update(name=user["name"], avatar_url=user["avatar_url"], user=person_ref(user))
        email_info = None
        if source == "email" and kind in ("contact", "user"):
            sender = contact if kind == "contact" else user
            email_info = {
                "from_email": sender["email"],
                "to_emails": [f"support@{self.org_domain}" if kind == "contact" else contact["email"]],
                "cc_emails": [],
                "bcc_emails": [],
                "message_id": f"<{self._hex(16).lower()}@mail.{self.org_domain}>",
            }
        timestamp = self._iso(at)
        return {
            "id": self.fake.uuid(),
            "timestamp": timestamp,
            "message_html": self._html(),
            "is_private": kind == "note",
            "source": "app" if kind == "note" else source,
            "thread_id": thread_id,
            "file_urls": [f"https://files.usepylon.com/{self._hex(16).lower()}/log.txt"]
            if self.fake.chance(0.05)
            else [],
            "author": author,
            "email_info": email_info,
            "_created_at": timestamp,
        }

    def _thread(self, issue_id: str, at: datetime, slack: dict | None) -> dict:
        return {
            "id": self.fake.uuid(),
            "issue_id": issue_id,
            "name": "Internal discussion",
            "source": "slack" if slack else "app",
            "channel_id": slack["channel_id"] if slack else None,
            "thread_id": f"{at.timestamp():.6f}" if slack else None,
            "_created_at": self._iso(at),
        }

    def _issue_custom_fields(self, closed: bool) -> dict:
        chances = dict(catalog.ISSUE_FIELD_CHANCE, **(catalog.CLOSED_FIELD_CHANCE if closed else {}))
        fields = {}
        for slug, chance in chances.items():
            if not self.fake.chance(chance):
                continue
            options = self._options(slug)
            if slug == "affected-modules":
                fields[slug] = field_value(
                    slug, "multiselect", self.fake.rng.sample(options, k=self.fake.rng.randint(1, 2))
                )
            else:
                fields[slug] = field_value(slug, "select", self.fake.choice(options))
        return fields

    def _time_in_status(self, span: int, first_response: int | None, state: str) -> dict:
        new = first_response if first_response is not None else min(span, 3600)
        rest = max(span - new, 0)
        times = {"new": new, "waiting_on_you": rest // 2, "waiting_on_customer": rest - rest // 2}
        if state not in times and state != "closed":
            times[state] = 0
        return times

    def _external_issues(self) -> list[dict]:
        if not self.fake.chance(0.15):
            return []
        source, prefix, base = self.fake.choice(catalog.EXTERNAL_TRACKERS)
        key = f"{prefix}-{self.fake.rng.randint(100, 4000)}"
        return [{"external_id": key, "link": base + key, "source": source}]
