"""Shared helpers: the Planhat emulator on a fast clock, configs pointing at it, in-process reads."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
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
