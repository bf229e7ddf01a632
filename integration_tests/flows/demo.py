"""The README's main job: every flow on the local emulators, twice, then a summary a person can check.

Pylon's documented limits (20 message fetches a minute) would make even a small demo take minutes, so the
Pylon emulator runs "a minute" in one second and source-pylon paces on the same window; every other limit
is real. Postgres is DATABASE_URL when set, else an embedded server that lives for the demo.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg

from emulators.dust import EMULATOR as DustEmulator
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID
from emulators.planhat import EMULATOR as PlanhatEmulator
from emulators.pylon import EMULATOR as PylonEmulator
from emulators.pylon.api import TOKEN as PYLON_TOKEN
from emulators.server import EmulatorServer

from .connections import FLOWS
from .runs import StateStore, run_flow

PYLON_TIME_SCALE = 60
PYLON_ISSUES = 60
PLANHAT_COMPANIES = 25
SEED = 7


def start_stack(stack: ExitStack) -> dict[str, dict]:
    """The emulators and the database; returns each connector's config."""
    pylon = stack.enter_context(
        EmulatorServer(PylonEmulator(seed=SEED, size=PYLON_ISSUES), time_scale=PYLON_TIME_SCALE)
    )
    planhat = stack.enter_context(EmulatorServer(PlanhatEmulator(seed=SEED, size=PLANHAT_COMPANIES)))
    dust = stack.enter_context(EmulatorServer(DustEmulator()))
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        from testkit.postgres import embedded_server

        print("DATABASE_URL is not set: starting an embedded Postgres for the demo")
        database_url = stack.enter_context(embedded_server()).get_uri()
    return {
        "servers": {"pylon": pylon, "planhat": planhat, "dust": dust},
        "source-pylon": {
            "api_token": PYLON_TOKEN,
            "base_url": pylon.url,
            # the emulator's history starts here: no need to walk empty 30-day windows since 2020
            "start_date": pylon.emulator.landmarks()["epoch"],
            "rate_limit_window_seconds": 60 / PYLON_TIME_SCALE,
        },
        "source-planhat": {"api_token": PlanhatEmulator.TOKEN, "region": "custom", "base_url": planhat.url},
        "destination-dust": {
            "api_key": API_KEY,
            "workspace_id": WORKSPACE_ID,
            "space_id": SPACE_ID,
            "data_source_id": DATA_SOURCE_ID,
            "base_url": dust.url,
        },
        "destination-postgres-support": {"database_url": database_url},
    }


def run_all(configs: dict, state_dir: Path, label: str) -> None:
    servers = configs["servers"]
    print(f"\n== {label} ==")
    for flow in FLOWS.values():
        before = {name: server.log.by_family() for name, server in servers.items()}
        started = time.monotonic()
        result = run_flow(flow, configs[flow.source], configs[flow.destination], StateStore(state_dir, flow.name))
        calls = {name: server.log.by_family() - before[name] for name, server in servers.items()}
        api = "pylon" if flow.source == "source-pylon" else "planhat"
        records = ", ".join(f"{s} {n}" for s, n in sorted(result.records.items())) or "no records"
        breakdown = ", ".join(f"{family} {n}" for family, n in sorted(calls[api].items()))
        line = f"{flow.name:18} {time.monotonic() - started:5.1f}s  {records}; {api} API calls: {breakdown}"
        if flow.destination == "destination-dust":
            line += f"; Dust upserts {calls['dust']['upserts']}"
        print(line)


def summary(configs: dict) -> None:
    documents = configs["servers"]["dust"].emulator.documents()
    print(f"\n== Dust data source: {len(documents)} documents ==")
    by_kind: dict[str, int] = {}
    for document_id in documents:
        kind = document_id.split("-")[0] + "-" + document_id.split("-")[1]
        by_kind[kind] = by_kind.get(kind, 0) + 1
    for kind, count in sorted(by_kind.items()):
        print(f"  {kind}: {count}")
    # an issue with a conversation shows the whole layout
    example = next(
        (d for i, d in sorted(documents.items()) if i.startswith("pylon-issue-") and "## Conversation" in d.text), None
    )
    if example:
        print(f"\n-- one document: {example.document_id} --\ntitle: {example.title}\ntags: {', '.join(example.tags)}")
        lines = example.text.splitlines()
        print("\n".join(lines[:45]) + (f"\n… ({len(lines) - 45} more lines)" if len(lines) > 45 else ""))

    with psycopg.connect(configs["destination-postgres-support"]["database_url"]) as conn:
        print("\n== Postgres ==")
        for table in ("issues", "accounts", "users", "messages", "sync_log"):
            count = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608 - fixed names
            print(f"  {table}: {count} rows")
        print("\n-- SLA of open issues, as of now() --")
        rows = conn.execute("SELECT * FROM issue_sla_status LIMIT 5")
        names = [c.name for c in rows.description]
        print("  " + " | ".join(names))
        for row in rows:
            print("  " + " | ".join("" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v) for v in row))


def main() -> int:
    started = time.monotonic()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="demo-state-") as state_dir:
        configs = start_stack(stack)
        run_all(configs, Path(state_dir), "first run: everything lands")
        run_all(configs, Path(state_dir), "second run: incremental, nothing changed")
        summary(configs)
    print(f"\ndemo finished in {time.monotonic() - started:.0f}s")
    return 0
