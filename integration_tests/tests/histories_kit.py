"""What tests/test_model_histories.py needs to play histories of one flow and to read what it must compare.

- `History`: one connection's life: its emulators (fresh per history), a database of its own for
  pylon-to-postgres, the saved state, and its syncs, run as the runner runs them (`flows.runs.run_flow`,
  the real connector processes) or as one Airbyte attempt under a given generation (`attempt`, through
  `flows.pipeline.run_sync`). `killer()` wraps a connector in tests/fake_connectors/killer.py.
- Readers of the truth (what the emulators hold) and of the destinations (rows, documents, upserts).

`discover` is memoised per connector: its catalog does not depend on the data, and each discover is one
more connector process (seconds of CDK import) per sync.
"""

from __future__ import annotations

import copy
import functools
import html
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

import psycopg
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.errors import StopTest
from hypothesis.stateful import precondition, rule, run_state_machine_as_test

from emulators.dust import EMULATOR as DustEmulator
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID
from emulators.planhat import EMULATOR as PlanhatEmulator
from emulators.pylon import EMULATOR as PylonEmulator
from emulators.pylon.api import TOKEN as PYLON_TOKEN
from emulators.server import EmulatorServer
from flows import runs
from flows.catalog import configured_catalog
from flows.connections import FLOWS, connector
from flows.pipeline import Connector, SyncResult, run_sync
from flows.runs import StateStore, destination_modes, run_flow
from testkit.postgres import isolated_database

TIME_SCALE = 60  # Pylon's 20/min limits in a second (the source is told its window is 1 s)
# Planhat's 200 calls/min quota in 6 s: at the real one a history spends most of its time waiting on it
# (0.16 steps/s); the source is given the same quota per real minute.
PLANHAT_TIME_SCALE = 10
KILLER = Path(__file__).parent / "fake_connectors" / "killer.py"
PLANHAT_RELATED = ("conversations", "endusers", "nps", "projects", "assets")  # source_planhat.documents.RELATED
PLANHAT_COMPANY_KEY = {"nps": "cId"}  # the others point at their company with companyId
DASHBOARD_TABLES = ("issues", "accounts", "users", "messages")
BOOKKEEPING_COLUMNS = {"synced_at", "_airbyte_generation_id"}  # when and under which generation, not what

# The budgets of the model-based histories (test_model_histories.py, test_table_histories.py).
PROFILES = {
    # CI: reproducible and bounded (a few minutes for the three flows on 2 cores). No shrink phase: a
    # failure prints its whole history, at most `stateful_step_count` steps, which is already short.
    "ci": settings(
        max_examples=3,
        stateful_step_count=8,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    ),
    "soak": settings(
        max_examples=int(os.environ.get("MODEL_HISTORIES_EXAMPLES", "60")),
        stateful_step_count=int(os.environ.get("MODEL_HISTORIES_STEPS", "40")),
        deadline=None,
        derandomize=False,
        database=None,
        suppress_health_check=list(HealthCheck),
    ),
}
PROFILE = os.environ.get("MODEL_HISTORIES_PROFILE", "ci")
# MODEL_HISTORIES_VERBOSE=1 (with -s): every step of every history as it runs.
VERBOSITY = Verbosity.debug if os.environ.get("MODEL_HISTORIES_VERBOSE") else Verbosity.normal


RECENT_STEPS = 3  # a rule waits this many steps before it may run again


def step(**strategies):
    """@rule, but not again within RECENT_STEPS steps: with a handful of histories per run, Hypothesis's habit of
    repeating one rule (seven deactivate_user in a row) would spend a whole history on one kind of step."""

    def decorate(function):
        name = function.__name__

        @functools.wraps(function)
        def run(self, *args, **arguments):
            if self.in_step:  # a rule's own small change (touch_something) is part of that step
                return function(self, *args, **arguments)
            self.recent_steps = [*self.recent_steps, name][-RECENT_STEPS:]
            self.steps += 1
            self.in_step = True
            try:
                return function(self, *args, **arguments)
            finally:
                self.in_step = False

        return rule(**strategies)(precondition(lambda self: name not in self.recent_steps)(run))

    return decorate


STATS: Counter = Counter()  # the running test's histories, steps and syncs: what it (and a soak) reports


def count_history(label: str, steps: int, syncs: int) -> None:
    """A history ended (teardown): count it; a soak runs for hours, so it says how far it got as it goes,
    and at which step a history failed (Hypothesis prints the failure only once it has shrunk it)."""
    STATS.update(histories=1, steps=steps, syncs=syncs)
    if PROFILE == "soak":
        failure = sys.exc_info()[1]  # teardown runs on the way out of a failing step
        if isinstance(failure, StopTest):  # not a failure: Hypothesis ending an example (it ran out of data)
            failure = None
        failed = f"; this one failed at its step {steps}: {str(failure).splitlines()[:2]}" if failure else ""
        print(f"{label}: {report()}{failed}", flush=True)


def report() -> str:
    elapsed = time.monotonic() - STATS["started"]
    return (
        f"{STATS['histories']} histories, {STATS['steps']} steps, {STATS['syncs']} syncs in {elapsed:.0f}s "
        f"({STATS['steps'] / max(elapsed, 1e-9):.3f} steps/s)"
    )


def play(label: str, machine) -> None:
    """Run a state machine under the profile in force; print what ran, and whether it failed, however it ends."""
    STATS.clear()
    STATS["started"] = time.monotonic()
    profile = settings(PROFILES[PROFILE], verbosity=VERBOSITY)
    failures = 1
    try:
        # Every history runs its full length: Hypothesis otherwise tries a few very short ones, and with three
        # histories per flow that would be a third of the budget spent on a single sync.
        run_state_machine_as_test(machine, settings=profile, _min_steps=profile.stateful_step_count)
        failures = 0
    finally:
        print(f"\n{label}: {report()}, {failures} failures ({PROFILE} profile)", flush=True)


_real_discover = runs.discover
_catalogs: dict[tuple[str, str], dict] = {}


def _memo_discover(connector_name: str, config: dict) -> dict:
    shape = {k: v for k, v in config.items() if k not in ("base_url", "start_date")}
    key = (connector_name, json.dumps(shape, sort_keys=True))
    if key not in _catalogs:
        _catalogs[key] = _real_discover(connector_name, config)
    return copy.deepcopy(_catalogs[key])


@contextmanager
def memoised_discover():
    with mock.patch.object(runs, "discover", _memo_discover):
        yield


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def epoch_ms(value: str | None) -> int | None:
    moment = parse_iso(value)
    return int(moment.timestamp() * 1000) if moment else None


def squash(text: str) -> str:
    """Whitespace collapsed, for 'the document's text contains this' checks."""
    return " ".join(text.split())


def plain(fragment: str | None) -> str:
    """An HTML fragment as the words a reader sees."""
    return squash(html.unescape(re.sub(r"<[^>]+>", " ", fragment or "")))


class History:
    """One flow's emulators, destination and saved state; every sync goes through the real connectors."""

    def __init__(self, flow_name: str, pg_server_url: str | None = None, *, issues: int = 8, companies: int = 5):
        self.flow = FLOWS[flow_name]
        self.streams = list(self.flow.streams)
        self._stack = ExitStack()
        try:
            self._start(pg_server_url, issues, companies)
        except BaseException:
            self._stack.close()
            raise

    def _start(self, pg_server_url: str | None, issues: int, companies: int) -> None:
        self.state_dir = Path(tempfile.mkdtemp(prefix="histories-"))
        self._stack.callback(shutil.rmtree, self.state_dir, ignore_errors=True)
        self.store = StateStore(self.state_dir, self.flow.name)
        self.pylon = self.planhat = self.dust = None
        self.run_marks: list[int] = []  # how many issue searches the Pylon emulator had seen as each run began
        self.pg_url: str | None = None
        if self.flow.source == "source-pylon":
            self.pylon = self._serve(PylonEmulator(seed=7, size=issues, messages_per_issue=2), time_scale=TIME_SCALE)
            self.source_config = {
                "api_token": PYLON_TOKEN,
                "base_url": self.pylon.url,
                "start_date": self.pylon.emulator.landmarks()["epoch"],
                "rate_limit_window_seconds": 60 / TIME_SCALE,
            }
        else:
            self.planhat = self._serve(PlanhatEmulator(seed=7, size=companies), time_scale=PLANHAT_TIME_SCALE)
            self.source_config = {
                "api_token": PlanhatEmulator.TOKEN,
                "region": "custom",
                "base_url": self.planhat.url,
                "requests_per_minute": 200 * PLANHAT_TIME_SCALE,  # the quota of the scaled minute, per real minute
            }
        if self.flow.destination == "destination-dust":
            self.dust = self._serve(DustEmulator())
            self.destination_config = {
                "api_key": API_KEY,
                "workspace_id": WORKSPACE_ID,
                "space_id": SPACE_ID,
                "data_source_id": DATA_SOURCE_ID,
                "base_url": self.dust.url,
            }
        else:
            if pg_server_url is None:
                raise ValueError(f"{self.flow.name} needs a Postgres server")
            self.pg_url = self._stack.enter_context(isolated_database(pg_server_url))
            self.destination_config = {"database_url": self.pg_url}

    def _serve(self, emulator, **options) -> EmulatorServer:
        server = EmulatorServer(emulator, **options).start()
        self._stack.callback(server.stop)
        return server

    def close(self) -> None:
        self._stack.close()

    # -- syncs -------------------------------------------------------------------------------

    def set_start_date(self, value: str | None) -> None:
        """None: from the beginning (Pylon: the emulator's epoch; Planhat: no start_date)."""
        if self.pylon is not None:
            self.source_config["start_date"] = value or self.pylon.emulator.landmarks()["epoch"]
        elif value is None:
            self.source_config.pop("start_date", None)
        else:
            self.source_config["start_date"] = value

    def sync(self, refresh: bool = False, source: Connector | None = None, destination: Connector | None = None):
        """One run of the flow, as `python -m flows run` does it (refresh: `--reset`)."""
        self._mark_run()
        with memoised_discover():
            return run_flow(
                self.flow,
                self.source_config,
                self.destination_config,
                self.store,
                streams=self.streams,
                source=source,
                destination=destination,
                refresh=refresh,
            )

    def attempt(
        self,
        generation: int,
        refresh: bool,
        state: list[dict],
        source: Connector | None = None,
        destination: Connector | None = None,
    ) -> SyncResult:
        """One attempt of a sync under `generation`, as the platform runs one (and retries it, with the
        states the failed attempt committed). Saves what commits, as run_flow does."""
        self._mark_run()
        discovered = _memo_discover(self.flow.source, self.source_config)
        catalog = configured_catalog(
            discovered,
            self.streams,
            destination_modes(self.flow.destination),
            generation=generation,
            refresh=refresh,
        )
        pending = generation if refresh else None
        self.store.save(generation, state, pending)
        result = run_sync(
            source or connector(self.flow.source),
            destination or connector(self.flow.destination),
            self.source_config,
            self.destination_config,
            catalog,
            state=state,
            on_state=lambda committed: self.store.save(generation, committed, pending),
        )
        self.store.save(generation, result.state)
        return result

    def _mark_run(self) -> None:
        if self.pylon is not None:
            self.run_marks.append(self.pylon.log.count("issues_search"))

    def killer(self, side: str, lines: int) -> Connector:
        """The flow's source (side "source": after it printed `lines` lines) or destination (after it read
        `lines` lines) SIGKILLed, like a container killed mid-sync."""
        name = self.flow.source if side == "source" else self.flow.destination
        pipe = "stdout" if side == "source" else "stdin"
        return Connector(name, (sys.executable, str(KILLER), pipe, str(lines), *connector(name).command))

    # -- the destinations --------------------------------------------------------------------

    def rows(self) -> dict[str, dict[str, dict]]:
        """Every dashboard row by table and id, without the bookkeeping columns."""
        tables: dict[str, dict[str, dict]] = {}
        with psycopg.connect(self.pg_url) as conn:
            for table in DASHBOARD_TABLES:
                if conn.execute("SELECT to_regclass(%s)", (f'"{table}"',)).fetchone()[0] is None:
                    tables[table] = {}  # before the first sync migrated the database
                    continue
                cur = conn.execute(f'SELECT * FROM "{table}" ORDER BY id')  # noqa: S608 - fixed names
                names = [c.name for c in cur.description]
                tables[table] = {
                    row[0]: {n: v for n, v in zip(names, row, strict=True) if n not in BOOKKEEPING_COLUMNS}
                    for row in cur
                }
        return tables

    def query(self, statement: str, *params) -> list[tuple]:
        with psycopg.connect(self.pg_url) as conn:
            return conn.execute(statement, params).fetchall()

    def documents(self) -> dict[str, dict]:
        docs = self.dust.emulator.documents()
        return {
            i: {
                "title": d.title,
                "text": d.text,
                "tags": sorted(d.tags),
                "timestamp": d.timestamp,
                "upserts": d.upserts,
            }
            for i, d in docs.items()
        }

    def upserts(self) -> int:
        return self.dust.emulator.upserts_accepted

    def delete_document(self, document_id: str) -> None:
        """As a person does in Dust's UI (or another tool through the API)."""
        with self.dust.emulator.lock:
            self.dust.emulator.source().documents.pop(document_id, None)

    # -- the truth: what the source APIs hold ------------------------------------------------

    def pylon_issues(self) -> dict[str, dict]:
        emulator = self.pylon.emulator
        with emulator.lock:
            return {i["id"]: copy.deepcopy(i) for i in emulator.data.issues}

    def pylon_search_runs(self, since: int) -> tuple[int, list[list[dict]]]:
        """The bodies of the issue searches after the first `since`, one list per connector run that made them
        (a killed attempt and the one resuming it each start their windows from their own start), and how many
        in all."""
        bodies = [e.json() or {} for e in self.pylon.log.entries("issues_search")]
        cuts = sorted({since, len(bodies), *(m for m in self.run_marks if since < m < len(bodies))})
        return len(bodies), [bodies[a:b] for a, b in itertools.pairwise(cuts)]

    def pylon_messages(self, issue_id: str) -> list[dict]:
        emulator = self.pylon.emulator
        with emulator.lock:
            return copy.deepcopy(emulator.data.messages[issue_id])

    def pylon_list(self, kind: str) -> dict[str, dict]:
        """accounts or users, as their list endpoints serve them now."""
        emulator = self.pylon.emulator
        with emulator.lock:
            return {r["id"]: copy.deepcopy(r) for r in getattr(emulator.data, kind)}

    def planhat_companies(self) -> dict[str, dict]:
        emulator = self.planhat.emulator
        with emulator.lock:
            return {c["_id"]: copy.deepcopy(c) for c in emulator.data.models["companies"]}

    def planhat_children(self, company_id: str) -> dict[str, list[dict]]:
        emulator = self.planhat.emulator
        with emulator.lock:
            return {
                model: [
                    copy.deepcopy(r)
                    for r in emulator.data.models[model]
                    if r.get(PLANHAT_COMPANY_KEY.get(model, "companyId")) == company_id
                ]
                for model in PLANHAT_RELATED
            }

    def planhat_newest(self, company_id: str, skip: frozenset[str] = frozenset()) -> str | None:
        """The newest updatedAt of a company and its related records (but those of `skip`): its document's
        own time, and what start_date is compared with."""
        company = self.planhat_companies()[company_id]
        stamps = [company.get("updatedAt")]
        for model, records in self.planhat_children(company_id).items():
            if model not in skip:
                stamps += [r.get("updatedAt") for r in records]
        dated = [(parse_iso(s), s) for s in stamps if s]
        return max(dated)[1] if dated else None
