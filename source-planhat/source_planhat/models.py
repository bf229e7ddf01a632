"""Every Planhat model the source reads, as data: one row per stream, one stream class for all of them.

Page sizes: the reference knows conversations (max 2,000, default 30!), tickets (max 10,000) and companies
(5,000 in other clients); 2,000 elsewhere is what public clients assume. Defaults sit at or below those
maxima. Paging stops on an empty page anyway, so a server that caps below them loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

CURSOR_FIELD = "updatedAt"
KNOWN_MAX_PAGE = 2000  # reference: "other clients assume ... 2,000 elsewhere"


@dataclass(frozen=True)
class Model:
    stream: str  # the Airbyte stream name
    path: str  # the list endpoint
    incremental: bool  # reads newest-first on updatedAt and stops past the cursor
    max_page: int = KNOWN_MAX_PAGE  # the largest `limit` the connector will send
    default_page: int = KNOWN_MAX_PAGE
    company_key: str | None = "companyId"  # how a record points at its company (NPS: cId)


MODELS: tuple[Model, ...] = (
    Model("companies", "/companies", True, max_page=5000, default_page=5000, company_key=None),
    Model("endusers", "/endusers", True),
    Model("conversations", "/conversations", True),
    Model("tickets", "/tickets", True, max_page=10000, default_page=5000),
    Model("nps", "/nps", True, company_key="cId"),
    Model("projects", "/projects", True),
    Model("assets", "/assets", True),
    Model("licenses", "/licenses", True),
    Model("opportunities", "/opportunities", True),
    Model("issues", "/issues", True, company_key="companyIds"),
    Model("tasks", "/tasks", True),
    Model("churn", "/churn", True),
    Model("invoices", "/invoices", True),
    Model("objectives", "/objectives", True),
    Model("workflows", "/workflows", True),
    # Full refresh only: small lists, or models whose updatedAt the reference does not vouch for.
    Model("sales", "/sales", False),
    Model("campaigns", "/campaigns", False, company_key=None),  # path unverified (reference)
    Model("users", "/users", False, company_key=None),
    Model("custom_fields", "/customfields", False, company_key=None),
)

BY_STREAM = {model.stream: model for model in MODELS}
