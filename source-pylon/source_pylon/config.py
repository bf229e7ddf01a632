"""The connector's configuration: one pydantic model validates it at runtime and generates spec.json.

`python -m source_pylon.config > spec.json` regenerates the committed file; a test fails when they differ.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from .dates import parse_time

DOCUMENTATION_URL = "https://github.com/supportsuite/airbyte-support-connectors/tree/main/source-pylon"
DEFAULT_BASE_URL = "https://api.usepylon.com"  # Pylon API reference: no version prefix
# Pylon launched in 2022, so no issue can have been updated earlier; starting a little before costs
# one empty search per 30 days (about 4 minutes once, on the first sync) and never misses history.
DEFAULT_START_DATE = "2020-01-01T00:00:00Z"
DEFAULT_LOOKBACK_MINUTES = 60  # re-read the last hour: search indexing lag and clock skew
MAX_PAGE_SIZE = 999  # Pylon docs: limit is "greater than 0 and less than 1000"
RATE_LIMIT_WINDOW_SECONDS = 60.0  # Pylon documents every limit as requests per minute
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?Z)?$"
END_OF_DAY = timedelta(days=1, microseconds=-1)  # a plain end_date includes its whole day
DATE_DESCRIPTOR = "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
# The form's cards (Airbyte's `groups`): the token, which issues to read, and the knobs almost nobody turns.
GROUPS = [
    {"id": "connection", "title": "Connection"},
    {"id": "sync", "title": "What to sync"},
    {"id": "advanced", "title": "Advanced"},
]


def _budget(order: int, limit: int, title: str, endpoint: str) -> Any:
    return Field(
        limit,
        ge=1,
        title=title,
        description=f"Requests per minute to {endpoint} (Pylon docs: {limit}).",
        json_schema_extra={"order": order},
    )


class RateLimits(BaseModel):
    """Requests per minute per endpoint family; the defaults are Pylon's documented limits.

    Pylon does not say whether limits count per token or per organization: lower these when
    another integration shares the token's organization.
    """

    model_config = ConfigDict(extra="ignore", title="Rate limits (requests per minute)")

    issues_search: int = _budget(0, 20, "Issue search", "POST /issues/search")
    issue_messages: int = _budget(1, 20, "Issue messages", "GET /issues/{id}/messages")
    issue_threads: int = _budget(2, 20, "Issue threads", "GET /issues/{id}/threads")
    accounts: int = _budget(3, 60, "Accounts", "GET /accounts")
    contacts: int = _budget(4, 60, "Contacts", "GET /contacts")
    users: int = _budget(5, 60, "Users", "GET /users")
    teams: int = _budget(6, 60, "Teams", "GET /teams")
    tags: int = _budget(7, 60, "Tags", "GET /tags")
    ticket_forms: int = _budget(8, 60, "Ticket forms", "GET /ticket-forms")
    user_roles: int = _budget(9, 60, "User roles", "GET /user-roles")
    custom_fields: int = _budget(10, 60, "Custom fields", "GET /custom-fields")
    issue_statuses: int = _budget(11, 10, "Issue statuses", "GET /issue-statuses")
    knowledge_bases: int = _budget(12, 60, "Knowledge bases", "GET /knowledge-bases")
    kb_articles: int = _budget(13, 20, "Knowledge base articles", "GET /knowledge-bases/{id}/articles")
    surveys: int = _budget(14, 60, "Surveys", "GET /surveys")
    survey_responses: int = _budget(15, 60, "Survey responses", "GET /surveys/{id}/responses")
    me: int = _budget(16, 60, "Token check", "GET /me")


class PylonConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", title="Pylon Source Spec", json_schema_extra={"groups": GROUPS})

    api_token: SecretStr = Field(
        title="API token",
        description="A Pylon API token (Settings → API tokens; only admins can create one).",
        json_schema_extra={"airbyte_secret": True, "order": 0, "group": "connection"},
    )
    start_date: str = Field(
        DEFAULT_START_DATE,
        title="Start date",
        description="Read issues updated after this UTC date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ). "
        "The default predates Pylon itself, so a first sync reads the whole history.",
        pattern=DATE_PATTERN,
        json_schema_extra={
            "order": 1,
            "group": "sync",
            "examples": ["2024-01-01", "2024-01-01T00:00:00Z"],
            "pattern_descriptor": DATE_DESCRIPTOR,
        },
    )
    end_date: str | None = Field(
        None,
        title="End date",
        description="Optional: read only issues updated up to this UTC date (YYYY-MM-DD, which includes that "
        "whole day, or YYYY-MM-DDTHH:MM:SSZ), with their messages, threads and documents. Left out, a sync "
        "reads up to the time it runs. The list streams are not bounded by it.",
        pattern=DATE_PATTERN,
        json_schema_extra={
            "order": 2,
            "group": "sync",
            "examples": ["2024-12-31", "2024-12-31T23:59:59Z"],
            "pattern_descriptor": DATE_DESCRIPTOR,
        },
    )
    lookback_window: int = Field(
        DEFAULT_LOOKBACK_MINUTES,
        ge=0,
        le=7 * 24 * 60,
        title="Lookback window (minutes)",
        description="Each incremental sync re-searches this far before its saved cursor, so issues indexed late "
        "are not missed. Issues already read at the same version are not emitted again.",
        json_schema_extra={"order": 3, "group": "advanced"},
    )
    base_url: str = Field(
        DEFAULT_BASE_URL,
        title="API base URL",
        description="Change only to point the connector at a proxy or an emulator.",
        pattern=r"^https?://",
        examples=[DEFAULT_BASE_URL, "http://localhost:8080"],
        json_schema_extra={"order": 4, "group": "advanced", "pattern_descriptor": "http(s)://host[:port]"},
    )
    page_size: int = Field(
        MAX_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        title="Page size",
        description="Records per request; the maximum (999) needs the fewest requests.",
        json_schema_extra={"order": 5, "group": "advanced"},
    )
    rate_limits: RateLimits = Field(
        default_factory=RateLimits,
        title="Rate limits (requests per minute)",
        description="The connector paces itself under these budgets instead of running into 429s.",
        json_schema_extra={"order": 6, "group": "advanced"},
    )
    rate_limit_window_seconds: float = Field(
        RATE_LIMIT_WINDOW_SECONDS,
        gt=0,
        title="Rate limit window (seconds)",
        description="The window the budgets count in. Only emulators with a scaled clock change it.",
        json_schema_extra={"order": 7, "group": "advanced", "airbyte_hidden": True},
    )

    @field_validator("start_date", "end_date")
    @classmethod
    def _is_a_date(cls, value: str | None) -> str | None:
        if value is not None:
            _moment(value)  # a ValueError names no value: "2024-02-30" fails as "day is out of range for month"
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> PylonConfig:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end_date must be after start_date")
        return self

    @property
    def start(self) -> datetime:
        return _moment(self.start_date)

    @property
    def end(self) -> datetime | None:
        """The newest issue update a sync reads (end_date), or None: up to the time of the sync."""
        if self.end_date is None:
            return None
        return _moment(self.end_date) + (END_OF_DAY if "T" not in self.end_date else timedelta(0))

    @property
    def lookback(self) -> timedelta:
        return timedelta(minutes=self.lookback_window)

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/")

    @classmethod
    def parse(cls, config: Any) -> PylonConfig:
        """The validated config, or a config_error naming every bad field (never its value)."""
        try:
            return cls.model_validate(dict(config))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in detail['loc']) or 'config'}: {detail['msg']}"
                for detail in error.errors()
            )
            raise AirbyteTracedException(
                message=f"The Pylon source configuration is invalid: {problems}.",
                internal_message=problems,
                failure_type=FailureType.config_error,
            ) from None


def _moment(value: str) -> datetime:
    return parse_time(value if "T" in value else f"{value}T00:00:00Z")


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = definitions[node["$ref"].split("/")[-1]]
            merged = {**_inline_refs(target, definitions), **{k: v for k, v in node.items() if k != "$ref"}}
            return merged
        return {k: _inline_refs(v, definitions) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


def connection_specification() -> dict[str, Any]:
    schema = PylonConfig.model_json_schema()
    schema = _inline_refs(schema, schema.get("$defs", {}))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["additionalProperties"] = True
    for prop in schema["properties"].values():  # Optional[X]: Airbyte's form wants X, the field left out of `required`
        variants = prop.pop("anyOf", None)
        if variants:
            prop.update(next(v for v in variants if v.get("type") != "null"))
            if prop.get("default", ...) is None:
                prop.pop("default")
    schema["properties"]["api_token"].pop("format", None)  # "password" is pydantic's, not Airbyte's
    schema["properties"]["api_token"].pop("writeOnly", None)
    schema["properties"]["rate_limits"].pop("description", None)
    schema["properties"]["rate_limits"]["description"] = PylonConfig.model_fields["rate_limits"].description
    return schema


def spec() -> dict[str, Any]:
    return {"documentationUrl": DOCUMENTATION_URL, "connectionSpecification": connection_specification()}


if __name__ == "__main__":
    print(json.dumps(spec(), indent=2, ensure_ascii=False))
