"""Fixtures: a Dust emulator per test (a rate-limit minute lasts one second), configs, catalogs, messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from destination_dust import DestinationDust
from emulators.dust import DustEmulator
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID
from emulators.server import EmulatorServer

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

CONNECTOR_ROOT = Path(__file__).resolve().parents[1]
TIME_SCALE = 60  # the emulator's 60 s window lasts 1 s; the client is told the same
CLIENT_OPTIONS = {"window_s": 60 / TIME_SCALE, "sleep": lambda seconds: None}


@pytest.fixture
def emulator() -> DustEmulator:
    return DustEmulator()


@pytest.fixture
def dust(serve_emulator, emulator) -> EmulatorServer:
    return serve_emulator(emulator, time_scale=TIME_SCALE)


@pytest.fixture
def config(dust) -> dict[str, Any]:
    return {
        "api_key": API_KEY,
        "workspace_id": WORKSPACE_ID,
        "space_id": SPACE_ID,
        "data_source_id": DATA_SOURCE_ID,
        "base_url": dust.url,
    }


@pytest.fixture(scope="session", autouse=True)
def standard_suite_config():
    """The CDK's standard suite reads secrets/config.json: point it at an emulator for the session."""
    server = EmulatorServer(DustEmulator(), time_scale=TIME_SCALE).start()
    secrets = CONNECTOR_ROOT / "secrets"
    secrets.mkdir(exist_ok=True)
    config = {
        "api_key": API_KEY,
        "workspace_id": WORKSPACE_ID,
        "space_id": SPACE_ID,
        "data_source_id": DATA_SOURCE_ID,
        "base_url": server.url,
    }
    (secrets / "config.json").write_text(json.dumps(config, indent=2))
    yield server
    server.stop()


def configured(name: str, mode: str = "append_dedup", primary_key=(("id",),), properties=None, **extra) -> dict:
    return {
        "stream": {
            "name": name,
            "json_schema": {"type": "object", "properties": properties or {}},
            "supported_sync_modes": ["full_refresh", "incremental"],
        },
        "sync_mode": "full_refresh" if mode == "overwrite" else "incremental",
        "destination_sync_mode": mode,
        "primary_key": [list(p) for p in primary_key],
        "generation_id": extra.get("generation_id", 1),
        "minimum_generation_id": extra.get("minimum_generation_id", 1 if mode == "overwrite" else 0),
        "sync_id": 1,
    }


def catalog(*streams: dict) -> dict:
    return {"streams": list(streams)}


def record(stream: str, data: dict) -> dict:
    return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 1_700_000_000_000}}


def state(stream: str, value: Any, state_id: int | None = None) -> dict:
    message = {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"cursor": value}},
            "sourceStats": {"recordCount": 1.0},
        },
    }
    if state_id is not None:
        message["state"]["id"] = state_id
    return message


def complete(stream: str, status: str = "COMPLETE") -> dict:
    return {
        "type": "TRACE",
        "trace": {
            "type": "STREAM_STATUS",
            "emitted_at": 1.0,
            "stream_status": {"stream_descriptor": {"name": stream}, "status": status},
        },
    }


def write(config: dict, catalog: dict, messages: list[dict], **options) -> list[dict]:
    """Run the destination's write in-process; returns its output messages."""
    destination = DestinationDust(client_options={**CLIENT_OPTIONS, **options})
    return list(destination.write(config, catalog, messages))


def states(output: list[dict]) -> list[dict]:
    return [m for m in output if m.get("type") == "STATE"]


def write_process(tmp_path: Path, config: dict, catalog: dict, messages: list[dict]) -> list[dict]:
    """Run `main.py write` as Airbyte and PyAirbyte do: a process fed on stdin; returns its stdout messages.
    The rate window stays one real minute: tests through here send far fewer than the 100 upserts/min."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    result = subprocess.run(
        [sys.executable, str(CONNECTOR_ROOT / "main.py"), "write", "--config", str(tmp_path / "config.json"),
         "--catalog", str(tmp_path / "catalog.json")],
        input="".join(json.dumps(m) + "\n" for m in messages), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def logs(output: list[dict]) -> str:
    return "\n".join(m["log"]["message"] for m in output if m.get("type") == "LOG")
