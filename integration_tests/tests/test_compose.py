"""docker-compose.yml and the images it builds. CI machines have no Docker engine, so the static checks
are what guard `docker compose up` from a typo; the engine test runs wherever one answers."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from flows.connections import FLOWS, config_from_env

REPO = Path(__file__).resolve().parents[2]
CONNECTORS = ("source-pylon", "source-planhat", "destination-dust", "destination-postgres-support")


def services() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def dockerfile_of(build) -> Path:
    if isinstance(build, str):
        return REPO / build / "Dockerfile"
    return REPO / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


def test_every_build_context_has_its_dockerfile():
    """A missing context or Dockerfile fails `docker compose build` for every user."""
    built = {name: svc["build"] for name, svc in services().items() if "build" in svc}
    assert set(CONNECTORS) <= set(built)
    for name, build in built.items():
        assert dockerfile_of(build).is_file(), f"{name}: {dockerfile_of(build)} does not exist"
    for path in [dockerfile_of(b) for b in built.values()]:
        for source in re.findall(r"^COPY (\S+) ", path.read_text(), re.M):
            context = REPO if path.name == "flows.Dockerfile" else path.parent
            assert (context / source).exists(), f"{path}: COPY {source} names nothing in its build context"


@pytest.mark.parametrize("name", CONNECTORS)
def test_connector_images_follow_airbytes_rules(name):
    """Airbyte refuses or mis-runs an image whose entrypoint, user or labels are wrong."""
    metadata = yaml.safe_load((REPO / name / "metadata.yaml").read_text())["data"]
    dockerfile = (REPO / name / "Dockerfile").read_text()
    env = re.search(r'^ENV AIRBYTE_ENTRYPOINT="?([^"\n]+)"?', dockerfile, re.M).group(1)
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])", dockerfile, re.M).group(1))
    assert env.startswith("/") and entrypoint == [env], "AIRBYTE_ENTRYPOINT must be absolute and equal ENTRYPOINT"
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    assert f"io.airbyte.name={metadata['dockerRepository']}" in dockerfile
    assert f"io.airbyte.version={metadata['dockerImageTag']}" in dockerfile
    assert services()[name]["image"] == f"{metadata['dockerRepository']}:{metadata['dockerImageTag']}"


def test_emulator_services_name_emulators_that_exist():
    """An emulator service whose name does not resolve would exit at once in the demo stack."""
    for name, svc in services().items():
        if not name.endswith("-emulator"):
            continue
        emulator = svc["command"][0]
        assert hasattr(importlib.import_module(f"emulators.{emulator}"), "EMULATOR"), name
        assert "0.0.0.0" in svc["command"], f"{name} must listen on all interfaces inside its container"


def test_flow_services_run_named_flows_with_complete_configs():
    """A flow service missing an environment variable would fail at start with 'set DUST_API_KEY …'."""
    flow_services = {name: svc for name, svc in services().items() if name in FLOWS}
    assert set(flow_services) == set(FLOWS)
    for name, svc in flow_services.items():
        assert svc["command"][:2] == ["run", name]
        flow = FLOWS[name]
        environment = {k: str(v) for k, v in svc["environment"].items()}
        for connector in (flow.source, flow.destination):
            config_from_env(connector, environment)  # raises when a required variable is missing


def engine_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@pytest.mark.skipif(not engine_reachable(), reason="no Docker engine reachable: images are checked statically only")
@pytest.mark.parametrize("name", CONNECTORS)
def test_connector_image_builds_and_answers_spec(name):
    """The image Airbyte pulls must build and print its spec as the non-root user."""
    import docker

    client = docker.from_env()
    image, _ = client.images.build(path=str(REPO / name), tag=f"supportsuite/{name}:test", rm=True)
    output = client.containers.run(image.id, ["spec"], remove=True).decode()
    messages = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    spec = next(m["spec"] for m in messages if m.get("type") == "SPEC")
    assert spec["connectionSpecification"]["properties"]
