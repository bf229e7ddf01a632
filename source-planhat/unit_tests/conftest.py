"""Shared helpers: the Planhat emulator on a fast clock, configs pointing at it, in-process reads."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import (
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    SyncMode,
)
from airbyte_cdk.test.catalog_builder import CatalogBuilder, ConfiguredAirbyteStreamBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.state_builder import StateBuilder

from emulators.planhat import PlanhatEmulator
from source_planhat import SourcePlanhat
from source_planhat.models import BY_STREAM

# A rate-limit minute lasts one second on both sides, so quota tests take seconds, not minutes.
TIME_SCALE = 60
CONNECTOR_ROOT = Path(__file__).resolve().parents[1]
PROCESS_TIMEOUT_S = 120  # far above any `main.py read` here: a hung source fails its test, not the suite


def config_for(server, **overrides) -> dict:
    return {"api_token": PlanhatEmulator.TOKEN, "region": "custom", "base_url": server.url, **overrides}


def catalog_of(streams: Iterable[str], mode: SyncMode = SyncMode.incremental) -> ConfiguredAirbyteCatalog:
    """`mode` for the streams that support it, full refresh for the others (and for names we do not offer)."""
    catalog = CatalogBuilder()
    for name in streams:
        incremental = name == "company_documents" or (name in BY_STREAM and BY_STREAM[name].incremental)
        stream_mode = mode if incremental else SyncMode.full_refresh
        catalog.with_stream(ConfiguredAirbyteStreamBuilder().with_name(name).with_sync_mode(stream_mode))
    return catalog.build()


def sync(
    config: dict,
    streams: Iterable[str],
    state: list[AirbyteStateMessage] | None = None,
    mode: SyncMode = SyncMode.incremental,
    expecting_exception: bool = False,
) -> EntrypointOutput:
    catalog = catalog_of(streams, mode)
    return read(SourcePlanhat(time_scale=TIME_SCALE), config, catalog, state, expecting_exception)


def states_of(output: EntrypointOutput) -> list[AirbyteStateMessage]:
    """The last state of each stream, as Airbyte would pass it to the next sync."""
    last = {}
    for message in output.state_messages:
        last[message.state.stream.stream_descriptor.name] = message.state.stream.stream_state
    builder = StateBuilder()
    for name, blob in last.items():
        builder.with_stream_state(name, blob)
    return builder.build()


def records(output: EntrypointOutput, stream: str) -> list[dict]:
    return [m.record.data for m in output.records if m.record.stream == stream]


@pytest.fixture
def planhat(serve_emulator):
    """A small tenant (12 companies) on the fast clock; tests change its behaviour with configure().

    `limits={"api": N}` replaces Planhat's quota of 200 calls a minute (`{}`: no quota).
    """

    def start(limits=None, **options):
        options.setdefault("size", 12)
        emulator = PlanhatEmulator(seed=options.pop("seed", 1), **options)
        return serve_emulator(emulator, time_scale=TIME_SCALE, limits=limits)

    return start


@pytest.fixture(autouse=True)
def no_real_backoff(monkeypatch):
    """Retry waits are asserted through this list rather than slept (the pacer's own waits still run)."""
    waits: list[float] = []
    monkeypatch.setattr("source_planhat.client.backoff_seconds", _recording(waits))
    return waits


def _recording(waits):
    from source_planhat import client

    real = client.backoff_seconds

    def backoff(attempt, rng, retry_after=None):
        delay = real(attempt, rng, retry_after)
        waits.append(delay)
        return 0.0

    return backoff


class Read:
    """A `main.py read` subprocess whose stdout lines are stamped with their arrival time."""

    def __init__(self, tmp_path: Path, config: dict[str, Any], configured_catalog: Any) -> None:
        (tmp_path / "config.json").write_text(json.dumps(config))
        catalog_json = ConfiguredAirbyteCatalogSerializer.dump(configured_catalog)
        (tmp_path / "catalog.json").write_text(json.dumps(catalog_json))
        self.lines: list[tuple[float, dict[str, Any]]] = []
        self.process = subprocess.Popen(
            [sys.executable, str(CONNECTOR_ROOT / "main.py"), "read"]
            + ["--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")],
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
