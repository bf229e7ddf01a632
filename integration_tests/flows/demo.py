"""The README's main job: every flow on the local emulators, twice, then a summary a person can check.

Pylon's documented limits (20 message fetches a minute) would make even a small demo take minutes, so the
Pylon emulator runs "a minute" in one second and source-pylon paces on the same window; every other limit
is real. Postgres is an embedded server that lives for the demo, unless `--database-url` names one: never
DATABASE_URL, which seed 003's `.env` points at the production Neon database. The Pylon data is dated up to
the moment the demo starts, so the SLA view shows a believable mix of ok, at risk and breached.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

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
# Open issues with no reply yet, this many hours old: the generated history is two years long, so without them
# every open issue would be long past its SLA (measured against now()).
FRESH_ISSUE_AGES_H = (0.5, 1, 2, 3, 5, 7, 26, 50)


def start_stack(stack: ExitStack, database_url: str | None = None) -> dict[str, dict]:
    """The emulators and the database; returns each connector's config."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    pylon = stack.enter_context(
        EmulatorServer(PylonEmulator(seed=SEED, size=PYLON_ISSUES, now=now), time_scale=PYLON_TIME_SCALE)
    )
    for hours in FRESH_ISSUE_AGES_H:  # a support queue also holds what arrived today
        created = (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        pylon.emulator.add_issue(
            title=f"Waiting for a first reply for {hours} h", created_at=created, updated_at=created
        )
    planhat = stack.enter_context(EmulatorServer(PlanhatEmulator(seed=SEED, size=PLANHAT_COMPANIES)))
    dust = stack.enter_context(EmulatorServer(DustEmulator()))
    if not database_url:
        from testkit.postgres import embedded_server

        if os.environ.get("DATABASE_URL"):
            print("DATABASE_URL is set but not used: the demo writes fake issues, so it uses an embedded")
            print("Postgres unless you pass --database-url explicitly")
        database_url = stack.enter_context(embedded_server()).get_uri()
        print(f"Postgres: an embedded server for this demo only, {shown(database_url)} (deleted at the end)")
    else:
        print(f"Postgres: {shown(database_url)} (from --database-url)")
    for name, server in (("Pylon", pylon), ("Planhat", planhat), ("Dust", dust)):
        print(f"{name} emulator: {server.url}")
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
        mix = conn.execute("SELECT sla_status, count(*) FROM issue_sla_status GROUP BY 1 ORDER BY 1").fetchall()
        print("\n-- SLA of open issues, as of now(): " + ", ".join(f"{status} {n}" for status, n in mix) + " --")
        rows = conn.execute("SELECT * FROM issue_sla_status LIMIT 5")
        names = [c.name for c in rows.description]
        print("  " + " | ".join(names))
        for row in rows:
            print("  " + " | ".join("" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v) for v in row))


def shown(url: str) -> str:
    """A connection string without its password."""
    parts = conninfo_to_dict(url)
    parts.pop("password", None)
    return make_conninfo(**parts)


def main(database_url: str | None = None) -> int:
    started = time.monotonic()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="demo-state-") as state_dir:
        configs = start_stack(stack, database_url)
        print(f"runner state: {state_dir} (deleted at the end)")
        run_all(configs, Path(state_dir), "first run: everything lands")
        run_all(configs, Path(state_dir), "second run: incremental, nothing changed")
        summary(configs)
    print(f"\ndemo finished in {time.monotonic() - started:.0f}s")
    return 0
