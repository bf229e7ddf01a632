"""The connectors under PyAirbyte, Airbyte's Python orchestrator, as a user would run them.

PyAirbyte runs our console scripts (`local_executable`), offline. Each flow is fed two ways, each into its
own destination: "cache" reads into a DuckDB cache and writes from it; "source" writes straight from the
source (no cache; the destination's echoed states kept in a DuckDB state cache). After every step the
destination must hold what one clean sync of the project's own runner lands in an empty one (Postgres: the
ids in each dashboard table; Dust: the document ids), and a step with nothing new must not delete or upsert.

PyAirbyte 0.71.3 sends generation_id = minimum_generation_id = sync_id = 1 on every write and has no way to
set them; a truncate refresh (generation_id bumped, minimum_generation_id = it) is played with the raw
`main.py read | main.py write` and PyAirbyte's own catalog with the generations edited, as Airbyte would.
"""

from __future__ import annotations

import copy
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest

from flows.connections import FLOWS, connector
from flows.pipeline import Connector, SyncFailed, run_sync

from .pyairbyte_kit import (
    Stack,
    Write,
    console_script,
    kill_next_write,
    killing_source,
    load_pyairbyte,
    lost,
    recording_destination,
    recording_executable,
    writes,
)

pytestmark = [
    pytest.mark.slow,
    # google-cloud libraries that PyAirbyte imports announce their Python support policy
    pytest.mark.filterwarnings("ignore:You are using a Python version:FutureWarning"),
]

FLOW_NAMES = ["planhat-to-dust", "pylon-to-dust", "pylon-to-postgres"]


@pytest.fixture(scope="module")
def ab(tmp_path_factory):
    return load_pyairbyte(tmp_path_factory.mktemp("pyairbyte"))


@pytest.fixture
def stack(serve_emulator, pg_server_url, tmp_path):
    with ExitStack() as exits:
        yield Stack(serve_emulator, pg_server_url, exits, tmp_path)


class Lineage:
    """One destination that PyAirbyte always feeds the same way: from its cache, or from the source."""

    def __init__(self, ab, stack: Stack, flow_name: str, way: str, folder: Path) -> None:
        self.stack, self.flow, self.way = stack, FLOWS[flow_name], way
        self.target = stack.target(self.flow)
        self.recorded = folder / f"{way}-writes"
        self.source = ab.get_source(
            self.flow.source,
            config=stack.configs[self.flow.source],
            streams=list(self.flow.streams),
            local_executable=console_script(self.flow.source),
        )
        self.destination = ab.get_destination(
            self.flow.destination,
            config=self.target.config,
            local_executable=str(recording_executable(self.recorded, console_script(self.flow.destination))),
        )
        # "cache": the records and the source's state; "source": only the destination's echoed states
        self.cache = ab.DuckDBCache(db_path=folder / f"{way}.duckdb")

    def sync(self, refresh: bool = False) -> Write:
        """One PyAirbyte sync; `refresh`: PyAirbyte's own full refresh (write strategy replace, no state)."""
        strategy = "replace" if refresh else "auto"
        if self.way == "cache":
            result = self.source.read(cache=self.cache, write_strategy=strategy, force_full_refresh=refresh)
            self.destination.write(result, write_strategy=strategy)
        else:
            self.destination.write(
                self.source, cache=False, state_cache=self.cache, write_strategy=strategy, force_full_refresh=refresh
            )
        return self.last_write()

    def last_write(self) -> Write:
        return writes(self.recorded)[-1]

    def truncate_refresh(self, generation: int, kill_source_after: int | None = None) -> Write:
        """Airbyte's "refresh with truncate": PyAirbyte's last catalog with generation_id = minimum = sync_id =
        `generation`, read from scratch (no state), through the raw `main.py` processes; the source killed
        after `kill_source_after` records if set."""
        catalog = copy.deepcopy(self.last_write().catalog)
        for stream in catalog["streams"]:
            stream.update(generation_id=generation, minimum_generation_id=generation, sync_id=generation)
        source = connector(self.flow.source)
        if kill_source_after is not None:
            source = Connector(source.name, killing_source(kill_source_after, list(source.command)))
        destination = connector(self.flow.destination)
        destination = Connector(destination.name, recording_destination(self.recorded, list(destination.command)))
        run_sync(source, destination, self.stack.configs[self.flow.source], self.target.config, catalog)
        return self.last_write()


def lineages_of(ab, stack: Stack, flow_name: str, folder: Path, ways=("cache", "source")) -> list[Lineage]:
    return [Lineage(ab, stack, flow_name, way, folder) for way in ways]


def change_the_source(stack: Stack, flow_name: str) -> None:
    """Three documents' worth of change: a record edited, a child added to another, a new parent."""
    if FLOWS[flow_name].source == "source-pylon":
        pylon = stack.pylon.emulator
        issues = pylon.data.issues
        pylon.update_issue(issues[1]["id"], title="Renamed by the customer")
        pylon.add_message(issues[2]["id"], text="Any news on this one?", author="contact")
        pylon.add_issue(title="A brand new issue")
    else:
        planhat = stack.planhat.emulator
        companies = planhat.data.models["companies"]
        planhat.update("companies", companies[1]["_id"], name="Renamed Company Ltd")
        planhat.add("conversations", companies[2]["_id"], subject="Renewal call notes")
        planhat.add("companies")


def delete_a_parent(stack: Stack, flow_name: str) -> None:
    """An issue or a company deleted at the source: only a truncate refresh can learn of it."""
    if FLOWS[flow_name].source == "source-pylon":
        stack.forget_issue(stack.pylon.emulator.data.issues[3]["id"])
    else:
        stack.forget_company(stack.planhat.emulator.data.models["companies"][3]["_id"])


def check(lineages: list[Lineage], reference: dict, step: str) -> None:
    for lineage in lineages:
        found = lineage.target.snapshot()
        gone = {table: f"{len(ids)} of {len(reference[table])}" for table, ids in lost(reference, found).items()}
        assert not gone, f"{step}, from the {lineage.way}: deleted what the source still has: {gone}"
        extra = {table: f"{len(ids)}" for table, ids in lost(found, reference).items()}
        assert found == reference, f"{step}, from the {lineage.way}: holds what a clean run does not: {extra}"


def generations(write: Write) -> set[tuple]:
    return {
        (s["destination_sync_mode"], s.get("generation_id"), s.get("minimum_generation_id"), s.get("sync_id"))
        for s in write.streams().values()
    }


def test_what_pyairbyte_sends_a_destination(ab, stack, tmp_path):
    """The facts the destinations are built on: generation 1 = minimum 1 on every write, upserts for streams
    with a primary key; from a cache, every cached record of a stream (lower-cased top-level keys plus
    PyAirbyte's own columns), then the cache's last state and COMPLETE; from the source, the source's own
    messages (STARTED, RUNNING, records, state, COMPLETE)."""
    cache_way, source_way = lineages_of(ab, stack, "pylon-to-postgres", tmp_path)
    from_cache, from_source = cache_way.sync(), source_way.sync()
    streams = ["issues", "issue_messages", "accounts", "users"]

    for sent in (from_cache, from_source):
        assert sorted(sent.streams()) == sorted(streams)
        assert generations(sent) == {("append_dedup", 1, 1, 1)}
        assert {s["sync_mode"] for s in sent.streams().values()} == {"incremental"}

    assert from_cache.kinds() == ["RECORD", "STATE", "TRACE STREAM_STATUS"] * len(streams)
    assert sorted(from_cache.statuses()) == sorted((s, "COMPLETE") for s in streams)
    issue = from_cache.records("issues")[0]
    assert {"_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta"} <= set(issue)
    assert all(key == key.lower() for key in issue)

    for stream in streams:
        assert [status for name, status in from_source.statuses() if name == stream] == [
            "STARTED",
            "RUNNING",
            "COMPLETE",
        ]
    assert not any(key.startswith("_airbyte") for key in from_source.records("issues")[0])
    assert len(from_cache.records("issue_messages")) == len(from_source.records("issue_messages"))

    assert dashboard_rows(cache_way.target) == dashboard_rows(source_way.target), "same rows from the cache"

    planhat = lineages_of(ab, stack, "planhat-to-dust", tmp_path / "planhat", ways=("cache",))[0]
    company = planhat.sync().records("company_documents")[0]
    assert "updatedat" in company and "updatedAt" not in company, "PyAirbyte's cache lower-cases top-level keys"


# PyAirbyte's thread feeding the destination's stdin dies of a BrokenPipeError when we kill the destination.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("flow_name", FLOW_NAMES)
def test_a_pyairbyte_history_ends_like_a_clean_run_at_every_step(ab, stack, tmp_path, flow_name):
    """From its cache and straight from the source, each step must leave what a clean run lands:
    1. a first sync;
    2. a second with nothing new: nothing deleted, no Dust upsert;
    3. a third after three changes, exactly those documents upserted; the write from the source is killed
       half-way first and retried (under PyAirbyte a retry is always the same generation, 1);
    4. PyAirbyte's own full refresh (overwrite, still generation 1 = minimum 1): nothing deleted;
    5. a parent deleted at the source, then a truncate refresh under generation 2 (raw main.py, into the
       destination fed from the source) that fails (its source killed a third of the way): it deletes
       nothing of a stream that did not complete and nothing the source still has; retried under the same
       generation, it removes exactly the deleted parent;
    6. PyAirbyte again (generation 1, below what the refresh wrote): nothing deleted.
    Steps 5 and 6 are not played from the cache: a cache is not told of deletions at the source and
    re-sends every record it holds, so it would bring the deleted parent back."""
    flow = FLOWS[flow_name]
    lineages = lineages_of(ab, stack, flow_name, tmp_path)
    _, direct = lineages

    reference = stack.reference(flow)
    for lineage in lineages:
        lineage.sync()
    check(lineages, reference, "first sync")

    upserts = [lineage.target.upserts() for lineage in lineages]
    for lineage in lineages:
        lineage.sync()
    check(lineages, reference, "second sync, nothing new")
    for lineage, before in zip(lineages, upserts, strict=True):
        assert lineage.target.deletes() == 0, f"from the {lineage.way}: an unchanged sync deleted documents"
        assert lineage.target.upserts() == before, f"from the {lineage.way}: an unchanged sync upserted"

    unchanged_records = records_in(direct.last_write(), flow)
    change_the_source(stack, flow_name)
    reference = stack.reference(flow)
    upserts = [lineage.target.upserts() for lineage in lineages]
    kill_next_write(direct.recorded, after_records=max(1, unchanged_records // 2))
    with pytest.raises(ab.exceptions.AirbyteConnectorError):
        direct.sync()
    assert records_in(direct.last_write(), flow) == max(1, unchanged_records // 2), "the write was not killed"
    for lineage in lineages:
        lineage.sync()
    check(lineages, reference, "third sync, after three changes (from the source: a killed write, retried)")
    if lineages[0].target.dust:
        for lineage, before in zip(lineages, upserts, strict=True):
            assert lineage.target.upserts() - before == 3, f"from the {lineage.way}: three documents changed"

    for lineage in lineages:
        assert generations(lineage.sync(refresh=True)) == {("overwrite", 1, 1, 1)}
    check(lineages, reference, "PyAirbyte's full refresh (replace)")

    delete_a_parent(stack, flow_name)
    deleted = lost(reference, reference := stack.reference(flow))
    assert deleted, "the deleted parent must be gone from a clean run"
    before = direct.target.snapshot()
    with pytest.raises(SyncFailed):
        direct.truncate_refresh(generation=2, kill_source_after=max(1, records_in_snapshot(reference) // 3))
    completed = {name for name, status in direct.last_write().statuses() if status == "COMPLETE"}
    assert completed != set(flow.streams), "the source was killed too late to test a failed refresh"
    gone = lost(before, direct.target.snapshot())
    if not completed:
        assert not gone, f"a refresh that failed before any stream completed deleted {gone}"
    for table, ids in gone.items():
        assert set(ids) <= set(deleted.get(table, [])), f"a failed refresh deleted current {table}"
    direct.truncate_refresh(generation=2)
    check([direct], reference, "truncate refresh (generation 2) after a deletion at the source, retried")

    direct.sync()
    check([direct], reference, "PyAirbyte again after the refresh")


def test_a_document_written_from_the_cache_equals_the_one_written_from_the_source(ab, stack, tmp_path):
    """A user who writes from PyAirbyte's cache must get the documents a write from the source gives.
    Planhat's documents show every way they differ today (Pylon's too, but for the camelCase field)."""
    lineages = lineages_of(ab, stack, "planhat-to-dust", tmp_path)
    for lineage in lineages:
        lineage.sync()
    from_cache, from_source = (documents(lineage.target) for lineage in lineages)
    assert from_cache.keys() == from_source.keys()
    differ = {i: difference(from_cache[i], from_source[i]) for i in from_cache if from_cache[i] != from_source[i]}
    assert not differ, f"{len(differ)} documents differ, e.g. {next(iter(differ.values()))}"


def documents(target) -> dict[str, dict]:
    """Each Dust document as a reader sees it (the tags that only say what was written when left out)."""
    internal = ("content_hash:", "airbyte_generation:")
    return {
        i: {"title": d.title, "text": d.text, "tags": sorted(t for t in d.tags if not t.startswith(internal))}
        for i, d in target.dust.emulator.documents().items()
    }


def difference(from_cache: dict, from_source: dict) -> dict:
    """The text lines only one side has, and the differing fields."""
    found = {k: (from_cache[k], from_source[k]) for k in ("title", "tags") if from_cache[k] != from_source[k]}
    cache_lines, source_lines = from_cache["text"].splitlines(), from_source["text"].splitlines()
    found["only from the cache"] = [line for line in cache_lines if line not in source_lines]
    found["only from the source"] = [line for line in source_lines if line not in cache_lines]
    return found


def dashboard_rows(target) -> dict[str, list[tuple]]:
    """Every dashboard row but when and under which generation it was written."""
    skip = {"synced_at", "_airbyte_generation_id"}
    tables = {}
    with psycopg.connect(target.database_url) as conn:
        for table in ("issues", "messages", "accounts", "users"):
            cur = conn.execute(f'SELECT * FROM "{table}" ORDER BY id')  # noqa: S608 - fixed names
            keep = [i for i, c in enumerate(cur.description) if c.name not in skip]
            tables[table] = [tuple(row[i] for i in keep) for row in cur]
    return tables


def records_in(write: Write, flow) -> int:
    return sum(len(write.records(stream)) for stream in flow.streams)


def records_in_snapshot(snapshot: dict[str, list[str]]) -> int:
    return sum(len(ids) for ids in snapshot.values())
