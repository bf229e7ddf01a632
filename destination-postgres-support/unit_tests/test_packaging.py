"""Packaging rules Airbyte enforces when the image is added as a custom connector."""

from __future__ import annotations

import json
import re
from pathlib import Path

import tomllib
import yaml

from destination_postgres_support.config import render_spec

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "spec.json"


def test_spec_json_is_generated_from_the_config_model():
    """spec.json drifting from the pydantic model would let Airbyte accept configs write() rejects.
    Regenerate with `python -m destination_postgres_support.config > spec.json`."""
    assert json.loads(SPEC_PATH.read_text()) == json.loads(render_spec())
    spec = json.loads(SPEC_PATH.read_text())
    assert spec["connectionSpecification"]["properties"]["database_url"]["airbyte_secret"] is True
    assert spec["supported_destination_sync_modes"] == ["append", "append_dedup", "overwrite"]


def test_dockerfile_follows_airbyte_image_rules():
    text = (ROOT / "Dockerfile").read_text()
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
    env = re.search(r'^ENV AIRBYTE_ENTRYPOINT="([^"]+)"', text, re.M).group(1)
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])", text, re.M).group(1))
    assert env.startswith("/") and entrypoint == [env]
    assert re.search(r"^USER airbyte$", text, re.M)
    assert "useradd" in text and "chown -R airbyte:airbyte /airbyte" in text
    assert f"io.airbyte.name={metadata['dockerRepository']}" in text
    assert f"io.airbyte.version={metadata['dockerImageTag']}" in text


def test_metadata_and_console_script():
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
    assert metadata["connectorType"] == "destination"
    assert metadata["dockerRepository"] == "supportsuite/destination-postgres-support"
    assert metadata["dockerImageTag"] == "0.1.0"
    assert metadata["releaseStage"] == "alpha" and metadata["supportLevel"] == "community"
    assert set(metadata["tags"]) == {"language:python", "cdk:python"}
    assert metadata["license"] == "MIT" and metadata["documentationUrl"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", metadata["definitionId"])
    assert metadata["connectorBuildOptions"]["baseImage"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"destination-postgres-support": "destination_postgres_support.run:run"}
