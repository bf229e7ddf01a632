"""Each connector's form (spec.json) under the rules Airbyte's UI applies, and its metadata.yaml under Airbyte's
published metadata schema. Each package's own tests keep spec.json equal to what its config model generates."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from testkit.airbyte_forms import metadata_problems, spec_problems

REPO = Path(__file__).resolve().parents[2]
# Every field that holds a secret, by dotted path; the test fails on a secret missing here or marked elsewhere.
SECRETS = {
    "source-pylon": {"api_token"},
    "source-planhat": {"api_token"},
    "destination-dust": {"api_key"},
    "destination-postgres-support": {"connection.database_url", "connection.password", "database_url"},
}


def _spec(folder: str) -> dict:
    return json.loads((REPO / folder / "spec.json").read_text())


def _metadata(folder: str) -> dict:
    return yaml.safe_load((REPO / folder / "metadata.yaml").read_text())


@pytest.mark.parametrize("folder", sorted(SECRETS))
def test_the_form_follows_airbytes_rules(folder):
    """What breaks if this fails: Airbyte's form shows a class name or an unexplained field, orders fields
    arbitrarily, cannot tell a oneOf option apart, masks a value that is no secret or logs one that is."""
    assert spec_problems(_spec(folder), SECRETS[folder]) == []


@pytest.mark.parametrize("folder", sorted(SECRETS))
def test_metadata_satisfies_airbytes_published_schema(folder):
    """What breaks if this fails: Airbyte's registry refuses the metadata, or the platform's network policy
    allows hosts the connector never calls (or blocks the one it does)."""
    assert metadata_problems(_metadata(folder), _spec(folder), folder) == []


def test_the_connectors_share_one_documentation_repository_and_distinct_definition_ids():
    metadata = {folder: _metadata(folder)["data"] for folder in SECRETS}
    repositories = {"/".join(urlsplit(m["documentationUrl"]).path.split("/")[1:3]) for m in metadata.values()}
    assert len(repositories) == 1, repositories
    for folder, data in metadata.items():
        assert data["documentationUrl"].endswith(f"/tree/main/{folder}")
    assert len({m["definitionId"] for m in metadata.values()}) == len(metadata)


# The rules themselves: a spec each rule must catch, made by breaking postgres-support's.
def _broken(change) -> dict:
    spec = copy.deepcopy(_spec("destination-postgres-support"))
    change(spec["connectionSpecification"])
    return spec


def _set(path: list, value):
    def change(root):
        node = root
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


P = ["properties"]
BROKEN = {
    "class-name title": (_set([*P, "business_hours", "title"], "BusinessHours"), "class name"),
    "no description": (_set([*P, "schema", "description"], ""), "no description"),
    "repeated order": (_set([*P, "business_hours", "properties", "day_end", "order"], 1), "more than once"),
    "undeclared group": (_set([*P, "schema", "group"], "sync"), "does not declare"),
    "untitled option": (_set([*P, "ssl", "oneOf", 2, "title"], None), "no title"),
    "no const": (_set([*P, "ssl", "oneOf", 1, "properties", "mode"], {"type": "string"}), "`const` field"),
    "secret that is none": (_set([*P, "schema", "airbyte_secret"], True), "holds no secret"),
    "secret unmarked": (_set([*P, "connection", "oneOf", 1, "properties", "password", "airbyte_secret"], False), "not airbyte_secret"),
    "anyOf": (_set([*P, "batch_size", "anyOf"], [{"type": "integer"}, {"type": "null"}]), "does not render"),
    "hidden and required": (_set(["required"], ["database_url"]), "hidden"),
    "no groups": (lambda root: root.pop("groups"), "declares no groups"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_form_rule_catches_what_it_is_for(case):
    """What breaks if this fails: a rule above passes every spec, so the test of the four forms proves nothing."""
    change, phrase = BROKEN[case]
    problems = spec_problems(_broken(change), SECRETS["destination-postgres-support"])
    assert any(phrase in problem for problem in problems), problems


@pytest.mark.parametrize(
    "change, phrase",
    [
        (lambda d: d.pop("githubIssueLabel"), "'githubIssueLabel' is a required property"),
        (lambda d: d.update(allowedHosts={"hosts": ["${host}"]}), "no field of the spec"),
        (lambda d: d.update(allowedHosts={"hosts": ["https://api.example.com/v1"]}), "not a host name"),
        (lambda d: d.update(connectorSubtype="warehouse"), "is not one of"),
        (lambda d: d.update(definitionId="not-a-uuid"), "not a UUID"),
    ],
    ids=["no issue label", "unknown field", "URL as host", "unknown subtype", "bad definition id"],
)
def test_each_metadata_rule_catches_what_it_is_for(change, phrase):
    metadata = _metadata("destination-postgres-support")
    change(metadata["data"])
    problems = metadata_problems(metadata, _spec("destination-postgres-support"), "destination-postgres-support")
    assert any(phrase in problem for problem in problems), problems
