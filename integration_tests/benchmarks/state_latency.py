"""Benchmark: how long a STATE takes from leaving the source to being echoed by the destination, over a sync
that waits on rate limits (the case that held states back: a STATE emitted before a wait).

    cd integration_tests && python -m benchmarks.state_latency [--issues 40] [--time-scale 6]

source-pylon reads from the Pylon emulator at its documented limits on a scaled clock (Pylon's 20 message
fetches a minute make the source wait between issues), through the runner's pump, into each destination:
destination-postgres-support (the target: every STATE echoed within its documented bound, STATE_MAX_WAIT_S
plus one idle tick and a commit) and destination-dust (its echo waits for the upserts before it, paced at
Dust's 120/min: reported next to that floor). Prints median and max per destination, then one verdict
line; exits 1 when a target is missed. Connector logs go to a file, not into the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from destination_postgres_support.writer import STATE_MAX_WAIT_S
from emulators.dust import EMULATOR as DustEmulator
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID
from emulators.pylon import EMULATOR as PylonEmulator
from emulators.pylon.api import TOKEN
from emulators.server import EmulatorServer
from flows.catalog import configured_catalog
from flows.connections import REPO
from testkit.postgres import embedded_server, isolated_database

# What one echo may add to the bound: the idle tick the destination reads stdin with, and a commit.
SLACK_S = 1.5


def connector(name: str) -> list[str]:
    return [sys.executable, str(REPO / name / "main.py")]


def discover(config_path: Path) -> dict:
    out = subprocess.run([*connector("source-pylon"), "discover", "--config", str(config_path)], capture_output=True)
    return next(json.loads(line)["catalog"] for line in out.stdout.splitlines() if b'"CATALOG"' in line)


def key(state: dict) -> str:
    """A STATE's identity across the pipe: the destination echoes the source's state plus its own stats."""
    body = {k: v for k, v in state.items() if k not in ("destinationStats", "sourceStats")}
    return json.dumps(body, sort_keys=True)


def measure(destination: str, dest_config: dict, source_config: dict, streams: list[str], work: Path) -> list[float]:
    """Seconds from each STATE read off the source's stdout to its echo on the destination's stdout."""
    paths = {n: work / f"{destination}-{n}.json" for n in ("source", "destination", "catalog")}
    paths["source"].write_text(json.dumps(source_config))
    paths["destination"].write_text(json.dumps(dest_config))
    catalog = configured_catalog(discover(paths["source"]), streams)
    paths["catalog"].write_text(json.dumps(catalog))
    logs = (work / f"{destination}.log").open("w")
    src = subprocess.Popen(
        [*connector("source-pylon"), "read", "--config", str(paths["source"]), "--catalog", str(paths["catalog"])],
        stdout=subprocess.PIPE,
        stderr=logs,
    )
    dest = subprocess.Popen(
        [*connector(destination), "write", "--config", str(paths["destination"]), "--catalog", str(paths["catalog"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=logs,
    )
    sent: dict[str, float] = {}

    def pump() -> None:
        for raw in src.stdout:
            message = json.loads(raw)
            if message["type"] == "LOG":
                logs.write(message["log"].get("message", "") + "\n")
                continue
            if message["type"] not in ("RECORD", "STATE", "TRACE"):
                continue
            if message["type"] == "STATE":
                sent.setdefault(key(message["state"]), time.monotonic())
            dest.stdin.write(raw)
            if message["type"] != "RECORD":
                dest.stdin.flush()
        dest.stdin.close()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    delays = []
    for raw in dest.stdout:
        message = json.loads(raw)
        if message["type"] == "STATE":
            delays.append(time.monotonic() - sent[key(message["state"])])
    thread.join()
    if src.wait() or dest.wait():
        raise SystemExit(f"{destination}: the sync failed (see {logs.name})")
    return delays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=40)
    parser.add_argument("--time-scale", type=float, default=6.0, help="emulated minutes per real minute")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="state-latency-") as tmp, embedded_or_server() as server_url:
        work = Path(tmp)
        rows = []
        for destination, streams in (
            ("destination-postgres-support", ["issues", "issue_messages"]),
            ("destination-dust", ["issue_documents"]),
        ):
            pylon = EmulatorServer(
                PylonEmulator(seed=11, size=args.issues, messages_per_issue=2), time_scale=args.time_scale
            ).start()
            dust = EmulatorServer(DustEmulator()).start()
            source_config = {
                "api_token": TOKEN,
                "base_url": pylon.url,
                "start_date": pylon.emulator.landmarks()["epoch"],
                "rate_limit_window_seconds": 60 / args.time_scale,
            }
            try:
                with isolated_database(server_url) as db:
                    dest_config = (
                        {"database_url": db}
                        if destination == "destination-postgres-support"
                        else {
                            "api_key": API_KEY,
                            "workspace_id": WORKSPACE_ID,
                            "space_id": SPACE_ID,
                            "data_source_id": DATA_SOURCE_ID,
                            "base_url": dust.url,
                        }
                    )
                    started = time.monotonic()
                    delays = measure(destination, dest_config, source_config, streams, work)
                    wall = time.monotonic() - started
            finally:
                pylon.stop()
                dust.stop()
            rows.append((destination, delays, wall))

    print(f"STATE latency, source read -> destination echo ({args.issues} issues, Pylon clock x{args.time_scale:g})")
    print(f"{'destination':<30} {'states':>6} {'median s':>9} {'max s':>7} {'sync wall s':>12}")
    missed = []
    for destination, delays, wall in rows:
        median, worst = statistics.median(delays), max(delays)
        print(f"{destination:<30} {len(delays):>6} {median:>9.2f} {worst:>7.2f} {wall:>12.1f}")
        if destination == "destination-postgres-support" and worst > STATE_MAX_WAIT_S + SLACK_S:
            missed.append(f"{destination}: max {worst:.2f}s > bound {STATE_MAX_WAIT_S + SLACK_S:.1f}s")
    bound = STATE_MAX_WAIT_S + SLACK_S
    if missed:
        print("verdict: FAIL — " + "; ".join(missed))
        return 1
    print(
        f"verdict: PASS — every destination-postgres-support echo within {bound:.1f}s ({STATE_MAX_WAIT_S:g}s + slack)"
    )
    return 0


def embedded_or_server():
    """TEST_DATABASE_URL's server when set (as the tests do), else an embedded Postgres."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return contextlib.nullcontext(url)

    @contextlib.contextmanager
    def embedded():
        with embedded_server() as server:
            yield server.get_uri()

    return embedded()


if __name__ == "__main__":
    sys.exit(main())
