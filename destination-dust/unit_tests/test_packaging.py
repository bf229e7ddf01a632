"""Packaging as Airbyte needs it: spec from the model, image rules, metadata, the command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import yaml

from destination_dust.config import DustConfig, spec

from .conftest import CONNECTOR_ROOT, catalog, configured, record, state


def test_spec_json_is_generated_from_the_config_model():
    """Two hand-kept copies drift: regenerate with `python -m destination_dust.config > spec.json`."""
    assert json.loads((CONNECTOR_ROOT / "spec.json").read_text()) == spec()


def test_two_ids_and_a_key_are_enough():
    """Sensible defaults: a user who fills only the required fields gets a working config (seed 000's
    .env has no space ID: the connector finds the space)."""
    required = spec()["connectionSpecification"]["required"]
    assert sorted(required) == ["api_key", "data_source_id", "workspace_id"]
    config = DustConfig(api_key="sk", workspace_id="w", space_id="s", data_source_id="d")
    assert config.url == "https://dust.tt" and config.upserts_per_minute < 120
    assert (
        DustConfig(api_key="sk", workspace_id="w", space_id="s", data_source_id="d", region="EU").url
        == "https://eu.dust.tt"
    )


def test_sample_config_matches_the_model():
    DustConfig.model_validate_json((CONNECTOR_ROOT / "integration_tests" / "sample_config.json").read_text())


def test_dockerfile_follows_airbyte_image_rules():
    """The platform runs AIRBYTE_ENTRYPOINT as a non-root user and reads the labels."""
    dockerfile = (CONNECTOR_ROOT / "Dockerfile").read_text()
    metadata = yaml.safe_load((CONNECTOR_ROOT / "metadata.yaml").read_text())["data"]
    entry = re.search(r'ENV AIRBYTE_ENTRYPOINT="([^"]+)"', dockerfile).group(1)
    assert entry.startswith("/")
    assert f'ENTRYPOINT ["{entry}"]' in dockerfile
    assert re.search(r"^USER airbyte$", dockerfile, re.M)
    assert "chown -R airbyte:airbyte /airbyte" in dockerfile
    assert f"LABEL io.airbyte.name={metadata['dockerRepository']}" in dockerfile
    assert f"LABEL io.airbyte.version={metadata['dockerImageTag']}" in dockerfile


def test_metadata_declares_the_connector():
    metadata = yaml.safe_load((CONNECTOR_ROOT / "metadata.yaml").read_text())["data"]
    assert metadata["connectorType"] == "destination"
    assert metadata["dockerRepository"] == "supportsuite/destination-dust" and metadata["dockerImageTag"] == "0.1.0"
    assert set(metadata["allowedHosts"]["hosts"]) == {"dust.tt", "eu.dust.tt"}
    assert {"language:python", "cdk:python"} <= set(metadata["tags"])
    assert metadata["releaseStage"] == "alpha" and metadata["license"] == "MIT"
    pyproject = (CONNECTOR_ROOT / "pyproject.toml").read_text()
    assert 'destination-dust = "destination_dust.run:run"' in pyproject


def run_main(tmp_path, config: dict, lines: list[str]) -> subprocess.CompletedProcess:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog(configured("tickets"))))
    return subprocess.run(
        [sys.executable, str(CONNECTOR_ROOT / "main.py"), "write", "--config", str(tmp_path / "config.json"),
         "--catalog", str(tmp_path / "catalog.json")],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_command_line_write_keeps_state_ids_and_stops_loudly_on_garbage(tmp_path, config, emulator):
    """stdin as the platform sends it: the state `id` survives, a bad line stops the sync naming it,
    and what came before it is still written and its state echoed."""
    lines = [
        json.dumps(record("tickets", {"id": 1, "title": "one"})),
        json.dumps(state("tickets", 1, state_id=901)),
        "this is not json",
        json.dumps(record("tickets", {"id": 2, "title": "two"})),
    ]
    result = run_main(tmp_path, config, lines)
    assert result.returncode != 0
    out = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    echoed = [m for m in out if m["type"] == "STATE"]
    assert [m["state"]["id"] for m in echoed] == [901]
    errors = [m["trace"]["error"]["message"] for m in out if m["type"] == "TRACE"]
    assert errors and "line 3" in errors[0]
    assert sorted(emulator.documents()) == ["tickets-1"]


def test_command_line_spec_and_check(tmp_path, config):
    spec_out = subprocess.run(
        [sys.executable, str(CONNECTOR_ROOT / "main.py"), "spec"], capture_output=True, text=True, timeout=60
    )
    assert json.loads(spec_out.stdout.splitlines()[-1])["type"] == "SPEC"
    (tmp_path / "config.json").write_text(json.dumps(config))
    check_out = subprocess.run(
        [sys.executable, str(CONNECTOR_ROOT / "main.py"), "check", "--config", str(tmp_path / "config.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    statuses = [json.loads(line) for line in check_out.stdout.splitlines() if '"CONNECTION_STATUS"' in line]
    assert statuses[0]["connectionStatus"]["status"] == "SUCCEEDED"
