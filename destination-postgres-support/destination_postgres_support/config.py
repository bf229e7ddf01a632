"""The destination's configuration: one pydantic model, the single source of spec.json.

`spec.json` is generated from `DestinationConfig` (`python -m destination_postgres_support.config > spec.json`) and a
test fails when the two drift.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

DOCUMENTATION_URL = "https://github.com/supportsuite/airbyte-support-connectors/tree/main/destination-postgres-support"
SUPPORTED_SYNC_MODES = ["append", "append_dedup", "overwrite"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# The form's cards, in order (Airbyte's `groups`): how to reach the database, what the dashboard computes,
# and the loading knobs almost nobody changes.
GROUPS = [
    {"id": "connection", "title": "Connection"},
    {"id": "dashboard", "title": "Dashboard"},
    {"id": "advanced", "title": "Advanced"},
]
NEON_URL_EXAMPLE = "postgresql://neondb_owner:password@ep-cool-darkness-123456.eu-central-1.aws.neon.tech/neondb"


def _check_postgres_url(value: SecretStr) -> SecretStr:
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


class ConnectionString(BaseModel):
    """One URL holding the user, password, host and database, as Neon's console shows it."""

    model_config = ConfigDict(extra="ignore", title="Connection string")

    method: Literal["connection_string"] = Field(
        title="Connection method",
        description="Connect with one connection string.",
        json_schema_extra={"order": 0},
    )
    database_url: SecretStr = Field(
        title="Connection string",
        description="postgresql://user:password@host:port/database, e.g. Neon's pooled or direct connection string.",
        examples=[NEON_URL_EXAMPLE + "?sslmode=require"],
        json_schema_extra={"airbyte_secret": True, "order": 1},
    )

    @field_validator("database_url")
    @classmethod
    def _a_postgres_url(cls, value: SecretStr) -> SecretStr:
        return _check_postgres_url(value)

    def conninfo(self) -> str:
        return self.database_url.get_secret_value()


class HostAndPort(BaseModel):
    """Separate host, port, database, user and password fields; only the password is secret."""

    model_config = ConfigDict(extra="ignore", title="Host and port")

    method: Literal["host_and_port"] = Field(
        title="Connection method",
        description="Connect with a host, port, database, user and password.",
        json_schema_extra={"order": 0},
    )
    host: str = Field(
        min_length=1,
        title="Host",
        description="Host name or IP address of the Postgres server.",
        examples=["ep-cool-darkness-123456.eu-central-1.aws.neon.tech", "db.example.com"],
        json_schema_extra={"order": 1},
    )
    port: int = Field(
        5432,
        ge=1,
        le=65535,
        title="Port",
        description="Port the server listens on.",
        examples=[5432],
        json_schema_extra={"order": 2},
    )
    database: str = Field(
        min_length=1,
        title="Database",
        description="Name of the database holding the dashboard schema.",
        examples=["neondb", "support"],
        json_schema_extra={"order": 3},
    )
    username: str = Field(
        min_length=1,
        title="User",
        description="Role the destination logs in as; it needs CREATE on the schema.",
        examples=["neondb_owner"],
        json_schema_extra={"order": 4},
    )
    password: SecretStr | None = Field(
        None,
        title="Password",
        description="Password of that role; leave empty for a server that trusts the host.",
        json_schema_extra={"airbyte_secret": True, "order": 5},
    )

    def conninfo(self) -> str:
        password = self.password.get_secret_value() if self.password is not None else None
        return make_conninfo(
            host=self.host, port=self.port, dbname=self.database, user=self.username, password=password
        )


Connection = Annotated[ConnectionString | HostAndPort, Field(discriminator="method")]


class SslMode(str, Enum):
    disable = "disable"
    allow = "allow"
    prefer = "prefer"
    require = "require"
    verify_ca = "verify-ca"
    verify_full = "verify-full"


# libpq's sslmode values, as the form's options: (title, one-line description).
SSL_MODES = {
    SslMode.disable: ("Disable", "Never encrypt; only for a server reached over a private network."),
    SslMode.allow: ("Allow", "Connect without TLS first, and encrypt only if the server insists."),
    SslMode.prefer: ("Prefer", "Encrypt when the server offers TLS, else connect in the clear (libpq's default)."),
    SslMode.require: ("Require", "Always encrypt, without checking the certificate; the least Neon accepts."),
    SslMode.verify_ca: ("Verify CA", "Always encrypt, and check that a trusted authority signed the certificate."),
    SslMode.verify_full: ("Verify full", "Always encrypt, and check the certificate and that it names the host."),
}


def titled_options(key: str, key_title: str, options: Mapping[Enum, tuple[str, str]]) -> dict[str, Any]:
    """An enum as Airbyte's form shows one: a oneOf of titled objects told apart by a `const` `key`."""
    return {
        "type": "object",
        "oneOf": [
            {
                "title": title,
                "description": description,
                "type": "object",
                "required": [key],
                "properties": {
                    key: {
                        "type": "string",
                        "const": value.value,
                        "title": key_title,
                        "description": description,
                        "order": 0,
                    }
                },
            }
            for value, (title, description) in options.items()
        ],
    }


def unwrap_option(value: Any, key: str) -> Any:
    """`{key: value}` (the form's shape) or the bare value (the shape configs had before the form)."""
    if isinstance(value, Mapping):
        if set(value) != {key}:
            raise ValueError(f'expected an object with only `{key}`, e.g. {{"{key}": "require"}}')
        return value[key]
    return value


class BusinessHours(BaseModel):
    """Working time used for first-response/resolution hours and the SLA view (Python and SQL agree)."""

    model_config = ConfigDict(extra="forbid", title="Business hours")

    timezone: str = Field(
        "America/Sao_Paulo",
        title="Time zone",
        description="IANA time zone of the support team.",
        examples=["America/Sao_Paulo", "Europe/Lisbon"],
        json_schema_extra={"order": 0},
    )
    day_start: str = Field(
        "08:00",
        title="Day starts",
        description="Local time the working day starts (HH:MM).",
        pattern=_HHMM.pattern,
        json_schema_extra={"order": 1, "pattern_descriptor": "HH:MM"},
    )
    day_end: str = Field(
        "18:00",
        title="Day ends",
        description="Local time the working day ends (HH:MM).",
        pattern=_HHMM.pattern,
        json_schema_extra={"order": 2, "pattern_descriptor": "HH:MM"},
    )
    working_days: list[int] = Field(
        [1, 2, 3, 4, 5],
        title="Working days",
        description="ISO weekdays that are working days (1 = Monday … 7 = Sunday).",
        json_schema_extra={"order": 3},
    )
    holidays: list[dt.date] = Field(
        [],
        title="Holidays",
        description="Dates (YYYY-MM-DD) that are not worked.",
        examples=[["2025-03-03", "2025-03-04"]],
        json_schema_extra={"order": 4},
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as America/Sao_Paulo") from err
        return value

    @field_validator("day_start", "day_end", mode="before")
    @classmethod
    def _hhmm(cls, value: Any) -> Any:
        # Before the pattern, so the message stays this one rather than pydantic's regex.
        if isinstance(value, str) and not _HHMM.match(value):
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


def _slug(default: str, column: str, order: int) -> Any:
    return Field(
        default,
        min_length=1,
        title=f"{column.replace('_', ' ').capitalize()} slug",
        description=f"Pylon custom-field slug that fills issues.{column}.",
        examples=[default],
        json_schema_extra={"order": order},
    )


class CustomFieldSlugs(BaseModel):
    """Which Pylon custom-field slug feeds which flat `issues` column (seed 003's slugs by default)."""

    model_config = ConfigDict(extra="forbid", title="Pylon custom fields")

    priority: str = _slug("priority", "priority", 0)
    category: str = _slug("category", "category", 1)
    handler: str = _slug("handler", "handler", 2)
    resolution_type: str = _slug("resolution-type", "resolution_type", 3)
    self_servable: str = _slug("self-servable", "self_servable", 4)


class SlaTarget(BaseModel):
    """The business hours one priority allows."""

    model_config = ConfigDict(extra="forbid", title="SLA target")

    priority: str = Field(
        title="Priority",
        description="Issue priority, or `default` for issues without a listed priority.",
        examples=["urgent", "default"],
        json_schema_extra={"order": 0},
    )
    first_response_hours: float = Field(
        gt=0,
        title="First response (business hours)",
        description="Business hours allowed until the first team response.",
        json_schema_extra={"order": 1},
    )
    resolution_hours: float = Field(
        gt=0,
        title="Resolution (business hours)",
        description="Business hours allowed until the issue is closed.",
        json_schema_extra={"order": 2},
    )


DEFAULT_SLA_TARGETS = [
    SlaTarget(priority="urgent", first_response_hours=1, resolution_hours=8),
    SlaTarget(priority="high", first_response_hours=4, resolution_hours=24),
    SlaTarget(priority="medium", first_response_hours=8, resolution_hours=40),
    SlaTarget(priority="low", first_response_hours=24, resolution_hours=80),
    SlaTarget(priority="default", first_response_hours=8, resolution_hours=40),
]


class DestinationConfig(BaseModel):
    """Postgres Support Destination Spec"""

    model_config = ConfigDict(
        extra="allow", title="Postgres Support Destination Spec", json_schema_extra={"groups": GROUPS}
    )

    # Optional only for configs written before it, which carry `database_url` instead (see _one_connection).
    connection: Connection | None = Field(
        None,
        title="Connection",
        description="A connection string (what Neon hands out), or the host, port, database, user and password.",
        json_schema_extra={"order": 0, "group": "connection", "always_show": True, "display_type": "radio"},
    )
    ssl: Annotated[SslMode | None, WithJsonSchema(titled_options("mode", "SSL mode", SSL_MODES))] = Field(
        None,
        title="SSL mode",
        description="Overrides the connection string's sslmode; Neon needs Require or stricter.",
        json_schema_extra={"order": 1, "group": "connection"},
    )
    schema_name: str = Field(
        "public",
        alias="schema",
        min_length=1,
        title="Schema",
        description="Schema holding the dashboard tables (Prisma's default is public); created if missing.",
        examples=["public", "support"],
        json_schema_extra={"order": 2, "group": "dashboard"},
    )
    business_hours: BusinessHours = Field(
        default_factory=BusinessHours,
        title="Business hours",
        description="The team's working time: first-response and resolution hours count only inside it.",
        json_schema_extra={"order": 3, "group": "dashboard"},
    )
    custom_field_slugs: CustomFieldSlugs = Field(
        default_factory=CustomFieldSlugs,
        title="Pylon custom fields",
        description="Which Pylon custom field fills each flat column of the issues table.",
        json_schema_extra={"order": 4, "group": "dashboard"},
    )
    sla_targets: list[SlaTarget] = Field(
        default_factory=lambda: list(DEFAULT_SLA_TARGETS),
        title="SLA targets",
        description="Written to the sla_targets table at every sync; the SLA view reads them.",
        json_schema_extra={"order": 5, "group": "dashboard"},
    )
    batch_size: int = Field(
        20_000,
        ge=1,
        le=1_000_000,
        title="Batch size",
        description="Records per stream buffered before one COPY + merge transaction.",
        json_schema_extra={"order": 6, "group": "advanced"},
    )
    connections: int = Field(
        2,
        ge=1,
        le=8,
        title="Loading connections",
        description="Connections that load batches at once, plus one for bookkeeping; each uses one Postgres core.",
        json_schema_extra={"order": 7, "group": "advanced"},
    )
    database_url: SecretStr | None = Field(
        None,
        title="Database URL (older configs)",
        description="The connection string as configs before Connection gave it; still accepted, use Connection.",
        json_schema_extra={"airbyte_secret": True, "airbyte_hidden": True, "order": 8, "group": "connection"},
    )
    # The older configs' shapes are kept as fields of their own: the CDK validates every config against
    # this spec before check, and a string is not the object the form's options need.
    ssl_mode: SslMode | None = Field(
        None,
        title="SSL mode (older configs)",
        description="The bare sslmode (e.g. require) configs before SSL mode gave; still accepted, use SSL mode.",
        json_schema_extra={"airbyte_hidden": True, "order": 9, "group": "connection"},
    )

    @field_validator("ssl", mode="before")
    @classmethod
    def _ssl_option(cls, value: Any) -> Any:
        return unwrap_option(value, "mode")

    @field_validator("database_url")
    @classmethod
    def _a_postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is None else _check_postgres_url(value)

    @field_validator("schema_name")
    @classmethod
    def _schema_fits(cls, value: str) -> str:
        if not value or len(value.encode()) > 63:
            raise ValueError("schema must be 1 to 63 bytes")
        return value

    @model_validator(mode="after")
    def _one_connection(self) -> DestinationConfig:
        """`{"database_url": …}` (every config before the form had both ways) is a connection string."""
        if self.connection is not None and self.database_url is not None:
            raise ValueError("give connection or database_url, not both")
        if self.connection is None:
            if self.database_url is None:
                raise ValueError("connection is required: a connection string, or host, port, database and user")
            self.connection = ConnectionString.model_construct(
                method="connection_string", database_url=self.database_url
            )
        if self.ssl is not None and self.ssl_mode is not None and self.ssl != self.ssl_mode:
            raise ValueError("ssl and ssl_mode disagree: give ssl only")
        self.ssl = self.ssl or self.ssl_mode
        return self

    def conninfo(self) -> str:
        """libpq's connection string for the chosen connection (the loader applies `ssl` to it)."""
        assert self.connection is not None  # _one_connection
        return self.connection.conninfo()


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


def _airbyte_form(node: Any) -> Any:
    """What pydantic adds that Airbyte's form does not read: `discriminator` (OpenAPI's), SecretStr's
    `format: password` and `writeOnly` (airbyte_secret says it); a oneOf field must say `type: object`."""
    if isinstance(node, dict):
        node = {k: _airbyte_form(v) for k, v in node.items() if k not in ("discriminator", "writeOnly")}
        if node.get("format") == "password":
            del node["format"]
        if "oneOf" in node:
            node["type"] = "object"
        return node
    if isinstance(node, list):
        return [_airbyte_form(v) for v in node]
    return node


def connection_specification() -> dict[str, Any]:
    schema = DestinationConfig.model_json_schema(by_alias=True)
    schema = _airbyte_form(_drop_null_unions(_inline_refs(schema, schema.get("$defs", {}))))
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
