"""The connector's configuration: one pydantic model that validates the config and generates spec.json.

`python -m source_planhat.config > spec.json` regenerates the committed file; a test fails when they differ.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from .models import BY_STREAM

REGIONS = ("api", "api-eu", "api-eu2", "api-eu3", "api-us2", "custom")
# reference: soft quota of 200 calls/minute; the default leaves room for other users of the same token.
DEFAULT_REQUESTS_PER_MINUTE = 180
DEFAULT_LOOKBACK_MINUTES = 60
DOCUMENTATION_URL = "https://github.com/supportsuite/connectors/tree/main/source-planhat"


class PlanhatConfig(BaseModel):
    """Planhat source configuration."""

    model_config = ConfigDict(extra="ignore", title="Planhat Source Spec")

    api_token: SecretStr = Field(
        title="API token",
        description="Token of a Planhat service account (Settings → Service Accounts). Each model the "
        "service account may not read is skipped with a warning.",
        json_schema_extra={"airbyte_secret": True, "order": 0},
    )
    region: Literal["api", "api-eu", "api-eu2", "api-eu3", "api-us2", "custom"] = Field(
        default="api",
        title="Region",
        description="The Planhat cluster of your tenant: api (US), api-eu, api-eu2, api-eu3, api-us2, or "
        "custom to give a base URL (a base_url, when set, is used with any region). A token used on the wrong "
        "region is answered with 401.",
        json_schema_extra={"order": 1},
    )
    base_url: str | None = Field(
        default=None,
        title="Base URL",
        description="The API's base URL, e.g. https://api-eu.planhat.com, for a proxy or an emulator; needed with "
        "region = custom. When set it is used whatever the region says.",
        pattern=r"^https?://[^/\s]",
        json_schema_extra={"order": 2},
    )
    start_date: datetime | None = Field(
        default=None,
        title="Start date",
        description="Records updated before this time are not read by incremental streams. Empty reads all.",
        examples=["2024-01-01T00:00:00Z"],
        json_schema_extra={"order": 3, "format": "date-time"},
    )
    lookback_window: int = Field(
        default=DEFAULT_LOOKBACK_MINUTES,
        ge=0,
        le=60 * 24 * 30,
        title="Lookback window (minutes)",
        description="Incremental reads go back this far before the saved cursor, for records whose "
        "updatedAt was set late. Records read twice are deduplicated on _id.",
        json_schema_extra={"order": 4},
    )
    requests_per_minute: int = Field(
        default=DEFAULT_REQUESTS_PER_MINUTE,
        ge=1,
        le=10000,
        title="Requests per minute",
        description="The connector paces itself under this budget; Planhat's quota is 200 per minute per "
        "tenant, shared with every other client of the API.",
        json_schema_extra={"order": 5},
    )
    page_sizes: dict[str, int] = Field(
        default_factory=dict,
        title="Page sizes",
        description='Optional page size per stream, e.g. {"conversations": 1000}; defaults are at or '
        "below each model's known maximum, and larger values are refused.",
        json_schema_extra={"order": 6},
    )

    @field_validator("start_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value

    @field_validator("page_sizes")
    @classmethod
    def _page_sizes_known_and_safe(cls, sizes: dict[str, int]) -> dict[str, int]:
        for stream, size in sizes.items():
            model = BY_STREAM.get(stream)
            if model is None:
                raise ValueError(f"page_sizes: unknown stream {stream!r}")
            if not 1 <= size <= model.max_page:
                raise ValueError(f"page_sizes: {stream} must be between 1 and {model.max_page}, got {size}")
        return sizes

    @model_validator(mode="after")
    def _custom_needs_url(self) -> PlanhatConfig:
        if self.region == "custom" and not self.base_url:
            raise ValueError("region 'custom' needs a base_url")
        return self

    @property
    def url(self) -> str:
        """base_url whenever it is set (issue 14: a base_url without region custom went to api.planhat.com)."""
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"https://{self.region}.planhat.com"

    @property
    def target(self) -> str:
        """Where the requests go, as a 401 message names it."""
        return f"base_url {self.url}" if self.base_url else f"region '{self.region}' ({self.url})"

    @property
    def lookback(self) -> timedelta:
        return timedelta(minutes=self.lookback_window)

    def page_size(self, stream: str) -> int:
        return self.page_sizes.get(stream, BY_STREAM[stream].default_page)


def connection_specification() -> dict[str, Any]:
    """The JSON schema of PlanhatConfig in the flat form Airbyte's UI reads (no anyOf-with-null, no $defs)."""
    schema = PlanhatConfig.model_json_schema()
    properties = {}
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        variants = prop.pop("anyOf", None)
        if variants:
            prop.update(next(v for v in variants if v.get("type") != "null"))
        if prop.get("format") == "password":
            prop.pop("format")
            prop.pop("writeOnly", None)
        if prop.get("default") is None or name == "page_sizes":
            prop.pop("default", None)
        properties[name] = prop
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": schema["title"],
        "type": "object",
        "required": schema["required"],
        "additionalProperties": True,
        "properties": properties,
    }


def spec() -> dict[str, Any]:
    return {
        "documentationUrl": DOCUMENTATION_URL,
        "connectionSpecification": connection_specification(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(spec(), indent=2, ensure_ascii=False))
