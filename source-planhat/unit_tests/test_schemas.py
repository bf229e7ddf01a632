"""Every stream schema is typeable by an orchestrator: one JSON type per field (nullable), no unions.

PyAirbyte (and Airbyte's typing of destinations) resolves a field's type from `type` alone, dropping
"null": `anyOf`/`oneOf` or two non-null types give "Could not determine airbyte type" and a VARCHAR
holding JSON. Every stream's records are read from the emulator and validated against its schema here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from airbyte_cdk.models import SyncMode

from emulators.planhat import PlanhatEmulator
from source_planhat.source import STREAM_NAMES
from source_planhat.streams import load_schema

from .conftest import TIME_SCALE, config_for, sync

SCHEMAS = sorted((Path(__file__).resolve().parents[1] / "source_planhat" / "schemas").glob("*.json"))
UNIONS = ("anyOf", "oneOf", "allOf")


def subschemas(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema nested in `schema` (properties, items, additionalProperties), with where it is."""
    yield path or "/", schema
    for name, child in (schema.get("properties") or {}).items():
        yield from subschemas(child, f"{path}/{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from subschemas(schema[key], f"{path}/{key}")


def problems(schema: dict[str, Any]) -> list[str]:
    found = []
    for where, node in subschemas(schema):
        found += [f"{where}: {key}" for key in UNIONS if key in node]
        declared = node.get("type")
        types = [t for t in (declared if isinstance(declared, list) else [declared]) if t != "null"]
        if len(types) != 1:
            found.append(f"{where}: type {declared!r} is not one type (nullable)")
    return found


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_every_field_has_one_type_and_no_union(path):
    assert problems(json.loads(path.read_text())) == []


def test_the_check_catches_what_pyairbyte_cannot_type():
    bad = {"type": "object", "properties": {"owner": {"anyOf": [{"type": "null"}, {"type": "string"}]}}}
    nested = {"type": "object", "properties": {"r": {"type": "array", "items": {"oneOf": [{"type": "string"}]}}}}
    union = {"type": "object", "additionalProperties": {"type": ["null", "integer", "number"]}}
    assert problems(bad) and problems(nested) and problems(union)


class BareOwnerPlanhat(PlanhatEmulator):
    """Serves company owners as bare ids, the GET-by-id form (reference), on lists too."""

    def _public(self, model: str, record: dict, select: str | None) -> dict:
        served = super()._public(model, record, select)
        for key in ("owner", "coOwner") if model == "companies" else ():
            if isinstance(served.get(key), dict):
                served[key] = served[key]["_id"]
        return served


def records_by_stream(output) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for message in output.records:
        found.setdefault(message.record.stream, []).append(message.record.data)
    return found


def test_every_record_of_every_stream_matches_its_schema(planhat):
    """The typeable schemas still describe the data: an owner object, a resolved document owner, every model."""
    server = planhat()
    output = sync(config_for(server), STREAM_NAMES, mode=SyncMode.full_refresh)
    assert not output.errors
    by_stream = records_by_stream(output)
    assert set(by_stream) == set(STREAM_NAMES)
    for stream, records in by_stream.items():
        schema = load_schema(stream)
        for record in records:
            jsonschema.validate(record, schema)
    owners = [c["owner"] for c in by_stream["companies"]]
    assert all(isinstance(o, dict) and o["_id"] and o["nickName"] for o in owners)
    assert all(isinstance(d["company"]["owner"], dict) for d in by_stream["company_documents"])


def test_a_bare_owner_id_becomes_an_object_that_matches_the_schema(serve_emulator):
    server = serve_emulator(BareOwnerPlanhat(seed=1, size=6), time_scale=TIME_SCALE)
    companies = records_by_stream(sync(config_for(server), ["companies"]))["companies"]
    served = {c["_id"]: c for c in server.emulator.data.models["companies"]}
    schema = load_schema("companies")
    for company in companies:
        jsonschema.validate(company, schema)
        assert company["owner"] == {"_id": served[company["_id"]]["owner"]}
