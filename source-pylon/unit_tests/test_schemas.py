"""Every stream schema is typeable by an orchestrator: one JSON type per field (nullable), no unions.

PyAirbyte (and Airbyte's typing of destinations) resolves a field's type from `type` alone, dropping
"null": `anyOf`/`oneOf` or two non-null types give "Could not determine airbyte type" and a VARCHAR
holding JSON. That records still match the schemas is test_lists_and_documents.py's job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCHEMAS = sorted((Path(__file__).resolve().parents[1] / "source_pylon" / "schemas").glob("*.json"))
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
