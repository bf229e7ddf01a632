"""The image and registry metadata keep Airbyte's rules; a mismatch fails only when Airbyte pulls the image."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from source_planhat.models import MODELS

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def metadata() -> dict:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]


def test_entrypoint_is_absolute_and_equals_airbyte_entrypoint():
    env = re.search(r'^ENV AIRBYTE_ENTRYPOINT="([^"]+)"', dockerfile(), re.M).group(1)
    entry = re.search(r'^ENTRYPOINT \["([^"]+)"\]', dockerfile(), re.M).group(1)
    assert env == entry and entry.startswith("/") and entry.endswith("/source-planhat")


def test_image_runs_as_airbyte_with_a_writable_airbyte_dir():
    text = dockerfile()
    assert re.search(r"^USER airbyte$", text, re.M)
    assert "chown -R airbyte:airbyte /airbyte" in text


def test_labels_match_metadata_and_the_package():
    data = metadata()
    labels = dict(re.findall(r"^LABEL (io\.airbyte\.\w+)=(\S+)$", dockerfile(), re.M))
    assert labels == {"io.airbyte.name": data["dockerRepository"], "io.airbyte.version": data["dockerImageTag"]}
    pyproject = (ROOT / "pyproject.toml").read_text()  # tomllib is 3.11+, the package supports 3.10
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1) == data["dockerImageTag"]
    assert 'source-planhat = "source_planhat.run:run"' in pyproject
    assert data["connectorType"] == "source" and data["dockerRepository"] == "supportsuite/source-planhat"
    assert {"language:python", "cdk:python"} <= set(data["tags"]) and data["license"] == "MIT"
    assert "api-eu.planhat.com" in data["allowedHosts"]["hosts"]


def test_readme_has_a_row_per_stream():
    readme = (ROOT / "README.md").read_text()
    for stream in [m.stream for m in MODELS] + ["company_documents"]:
        assert f"| `{stream}` |" in readme, stream
