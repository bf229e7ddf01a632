"""A consistent Pylon workspace generated from (seed, size).

Every id an issue or message points at exists, and each issue's timeline holds
created_at < first_response_time <= latest_message_time <= updated_at, with
resolution_time inside it for closed issues. Records that the API returns without a
creation time carry a hidden `_created_at` (stripped before serving) so they page in a
stable order like everything else.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from ..fakedata import FakeData
from . import catalog
from .issues import IssueGenerator
from .shapes import APP_URL, field_value, parse_iso, person_ref

DAY = timedelta(days=1)
HISTORY = timedelta(days=730)  # issues spread over ~2 years before FakeData.now
SLICE = timedelta(days=30)  # the widest window GET /issues accepts, so the slice connectors use
# Issues pinned to updated_at = epoch + k * SLICE: exactly the bounds a 30-day slicer asks for,
# where exclusive time_is_after/time_is_before lose records. k=6 twice: two issues, one second.
BOUNDARY_SLICES = [1, 2, 3, 6, 6, 12]
# A second pair sharing an updated_at second away from any boundary (a cursor tie, not a bound).
SHARED_SECOND = timedelta(days=400, seconds=12345)
TEXT_POOL = 400  # sentences drawn once from Faker; reusing them keeps 20k messages fast


class PylonData(IssueGenerator):
    def __init__(
        self, seed: int, size: int, messages_per_issue: int | None = None, now: datetime | None = None
    ) -> None:
        self.fake = FakeData(seed, now)
        self.now: datetime = self.fake.now
        self.epoch = (self.now - HISTORY).replace(hour=0, minute=0, second=0, microsecond=0)
        self.messages_per_issue = messages_per_issue
        self._pool = [self.fake.sentence() for _ in range(TEXT_POOL)]

        self.org = {"id": self.fake.uuid(), "name": self.fake.company()["name"]}
        self.org_domain = "support.example.com"
        self.user_roles = [
            {"id": self.fake.uuid(), "name": name, "slug": slug, "_created_at": self._iso(self.epoch - 400 * DAY)}
            for name, slug in catalog.USER_ROLES
        ]
        self.users = [self._user(i) for i in range(catalog.USER_COUNT)]
        self.teams = [self._team(name) for name in catalog.TEAMS]
        self.tags = self._tags()
        self.custom_fields = [self._custom_field(*spec) for spec in catalog.CUSTOM_FIELDS]
        self.issue_statuses = [
            {
                "slug": s,
                "label": lbl,
                "category": cat,
                "is_default_status": d,
                "is_archived": a,
                "_created_at": self._iso(self.epoch),
            }
            for s, lbl, cat, d, a in catalog.ISSUE_STATUSES
        ]
        self.activity_types = [
            {
                "id": self.fake.uuid(),
                "slug": slug,
                "label": label,
                "is_active": True,
                "_created_at": self._iso(self.epoch),
            }
            for slug, label in catalog.ACTIVITY_TYPES
        ]
        self.ticket_forms = [self._ticket_form(*spec) for spec in catalog.TICKET_FORMS]

        self.accounts = [self._account() for _ in range(max(3, min(300, size // 4)))]
        self.contacts = [c for account in self.accounts for c in self._contacts(account)]
        self.contacts += [self._contact(None) for _ in range(max(1, len(self.accounts) // 10))]
        self._contacts_by_account: dict[str, list[dict]] = defaultdict(list)
        for contact in self.contacts:
            if contact["account"]:
                self._contacts_by_account[contact["account"]["id"]].append(contact)
        self._customer_activity: dict[str, str] = {}  # account id -> latest customer message

        self.messages: dict[str, list[dict]] = {}  # issue id -> its messages (which carry no issue_id)
        self.threads: dict[str, list[dict]] = {}
        self._csat: list[tuple[dict, int, str]] = []
        self.issues = [self._issue(n, created, pinned) for n, (created, pinned) in enumerate(self._plan(size), 1)]
        for account in self.accounts:
            account["latest_customer_activity_time"] = self._customer_activity.get(account["id"])

        self.knowledge_bases, self.articles = self._knowledge_bases()
        self.surveys, self.survey_responses = self._surveys(size)

    # -- helpers ----------------------------------------------------------------------------

    _iso = staticmethod(FakeData.iso)

    def _text(self, sentences: int = 1) -> str:
        return " ".join(self.fake.rng.choices(self._pool, k=sentences))

    def _html(self) -> str:
        return "".join(f"<p>{self._text(self.fake.rng.randint(1, 3))}</p>" for _ in range(self.fake.rng.randint(1, 2)))

    def _hex(self, digits: int) -> str:
        return f"{self.fake.rng.getrandbits(digits * 4):0{digits}X}"

    def landmarks(self) -> dict:
        """The timestamps tests aim at: slice bounds with issues on them and shared seconds."""
        boundaries = {self.epoch + k * SLICE for k in BOUNDARY_SLICES}
        counts = {pin: self._pins.count(pin) for pin in self._pins}
        return {
            "now": self._iso(self.now),
            "epoch": self._iso(self.epoch),
            "slice_days": SLICE.days,
            "boundary_updated_at": sorted(self._iso(pin) for pin in counts if pin in boundaries),
            "shared_updated_at": sorted(self._iso(pin) for pin, n in counts.items() if n > 1),
        }

    # -- people and vocabularies -----------------------------------------------------------

    def _user(self, index: int) -> dict:
        person = self.fake.person(self.org_domain)
        role = self.user_roles[0] if index == 0 else self.fake.choice(self.user_roles[1:])
        return {
            "id": self.fake.uuid(),
            "name": person["name"],
            "email": person["email"],
            "emails": [person["email"]],
            "avatar_url": f"https://avatars.usepylon.com/{self._hex(12).lower()}.png",
            "role_id": role["id"],
            "status": self.fake.weighted(catalog.USER_STATUSES),
            "_created_at": self._iso(self.epoch - (300 - index) * DAY),
        }

    def _team(self, name: str) -> dict:
        members = self.fake.rng.sample(self.users, k=self.fake.rng.randint(2, 5))
        return {
            "id": self.fake.uuid(),
            "name": name,
            "users": [person_ref(u) for u in members],
            "_created_at": self._iso(self.fake.between(self.epoch - 300 * DAY, self.epoch)),
        }

    def _tags(self) -> list[dict]:
        tags = []
        for object_type, table in (("issue", catalog.ISSUE_TAGS), ("account", catalog.ACCOUNT_TAGS)):
            for value, color in table:
                created = self._iso(self.fake.between(self.epoch - 300 * DAY, self.epoch))
                tags.append(
                    {
                        "id": self.fake.uuid(),
                        "value": value,
                        "hex_color": color,
                        "object_type": object_type,
                        "_created_at": created,
                    }
                )
        return tags

    def _custom_field(self, slug: str, label: str, kind: str, object_type: str, options: list[str]) -> dict:
        created = self.fake.between(self.epoch - 300 * DAY, self.epoch)
        has_options = kind in ("select", "multiselect")
        return {
            "id": self.fake.uuid(),
            "slug": slug,
            "label": label,
            "description": f"{label} of the {object_type}",
            "type": kind,
            "object_type": object_type,
            "select_metadata": {"options": [{"slug": o, "label": o.replace("-", " ").capitalize()} for o in options]}
            if has_options
            else None,
            "created_at": self._iso(created),
            "updated_at": self._iso(self.fake.between(created, self.now)),
        }

    def _ticket_form(self, name: str, slug: str, fields: list[str]) -> dict:
        return {
            "id": self.fake.uuid(),
            "name": name,
            "slug": slug,
            "url": f"{APP_URL}/forms/{slug}",
            "description": self._text(),
            "is_public": True,
            "fields": [{"slug": f} for f in fields],
            "_created_at": self._iso(self.fake.between(self.epoch - 200 * DAY, self.epoch)),
        }

    def _options(self, slug: str) -> list[str]:
        return next(spec[4] for spec in catalog.CUSTOM_FIELDS if spec[0] == slug)

    # -- accounts and contacts --------------------------------------------------------------

    def _account(self) -> dict:
        company = self.fake.company()
        created = self.fake.between(self.epoch - 365 * DAY, self.epoch)
        domains = [company["domain"]] + ([f"{company['domain'].split('.')[0]}.app"] if self.fake.chance(0.2) else [])
        owner = self.fake.choice(self.users) if self.fake.chance(0.8) else None
        tag_names = [v for v, _ in catalog.ACCOUNT_TAGS]
        custom = {"plan": field_value("plan", "select", self.fake.choice(self._options("plan")))}
        if self.fake.chance(0.7):
            custom["region"] = field_value("region", "select", self.fake.choice(self._options("region")))
        if self.fake.chance(0.3):
            custom["csm-notes"] = field_value("csm-notes", "text", self._text())
        return {
            "id": self.fake.uuid(),
            "name": company["name"],
            "domain": company["domain"],
            "domains": domains,
            "primary_domain": company["domain"],
            "type": self.fake.weighted(catalog.ACCOUNT_TYPES),
            "is_disabled": self.fake.chance(0.05),
            "created_at": self._iso(created),
            "updated_at": self._iso(self.fake.between(created, self.now)),
            "latest_customer_activity_time": None,
            "owner": person_ref(owner),
            "tags": None if self.fake.chance(0.25) else self.fake.rng.sample(tag_names, k=self.fake.rng.randint(0, 2)),
            "custom_fields": custom,
            "external_ids": None
            if self.fake.chance(0.3)
            else [{"external_id": f"hs-{self.fake.rng.randint(10000, 99999)}", "label": "hubspot"}],
            "channels": [{"channel_id": f"C{self._hex(10)}", "source": "slack", "is_primary": True}]
            if self.fake.chance(0.6)
            else [],
        }

    def _contacts(self, account: dict) -> list[dict]:
        return [self._contact(account) for _ in range(self.fake.rng.randint(1, 4))]

    def _contact(self, account: dict | None) -> dict:
        person = self.fake.person(account["domain"] if account else None)
        custom = {}
        if self.fake.chance(0.4):
            custom["job-title"] = field_value("job-title", "text", self.fake.faker.job())
        return {
            "id": self.fake.uuid(),
            "name": person["name"],
            "email": person["email"],
            "emails": [person["email"]],
            "phone_numbers": [f"+55 11 9{self.fake.rng.randint(1000, 9999)}-{self.fake.rng.randint(1000, 9999)}"]
            if self.fake.chance(0.3)
            else [],
            "avatar_url": None,
            "account": {"id": account["id"]} if account else None,
            "custom_fields": custom,
            "external_ids": [],
            "portal_role": self.fake.weighted(catalog.PORTAL_ROLES),
            "_created_at": self._iso(self.fake.between(self.epoch - 365 * DAY, self.now)),
        }

    # -- issues -----------------------------------------------------------------------------

    def _plan(self, size: int) -> list[tuple[datetime, datetime | None]]:
        """(created_at, pinned updated_at or None) per issue, oldest first; the first at the epoch."""
        pins = [self.epoch + k * SLICE for k in BOUNDARY_SLICES] + [self.epoch + SHARED_SECOND] * 2
        plan: list[tuple[datetime, datetime | None]] = [(self.epoch, None)]
        self._pins = pins[: max(size - 1, 0)]  # a tiny workspace gets only the first few
        for pin in self._pins:
            plan.append((pin - timedelta(seconds=self.fake.rng.randint(3600, 10 * 86400)), pin))
        while len(plan) < size:
            plan.append((self.fake.between(self.epoch, self.now - DAY), None))
        plan.sort(key=lambda entry: entry[0])
        return plan[:size]

    def _knowledge_bases(self) -> tuple[list[dict], dict[str, list[dict]]]:
        bases, articles = [], {}
        for title, slug in (("Help center", "help"), ("Developer docs", "developers")):
            created = self.fake.between(self.epoch - 300 * DAY, self.epoch)
            base = {
                "id": self.fake.uuid(),
                "title": title,
                "slug": slug,
                "default_language": "en",
                "supported_languages": ["en", "pt-BR"],
                "url": f"https://{slug}.{self.org_domain}",
                "_created_at": self._iso(created),
            }
            collections = [self.fake.uuid() for _ in range(3)]
            bases.append(base)
            articles[base["id"]] = [self._article(base, collections) for _ in range(self.fake.rng.randint(6, 10))]
        return bases, articles

    def _article(self, base: dict, collections: list[str]) -> dict:
        title = self._text().rstrip(".")
        slug = "-".join(title.lower().split()[:6])
        created = self.fake.between(self.epoch, self.now)
        published = self.fake.chance(0.85)
        return {
            "id": self.fake.uuid(),
            "title": title,
            "slug": slug,
            "url": f"{base['url']}/articles/{slug}",
            "collection_id": self.fake.choice(collections),
            "is_published": published,
            "last_published_at": self._iso(self.fake.between(created, self.now)) if published else None,
            "current_published_content_html": self._html() if published else None,
            "created_at": self._iso(created),
            "updated_at": self._iso(self.fake.between(created, self.now)),
            "_language": "en" if self.fake.chance(0.8) else "pt-BR",
        }

    def _surveys(self, size: int) -> tuple[list[dict], dict[str, list[dict]]]:
        csat = {"id": self.fake.uuid(), "name": "Ticket CSAT", "type": "csat", "_created_at": self._iso(self.epoch)}
        nps = {"id": self.fake.uuid(), "name": "Quarterly NPS", "type": "nps", "_created_at": self._iso(self.epoch)}
        responses: dict[str, list[dict]] = {csat["id"]: [], nps["id"]: []}
        # The CSAT survey's responses are the ones issues show in csat_responses.
        for issue, score, comment in self._csat:
            resolved = parse_iso(issue["resolution_time"])
            at = self._iso(min(resolved + timedelta(seconds=self.fake.rng.randint(60, 2 * 86400)), self.now))
            answers = [{"prompt": catalog.CSAT_PROMPT, "question_type": "rating", "value": score}]
            if comment:
                answers.append({"prompt": catalog.CSAT_COMMENT_PROMPT, "question_type": "text", "value": comment})
            responses[csat["id"]].append(self._response(issue["account"], issue["requester"], at, answers))
        for _ in range(max(2, size // 5)):
            contact = self.fake.choice(self.contacts)
            at = self._iso(self.fake.between(self.epoch, self.now))
            answers = [{"prompt": catalog.NPS_PROMPT, "question_type": "nps", "value": self.fake.rng.randint(0, 10)}]
            responses[nps["id"]].append(self._response(contact["account"], contact, at, answers))
        for survey in (csat, nps):
            times = [r["submitted_at"] for r in responses[survey["id"]]]
            survey["updated_at"] = max(times, default=survey["_created_at"])
        return [csat, nps], responses

    def _response(self, account: dict | None, contact: dict | None, at: str, answers: list[dict]) -> dict:
        return {
            "id": self.fake.uuid(),
            "account_id": account["id"] if account else None,
            "contact_id": contact["id"] if contact else None,
            "submitted_at": at,
            "answers": answers,
            "_created_at": at,
        }
