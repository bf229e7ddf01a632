"""Static checks: spec.json is generated from the config model, the image follows Airbyte's rules, docs list every stream."""

from __future__ import annotations

import json
import logging
import re

import yaml

from source_pylon import SourcePylon
from source_pylon.config import spec

from .conftest import CONNECTOR_ROOT

REGENERATE = "python -m source_pylon.config > spec.json"


def test_committed_spec_is_generated_from_the_config_model():
    """One source of truth: a field added to PylonConfig without regenerating spec.json fails here."""
    committed = json.loads((CONNECTOR_ROOT / "spec.json").read_text())
    assert committed == spec(), f"spec.json drifted from source_pylon/config.py; run `{REGENERATE}`"
    served = SourcePylon().spec(logging.getLogger("airbyte"))
    assert served.connectionSpecification == committed["connectionSpecification"]
    properties = committed["connectionSpecification"]["properties"]
    assert properties["api_token"]["airbyte_secret"] is True
    assert committed["connectionSpecification"]["required"] == ["api_token"]
    assert "$ref" not in json.dumps(committed)


def _dockerfile() -> tuple[str, dict[str, str], list[str]]:
    text = (CONNECTOR_ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    labels = dict(re.findall(r"^LABEL\s+([\w.]+)=(\S+)", text, flags=re.M))
    return text, labels, lines


def test_dockerfile_follows_the_airbyte_image_rules_and_matches_metadata():
    text, labels, lines = _dockerfile()
    metadata = yaml.safe_load((CONNECTOR_ROOT / "metadata.yaml").read_text())["data"]

    base = re.search(r"^FROM\s+(\S+)", text, flags=re.M).group(1)
    assert base == metadata["connectorBuildOptions"]["baseImage"]
    assert base.split("/")[-1].startswith(("python:3.11-slim", "python-connector-base"))

    entrypoint = json.loads(re.search(r"^ENTRYPOINT\s+(\[.*\])", text, flags=re.M).group(1))
    airbyte_entrypoint = re.search(r'^ENV\s+AIRBYTE_ENTRYPOINT="?([^"\n]+)"?', text, flags=re.M).group(1)
    assert airbyte_entrypoint == " ".join(entrypoint)
    assert airbyte_entrypoint.startswith("/")

    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] == "airbyte"
    assert "useradd" in text and "chown -R airbyte:airbyte /airbyte" in text

    assert labels["io.airbyte.name"] == metadata["dockerRepository"]
    assert labels["io.airbyte.version"] == metadata["dockerImageTag"]
    assert 'source-pylon = "source_pylon.run:run"' in (CONNECTOR_ROOT / "pyproject.toml").read_text()
    assert airbyte_entrypoint.endswith("/source-pylon")


def test_metadata_declares_what_airbyte_needs():
    metadata = yaml.safe_load((CONNECTOR_ROOT / "metadata.yaml").read_text())["data"]
    assert metadata["connectorType"] == "source"
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", metadata["definitionId"]
    )
    assert metadata["dockerImageTag"] == "0.1.0"
    assert {"language:python", "cdk:python"} <= set(metadata["tags"])
    assert metadata["allowedHosts"]["hosts"] == ["api.usepylon.com"]
    assert (metadata["releaseStage"], metadata["supportLevel"], metadata["license"]) == ("alpha", "community", "MIT")


def test_readme_and_sample_catalog_cover_every_stream(pylon):
    from airbyte_cdk.test.entrypoint_wrapper import discover

    from .conftest import make_config

    server = pylon(size=3)
    streams = {s.name: s for s in discover(SourcePylon(), make_config(server)).catalog.catalog.streams}
    catalog = json.loads((CONNECTOR_ROOT / "integration_tests" / "configured_catalog.json").read_text())
    assert {c["stream"]["name"] for c in catalog["streams"]} == set(streams)
    for configured in catalog["streams"]:
        assert configured["stream"]["json_schema"] == streams[configured["stream"]["name"]].json_schema
    readme = (CONNECTOR_ROOT / "README.md").read_text()
    for name in streams:
        assert f"| `{name}` |" in readme, f"README's stream table misses {name}"
    for field in spec()["connectionSpecification"]["properties"]:
        assert f"`{field}`" in readme, f"README's config table misses {field}"
