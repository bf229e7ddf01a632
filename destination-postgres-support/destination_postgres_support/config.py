"""The destination's configuration: one pydantic model, the single source of spec.json.

`spec.json` is generated from `DestinationConfig` (`python -m destination_postgres_support.config > spec.json`) and a
test fails when the two drift.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from enum import Enum
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

DOCUMENTATION_URL = "https://github.com/supportsuite/airbyte-support-connectors/tree/main/destination-postgres-support"
SUPPORTED_SYNC_MODES = ["append", "append_dedup", "overwrite"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class SslMode(str, Enum):
    disable = "disable"
    allow = "allow"
    prefer = "prefer"
    require = "require"
    verify_ca = "verify-ca"
    verify_full = "verify-full"


class BusinessHours(BaseModel):
    """Working time used for first-response/resolution hours and the SLA view (Python and SQL agree)."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("America/Sao_Paulo", title="Time zone", description="IANA time zone of the support team.")
    day_start: str = Field("08:00", title="Day starts", description="Local time the working day starts (HH:MM).")
    day_end: str = Field("18:00", title="Day ends", description="Local time the working day ends (HH:MM).")
    working_days: list[int] = Field(
        [1, 2, 3, 4, 5],
        title="Working days",
        description="ISO weekdays that are working days (1 = Monday … 7 = Sunday).",
    )
    holidays: list[dt.date] = Field([], title="Holidays", description="Dates (YYYY-MM-DD) that are not worked.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as America/Sao_Paulo") from err
        return value

    @field_validator("day_start", "day_end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time of day in HH:MM form")
        return value

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value or any(day < 1 or day > 7 for day in value):
            raise ValueError("working_days must list ISO weekdays between 1 (Monday) and 7 (Sunday)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _day_not_empty(self) -> BusinessHours:
        if self.day_start >= self.day_end:
            raise ValueError("day_end must be later than day_start")
        return self

    @property
    def start_seconds(self) -> int:
        hours, minutes = self.day_start.split(":")
        return int(hours) * 3600 + int(minutes) * 60

    @property
    def end_seconds(self) -> int:
        hours, minutes = self.day_end.split(":")
        return int(hours) * 3600 + int(minutes) * 60


class CustomFieldSlugs(BaseModel):
    """Which Pylon custom-field slug feeds which flat `issues` column (seed 003's slugs by default)."""

    model_config = ConfigDict(extra="forbid")

    priority: str = Field("priority", description="Slug feeding issues.priority.")
    category: str = Field("category", description="Slug feeding issues.category.")
    handler: str = Field("handler", description="Slug feeding issues.handler.")
    resolution_type: str = Field("resolution-type", description="Slug feeding issues.resolution_type.")
    self_servable: str = Field("self-servable", description="Slug feeding issues.self_servable.")


class SlaTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: str = Field(description="Issue priority, or `default` for issues without a listed priority.")
    first_response_hours: float = Field(gt=0, description="Business hours allowed until the first team response.")
    resolution_hours: float = Field(gt=0, description="Business hours allowed until the issue is closed.")


DEFAULT_SLA_TARGETS = [
    SlaTarget(priority="urgent", first_response_hours=1, resolution_hours=8),
    SlaTarget(priority="high", first_response_hours=4, resolution_hours=24),
    SlaTarget(priority="medium", first_response_hours=8, resolution_hours=40),
    SlaTarget(priority="low", first_response_hours=24, resolution_hours=80),
    SlaTarget(priority="default", first_response_hours=8, resolution_hours=40),
]


class DestinationConfig(BaseModel):
    """Postgres Support Destination Spec"""

    model_config = ConfigDict(extra="allow", title="Postgres Support Destination Spec")

    database_url: SecretStr = Field(
        title="Database URL",
        description=(
            "postgresql://user:password@host/dbname URL (Neon: the pooled or direct connection string). "
            "The role needs CREATE on the schema."
        ),
        json_schema_extra={"airbyte_secret": True, "order": 0},
    )
    ssl_mode: SslMode | None = Field(
        None,
        title="SSL mode",
        description="Overrides the URL's sslmode. Neon requires `require` (or stricter).",
        json_schema_extra={"order": 1},
    )
    schema_name: str = Field(
        "public",
        alias="schema",
        title="Schema",
        description="Schema holding the dashboard tables (Prisma's default is public).",
        json_schema_extra={"order": 2},
    )
    batch_size: int = Field(
        20_000,
        ge=1,
        le=1_000_000,
        title="Batch size",
        description="Records per stream buffered before one COPY + merge transaction.",
        json_schema_extra={"order": 3},
    )
    connections: int = Field(
        2,
        ge=1,
        le=8,
        title="Loading connections",
        description="Connections that load batches at once (plus one for bookkeeping). Batches of one table "
        "whose ids do not overlap load in parallel; Postgres runs each connection's work on one core.",
        json_schema_extra={"order": 4},
    )
    business_hours: BusinessHours = Field(default_factory=BusinessHours, json_schema_extra={"order": 5})
    custom_field_slugs: CustomFieldSlugs = Field(default_factory=CustomFieldSlugs, json_schema_extra={"order": 6})
    sla_targets: list[SlaTarget] = Field(
        default_factory=lambda: list(DEFAULT_SLA_TARGETS),
        title="SLA targets",
        description="Written to the sla_targets table at every sync; the SLA view reads them.",
        json_schema_extra={"order": 7},
    )

    @field_validator("database_url")
    @classmethod
    def _a_postgres_url(cls, value: SecretStr) -> SecretStr:
        """Parsed here, so a malformed URL is the user's to fix (config_error), said without echoing it."""
        try:
            parts = conninfo_to_dict(value.get_secret_value())
        except psycopg.ProgrammingError:
            raise ValueError(
                "not a PostgreSQL connection string: expected postgresql://user:password@host:port/database"
            ) from None
        for port in str(parts.get("port") or "").split(","):
            if port and not (port.isdigit() and 0 < int(port) < 65536):
                raise ValueError("the port in the database URL must be a number from 1 to 65535")
        return value

    @field_validator("schema_name")
    @classmethod
    def _schema_fits(cls, value: str) -> str:
        if not value or len(value.encode()) > 63:
            raise ValueError("schema must be 1 to 63 bytes")
        return value


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Airbyte's UI does not follow $ref: inline pydantic's $defs."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**_inline_refs(target, defs), **{k: v for k, v in node.items() if k != "$ref"}}
            return merged
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _drop_null_unions(node: Any) -> Any:
    """`X | None` becomes anyOf[X, null] in pydantic; Airbyte forms expect the plain X."""
    if isinstance(node, dict):
        if "anyOf" in node:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            if len(options) == 1:
                rest = {k: v for k, v in node.items() if k != "anyOf"}
                return _drop_null_unions({**options[0], **rest})
        return {k: _drop_null_unions(v) for k, v in node.items() if not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_drop_null_unions(v) for v in node]
    return node


def connection_specification() -> dict[str, Any]:
    schema = DestinationConfig.model_json_schema(by_alias=True)
    schema = _drop_null_unions(_inline_refs(schema, schema.get("$defs", {})))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema.pop("description", None)
    return schema


def build_spec() -> dict[str, Any]:
    return {
        "documentationUrl": DOCUMENTATION_URL,
        "supportsIncremental": True,
        "supported_destination_sync_modes": SUPPORTED_SYNC_MODES,
        "connectionSpecification": connection_specification(),
    }


def render_spec() -> str:
    return json.dumps(build_spec(), indent=2, default=str) + "\n"


if __name__ == "__main__":
    print(render_spec(), end="")


def describe(err: ValidationError) -> str:
    """A validation error as `field: problem` lines, never with the input (it may be a password)."""
    problems = []
    for problem in err.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "config"
        problems.append(f"{where}: {problem['msg']}")
    return "; ".join(problems)
