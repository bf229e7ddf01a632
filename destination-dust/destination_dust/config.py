"""The connector's configuration: one pydantic model, from which spec.json is generated.

`python -m destination_dust.config > spec.json` rewrites the spec; a unit test fails when the
checked-in file and the model drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

REGION_URLS = {"US": "https://dust.tt", "EU": "https://eu.dust.tt"}  # reference/dust-api.md, "Basics"
DUST_UPSERTS_PER_MINUTE = 120  # per workspace, shared by every key and integration (reference)
DEFAULT_UPSERTS_PER_MINUTE = 100  # a margin under Dust's limit for other integrations of the workspace
# Dust's own connectors skip documents over 750k characters; the plan limit is 2 MB (reference).
DEFAULT_MAX_DOCUMENT_CHARS = 750_000
PLAN_MAX_DOCUMENT_CHARS = 2_000_000
API_KEY_CHARS = re.compile(r"[\x21-\x7e]+")  # what an HTTP header value can carry without quoting


class Target(str, Enum):
    documents = "documents"
    table = "table"


class Preset(str, Enum):
    auto = "auto"  # by stream name: issue_documents -> pylon, company_documents -> planhat
    generic = "generic"
    pylon_issue = "pylon_issue"
    planhat_company = "planhat_company"


class OnRejected(str, Enum):
    fail = "fail"
    skip_and_report = "skip_and_report"


# What the form offers for a record Dust refuses: (title, one-line description).
ON_REJECTED = {
    OnRejected.fail: ("Fail the sync", "Stop at the first record Dust refuses; what came before it is kept."),
    OnRejected.skip_and_report: (
        "Skip and report",
        "Leave the record out, carry on, and name every skipped record in the sync's log.",
    ),
}
# The form's cards (Airbyte's `groups`): where the documents go, how streams are written, pacing and overrides.
GROUPS = [
    {"id": "connection", "title": "Connection"},
    {"id": "sync", "title": "What to write"},
    {"id": "advanced", "title": "Advanced"},
]


def _on_rejected_options() -> dict[str, Any]:
    """OnRejected as Airbyte's form shows an enum: titled objects told apart by a `const` action."""
    return {
        "type": "object",
        "oneOf": [
            {
                "title": title,
                "description": description,
                "type": "object",
                "required": ["action"],
                "properties": {
                    "action": {
                        "type": "string",
                        "const": value.value,
                        "title": "Action",
                        "description": description,
                        "order": 0,
                    }
                },
            }
            for value, (title, description) in ON_REJECTED.items()
        ],
    }


class StreamSettings(BaseModel):
    """How one stream is written; every field has a default that works for most streams."""

    model_config = ConfigDict(extra="forbid", title="Stream settings", use_enum_values=False)

    name: str = Field(
        title="Stream name",
        description="The stream these settings apply to.",
        min_length=1,
        json_schema_extra={"order": 0},
    )
    target: Target = Field(
        Target.documents,
        title="Target",
        description="`documents`: one Dust document per record. `table`: rows of a Dust table.",
        json_schema_extra={"order": 1},
    )
    preset: Preset = Field(
        Preset.auto,
        title="Document layout",
        description=(
            "`auto` picks the Pylon layout for `issue_documents`, the Planhat layout for "
            "`company_documents` and the generic layout otherwise."
        ),
        json_schema_extra={"order": 2},
    )
    id_fields: list[str] = Field(
        default_factory=list,
        title="ID fields",
        description="Fields that identify a record (default: the stream's primary key; a content hash without one).",
        json_schema_extra={"order": 3},
    )
    title_field: str | None = Field(
        None,
        title="Title field",
        description="Default: title, name, subject, … whichever the record has.",
        json_schema_extra={"order": 4},
    )
    tag_fields: list[str] = Field(
        default_factory=list,
        title="Tag fields",
        description="Fields that become `field:value` tags agents can filter on.",
        json_schema_extra={"order": 5},
    )
    timestamp_field: str | None = Field(
        None,
        title="Timestamp field",
        description="The record's update time (default: updated_at, updatedAt, lastUpdated, …).",
        json_schema_extra={"order": 6},
    )
    source_url_field: str | None = Field(
        None,
        title="Source URL field",
        description="Default: link, url, source_url, html_url, web_url.",
        json_schema_extra={"order": 7},
    )
    exclude_fields: list[str] = Field(
        default_factory=list,
        title="Fields to leave out",
        description="Top-level fields not rendered.",
        json_schema_extra={"order": 8},
    )


class DustConfig(BaseModel):
    """Destination Dust"""

    model_config = ConfigDict(extra="allow", title="Destination Dust", json_schema_extra={"groups": GROUPS})

    api_key: SecretStr = Field(
        title="API key",
        description="A Dust workspace API key (sk-…) allowed to write to the data source.",
        json_schema_extra={"airbyte_secret": True, "order": 0, "group": "connection"},
    )
    workspace_id: str = Field(
        title="Workspace ID",
        min_length=1,
        description="The workspace's ID, as in its address: dust.tt/w/<workspace ID>/….",
        examples=["0ec9852c2f"],
        json_schema_extra={"order": 1, "group": "connection"},
    )
    space_id: str | None = Field(
        None,
        title="Space ID",
        description=(
            "The space holding the data source. Leave empty to have the connector find it: it lists the "
            "spaces the key can see and uses the one holding the data source (scripts older than spaces "
            "had no space ID)."
        ),
        examples=["vlt_rICtlrSEpWqX"],
        json_schema_extra={"order": 2, "group": "connection"},
    )
    data_source_id: str = Field(
        title="Data source ID",
        min_length=1,
        description="A folder or data source that is not managed by a Dust connector.",
        examples=["dts_Ab3cD4eF5gH6"],
        json_schema_extra={"order": 3, "group": "connection"},
    )
    region: Literal["US", "EU"] = Field(
        "US",
        title="Region",
        description="Where the workspace lives.",
        json_schema_extra={"order": 4, "group": "connection"},
    )
    base_url: str | None = Field(
        None,
        title="Custom base URL",
        description="Overrides the region's URL (a proxy, an emulator).",
        pattern=r"^https?://",
        examples=["https://dust.example.com", "http://localhost:8080"],
        json_schema_extra={"order": 5, "group": "advanced", "pattern_descriptor": "http(s)://host[:port]"},
    )
    upserts_per_minute: int = Field(
        DEFAULT_UPSERTS_PER_MINUTE,
        ge=1,
        le=10_000,
        title="Document upserts per minute",
        description=f"Dust allows {DUST_UPSERTS_PER_MINUTE} per workspace, shared with every other integration.",
        json_schema_extra={"order": 6, "group": "advanced"},
    )
    concurrency: int = Field(
        4,
        ge=1,
        le=32,
        title="Concurrent upserts",
        description="Upserts in flight at once.",
        json_schema_extra={"order": 7, "group": "advanced"},
    )
    max_document_chars: int = Field(
        DEFAULT_MAX_DOCUMENT_CHARS,
        ge=10_000,
        le=PLAN_MAX_DOCUMENT_CHARS,
        title="Maximum document size (characters)",
        description="Longer records are split into `{id}-part{n}` documents at section boundaries.",
        json_schema_extra={"order": 8, "group": "advanced"},
    )
    rejected_records: Annotated[OnRejected | None, WithJsonSchema(_on_rejected_options())] = Field(
        None,
        title="When Dust rejects a record",
        description="Fail the sync, or skip the record, carry on and report it.",
        json_schema_extra={"order": 9, "group": "sync", "default": {"action": OnRejected.fail.value}},
    )
    streams: list[StreamSettings] = Field(
        default_factory=list,
        title="Per-stream settings",
        description="Optional; streams not listed get the defaults.",
        json_schema_extra={"order": 10, "group": "sync"},
    )
    # The shape configs had before the form's options: the CDK validates every config against this spec, so
    # the bare string stays a field (hidden). After validation it holds the choice in effect, either way given.
    on_rejected_record: OnRejected = Field(
        OnRejected.fail,
        title="When Dust rejects a record (older configs)",
        description="fail or skip_and_report, as configs before the form's options said it; still accepted.",
        json_schema_extra={"order": 11, "group": "sync", "airbyte_hidden": True},
    )

    @field_validator("rejected_records", mode="before")
    @classmethod
    def _rejected_option(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            if set(value) != {"action"}:
                raise ValueError('expected an object with only `action`, e.g. {"action": "skip_and_report"}')
            return value["action"]
        return value

    @model_validator(mode="after")
    def _one_rejected_choice(self) -> DustConfig:
        if self.rejected_records is None:
            return self
        if "on_rejected_record" in self.model_fields_set and self.on_rejected_record != self.rejected_records:
            raise ValueError("rejected_records and on_rejected_record disagree: give rejected_records only")
        self.on_rejected_record = self.rejected_records
        return self

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _key_as_pasted(cls, value: Any) -> Any:
        # A key pasted with a line break or spaces around it (from an .env file, a terminal) is the
        # same key; anything else that cannot go in an HTTP header is refused here, without quoting
        # it, because requests would quote the whole header value in its error.
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value or not API_KEY_CHARS.fullmatch(value):
            raise ValueError(
                "must be the key itself (sk-…): it is empty, or has a space, a line break or a character "
                "that is not printable ASCII"
            )
        return value

    @field_validator("workspace_id", "space_id", "data_source_id", mode="before")
    @classmethod
    def _id_as_pasted(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value and info.field_name == "space_id":
                return None  # an empty DUST_SPACE_ID means "find it"
        return value

    @property
    def url(self) -> str:
        return self.base_url or REGION_URLS[self.region]

    def stream(self, name: str) -> StreamSettings:
        for settings in self.streams:
            if settings.name == name:
                return settings
        return StreamSettings(name=name)


def _inline(schema: Any, defs: dict) -> Any:
    """Airbyte's UI does not follow `$ref`: inline every definition."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            target = defs[schema["$ref"].split("/")[-1]]
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return _inline(merged, defs)
        if "anyOf" in schema and len(schema["anyOf"]) == 2 and {"type": "null"} in schema["anyOf"]:
            # pydantic's Optional[X] -> the plain X: absent and null mean the same to us.
            other = next(s for s in schema["anyOf"] if s != {"type": "null"})
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return _inline({**other, **rest}, defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def connection_specification() -> dict:
    schema = DustConfig.model_json_schema()
    spec = _inline(schema, schema.get("$defs", {}))
    spec["$schema"] = "http://json-schema.org/draft-07/schema#"
    spec.pop("description", None)
    # A null default is "absent" to us, and a form showing "null" in a text box helps nobody.
    for field in [*spec["properties"].values(), *spec["properties"]["streams"]["items"]["properties"].values()]:
        if field.get("default", "x") is None:
            field.pop("default")
    return spec


def spec() -> dict:
    return {
        "documentationUrl": "https://github.com/supportsuite/airbyte-support-connectors/tree/main/destination-dust",
        "supportsIncremental": True,
        "supported_destination_sync_modes": ["append", "overwrite", "append_dedup"],
        "connectionSpecification": connection_specification(),
    }


if __name__ == "__main__":
    print(json.dumps(spec(), indent=2))
