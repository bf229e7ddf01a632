"""Every list endpoint of Pylon as data: one `ListStream` class reads them all.

`family` names the rate-limit budget (config.RateLimits) the endpoint draws from. Fan-out endpoints
read once per partition: either fixed query parameters (`partitions`) or each record of a `parent`
endpoint, whose id fills the path and is stamped on every record as `parent_key`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Pylon docs: GET /custom-fields?object_type= takes exactly these.
CUSTOM_FIELD_OBJECT_TYPES = ("account", "issue", "contact", "task", "project", "call_recording")


@dataclass(frozen=True)
class Endpoint:
    name: str  # the stream name
    path: str
    family: str
    primary_key: str = "id"
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    paginated: bool = True  # takes cursor/limit and answers with `pagination`
    partitions: tuple[Mapping[str, Any], ...] = ()  # fixed query parameters, read one after another
    parent: str | None = None  # an endpoint whose records partition this one
    parent_key: str | None = None  # path parameter filled with the parent's id, stamped on each record


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("accounts", "/accounts", "accounts"),
    Endpoint("contacts", "/contacts", "contacts"),
    Endpoint("users", "/users", "users"),
    Endpoint("teams", "/teams", "teams"),
    Endpoint("tags", "/tags", "tags"),
    Endpoint("ticket_forms", "/ticket-forms", "ticket_forms"),
    Endpoint("user_roles", "/user-roles", "user_roles"),
    Endpoint(
        "custom_fields",
        "/custom-fields",
        "custom_fields",
        partitions=tuple(MappingProxyType({"object_type": kind}) for kind in CUSTOM_FIELD_OBJECT_TYPES),
    ),
    # No id in the API: a status is its slug.
    Endpoint("issue_statuses", "/issue-statuses", "issue_statuses", primary_key="slug"),
    Endpoint("knowledge_bases", "/knowledge-bases", "knowledge_bases"),
    Endpoint(
        "knowledge_base_articles",
        "/knowledge-bases/{knowledge_base_id}/articles",
        "kb_articles",
        parent="knowledge_bases",
        parent_key="knowledge_base_id",
    ),
    Endpoint("surveys", "/surveys", "surveys"),
    Endpoint(
        "survey_responses",
        "/surveys/{survey_id}/responses",
        "survey_responses",
        parent="surveys",
        parent_key="survey_id",
    ),
)

BY_NAME: Mapping[str, Endpoint] = MappingProxyType({endpoint.name: endpoint for endpoint in ENDPOINTS})

# Lists the issue documents join against; the sync cache fetches each once per sync.
LOOKUPS = ("accounts", "contacts", "users", "teams")
