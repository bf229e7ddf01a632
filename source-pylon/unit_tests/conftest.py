"""Shared fixtures: a Pylon emulator on a 60x clock, a config builder, and a read helper.

The emulator enforces Pylon's documented limits per (scaled) minute; the connector is configured
with the same budgets and a 1-second window, so pacing is exercised for real in milliseconds.
Backoff sleeps are patched: a test that needs them asserts on the recorded delays instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalogSerializer, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder, ConfiguredAirbyteStreamBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read

from emulators.pylon import PylonEmulator
from emulators.server import EmulatorServer
from source_pylon import SourcePylon

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]  # the standard suite's options


CONNECTOR_ROOT = Path(__file__).resolve().parents[1]
TIME_SCALE = 300  # a rate-limit minute lasts 0.2 s
TOKEN = "pylon-test-token"
PROCESS_TIMEOUT_S = 120  # far above any `main.py read` here: a hung source fails its test, not the suite


@pytest.fixture(autouse=True)
def sleeps(monkeypatch) -> list[float]:
    """Backoff delays the client asked for, instead of sleeping them."""
    recorded: list[float] = []
    monkeypatch.setattr("source_pylon.client.pause", lambda seconds, reason: recorded.append(seconds))
    return recorded


@pytest.fixture
def pylon(serve_emulator):
    """`pylon(size=20, **emulator_options)` -> a started server; `.emulator` is the PylonEmulator."""

    def start(size: int = 20, seed: int = 1, **options: Any):
        return serve_emulator(PylonEmulator(seed=seed, size=size, **options), time_scale=TIME_SCALE)

    return start


def make_config(server, **overrides: Any) -> dict[str, Any]:
    config = {
        "api_token": TOKEN,
        "base_url": server.url,
        "start_date": server.emulator.landmarks()["epoch"],
        "rate_limit_window_seconds": 60 / TIME_SCALE,
    }
    config.update(overrides)
    return config


@dataclass
class Sync:
    output: EntrypointOutput
    server: Any
    requests: Counter = field(default_factory=Counter)

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [m.record.data for m in self.output.records if m.record.stream == stream]

    def states(self, stream: str) -> list[dict[str, Any]]:
        return [
            m.state.stream.stream_state.__dict__
            for m in self.output.state_messages
            if m.state.stream.stream_descriptor.name == stream
        ]

    def final_state(self) -> list[AirbyteStateMessage]:
        """The last state of each stream, as the platform would pass it to the next sync."""
        last: dict[str, AirbyteStateMessage] = {}
        for message in self.output.state_messages:
            last[message.state.stream.stream_descriptor.name] = message.state
        return list(last.values())

    @property
    def errors(self) -> list[Any]:
        return [m.trace.error for m in self.output.errors]


def catalog(*streams: str, mode: SyncMode = SyncMode.incremental):
    builder = CatalogBuilder()
    incremental = {"issues", "issue_messages", "issue_threads", "issue_documents", "survey_responses"}
    for name in streams:
        sync_mode = mode if name in incremental else SyncMode.full_refresh
        builder.with_stream(ConfiguredAirbyteStreamBuilder().with_name(name).with_sync_mode(sync_mode))
    return builder.build()


@pytest.fixture
def sync():
    """`sync(server, "issues", ..., state=None, config=None)`: one in-process read; counts requests per family."""

    def run(server, *streams: str, state=None, config=None, mode=SyncMode.incremental, expecting_exception=False):
        server.log.clear()
        server.limiter.reset()  # syncs are hours apart: the previous sync's window has rolled over
        output = read(
            SourcePylon(),
            config or make_config(server),
            catalog(*streams, mode=mode),
            state=state,
            expecting_exception=expecting_exception,
        )
        return Sync(output, server, Counter(server.log.by_family()))

    return run


@pytest.fixture(scope="session")
def acceptance_secrets():
    """The configs acceptance-test-config.yml names, pointing at an emulator that lives for the session.

    secrets/ is gitignored: the files hold only the emulator's URL and test token, rewritten each run.
    """
    server = EmulatorServer(PylonEmulator(seed=3, size=30), time_scale=TIME_SCALE).start()
    secrets = CONNECTOR_ROOT / "secrets"
    secrets.mkdir(exist_ok=True)
    config = make_config(server)
    (secrets / "config.json").write_text(json.dumps(config, indent=2))
    (secrets / "invalid_config.json").write_text(json.dumps({**config, "api_token": "not-a-pylon-token"}, indent=2))
    yield server
    server.stop()


class Read:
    """A `main.py read` subprocess whose stdout lines are stamped with their arrival time."""

    def __init__(self, tmp_path: Path, config: dict[str, Any], configured_catalog: Any, state: Any = None) -> None:
        (tmp_path / "config.json").write_text(json.dumps(config))
        catalog_json = ConfiguredAirbyteCatalogSerializer.dump(configured_catalog)
        (tmp_path / "catalog.json").write_text(json.dumps(catalog_json))
        state_args = []
        if state is not None:
            (tmp_path / "state.json").write_text(json.dumps(state))
            state_args = ["--state", str(tmp_path / "state.json")]
        self.lines: list[tuple[float, dict[str, Any]]] = []
        self.process = subprocess.Popen(
            [sys.executable, str(CONNECTOR_ROOT / "main.py"), "read"]
            + ["--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]
            + state_args,
            cwd=CONNECTOR_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            arrived = time.monotonic()
            try:
                self.lines.append((arrived, json.loads(raw)))
            except ValueError:
                self.lines.append((arrived, {"type": "NOT_JSON", "text": raw.decode(errors="replace")}))

    def wait(self) -> int:
        try:
            code = self.process.wait(timeout=PROCESS_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        self._reader.join(timeout=10)
        return code

    def of_type(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(at, message) for at, message in self.lines if message.get("type") == kind]

    def logs(self) -> list[tuple[float, str]]:
        return [(at, message["log"]["message"]) for at, message in self.of_type("LOG")]


@dataclass
class Outcome:
    """What one `main.py` process said: exit code, every stdout message, stderr, and how long it took."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]

    @property
    def status(self) -> dict[str, Any] | None:
        return next((m["connectionStatus"] for m in self.messages if m["type"] == "CONNECTION_STATUS"), None)

    def logs(self, *levels: str) -> list[str]:
        return [m["log"]["message"] for m in self.messages if m["type"] == "LOG" and m["log"]["level"] in levels]

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        return [
            m["record"]["data"]
            for m in self.messages
            if m["type"] == "RECORD" and (stream is None or m["record"]["stream"] == stream)
        ]


def _write(path: Path, content: Any) -> None:
    """A dict or list as JSON; a str or bytes as the file's raw content (for files that are not JSON)."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))


def run_main(tmp_path: Path, command: str, config: Any, catalog: Any = None, state: Any = None) -> Outcome:
    """`python main.py <command> --config … [--catalog …] [--state …]` to the end; None leaves a file out."""
    args = [sys.executable, str(CONNECTOR_ROOT / "main.py"), command]
    for name, content in (("config", config), ("catalog", catalog), ("state", state)):
        if content is not None:
            _write(tmp_path / f"{name}.json", content)
            args += [f"--{name}", str(tmp_path / f"{name}.json")]
    started = time.monotonic()
    done = subprocess.run(args, cwd=CONNECTOR_ROOT, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    seconds = time.monotonic() - started
    messages = []
    for line in done.stdout.splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            messages.append({"type": "NOT_JSON", "text": line})
    return Outcome(done.returncode, done.stdout, done.stderr, seconds, messages)
