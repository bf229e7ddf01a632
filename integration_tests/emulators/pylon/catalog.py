"""Pylon's fixed vocabularies: statuses, custom fields, tags, roles. Values follow seed 003's workspace."""

from __future__ import annotations

# slug, label, category, is_default_status, is_archived. The last two are workspace-defined
# slugs: connectors must store `state` as free text, not an enum of the five built-ins.
ISSUE_STATUSES = [
    ("new", "New", "new", True, False),
    ("waiting_on_you", "Waiting on you", "waiting_on_you", True, False),
    ("waiting_on_customer", "Waiting on customer", "waiting_on_customer", True, False),
    ("on_hold", "On hold", "on_hold", True, False),
    ("closed", "Closed", "closed", True, False),
    ("waiting-on-engineering", "Waiting on engineering", "on_hold", False, False),
    ("pending-release", "Pending release", "on_hold", False, True),
]
CUSTOM_STATE = "waiting-on-engineering"

# How often each state occurs; closed dominates as in a mature workspace.
STATE_WEIGHTS = {
    "closed": 55,
    "waiting_on_you": 12,
    "waiting_on_customer": 12,
    "new": 8,
    "on_hold": 6,
    CUSTOM_STATE: 7,
}

# (slug, label, type, object_type, option slugs). Option slugs are what issues carry as values;
# labels come only from /custom-fields, which is why a connector needs both.
CUSTOM_FIELDS = [
    ("priority", "Priority", "select", "issue", ["urgent", "high", "medium", "low"]),
    (
        "category",
        "Category",
        "select",
        "issue",
        [
            "how-to-question",
            "platform-bug",
            "escrituracao-issue",
            "integration-issue",
            "billing",
            "feature-request",
            "data-import",
            "access-permissions",
            "performance",
            "report-question",
            "configuration",
            "onboarding",
            "other",
        ],
    ),
    ("handler", "Handler", "select", "issue", ["sme", "engineer", "product"]),
    (
        "resolution-type",
        "Resolution type",
        "select",
        "issue",
        [
            "manual-action",
            "explanation",
            "investigation",
            "bug-fix",
            "configuration-change",
            "feature-request-logged",
            "no-action",
        ],
    ),
    ("self-servable", "Self-servable", "select", "issue", ["yes", "partially", "no"]),
    ("affected-modules", "Affected modules", "multiselect", "issue", ["fiscal", "payroll", "reports", "integrations"]),
    ("plan", "Plan", "select", "account", ["starter", "growth", "enterprise"]),
    ("region", "Region", "select", "account", ["br", "us", "eu"]),
    ("csm-notes", "CSM notes", "text", "account", []),
    ("job-title", "Job title", "text", "contact", []),
]
CUSTOM_FIELD_OBJECT_TYPES = ["account", "issue", "contact", "task", "project", "call_recording"]

# How often an issue has each custom field set; the last two only make sense once resolved.
ISSUE_FIELD_CHANCE = {"priority": 0.85, "category": 0.8, "handler": 0.7, "affected-modules": 0.4}
CLOSED_FIELD_CHANCE = {"resolution-type": 0.8, "self-servable": 0.7}

ISSUE_TAGS = [
    ("billing", "#f59e0b"),
    ("urgent", "#ef4444"),
    ("bug", "#dc2626"),
    ("feature-request", "#3b82f6"),
    ("onboarding", "#10b981"),
    ("vip", "#8b5cf6"),
    ("escalated", "#f97316"),
    ("documentation", "#6b7280"),
]
ACCOUNT_TAGS = [("enterprise", "#1d4ed8"), ("trial", "#a3a3a3"), ("strategic", "#059669"), ("at-risk", "#b91c1c")]

USER_ROLES = [("Admin", "admin"), ("Member", "member"), ("Viewer", "viewer")]
USER_COUNT = 12  # seed 003's workspace
TEAMS = ["Tier 1", "Engineering escalations", "Onboarding"]

ACTIVITY_TYPES = [
    ("meeting", "Meeting"),
    ("call", "Call"),
    ("qbr", "Quarterly business review"),
    ("note", "Note"),
]

TICKET_FORMS = [
    ("Report a bug", "report-a-bug", ["priority", "category", "affected-modules"]),
    ("Ask a question", "ask-a-question", ["category"]),
]

ISSUE_SOURCES = {"slack": 35, "email": 30, "chat_widget": 15, "form": 12, "manual": 5, "microsoft_teams": 3}
ACCOUNT_TYPES = {"customer": 70, "prospect": 15, "partner": 10, "churned": 5}
USER_STATUSES = {"active": 85, "away": 10, "out_of_office": 5}
PORTAL_ROLES = {"member": 70, "admin": 20, "no_access": 10}
EXTERNAL_TRACKERS = [
    ("linear", "DEV", "https://linear.app/acme/issue/"),
    ("jira", "ENG", "https://acme.atlassian.net/browse/"),
]

CSAT_PROMPT = "How satisfied were you with the support you received?"
CSAT_COMMENT_PROMPT = "Anything we could have done better?"
NPS_PROMPT = "How likely are you to recommend us to a colleague?"
