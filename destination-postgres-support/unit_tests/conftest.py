"""Shared fixtures: a config pointed at the test's own database, catalogs, and the two ways to run write."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

CONNECTOR_ROOT = Path(__file__).resolve().parents[1]
MESSAGES = Path(__file__).with_name("messages")
CARNIVAL = "2024-02-13"


@pytest.fixture
def config(pg_url: str) -> dict[str, Any]:
    # A tiny batch size so every file crosses several batches.
    return {"database_url": pg_url, "batch_size": 2, "business_hours": {"holidays": [CARNIVAL]}}


def catalog_for(streams: Iterable[str], overwrite: Iterable[str] = (), append: Iterable[str] = ()) -> dict[str, Any]:
    overwrite, append = set(overwrite), set(append)
    entries = []
    for name in streams:
        mode = "overwrite" if name in overwrite else "append" if name in append else "append_dedup"
        entries.append(
            {
                "stream": {"name": name, "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]},
                "sync_mode": "full_refresh" if mode == "overwrite" else "incremental",
                "destination_sync_mode": mode,
                "primary_key": [["id"]],
                "cursor_field": ["updated_at"],
                "generation_id": 2 if mode == "overwrite" else 1,
                "minimum_generation_id": 2 if mode == "overwrite" else 0,
                "sync_id": 1,
            }
        )
    return {"streams": entries}


def complete(*streams: str) -> list[str]:
    """The STREAM_STATUS COMPLETE lines a source ends each stream with (only they let a refresh prune)."""
    return [
        json.dumps(
            {
                "type": "TRACE",
                "trace": {
                    "type": "STREAM_STATUS",
                    "emitted_at": 1,
                    "stream_status": {"stream_descriptor": {"name": name}, "status": "COMPLETE"},
                },
            }
        )
        for name in streams
    ]


def streams_in(lines: list[str]) -> list[str]:
    names = []
    for line in lines:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("type") == "RECORD" and message["record"]["stream"] not in names:
            names.append(message["record"]["stream"])
    return names


def load_lines(name: str) -> list[str]:
    return (MESSAGES / f"{name}.jsonl").read_text().splitlines()


def write_in_process(config: dict, catalog: dict, lines: list[str]) -> list[dict]:
    """Destination.write() fed the raw lines (dicts/lines keep the state id); outputs as dicts."""
    from airbyte_cdk.models import AirbyteMessageSerializer

    from destination_postgres_support import DestinationPostgresSupport

    outputs = []
    for message in DestinationPostgresSupport().write(config, catalog, lines):
        data = AirbyteMessageSerializer.dump(message)
        if message.state is not None and getattr(message.state, "id", None) is not None:
            data["state"]["id"] = message.state.id
        outputs.append(data)
    return outputs


def write_subprocess(config: dict, catalog: dict, lines: list[str], tmp_path: Path) -> tuple[int, list[dict]]:
    config_path, catalog_path = tmp_path / "config.json", tmp_path / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(catalog))
    done = subprocess.run(
        [sys.executable, "main.py", "write", "--config", str(config_path), "--catalog", str(catalog_path)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=CONNECTOR_ROOT,
        timeout=120,
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


class WriteFailed(Exception):
    def __init__(self, outputs: list[dict], error: str):
        super().__init__(error)
        self.outputs = outputs
        self.error = error


@pytest.fixture(params=["write()", "main.py write"])
def run_write(request, tmp_path):
    """Runs a sync both ways: in-process through write(), and as `python main.py write` in a subprocess."""

    def run(config: dict, catalog: dict, lines: list[str]) -> list[dict]:
        if request.param == "write()":
            try:
                return write_in_process(config, catalog, lines)
            except Exception as err:
                raise WriteFailed([], getattr(err, "message", None) or str(err)) from err
        code, outputs = write_subprocess(config, catalog, lines, tmp_path)
        if code != 0:
            errors = [o["trace"]["error"] for o in outputs if o.get("type") == "TRACE"]
            raise WriteFailed(outputs, errors[-1]["message"] if errors else f"exit {code}")
        return outputs

    run.mode = request.param
    return run
