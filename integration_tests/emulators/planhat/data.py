"""A consistent Planhat tenant generated from (seed, size): every model of the reference, real field names.

Every `companyId`, NPS `cId`/`euId`, owner and user reference points at a record that exists. Times are
spread over two years before FakeData.now, with createDate <= updatedAt, and each `_id` is a Mongo
ObjectId minted at the record's creation time, so sorting on `_id` is creation order as in Planhat.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..fakedata import FakeData

HISTORY_DAYS = 730
TEXT_POOL = 300  # sentences drawn once from Faker; reusing them keeps 30k records fast

# Children generated per company unless the emulator is told otherwise (the benchmark asks for its own).
DEFAULT_PER_COMPANY = {
    "endusers": 3,
    "conversations": 4,
    "tickets": 1,
    "nps": 2,
    "projects": 1,
    "assets": 1,
    "licenses": 1,
    "opportunities": 1,
    "issues": 0.3,  # fractions: that share of companies gets one
    "tasks": 1,
    "churn": 0.2,
    "invoices": 1,
    "sales": 1,
    "objectives": 0.5,
    "workflows": 0.5,
}
GLOBAL_COUNTS = {"users": 8, "campaigns": 4}

STATUSES = {"customer": 60, "prospect": 15, "coming": 8, "canceled": 10, "lost": 7}
PHASES = ["Onboarding", "Adoption", "Expansion", "Renewal", "At risk"]
CONVERSATION_TYPES = {"email": 40, "chat": 20, "call": 10, "note": 20, "ticket": 10}
TICKET_STATUSES = ["open", "pending", "solved", "closed"]
POSITIONS = ["CEO", "CFO", "Head of Finance", "Accountant", "IT manager", "Office manager", "Controller"]
TAGS = ["vip", "enterprise", "smb", "pilot", "upsell", "churn-risk", "partner"]
CUSTOM_FIELDS = [
    ("Segment", "list", "company", ["SMB", "Mid-market", "Enterprise"]),
    ("Plan", "list", "company", ["Starter", "Growth", "Scale"]),
    ("Onboarding notes", "text", "company", []),
    ("Language", "list", "enduser", ["pt", "en", "es"]),
    ("Channel", "list", "conversation", ["email", "chat", "phone"]),
]


class PlanhatData:
    """All models as lists of dicts, in creation (`_id`) order, in `self.models[name]`."""

    def __init__(self, seed: int, size: int, per_company: dict[str, float] | None = None) -> None:
        self.fake = FakeData(seed)
        self.now = self.fake.now
        self.per_company = {**DEFAULT_PER_COMPANY, **(per_company or {})}
        self.text = [self.fake.sentence() for _ in range(TEXT_POOL)]
        self.models: dict[str, list[dict]] = {name: [] for name in MODEL_NAMES}
        self._generate(size)

    # -- helpers -----------------------------------------------------------------------------

    def sentence(self) -> str:
        return self.fake.choice(self.text)

    def stamps(self, not_before=None) -> tuple:
        """(created, updated) with created <= updated <= now."""
        start = not_before or self.now - timedelta(days=HISTORY_DAYS)
        created = self.fake.between(start, self.now)
        updated = self.fake.between(created, self.now)
        return created, updated

    def new(self, model: str, created, updated, **fields) -> dict:
        record = {"_id": self.fake.object_id(created), **fields}
        record.setdefault("createDate", self.fake.iso(created))
        record["updatedAt"] = self.fake.iso(updated)
        self.models[model].append(record)
        return record

    def count(self, model: str) -> int:
        """How many children of `model` one company gets; fractional shares are drawn per company."""
        share = self.per_company.get(model, 0)
        whole = int(share)
        return whole + (1 if self.fake.chance(share - whole) else 0)

    # -- generation --------------------------------------------------------------------------

    def _generate(self, size: int) -> None:
        for _ in range(GLOBAL_COUNTS["users"]):
            self._user()
        for _ in range(GLOBAL_COUNTS["campaigns"]):
            created, updated = self.stamps()
            self.new(
                "campaigns",
                created,
                updated,
                name=f"NPS {self.fake.choice(['Q1', 'Q2', 'Q3', 'Q4'])} {created.year}",
                type="nps",
                status=self.fake.choice(["active", "finished"]),
                startDate=self.fake.iso(created),
            )
        for name, kind, parent, options in CUSTOM_FIELDS:
            created, updated = self.stamps()
            self.new("customfields", created, updated, name=name, type=kind, parent=parent, options=options)
        for _ in range(size):
            self._company_with_children()

    def _user(self) -> dict:
        person = self.fake.person("planhat-tenant.com")
        created, updated = self.stamps()
        return self.new(
            "users",
            created,
            updated,
            firstName=person["first_name"],
            lastName=person["last_name"],
            nickName=person["first_name"],
            email=person["email"],
            isHidden=False,
            roles=[self.fake.choice(["CSM", "Admin", "Sales"])],
        )

    def _company_with_children(self) -> dict:
        company = self.add_company()
        for _ in range(self.count("endusers")):
            self.add_enduser(company)
        for model in ("conversations", "tickets"):
            for _ in range(self.count(model)):
                self.add_conversation(company, ticket=model == "tickets")
        for _ in range(self.count("nps")):
            self.add_nps(company)
        for model in MODEL_NAMES:
            if model in CHILD_BUILDERS:
                for _ in range(self.count(model)):
                    self.add_child(model, company)
        return company

    def add_company(self, **fields) -> dict:
        basics = self.fake.company()
        created, updated = self.stamps()
        owner, co_owner = self.fake.choice(self.models["users"]), self.fake.choice(self.models["users"])
        status = self.fake.weighted(STATUSES)
        mrr = round(self.fake.rng.uniform(200, 20000), 2)
        renewal = self.now + timedelta(days=self.fake.rng.randint(-30, 365))
        custom = {"Segment": self.fake.choice(CUSTOM_FIELDS[0][3]), "Plan": self.fake.choice(CUSTOM_FIELDS[1][3])}
        if self.fake.chance(0.5):
            custom["Onboarding notes"] = self.sentence()
        record = self.new(
            "companies",
            created,
            updated,
            name=basics["name"],
            slug=basics["domain"].split(".")[0],
            externalId=f"ext-{len(self.models['companies']) + 1}",
            sourceId=None,
            owner=owner["_id"],  # stored as the id; lists serve {_id, nickName} (see api.public_company)
            coOwner=co_owner["_id"] if self.fake.chance(0.4) else None,
            phase=self.fake.choice(PHASES),
            phaseSince=self.fake.iso(self.fake.between(created, self.now)),
            status=status,
            domains=[basics["domain"]],
            tags=sorted(set(self.fake.rng.sample(TAGS, self.fake.rng.randint(0, 3)))),
            h=self.fake.rng.randint(1, 10),
            hProfile="Default",
            hDiff=self.fake.rng.randint(-3, 3),
            custom=custom,
            lastUpdated=self.fake.iso(updated - timedelta(minutes=self.fake.rng.randint(0, 600))),
            renewalDate=self.fake.iso(renewal),
            renewalDaysFromNow=(renewal - self.now).days,
            customerFrom=self.fake.iso(created) if status == "customer" else None,
            customerTo=None,
            mr=mrr,
            mrr=mrr,
            arr=round(mrr * 12, 2),
            nrr30=round(mrr * self.fake.rng.uniform(0.9, 1.1), 2),
            nps=self.fake.rng.randint(-100, 100),
            sales=[],
            licenses=[],
            usage={"logins": self.fake.rng.randint(0, 500)},
            lastTouchByType={"email": self.fake.iso(self.fake.between(created, self.now))},
        )
        record.update(fields)
        return record

    def add_enduser(self, company: dict, **fields) -> dict:
        domain = company["domains"][0]
        person = self.fake.person(domain)
        created, updated = self.stamps(self._created(company))
        record = self.new(
            "endusers",
            created,
            updated,
            email=person["email"],
            firstName=person["first_name"],
            lastName=person["last_name"],
            name=person["name"],
            companyId=company["_id"],
            companyName=company["name"],
            externalId=None,
            position=self.fake.choice(POSITIONS),
            phone=self.fake.faker.phone_number() if self.fake.chance(0.3) else None,
            tags=[],
            featured=self.fake.chance(0.2),
            primary=self.fake.chance(0.3),
            archived=False,
            custom={"Language": self.fake.choice(CUSTOM_FIELDS[3][3])},
            nps=None,
            npsComment=None,
            npsDate=None,
            lastActive=self.fake.iso(self.fake.between(created, self.now)),
        )
        record.update(fields)
        return record

    def add_conversation(self, company: dict, ticket: bool = False, **fields) -> dict:
        created, updated = self.stamps(self._created(company))
        people = [e for e in self._endusers_of(company["_id"])][:2]
        owner = self.fake.choice(self.models["users"])
        kind = "ticket" if ticket else self.fake.weighted(CONVERSATION_TYPES)
        record = self.new(
            "tickets" if ticket else "conversations",
            created,
            updated,
            subject=self.sentence().rstrip("."),
            companyId=company["_id"],
            companyName=company["name"],
            description="".join(f"<p>{self.sentence()} {self.sentence()}</p>" for _ in range(2)),
            snippet=self.sentence(),
            date=self.fake.iso(created),
            outDate=self.fake.iso(created),
            type=kind,
            users=[{"id": owner["_id"], "name": f"{owner['firstName']} {owner['lastName']}", "isOwner": True}],
            endusers=[{"id": e["_id"], "name": e["name"]} for e in people],
            userIds=[owner["_id"]],
            tags=[],
            activityTags=[],
            starred=False,
            pinned=False,
            isOpen=self.fake.chance(0.2),
            archived=False,
            custom={"Channel": self.fake.choice(CUSTOM_FIELDS[4][3])},
        )
        if ticket:
            status = self.fake.choice(TICKET_STATUSES)
            record.update(
                status=status,
                source=self.fake.choice(["email", "zendesk", "intercom"]),
                history=[{"status": "open", "time": record["date"]}, {"status": status, "time": record["updatedAt"]}],
                url=f"https://support.example.com/tickets/{record['_id']}",
            )
        record.update(fields)
        return record

    def add_nps(self, company: dict, **fields) -> dict:
        created, updated = self.stamps(self._created(company))
        endusers = self._endusers_of(company["_id"])
        enduser = self.fake.choice(endusers) if endusers else None
        campaign = self.fake.choice(self.models["campaigns"])
        record = self.new(
            "nps",
            created,
            updated,
            cId=company["_id"],
            euId=enduser["_id"] if enduser else None,
            email=enduser["email"] if enduser else None,
            campaignId=campaign["_id"],
            score=self.fake.rng.randint(0, 10),
            comment=self.sentence() if self.fake.chance(0.6) else "",
            dateSent=self.fake.iso(created),
            dateAnswered=self.fake.iso(updated),
            source="email",
            custom={},
        )
        record.update(fields)
        return record

    def add_child(self, model: str, company: dict, **fields) -> dict:
        created, updated = self.stamps(self._created(company))
        record = self.new(model, created, updated, **CHILD_BUILDERS[model](self, company, created, updated))
        record.update(fields)
        return record

    def _created(self, company: dict) -> datetime:
        return datetime.fromisoformat(company["createDate"].replace("Z", "+00:00"))

    def _endusers_of(self, company_id: str) -> list[dict]:
        # Endusers are generated right after their company, so they sit at the end of the list.
        found = []
        for enduser in reversed(self.models["endusers"]):
            if enduser["companyId"] == company_id:
                found.append(enduser)
            elif found:
                break
        return found


def _project(data: PlanhatData, company: dict, created, updated) -> dict:
    return {
        "name": f"{data.fake.choice(['Onboarding', 'Migration', 'Rollout', 'Training'])} {company['name']}",
        "companyId": company["_id"],
        "companyName": company["name"],
        "externalId": None,
        "currency": "USD",
        "startDate": data.fake.iso(created),
        "endDate": data.fake.iso(created + timedelta(days=90)),
        "mrr": round(data.fake.rng.uniform(0, 2000), 2),
        "arr": 0,
        "nrr": 0,
        "custom": {},
    }


def _asset(data: PlanhatData, company: dict, created, updated) -> dict:
    owner = data.fake.choice(data.models["users"])
    return {
        "companyId": company["_id"],
        "companyName": company["name"],
        "externalId": None,
        "name": f"{data.fake.choice(['Workspace', 'Module', 'Seat pack'])} {data.fake.rng.randint(1, 99)}",
        "serialNumber": f"SN-{data.fake.rng.randint(10000, 99999)}",
        "value": round(data.fake.rng.uniform(100, 5000), 2),
        "_currency": "USD",
        "installDate": data.fake.iso(created),
        "status": data.fake.choice(["active", "inactive"]),
        "ownerId": owner["_id"],
        "ownerName": owner["nickName"],
        "custom": {},
    }


def _license(data: PlanhatData, company: dict, created, updated) -> dict:
    return {
        "companyId": company["_id"],
        "companyName": company["name"],
        "productName": data.fake.choice(["Core", "Analytics", "Payroll"]),
        "fromDate": data.fake.iso(created),
        "toDate": data.fake.iso(created + timedelta(days=365)),
        "mrr": round(data.fake.rng.uniform(50, 3000), 2),
        "value": 0,
        "_currency": "USD",
        "status": data.fake.choice(["active", "inactive"]),
        "renewalStatus": data.fake.choice(["ongoing", "renewed", "lost"]),
        "custom": {},
    }


def _opportunity(data: PlanhatData, company: dict, created, updated) -> dict:
    return {
        "companyId": company["_id"],
        "companyName": company["name"],
        "title": f"Expansion {data.fake.rng.randint(1, 9)}",
        "status": data.fake.choice(["open", "won", "lost"]),
        "salesStage": data.fake.choice(["Discovery", "Proposal", "Negotiation"]),
        "dealValue": round(data.fake.rng.uniform(1000, 50000), 2),
        "closeDate": data.fake.iso(updated),
        "custom": {},
    }


def _issue(data: PlanhatData, company: dict, created, updated) -> dict:
    return {
        "title": data.sentence().rstrip("."),
        "description": data.sentence(),
        "status": data.fake.choice(["open", "closed"]),
        "companyIds": [company["_id"]],
        "custom": {},
    }


def _task(data: PlanhatData, company: dict, created, updated) -> dict:
    owner = data.fake.choice(data.models["users"])
    return {
        "mainType": data.fake.choice(["task", "event"]),
        "status": data.fake.choice(["open", "completed"]),
        "ownerId": owner["_id"],
        "companyId": company["_id"],
        "startTime": data.fake.iso(updated),
        "description": data.sentence(),
        "endusers": [],
        "users": [owner["_id"]],
        "checklist": [],
        "isArchived": False,
        "createdAt": data.fake.iso(created),
    }


def _churn(data: PlanhatData, company: dict, created, updated) -> dict:
    return {
        "companyId": company["_id"],
        "companyName": company["name"],
        "date": data.fake.iso(updated),
        "reasons": [data.fake.choice(["price", "product fit", "service"])],
        "comment": data.sentence(),
        "value": round(data.fake.rng.uniform(100, 5000), 2),
        "_currency": "USD",
    }


def _invoice(data: PlanhatData, company: dict, created, updated) -> dict:
    amount = round(data.fake.rng.uniform(100, 5000), 2)
    return {
        "companyId": company["_id"],
        "companyName": company["name"],
        "number": f"INV-{data.fake.rng.randint(1000, 99999)}",
        "invoiceDate": data.fake.iso(created),
        "dueDate": data.fake.iso(created + timedelta(days=30)),
        "amountDue": amount,
        "amountPaid": amount if data.fake.chance(0.8) else 0,
        "_currency": "USD",
        "status": data.fake.choice(["paid", "open", "overdue"]),
        "lineItems": [{"description": "Subscription", "amount": amount}],
    }


def _sale(data: PlanhatData, company: dict, created, updated) -> dict:
    return {
        "companyId": company["_id"],
        "companyName": company["name"],
        "date": data.fake.iso(created),
        "fromDate": data.fake.iso(created),
        "toDate": data.fake.iso(created + timedelta(days=365)),
        "value": round(data.fake.rng.uniform(100, 5000), 2),
        "_currency": "USD",
        "product": data.fake.choice(["Core", "Analytics", "Payroll"]),
    }


def _objective(data: PlanhatData, company: dict, created, updated) -> dict:
    return {
        "companyId": company["_id"],
        "name": data.sentence().rstrip("."),
        "health": data.fake.rng.randint(1, 10),
        "description": data.sentence(),
    }


def _workflow(data: PlanhatData, company: dict, created, updated) -> dict:
    return {
        "companyId": company["_id"],
        "name": f"{data.fake.choice(['Onboarding', 'Renewal', 'QBR'])} playbook",
        "templateId": f"tpl-{data.fake.rng.randint(1, 5)}",
        "startDate": data.fake.iso(created),
        "status": data.fake.choice(["active", "completed"]),
        "ownerId": data.fake.choice(data.models["users"])["_id"],
    }


CHILD_BUILDERS = {
    "projects": _project,
    "assets": _asset,
    "licenses": _license,
    "opportunities": _opportunity,
    "issues": _issue,
    "tasks": _task,
    "churn": _churn,
    "invoices": _invoice,
    "sales": _sale,
    "objectives": _objective,
    "workflows": _workflow,
}

# Every list the emulator serves, by its URL path segment.
MODEL_NAMES = [
    "users",
    "campaigns",
    "customfields",
    "companies",
    "endusers",
    "conversations",
    "tickets",
    "nps",
    *CHILD_BUILDERS,
]
