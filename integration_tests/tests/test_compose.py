"""docker-compose.yml and the images it builds: static checks that guard `docker compose up` from a typo, and,
wherever an engine answers (`python3 dev.py test` makes podman's answer on CI), the images built through its API
and the whole stack brought up with its three flows run to completion."""

from __future__ import annotations

import fcntl
import importlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psycopg
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


def compose_command() -> list[str] | None:
    """The docker CLI's compose plugin where installed; else podman-compose (a dev dependency) on podman."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("podman") and importlib.util.find_spec("podman_compose"):
        # one build at a time: the three flow services share an image, built once and then found in the cache
        return [sys.executable, "-m", "podman_compose", "--parallel", "1"]
    return None


def published(service: str) -> int:
    """The host port docker-compose.yml publishes for `service`."""
    return int(services()[service]["ports"][0].split(":")[0])


def option(service: str, flag: str) -> str:
    command = services()[service]["command"]
    return command[command.index(flag) + 1]


@contextmanager
def exclusive(name: str):
    """One stack at a time on this machine: docker-compose.yml publishes fixed ports."""
    with open(Path(tempfile.gettempdir()) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.mark.image_tests
@pytest.mark.slow
@pytest.mark.skipif(
    not engine_reachable() or compose_command() is None,
    reason="needs a container engine and `docker compose` or podman-compose",
)
def test_compose_up_runs_the_three_flows_to_completion():
    """`docker compose up --build` as the README says: Postgres, the emulators, each connector image's `spec`, and
    the three flows once each; every one-shot service exits 0 and the documents and rows are all there.

    The builds hit the layer cache of `python3 dev.py images` (dev.py test runs it first)."""
    import docker

    project = "supportsuite-compose-test"  # one at a time (the lock): a killed run's leftovers go at the next
    compose = [*compose_command(), "--project-name", project, "--file", "docker-compose.yml"]
    client = docker.from_env()
    one_shot = set(FLOWS) | set(CONNECTORS)

    started = time.monotonic()

    def call(*args: str) -> None:
        result = subprocess.run([*compose, *args], cwd=REPO, capture_output=True, text=True, timeout=30 * 60)
        print(f"{time.monotonic() - started:5.0f}s compose {' '.join(args)}: exit {result.returncode}", flush=True)
        assert result.returncode == 0, f"compose {args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

    def containers() -> dict:
        found = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
        return {c.labels["com.docker.compose.service"]: c for c in found}

    with exclusive("supportsuite-compose"):
        subprocess.run([*compose, "down", "--volumes"], cwd=REPO, capture_output=True, timeout=300)
        try:
            if compose[0] == "docker":
                call("up", "--detach", "--build")
            else:
                # podman 4.3 runs no healthchecks without systemd, so podman-compose ignores `condition:
                # service_healthy`: start what the flows depend on, run Postgres's own healthcheck until it
                # passes, as the condition would, then the flows.
                call("build")
                call("up", "--detach", *(name for name in services() if name not in FLOWS))
                healthcheck = services()["postgres"]["healthcheck"]["test"][1]
                deadline = time.monotonic() + 120
                while containers()["postgres"].exec_run(["sh", "-c", healthcheck]).exit_code != 0:
                    assert time.monotonic() < deadline, "postgres never became healthy"
                    time.sleep(1)
                call("up", "--detach")
            assert one_shot <= set(containers()), sorted(containers())

            deadline = time.monotonic() + 15 * 60  # Dust's 120 upserts/min make 300 documents take minutes
            while not all(c.status == "exited" for name, c in containers().items() if name in one_shot):
                assert time.monotonic() < deadline, {n: c.status for n, c in containers().items()}
                time.sleep(5)
            print(f"{time.monotonic() - started:5.0f}s every one-shot service exited", flush=True)
            stack = containers()
            for name in sorted(one_shot):
                code = stack[name].attrs["State"]["ExitCode"]
                assert code == 0, f"{name} exited {code}:\n{stack[name].logs(tail=40).decode(errors='replace')}"

            dust = f"http://127.0.0.1:{published('dust-emulator')}/_emulator/dust/documents"
            with urllib.request.urlopen(dust, timeout=30) as reply:
                documents = [d["document_id"] for d in json.loads(reply.read())["documents"]]
            issues, companies = int(option("pylon-emulator", "--size")), int(option("planhat-emulator", "--size"))
            assert sum(d.startswith("pylon-issue-") for d in documents) == issues
            assert sum(d.startswith("planhat-company-") for d in documents) == companies
            url = f"postgresql://postgres:postgres@127.0.0.1:{published('postgres')}/support"
            with psycopg.connect(url) as conn:
                rows = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in ("issues", "messages")}
            assert rows["issues"] == issues and rows["messages"] > 0, rows
        finally:
            subprocess.run([*compose, "down", "--volumes"], cwd=REPO, capture_output=True, timeout=300)
