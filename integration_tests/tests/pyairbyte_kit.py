"""What tests/test_pyairbyte.py needs to drive the connectors with PyAirbyte and to judge the result.

- `load_pyairbyte(directory)`: PyAirbyte imported offline (no registry, no telemetry), its logs and
  caches under `directory`. PyAirbyte reads these settings once, at import time.
- A recorder in front of a destination (`python pyairbyte_kit.py record DIR COMMAND...`, made by
  `recording_executable`): every `write` keeps the catalog PyAirbyte passed and every line it sent, so
  the tests can say what PyAirbyte sends; a `kill-after` file in DIR kills that write after N records.
- `killing_source`: a source command SIGKILLed after N records (`python pyairbyte_kit.py kill-after-records`).
- `Stack`: the source emulators and their configs (as in test_flows_e2e), new destinations on demand
  (`Target`: a Dust emulator or a database, with its snapshot: document ids, or ids per dashboard table),
  and the reference a destination must equal (`Stack.reference`).

Run as a script (the recorder) it imports the standard library only: PyAirbyte launches it for
every spec/check/write, so it must start fast.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

KILL_AFTER = "kill-after"  # a file in the recording directory: kill the next write after that many records
HERE = Path(__file__).resolve()


def record(directory: str, command: list[str]) -> int:
    """Run `command`; if it is a `write`, keep its catalog and stdin in `directory`."""
    if "write" not in command or "--catalog" not in command:
        os.execv(command[0], command)
    folder = Path(directory)
    stem = folder / f"{time.time_ns()}"
    catalog = Path(command[command.index("--catalog") + 1])
    stem.with_suffix(".catalog.json").write_bytes(catalog.read_bytes())
    kill_file = folder / KILL_AFTER
    kill_after = int(kill_file.read_text()) if kill_file.exists() else None
    kill_file.unlink(missing_ok=True)
    child = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert child.stdin is not None
    records = 0
    with stem.with_suffix(".messages.jsonl").open("wb") as kept:
        for line in sys.stdin.buffer:
            kept.write(line)
            try:
                child.stdin.write(line)
            except BrokenPipeError:
                break
            records += is_record(line)
            if kill_after is not None and records >= kill_after:
                child.stdin.flush()
                time.sleep(0.5)  # let it work on what it got, as a container killed mid-batch would
                child.send_signal(signal.SIGKILL)
                child.wait()
                return 137
    try:
        child.stdin.close()
    except BrokenPipeError:
        pass
    return child.wait()


def is_record(line: bytes) -> bool:
    try:
        return json.loads(line).get("type") == "RECORD"
    except ValueError:
        return False


def recording_executable(folder: Path, real: str) -> Path:
    """An executable PyAirbyte can take as `local_executable`: the recorder in front of `real`."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "destination"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE}" record "{folder}" "{real}" "$@"\n')
    script.chmod(0o755)
    return script


@dataclass
class Write:
    """One `write` as the destination received it."""

    catalog: dict
    messages: list[dict]

    def streams(self) -> dict[str, dict]:
        return {s["stream"]["name"]: s for s in self.catalog["streams"]}

    def records(self, stream: str) -> list[dict]:
        return [m["record"]["data"] for m in self.messages if m["type"] == "RECORD" and m["record"]["stream"] == stream]

    def statuses(self) -> list[tuple[str, str]]:
        return [
            (m["trace"]["stream_status"]["stream_descriptor"]["name"], m["trace"]["stream_status"]["status"])
            for m in self.messages
            if m["type"] == "TRACE" and m["trace"]["type"] == "STREAM_STATUS"
        ]

    def kinds(self) -> list[str]:
        """The message types in order, each run of records folded to one RECORD."""
        kinds: list[str] = []
        for message in self.messages:
            kind = message["type"]
            if kind == "TRACE":
                kind = f"TRACE {message['trace']['type']}"
            if kind != "RECORD" or not kinds or kinds[-1] != "RECORD":
                kinds.append(kind)
        return kinds


def writes(folder: Path) -> list[Write]:
    """Every write recorded in `folder`, oldest first."""
    found = []
    for catalog in sorted(folder.glob("*.catalog.json")):
        lines = catalog.with_name(catalog.name.replace(".catalog.json", ".messages.jsonl")).read_text().splitlines()
        found.append(Write(json.loads(catalog.read_text()), [json.loads(line) for line in lines if line.strip()]))
    return found


def kill_next_write(folder: Path, after_records: int) -> None:
    """The next write through the recorder in `folder` is SIGKILLed once it received that many records."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / KILL_AFTER).write_text(str(after_records))


def kill_after_records(records: int, command: list[str]) -> int:
    """Run a source; SIGKILL it once it printed `records` RECORD lines, as a container killed mid-sync."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert child.stdout is not None
    seen = 0
    for line in child.stdout:
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
        seen += is_record(line)
        if seen >= records:
            child.send_signal(signal.SIGKILL)
            break
    child.wait()
    return 137


def killing_source(records: int, real: list[str]) -> tuple[str, ...]:
    """The command of a source that is killed after `records` records (for flows.pipeline.Connector)."""
    return (sys.executable, str(HERE), "kill-after-records", str(records), *real)


def recording_destination(folder: Path, real: list[str]) -> tuple[str, ...]:
    """The command of a destination whose writes are recorded in `folder` (for flows.pipeline.Connector)."""
    folder.mkdir(parents=True, exist_ok=True)
    return (sys.executable, str(HERE), "record", str(folder), *real)


if __name__ == "__main__" and sys.argv[1:2] == ["record"]:
    sys.exit(record(sys.argv[2], sys.argv[3:]))
if __name__ == "__main__" and sys.argv[1:2] == ["kill-after-records"]:
    sys.exit(kill_after_records(int(sys.argv[2]), sys.argv[3:]))


# -- everything below is for the tests, not the recorder -----------------------------------------

import psycopg  # noqa: E402

from emulators.dust import EMULATOR as DustEmulator  # noqa: E402
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID  # noqa: E402
from emulators.planhat import EMULATOR as PlanhatEmulator  # noqa: E402
from emulators.pylon import EMULATOR as PylonEmulator  # noqa: E402
from emulators.pylon.api import TOKEN as PYLON_TOKEN  # noqa: E402
from flows.connections import Flow  # noqa: E402
from flows.runs import StateStore, run_flow  # noqa: E402
from testkit.postgres import isolated_database  # noqa: E402

TIME_SCALE = 60  # every emulator's per-minute limits on a clock 60 times faster, as in test_flows_e2e
DASHBOARD_TABLES = ("issues", "messages", "accounts", "users")
OFFLINE = {
    "AIRBYTE_OFFLINE_MODE": "1",  # no registry lookups, no telemetry
    "DO_NOT_TRACK": "1",
    "NO_LIVE_PROGRESS": "1",  # plain progress lines instead of a live terminal view
}


def load_pyairbyte(directory: Path):
    """PyAirbyte, imported offline with its files under `directory` (it reads its settings once, on import)."""
    if "airbyte" not in sys.modules:
        os.environ.update(OFFLINE)
        for variable, sub in (
            ("AIRBYTE_PROJECT_DIR", "project"),
            ("AIRBYTE_CACHE_ROOT", "cache"),
            ("AIRBYTE_LOGGING_ROOT", "logs"),
            ("AIRBYTE_TEMP_DIR", "tmp"),
        ):
            (directory / sub).mkdir(parents=True, exist_ok=True)
            os.environ[variable] = str(directory / sub)
    import airbyte
    import airbyte.constants
    import airbyte.exceptions

    assert airbyte.constants.AIRBYTE_OFFLINE_MODE, "airbyte was imported before offline mode was set"
    return airbyte


def console_script(name: str) -> str:
    """A connector's console script, installed next to this Python (the monorepo's .venv/bin)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: install the connector (python3 dev.py setup)")
    return str(path)


class Stack:
    """The source emulators of one test, and destinations (Dust emulators, databases) made on demand."""

    def __init__(self, serve_emulator, pg_server_url: str, exits: ExitStack, tmp: Path, issues: int = 12) -> None:
        self.serve_emulator = serve_emulator
        self.pg_server_url = pg_server_url
        self.exits = exits
        self.tmp = tmp
        self.pylon = serve_emulator(PylonEmulator(seed=5, size=issues, messages_per_issue=3), time_scale=TIME_SCALE)
        # Planhat's 200 calls a minute on the same faster clock; the connector paces itself to 100 a second
        self.planhat = serve_emulator(PlanhatEmulator(seed=5, size=6), time_scale=TIME_SCALE)
        self.configs = {
            "source-pylon": {
                "api_token": PYLON_TOKEN,
                "base_url": self.pylon.url,
                # the emulator's history starts here: no empty 30-day windows since 2020
                "start_date": self.pylon.emulator.landmarks()["epoch"],
                "rate_limit_window_seconds": 60 / TIME_SCALE,
            },
            "source-planhat": {
                "api_token": PlanhatEmulator.TOKEN,
                "region": "custom",
                "base_url": self.planhat.url,
                "requests_per_minute": 6000,
            },
        }
        self._made = 0

    def target(self, flow: Flow) -> Target:
        """A new, empty destination for `flow`."""
        self._made += 1
        if flow.destination == "destination-dust":
            return Target(flow, dust=self.serve_emulator(DustEmulator(), time_scale=TIME_SCALE))
        return Target(flow, database_url=self.exits.enter_context(isolated_database(self.pg_server_url)))

    def reference(self, flow: Flow) -> dict[str, list[str]]:
        """What the destination must hold now. Dust: one document per issue or company the source has.
        Postgres: what one sync of the project's own runner lands in a new database (placeholder
        accounts and users included)."""
        if flow.source == "source-pylon" and flow.destination == "destination-dust":
            return {"documents": sorted(f"pylon-issue-{i['id']}" for i in self.pylon.emulator.data.issues)}
        if flow.source == "source-planhat":
            companies = self.planhat.emulator.data.models["companies"]
            return {"documents": sorted(f"planhat-company-{c['_id']}" for c in companies)}
        return self.clean_run(flow)

    def clean_run(self, flow: Flow) -> dict[str, list[str]]:
        """What one sync of the project's own runner lands in a new destination."""
        target = self.target(flow)
        run_flow(
            flow, self.configs[flow.source], target.config, StateStore(self.tmp / f"clean-{self._made}", flow.name)
        )
        return target.snapshot()

    def forget_issue(self, issue_id: str) -> None:
        """What a deleted issue looks like to the API: no list, search or lookup returns it any more."""
        emulator = self.pylon.emulator
        with emulator.lock:
            emulator.data.issues = [i for i in emulator.data.issues if i["id"] != issue_id]
            emulator._issues_by_id.pop(issue_id)

    def forget_company(self, company_id: str) -> None:
        """What a deleted company looks like to the API."""
        emulator = self.planhat.emulator
        with emulator.lock:
            models = emulator.data.models
            models["companies"] = [c for c in models["companies"] if c["_id"] != company_id]


class Target:
    """One destination: a Dust emulator's data source, or a database."""

    def __init__(self, flow: Flow, dust=None, database_url: str | None = None) -> None:
        self.flow = flow
        self.dust = dust
        self.database_url = database_url
        self.config = dust_config(dust.url) if dust else {"database_url": database_url}

    def snapshot(self) -> dict[str, list[str]]:
        if self.dust:
            return {"documents": sorted(self.dust.emulator.documents())}
        return row_ids(self.database_url)

    def upserts(self) -> int:
        return self.dust.log.count(family="upserts") if self.dust else 0

    def deletes(self) -> int:
        return self.dust.log.count(family="documents", method="DELETE") if self.dust else 0


def dust_config(url: str) -> dict:
    return {
        "api_key": API_KEY,
        "workspace_id": WORKSPACE_ID,
        "space_id": SPACE_ID,
        "data_source_id": DATA_SOURCE_ID,
        "base_url": url,
        # Dust's 120 upserts a minute on the faster clock: 120 a second
        "upserts_per_minute": 6000,
    }


def row_ids(database_url: str) -> dict[str, list[str]]:
    """The ids in each dashboard table; the counts are their lengths."""
    with psycopg.connect(database_url) as conn:
        return {
            table: [str(row[0]) for row in conn.execute(f'SELECT id FROM "{table}" ORDER BY id')]  # noqa: S608
            for table in DASHBOARD_TABLES
        }


def lost(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, list[str]]:
    """What `after` no longer has of `before`, per table."""
    gone = {name: sorted(set(ids) - set(after.get(name, []))) for name, ids in before.items()}
    return {name: ids for name, ids in gone.items() if ids}
