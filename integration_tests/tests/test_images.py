"""The images as Airbyte runs them: each connector image answers `spec` as its non-root user from AIRBYTE_ENTRYPOINT,
`check`s, and the three flows run through the images (`read` of a source image piped by the runner into `write`
of a destination image) against the emulators and Postgres on this machine; the emulators image serves and the
flows image lists its flows. Containers share the host's network, where the emulators listen on loopback.

Built by `python3 dev.py images`; `python3 dev.py test` builds them and makes an engine answer (podman's Docker API
where no Docker daemon runs).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from emulators.dust import EMULATOR as DustEmulator
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID
from emulators.planhat import EMULATOR as PlanhatEmulator
from emulators.pylon import EMULATOR as PylonEmulator
from emulators.pylon.api import TOKEN as PYLON_TOKEN
from flows.catalog import configured_catalog
from flows.connections import FLOWS
from flows.pipeline import Connector, run_sync
from testkit import engine

REPO = Path(__file__).resolve().parents[2]
IMAGES = {image.context.name if image.context != REPO else "flows": image for image in engine.images()}
CONNECTORS = ("source-pylon", "source-planhat", "destination-dust", "destination-postgres-support")
TIME_SCALE = 60  # a Pylon rate-limit minute lasts a second
RUN_TIMEOUT_S = 300


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


pytestmark = [
    pytest.mark.image_tests,
    pytest.mark.slow,
    pytest.mark.skipif(not engine_answers(), reason="no container engine answers (python3 dev.py test starts one)"),
]


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, **kwargs)


def tag(folder: str) -> str:
    """The image's first tag (the one docker-compose.yml and metadata.yaml name), which must exist."""
    name = IMAGES[folder].name
    if docker("image", "inspect", name).returncode != 0:
        pytest.fail(f"{name} is not built: run python3 dev.py images")
    return name


def messages(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@dataclass(frozen=True)
class ImageConnector(Connector):
    """A connector run as `docker run <image> <command>` by the flows runner, as Airbyte's platform runs it.

    The runner writes its config and catalog files private to this user; the container's `airbyte` user gets a
    readable copy of each, mounted read-only, as the platform mounts them."""

    image: str = ""
    io_root: Path | None = None  # where the readable copies go (the test's tmp_path)

    def run(self, *args: str, stdin=None, stdout=subprocess.PIPE, **_) -> subprocess.Popen:
        """`tmp` (the runner's TMPDIR for a connector) is not passed: the container has its own /tmp."""
        share = Path(tempfile.mkdtemp(prefix=f"{self.name}-io-", dir=self.io_root))
        share.chmod(0o755)
        in_container = []
        for arg in args:
            if arg.startswith("/") and Path(arg).is_file():
                copy = share / Path(arg).name
                shutil.copyfile(arg, copy)
                copy.chmod(0o644)
                arg = f"/airbyte/io/{copy.name}"
            in_container.append(arg)
        interactive = ["-i"] if stdin is not None else []
        command = ["docker", "run", "--rm", *interactive, "--network", "host", "-v", f"{share}:/airbyte/io:ro"]
        return subprocess.Popen(
            [*command, self.image, *in_container],
            stdin=stdin,
            stdout=stdout,
            stderr=None,
            bufsize=1 << 16,
            start_new_session=True,
        )


@contextmanager
def over_tcp(database_url: str) -> Iterator[str]:
    """`database_url` reachable from a container on the host's network.

    The tests' embedded Postgres listens on a Unix socket only, in a folder only its own user may enter; a
    loopback port relays to it (TEST_DATABASE_URL servers on TCP are used as they are)."""
    info = conninfo_to_dict(database_url)
    host = info.get("host", "")
    if not host.startswith("/"):
        yield database_url
        return
    path = f"{host}/.s.PGSQL.{info.get('port') or 5432}"
    listener = socket.create_server(("127.0.0.1", 0))

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while chunk := src.recv(1 << 16):
                dst.sendall(chunk)
        for end in (src, dst):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(path)
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield make_conninfo(database_url, host="127.0.0.1", port=str(listener.getsockname()[1]))
    finally:
        listener.close()


def run_image(image: str, *args: str, files: dict[str, dict] | None = None, tmp_path: Path) -> list[dict]:
    """`docker run <image> <args>` with `files` mounted under /airbyte/io; its protocol messages."""
    share = tmp_path / f"io-{time.monotonic_ns()}"
    share.mkdir()
    share.chmod(0o755)
    for name, content in (files or {}).items():
        (share / name).write_text(json.dumps(content))
        (share / name).chmod(0o644)
    result = docker("run", "--rm", "--network", "host", "-v", f"{share}:/airbyte/io:ro", image, *args)
    assert result.returncode == 0, f"{image} {args[0]} exited {result.returncode}:\n{result.stdout[-3000:]}"
    return messages(result.stdout)


def check(image: str, config: dict, tmp_path: Path) -> dict:
    found = run_image(
        image, "check", "--config", "/airbyte/io/config.json", files={"config.json": config}, tmp_path=tmp_path
    )
    return next(m["connectionStatus"] for m in found if m.get("type") == "CONNECTION_STATUS")


@pytest.mark.parametrize("name", CONNECTORS)
def test_connector_image_answers_spec_as_airbyte_runs_it(name, tmp_path):
    """Airbyte runs AIRBYTE_ENTRYPOINT of the image as its non-root user; `spec` must come out of that."""
    image = tag(name)
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["AIRBYTE_ENTRYPOINT"] == f"/usr/local/bin/{name}"
    assert config["Entrypoint"] == [env["AIRBYTE_ENTRYPOINT"]]
    metadata = (REPO / name / "metadata.yaml").read_text()
    assert f"dockerRepository: {config['Labels']['io.airbyte.name']}" in metadata
    assert f"dockerImageTag: {config['Labels']['io.airbyte.version']}" in metadata

    assert docker("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip() == "1000"
    spec = next(m["spec"] for m in run_image(image, "spec", tmp_path=tmp_path) if m.get("type") == "SPEC")
    local = subprocess.run([sys.executable, str(REPO / name / "main.py"), "spec"], capture_output=True, text=True)
    assert spec == next(m["spec"] for m in messages(local.stdout) if m.get("type") == "SPEC"), (
        f"{image} is older than the code: run python3 dev.py images"
    )


@pytest.fixture
def stack(serve_emulator, pg_url):
    """Small emulators (Dust's real upsert limit keeps a few hundred documents to minutes) and a database."""
    with over_tcp(pg_url) as container_url:
        yield stack_of(serve_emulator, pg_url, container_url)


def stack_of(serve_emulator, pg_url: str, container_url: str) -> dict:
    pylon = serve_emulator(PylonEmulator(seed=5, size=10, messages_per_issue=3), time_scale=TIME_SCALE)
    planhat = serve_emulator(PlanhatEmulator(seed=5, size=6))
    dust = serve_emulator(DustEmulator())
    return {
        "servers": {"pylon": pylon, "planhat": planhat, "dust": dust},
        "source-pylon": {
            "api_token": PYLON_TOKEN,
            "base_url": pylon.url,
            "start_date": pylon.emulator.landmarks()["epoch"],
            "rate_limit_window_seconds": 60 / TIME_SCALE,
        },
        "source-planhat": {"api_token": PlanhatEmulator.TOKEN, "region": "custom", "base_url": planhat.url},
        "destination-dust": {
            "api_key": API_KEY,
            "workspace_id": WORKSPACE_ID,
            "space_id": SPACE_ID,
            "data_source_id": DATA_SOURCE_ID,
            "base_url": dust.url,
        },
        "destination-postgres-support": {"database_url": container_url},
        "pg_url": pg_url,
    }


@pytest.mark.parametrize("flow_name", sorted(FLOWS))
def test_flow_runs_through_the_connector_images(flow_name, stack, tmp_path):
    """check both sides, discover, then `read` of the source image into `write` of the destination image."""
    flow = FLOWS[flow_name]
    source, destination = tag(flow.source), tag(flow.destination)
    for image, connector in ((source, flow.source), (destination, flow.destination)):
        status = check(image, stack[connector], tmp_path)
        assert status["status"] == "SUCCEEDED", f"{connector} check: {status}"
    bad = {**stack[flow.source], "api_token": "not-a-token"}
    assert check(source, bad, tmp_path)["status"] == "FAILED"

    config_file = {"config.json": stack[flow.source]}
    discover = run_image(
        source, "discover", "--config", "/airbyte/io/config.json", files=config_file, tmp_path=tmp_path
    )
    discovered = next(m["catalog"] for m in discover if m.get("type") == "CATALOG")
    spec = next(m["spec"] for m in run_image(destination, "spec", tmp_path=tmp_path) if m.get("type") == "SPEC")
    catalog = configured_catalog(discovered, list(flow.streams), frozenset(spec["supported_destination_sync_modes"]))

    result = run_sync(
        ImageConnector(flow.source, (), image=source, io_root=tmp_path),
        ImageConnector(flow.destination, (), image=destination, io_root=tmp_path),
        stack[flow.source],
        stack[flow.destination],
        catalog,
    )
    assert result.states_committed > 0 and result.state, "the destination image echoed no STATE"

    servers = stack["servers"]
    if flow.destination == "destination-dust":
        documents = servers["dust"].emulator.documents()
        prefix, expected = (
            ("pylon-issue-", 10) if flow.source == "source-pylon" else ("planhat-company-", 6)
        )  # the emulators' sizes above
        landed = [d for d in documents if d.startswith(prefix)]
        assert len(landed) == expected == sum(result.records.values()), (sorted(documents), result.records)
    else:
        with psycopg.connect(stack["pg_url"]) as conn:
            counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in ("issues", "messages")}
        assert counts["issues"] == result.records["issues"] == 10
        assert counts["messages"] == result.records["issue_messages"] > 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_emulators_image_serves_an_emulator():
    """docker-compose.yml's emulator services: `python -m emulators <name>` in the image, as user 1000."""
    port = free_port()
    started = docker(
        "run", "-d", "--rm", "--network", "host", tag("integration_tests"),
        "pylon", "--host", "127.0.0.1", "--port", str(port), "--size", "3",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/pylon/landmarks", timeout=5) as reply:
                    assert "epoch" in json.loads(reply.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert docker("exec", container, "id", "-u").stdout.strip() == "1000"
    finally:
        docker("rm", "-f", container)


def test_flows_image_lists_the_three_flows():
    """docker-compose.yml's flow services run `python -m flows run <flow>` in this image."""
    result = docker("run", "--rm", tag("flows"), "list")
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(FLOWS)
