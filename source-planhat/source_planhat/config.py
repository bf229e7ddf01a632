"""The connector's configuration: one pydantic model that validates the config and generates spec.json.

`python -m source_planhat.config > spec.json` regenerates the committed file; a test fails when they differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)

from .models import BY_STREAM, MODELS

DEFAULT_REGION = "api"
# Planhat's clusters, as the form's options: (title, one-line description).
REGIONS = {
    "api": ("US", "api.planhat.com, where most tenants are."),
    "api-eu": ("EU", "api-eu.planhat.com."),
    "api-eu2": ("EU 2", "api-eu2.planhat.com."),
    "api-eu3": ("EU 3", "api-eu3.planhat.com."),
    "api-us2": ("US 2", "api-us2.planhat.com."),
}
Region = Literal["api", "api-eu", "api-eu2", "api-eu3", "api-us2"]
# reference: soft quota of 200 calls/minute; the default leaves room for other users of the same token.
DEFAULT_REQUESTS_PER_MINUTE = 180
DEFAULT_LOOKBACK_MINUTES = 60
DOCUMENTATION_URL = "https://github.com/supportsuite/airbyte-support-connectors/tree/main/source-planhat"
# The form's cards (Airbyte's `groups`): reaching the tenant, what to read, and the knobs almost nobody turns.
GROUPS = [
    {"id": "connection", "title": "Connection"},
    {"id": "sync", "title": "What to sync"},
    {"id": "advanced", "title": "Advanced"},
]
STREAM_TITLES = {"endusers": "End users", "nps": "NPS", "custom_fields": "Custom fields"}


def _region_options() -> dict[str, Any]:
    """The regions as Airbyte's form shows an enum: titled objects told apart by a `const` region."""
    return {
        "type": "object",
        "oneOf": [
            {
                "title": title,
                "description": description,
                "type": "object",
                "required": ["region"],
                "properties": {
                    "region": {
                        "type": "string",
                        "const": value,
                        "title": "Region",
                        "description": description,
                        "order": 0,
                    }
                },
            }
            for value, (title, description) in REGIONS.items()
        ],
    }


def _page_size_field(order: int, stream: str) -> Any:
    model = BY_STREAM[stream]
    # The bounds are in the schema but checked by PageSizes, whose message names the stream and its maximum.
    return Field(
        model.default_page,
        title=STREAM_TITLES.get(stream, stream.capitalize()),
        description=f"Records per request for {stream}, at most {model.max_page}.",
        json_schema_extra={"order": order, "minimum": 1, "maximum": model.max_page},
    )


class _PageSizesBase(BaseModel):
    """One page size per stream, each at or below the model's known maximum (models.py)."""

    # extra="allow" so an unknown stream gets the message below, not pydantic's "extra inputs".
    model_config = ConfigDict(extra="allow", title="Page sizes")

    @model_validator(mode="before")
    @classmethod
    def _known_and_safe(cls, sizes: Any) -> Any:
        if not isinstance(sizes, Mapping):
            return sizes
        for stream, size in sizes.items():
            model = BY_STREAM.get(stream)
            if model is None:
                raise ValueError(f"page_sizes: unknown stream {stream!r}")
            if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= model.max_page:
                raise ValueError(f"page_sizes: {stream} must be between 1 and {model.max_page}, got {size!r}")
        return sizes


PageSizes = create_model(
    "PageSizes",
    __base__=_PageSizesBase,
    **{m.stream: (int, _page_size_field(order, m.stream)) for order, m in enumerate(MODELS)},
)


class PlanhatConfig(BaseModel):
    """Planhat source configuration."""

    model_config = ConfigDict(extra="ignore", title="Planhat Source Spec", json_schema_extra={"groups": GROUPS})

    api_token: SecretStr = Field(
        title="API token",
        description="Token of a Planhat service account (Settings → Service Accounts); models it may not read "
        "are skipped with a warning.",
        json_schema_extra={"airbyte_secret": True, "order": 0, "group": "connection"},
    )
    tenant_region: Annotated[Region | None, WithJsonSchema(_region_options())] = Field(
        None,
        title="Region",
        description="The Planhat cluster your tenant is on; a token used on another cluster is answered with 401.",
        json_schema_extra={
            "order": 1,
            "group": "connection",
            "always_show": True,
            "default": {"region": DEFAULT_REGION},
        },
    )
    start_date: datetime | None = Field(
        default=None,
        title="Start date",
        description="Records updated before this time are not read by incremental streams. Empty reads all.",
        examples=["2024-01-01T00:00:00Z"],
        json_schema_extra={"order": 2, "format": "date-time", "group": "sync"},
    )
    base_url: str | None = Field(
        default=None,
        title="Custom base URL",
        description="Overrides the region's URL, for a proxy or an emulator.",
        pattern=r"^https?://[^/\s]",
        examples=["https://api-eu.planhat.com", "http://localhost:8080"],
        json_schema_extra={"order": 3, "group": "advanced", "pattern_descriptor": "http(s)://host[:port]"},
    )
    lookback_window: int = Field(
        default=DEFAULT_LOOKBACK_MINUTES,
        ge=0,
        le=60 * 24 * 30,
        title="Lookback window (minutes)",
        description="Incremental reads go back this far before the saved cursor, for records whose updatedAt "
        "was set late; records read twice are deduplicated on _id.",
        json_schema_extra={"order": 4, "group": "advanced"},
    )
    requests_per_minute: int = Field(
        default=DEFAULT_REQUESTS_PER_MINUTE,
        ge=1,
        le=10000,
        title="Requests per minute",
        description="The connector paces itself under this budget; Planhat's quota is 200 per minute per "
        "tenant, shared with every other client of the API.",
        json_schema_extra={"order": 5, "group": "advanced"},
    )
    page_sizes: PageSizes = Field(  # type: ignore[valid-type]
        default_factory=PageSizes,
        title="Page sizes",
        description="Records per request, per stream; the defaults are at or below each model's known maximum.",
        json_schema_extra={"order": 6, "group": "advanced"},
    )
    # The shape configs had before Region's options: the CDK validates every config against this spec, so
    # the bare string stays a field (hidden), and `custom` still means "base_url is set".
    region: Literal["api", "api-eu", "api-eu2", "api-eu3", "api-us2", "custom"] | None = Field(
        default=None,
        title="Region (older configs)",
        description="The cluster as a bare name (api, api-eu, …, or custom with a base URL); still accepted, use "
        "Region.",
        json_schema_extra={"order": 7, "group": "connection", "airbyte_hidden": True},
    )

    @field_validator("tenant_region", mode="before")
    @classmethod
    def _region_option(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            if set(value) != {"region"}:
                raise ValueError('expected an object with only `region`, e.g. {"region": "api-eu"}')
            return value["region"]
        return value

    @field_validator("start_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value

    @model_validator(mode="after")
    def _one_region(self) -> PlanhatConfig:
        if self.region == "custom" and not self.base_url:
            raise ValueError("region 'custom' needs a base_url")
        if self.tenant_region and self.region not in (None, "custom", self.tenant_region):
            raise ValueError("tenant_region and region name different clusters: give tenant_region only")
        return self

    @property
    def cluster(self) -> str:
        """The region in effect: the form's, else an older config's, else US."""
        return self.tenant_region or (self.region if self.region not in (None, "custom") else DEFAULT_REGION)

    @property
    def url(self) -> str:
        """base_url whenever it is set (issue 14: a base_url without region custom went to api.planhat.com)."""
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"https://{self.cluster}.planhat.com"

    @property
    def target(self) -> str:
        """Where the requests go, as a 401 message names it."""
        return f"base_url {self.url}" if self.base_url else f"region '{self.cluster}' ({self.url})"

    @property
    def lookback(self) -> timedelta:
        return timedelta(minutes=self.lookback_window)

    def page_size(self, stream: str) -> int:
        return getattr(self.page_sizes, stream)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """The flat form Airbyte's UI reads: $refs inlined, Optional[X] as X, no null defaults, no SecretStr keywords."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            return _inline({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
        if "anyOf" in node:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            if len(options) == 1:
                return _inline({**options[0], **{k: v for k, v in node.items() if k != "anyOf"}}, defs)
        dropped = ("$defs", "writeOnly")
        node = {k: _inline(v, defs) for k, v in node.items() if k not in dropped and not (k == "default" and v is None)}
        if node.get("format") == "password":
            del node["format"]
        return node
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def connection_specification() -> dict[str, Any]:
    schema = PlanhatConfig.model_json_schema()
    schema = _inline(schema, schema.get("$defs", {}))
    # Each page size is checked by PageSizes (its message names the stream); the spec's bounds show them.
    schema["properties"]["page_sizes"].pop("additionalProperties", None)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": schema["title"],
        "type": "object",
        "required": schema["required"],
        "additionalProperties": True,
        "properties": schema["properties"],
        "groups": schema["groups"],
    }


def spec() -> dict[str, Any]:
    return {
        "documentationUrl": DOCUMENTATION_URL,
        "connectionSpecification": connection_specification(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(spec(), indent=2, ensure_ascii=False))
