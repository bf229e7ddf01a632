"""Random histories of records with free-form keys written to a Dust table, each sync checked against a model.

Issue 12's defect 3 lives here: a stream whose schema does not declare its fields (`{"type": "object"}`
plus a key or two), records spelling one name several ways (`Created At`, `created_at`, `createdAt`, `a-b`,
`a_b`), and columns that must be a pure function of the key: the same in every row, every sync and every
destination process, and never shared by two keys. None of the three flows writes a table, so the source
here is the scripted one (tests/fake_connectors/source.py) and the destination the real
`destination-dust/main.py` against the Dust emulator, run by the shell runner's `run_sync`.

Every value names its key, record and version (`"created_at|m3|7"`), so a row read back from Dust says by
itself which key each column holds. After every sync: the rows equal the model (incremental append_dedup:
the last version of every record sent so far; a truncate refresh: what the source holds now), each key sits in
one column across the whole history, no column holds two keys; a quiet rerun changes nothing. A sync killed
mid-way may leave any mix of old and new versions, but never a key in a second column.

Budget: shares test_model_histories.py's profiles (MODEL_HISTORIES_PROFILE=soak and its sizes):

    MODEL_HISTORIES_PROFILE=soak python -m pytest -q -s tests/test_table_histories.py
"""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition

from emulators.dust import EMULATOR as DustEmulator
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID
from emulators.server import EmulatorServer
from flows.connections import connector
from flows.pipeline import Connector, SyncFailed, run_sync

from .histories_kit import count_history, play, step

pytestmark = pytest.mark.slow

FAKES = Path(__file__).parent / "fake_connectors"
SOURCE = Connector("fake-source", (sys.executable, str(FAKES / "source.py")))
STREAM = "metrics"
GENERATION_COLUMN = "_airbyte_generation_id"
# Declared in the catalog: the key and one field whose spelling an undeclared key slugs to as well.
DECLARED = {"id": {"type": "string"}, "plan": {"type": "string"}}
# Spellings that slug alike, a key already canonical, one with "__" in it, one that slugs to nothing.
SPELLINGS = [
    "Created At",
    "created_at",
    "createdAt",
    "CreatedAt",
    "a-b",
    "a_b",
    "A B",
    "plan",
    "Plan",
    "total__eur",
    "total_eur",
    "!!",
]
record_ids = st.integers(min_value=0, max_value=7)
keys = st.lists(st.sampled_from(SPELLINGS), min_size=1, max_size=4, unique=True)  # one record's fields
lines = st.integers(min_value=1, max_value=14)  # where the killed destination dies: after that many lines


def status(state: str) -> dict:
    return {
        "type": "TRACE",
        "trace": {
            "type": "STREAM_STATUS",
            "emitted_at": 0,
            "stream_status": {"stream_descriptor": {"name": STREAM}, "status": state},
        },
    }


class TableHistory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._stack = ExitStack()
        self.dust = EmulatorServer(DustEmulator()).start()
        self._stack.callback(self.dust.stop)
        self.config = {
            "api_key": API_KEY,
            "workspace_id": WORKSPACE_ID,
            "space_id": SPACE_ID,
            "data_source_id": DATA_SOURCE_ID,
            "base_url": self.dust.url,
            "streams": [{"name": STREAM, "target": "table"}],
        }
        self.truth: dict[str, dict] = {}  # record id -> what the source holds now
        self.pending: set[str] = set()  # changed since the last successful sync: the next incremental sends them
        self.expected: dict[str, dict] = {}  # row id -> the record the table must hold
        self.column_of: dict[str, str] = {}  # key -> its column, as first seen in this history
        self.key_of: dict[str, str] = {}  # column -> its key
        self.generation = 1
        self.version = 0
        self.syncs = 0
        self.steps = 0
        self.in_step = False  # see histories_kit.step
        self.recent_steps: list[str] = []

    def teardown(self) -> None:
        try:
            if sys.exc_info()[0] is None:
                self.sync()
        finally:
            self._stack.close()
            count_history("dust table", self.steps, self.syncs)

    # -- API changes -----------------------------------------------------------------------

    @initialize(rid=record_ids, fields=keys)
    def first(self, rid: int, fields: list[str]) -> None:
        self.write(rid, fields)

    @step(changes=st.lists(st.tuples(record_ids, keys), min_size=1, max_size=4))
    def put(self, changes: list[tuple[int, list[str]]]) -> None:
        """Records created or rewritten with another set of keys (the old ones are gone from them)."""
        for rid, fields in changes:
            self.write(rid, fields)

    def write(self, rid: int, fields: list[str]) -> None:
        self.version += 1
        row_id = f"m{rid}"
        self.truth[row_id] = {"id": row_id, **{key: f"{key}|{row_id}|{self.version}" for key in fields}}
        self.pending.add(row_id)

    @precondition(lambda self: self.truth)
    @step(pick=st.integers(min_value=0, max_value=100))
    def delete(self, pick: int) -> None:
        """Gone at the source: an incremental sync cannot know; a refresh must remove its row."""
        row_id = sorted(self.truth)[pick % len(self.truth)]
        del self.truth[row_id]
        self.pending.discard(row_id)

    # -- syncs -----------------------------------------------------------------------------

    @step()
    def sync(self) -> None:
        self.attempt(refresh=False)
        self.succeeded(refresh=False)

    @step()
    def refresh(self) -> None:
        """A truncate refresh: a new generation whose minimum is itself, every record sent again."""
        self.generation += 1
        self.attempt(refresh=True)
        self.succeeded(refresh=True)

    @step(after=lines, refresh=st.booleans())
    def killed_then_rerun(self, after: int, refresh: bool) -> None:
        """The destination SIGKILLed after `after` lines, then the sync run again as the platform retries it
        (a killed refresh under the same generation: it must not prune what the first attempt wrote)."""
        if refresh:
            self.generation += 1  # both attempts run under it
        killed = Connector(
            "destination-dust",
            (sys.executable, str(FAKES / "killer.py"), "stdin", str(after), *connector("destination-dust").command),
        )
        try:
            self.attempt(refresh=refresh, destination=killed)
        except SyncFailed:
            self.check_columns(self.rows())  # whatever it wrote: no key in a second column
            self.attempt(refresh=refresh)
        self.succeeded(refresh)

    # -- what a sync does and what it must leave ---------------------------------------------

    def attempt(self, refresh: bool, destination: Connector | None = None) -> None:
        sent = sorted(self.truth) if refresh else sorted(self.pending)
        script: list = [status("STARTED")]
        for n, row_id in enumerate(sent, 1):
            script.append({"type": "RECORD", "record": {"stream": STREAM, "data": self.truth[row_id], "emitted_at": 0}})
            if n % 3 == 0 or n == len(sent):
                script.append(self.state(n))
        script.append(status("COMPLETE"))
        os.environ["FAKE_SOURCE_SCRIPT"] = json.dumps(script)
        self.syncs += 1
        run_sync(
            SOURCE,
            destination or connector("destination-dust"),
            {},
            self.config,
            self.catalog(refresh),
            log=io.StringIO(),  # the connectors' log lines: a failing check says what it needs
        )

    def succeeded(self, refresh: bool) -> None:
        if refresh:
            self.expected = {row_id: dict(record) for row_id, record in self.truth.items()}
        else:
            self.expected.update({row_id: dict(self.truth[row_id]) for row_id in self.pending})
        self.pending.clear()
        before = self.check(self.rows())
        self.attempt(refresh=False)  # quiet: nothing pending
        after = self.rows()
        assert after == before, f"a quiet rerun changed the table: {sorted(set(after.items()) ^ set(before.items()))}"

    def state(self, n: int) -> dict:
        body = {"stream_descriptor": {"name": STREAM}, "stream_state": {"sent": n, "version": self.version}}
        return {"type": "STATE", "state": {"type": "STREAM", "stream": body}}

    def catalog(self, refresh: bool) -> dict:
        stream = {
            "name": STREAM,
            "json_schema": {"type": "object", "properties": DECLARED},
            "supported_sync_modes": ["full_refresh", "incremental"],
            "source_defined_primary_key": [["id"]],
        }
        configured = {
            "stream": stream,
            "sync_mode": "incremental",
            "destination_sync_mode": "append_dedup",
            "primary_key": [["id"]],
            "cursor_field": [],
            "generation_id": self.generation,
            "minimum_generation_id": self.generation if refresh else 0,
            "sync_id": self.syncs,
        }
        return {"streams": [configured]}

    def rows(self) -> dict[str, str]:
        """The table as Dust holds it, each row as sorted JSON (comparable, hashable)."""
        with self.dust.emulator.lock:
            tables = self.dust.emulator.source().rows
            assert set(tables) <= {"airbyte_metrics"}, sorted(tables)
            stored = tables.get("airbyte_metrics", {})
            return {row_id: json.dumps(value, sort_keys=True) for row_id, value in stored.items()}

    def check_columns(self, rows: dict[str, str]) -> dict[str, dict]:
        """Each row read back as key -> value; fails if a key moved column or two keys share one."""
        records = {}
        for row_id, text in sorted(rows.items()):
            value = json.loads(text)
            generation = value.pop(GENERATION_COLUMN, None)
            assert isinstance(generation, int), f"row {row_id}: no generation ({generation!r})"
            record = {}
            for column, cell in value.items():
                key = "id" if cell == row_id else str(cell).split("|", 1)[0]
                assert self.column_of.setdefault(key, column) == column, (
                    f"key {key!r} is in column {column!r} in row {row_id}, in {self.column_of[key]!r} before"
                )
                assert self.key_of.setdefault(column, key) == key, (
                    f"column {column!r} holds key {key!r} in row {row_id}, key {self.key_of[column]!r} before"
                )
                record[key] = cell
            records[row_id] = record
        return records

    def check(self, rows: dict[str, str]) -> dict[str, str]:
        records = self.check_columns(rows)
        assert sorted(records) == sorted(self.expected), (
            f"rows {sorted(records)}, the model says {sorted(self.expected)}"
        )
        for row_id, record in records.items():
            assert record == self.expected[row_id], f"row {row_id}: {record}, the model says {self.expected[row_id]}"
        return rows


def test_table_history():
    saved = os.environ.get("FAKE_SOURCE_SCRIPT")
    try:
        play("dust table", TableHistory)
    finally:
        if saved is None:
            os.environ.pop("FAKE_SOURCE_SCRIPT", None)
        else:
            os.environ["FAKE_SOURCE_SCRIPT"] = saved
