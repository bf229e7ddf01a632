"""Orchestration: read Airbyte messages, buffer per stream, flush, echo STATE only after its records commit.

Messages are plain dicts (parsed JSON lines), not the CDK's dataclasses: an echoed STATE is the source's
own object plus `destinationStats`, so fields the CDK model does not know (Airbyte's state `id`) survive.
One `Buffers` object owns every stream's buffer: flushing one stream never touches another's records.
Batches are written by a `Flusher` on background connections while the next batch is parsed.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg

from .config import DestinationConfig
from .errors import SYSTEM_ERROR, DestinationError, from_database
from .flusher import Flusher, Job
from .generic import GenericStream
from .loader import INTERRUPTED, Batch, PostgresBackend
from .mapping import FLUSH_ORDER, BadValue, TableMapping, core_mappings

logger = logging.getLogger("airbyte")
MAX_LOGGED_LINE = 200
# A STATE does not force a flush of its own: sources checkpoint often (source-pylon every 500 records),
# and a commit per checkpoint would make batches tiny. It waits for its records' batch to fill, or at
# most this long, so the platform still sees progress.
STATE_MAX_WAIT_S = 5.0
MAX_LOGGED_PENDING = 50


@dataclass
class StreamPlan:
    """How one configured stream is written."""

    name: str
    namespace: str | None
    core: TableMapping | None
    generic: GenericStream | None
    generation_id: int | None  # stamped on every row this sync writes
    prune_below: int | None  # once the stream completed, delete its rows of a lower generation
    completed: bool = False  # the source said STREAM_STATUS COMPLETE: never inferred from the end of input

    @property
    def flush_rank(self) -> int:
        return FLUSH_ORDER.index(self.name) if self.core else len(FLUSH_ORDER)


def generations(configured: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(generation stamped on rows, generation below which rows are stale) for one configured stream.

    Stale means "of a generation lower than minimum_generation_id" and nothing else: Airbyte retries an
    attempt and resumes a refresh under the same generation, and PyAirbyte sends generation_id =
    minimum_generation_id = 1 on every write, so rows of the current generation from an earlier attempt or
    sync are current. minimum_generation_id 0 or null: nothing is stale (an `overwrite` from a platform that
    sends no generations included: without them, what is stale cannot be known).
    """
    generation, minimum = configured.get("generation_id"), configured.get("minimum_generation_id")
    generation = generation if isinstance(generation, int) and not isinstance(generation, bool) else None
    if generation is None or not isinstance(minimum, int) or isinstance(minimum, bool) or minimum <= 0:
        return generation, None
    if generation < minimum:  # pruning would delete what this very sync writes
        logger.warning(f"generation_id {generation} is below minimum_generation_id {minimum}: nothing will be deleted")
        return generation, None
    return generation, minimum


def plan_streams(catalog: Mapping[str, Any], config: DestinationConfig) -> dict[tuple[str | None, str], StreamPlan]:
    mappings = core_mappings(config.custom_field_slugs)
    plans = {}
    for configured in catalog.get("streams", []):
        stream = configured["stream"]
        name, namespace = stream["name"], stream.get("namespace")
        generation, prune_below = generations(configured)
        if prune_below is None and configured.get("destination_sync_mode") == "overwrite":
            logger.info(
                f"stream {name!r}: overwrite without generation ids (generation_id "
                f"{configured.get('generation_id')!r}, minimum_generation_id "
                f"{configured.get('minimum_generation_id')!r}): rows are upserted, none is deleted"
            )
        core = mappings.get(name)
        generic = None
        if core is None:
            primary_key = configured.get("primary_key") or stream.get("source_defined_primary_key")
            cursor = configured.get("cursor_field") or stream.get("default_cursor_field")
            generic = GenericStream.build(
                name,
                namespace,
                primary_key,
                cursor,
                dedup=configured.get("destination_sync_mode") == "append_dedup",
                generation_id=generation,
            )
        plans[(namespace, name)] = StreamPlan(name, namespace, core, generic, generation, prune_below)
    return plans


class Buffers:
    """Every stream's pending rows. Dashboard tables keep one row per id (the newest); others keep all."""

    def __init__(self) -> None:
        self.keyed: dict[tuple[str | None, str], dict[Any, tuple[Any, tuple]]] = {}
        self.listed: dict[tuple[str | None, str], list[tuple]] = {}

    def add_keyed(self, key: tuple[str | None, str], row_id: Any, cursor: Any, row: tuple) -> int:
        rows = self.keyed.setdefault(key, {})
        held = rows.get(row_id)
        # newer wins inside a batch too; equal or unknown versions: the later one
        if held is None or held[0] is None or cursor is None or cursor >= held[0]:
            rows[row_id] = (cursor, row)
        return len(rows)

    def add_listed(self, key: tuple[str | None, str], row: tuple) -> int:
        rows = self.listed.setdefault(key, [])
        rows.append(row)
        return len(rows)

    def take(self, key: tuple[str | None, str]) -> list[tuple]:
        if key in self.keyed:
            return [row for _, row in self.keyed.pop(key).values()]
        return self.listed.pop(key, [])

    def nonempty(self) -> list[tuple[str | None, str]]:
        return [k for k, v in self.keyed.items() if v] + [k for k, v in self.listed.items() if v]


class Idle:
    """Nothing arrived on stdin for a while: the writer still commits held STATEs and echoes committed ones."""


IDLE = Idle()


class BadRecord(ValueError):
    """A record of a configured stream that cannot become a row (no key, a value of the wrong type)."""


class Numbered:
    """Messages from (line number, message) pairs; `line` is the number of the last one handed out, so an
    error can say where in the input the record it cannot write is."""

    def __init__(self, pairs: Iterable[tuple[int, Any]]):
        self.pairs = pairs
        self.line: int | None = None

    def __iter__(self) -> Iterator[Any]:
        for self.line, message in self.pairs:  # noqa: B020 -- the attribute is the point
            yield message


@dataclass(frozen=True)
class BadLine:
    """An input line that is not an Airbyte message: the sync commits what came before it, then fails."""

    number: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.number} of the input is not an Airbyte message: {self.problem}"


def parse_line(number: int, line: str | bytes) -> dict[str, Any] | BadLine:
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        return BadLine(number, f"not JSON ({err}): {line[:MAX_LOGGED_LINE]!r}")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return BadLine(number, f"no message type: {line[:MAX_LOGGED_LINE]!r}")
    if message["type"] == "RECORD" and not isinstance((message.get("record") or {}).get("data"), dict):
        return BadLine(number, "a RECORD without a data object")
    if message["type"] == "STATE" and not isinstance(message.get("state"), dict):
        return BadLine(number, "a STATE without a state object")
    return message


@dataclass
class SyncStats:
    counts: dict[str, int] = field(default_factory=dict)
    watermark: dt.datetime | None = None
    errors: list[str] = field(default_factory=list)


class Writer:
    def __init__(self, config: DestinationConfig, catalog: Mapping[str, Any], backend: PostgresBackend):
        self.config = config
        self.backend = backend
        self.plans = plan_streams(catalog, config)
        self.buffers = Buffers()
        # The backend's own connection runs setup, sync_log and the end of the sync; batches load on lanes,
        # each a twin backend with a connection of its own (see `_open_lanes`).
        self.lanes: list[PostgresBackend] = []
        self.flusher: Flusher[PostgresBackend]
        self.stats_lock = threading.Lock()
        self.stats = SyncStats()  # counts and watermark: written by flush jobs, read once they are done
        self.since_state: dict[tuple[str | None, str], int] = {}
        self.held: list[dict[str, Any]] = []  # STATEs whose records are still buffered, oldest first
        self.held_since = 0.0
        self.sync_id: str | None = None

    # ─── entry point ────────────────────────────────────────────────────────

    def run(self, messages: Iterable[dict[str, Any] | BadLine | Idle]) -> Iterator[dict[str, Any]]:
        """Consume messages; yield the messages to write to stdout.

        A BadLine fails the sync, but only after everything before it is committed and its STATEs echoed:
        garbage on stdin must not cost the records already accepted.

        Messages are parsed JSON: objects are dicts (an isinstance check against the Mapping ABC, twice per
        record, was a measurable share of the per-record cost).
        """
        try:
            self.backend.prepare()
            # Until it completes, the row's watermark is the last completed one raised by what this sync writes.
            self.sync_id, self.stats.watermark = self.backend.start_sync_log()
            for plan in self.plans.values():
                if plan.generic is not None:
                    self.backend.create_generic(plan.generic)
            self.flusher = flusher = Flusher(self._open_lanes())
        except Exception as err:
            for lane in self.lanes:
                lane.close()
            raise self._as_error(err, "preparing the database") from err
        try:
            for message in messages:
                if message is IDLE:
                    pass
                elif isinstance(message, BadLine):
                    yield from self._commit_then_fail(str(message))
                else:
                    kind = message.get("type")
                    if kind == "RECORD":
                        try:
                            self._record(message.get("record"))
                        except BadRecord as err:
                            line = getattr(messages, "line", None)
                            yield from self._commit_then_fail(f"line {line} of the input: {err}" if line else str(err))
                    elif kind == "STATE":
                        self._state(message)
                    elif kind == "TRACE":
                        self._trace(message.get("trace") or {})
                if self.held and time.monotonic() - self.held_since >= STATE_MAX_WAIT_S:
                    self._flush_all()
                flusher.poll()
                if flusher.ready:
                    yield from flusher.take_ready()
                flusher.start()  # after the yield: a released STATE is out before the next batch writes
            self._flush_all()
            flusher.wait()
            yield from flusher.take_ready()
            self._finish()
        except BaseException as err:
            if isinstance(err, Exception):
                # STATEs whose batches committed before the failure (another lane may have failed): the
                # platform may checkpoint them.
                yield from flusher.take_ready()
            self._fail(err)
            if isinstance(err, Exception):
                raise self._as_error(err, "loading") from err
            raise
        finally:
            flusher.close()
            for lane in self.lanes:
                lane.close()

    def _commit_then_fail(self, problem: str) -> Iterator[dict[str, Any]]:
        """Commit and echo everything before a message that cannot be written, then fail naming it: a retry
        then starts after what was accepted instead of failing at the same place with nothing kept."""
        self._flush_all()
        self.flusher.wait()
        yield from self.flusher.take_ready()
        raise DestinationError(f"{problem.rstrip('.')}. Everything before it was committed.", SYSTEM_ERROR)

    def _open_lanes(self) -> list[PostgresBackend]:
        """One connection per loading lane. Lanes past the first are a speed-up: a server out of connections
        refuses them, and the sync goes on with the lanes it has."""
        for n in range(self.config.connections):
            try:
                self.lanes.append(self.backend.twin())
            except psycopg.OperationalError as err:
                if not self.lanes:
                    raise
                logger.warning(
                    f"loading on {n} connection(s) instead of {self.config.connections}: another connection was "
                    f"refused ({str(err).strip()[:MAX_LOGGED_LINE]})"
                )
                break
        return self.lanes

    # ─── messages ───────────────────────────────────────────────────────────

    def _plan_for(self, record: Mapping[str, Any]) -> tuple[tuple[str | None, str], StreamPlan]:
        name, namespace = record.get("stream"), record.get("namespace")
        key = (namespace, name)
        plan = self.plans.get(key)
        if plan is None:
            matches = [(k, p) for k, p in self.plans.items() if p.name == name]
            if len(matches) != 1:
                raise BadRecord(
                    f"a record for stream {name!r} (namespace {namespace!r}), which is not in the configured catalog."
                )
            key, plan = matches[0]
        return key, plan

    def _record(self, record: dict[str, Any]) -> None:
        key, plan = self._plan_for(record)
        data = record["data"]
        try:
            if plan.core is not None:
                row = plan.core.row(data)
                cursor = row[plan.core.cursor_index] if plan.core.cursor else None
                size = self.buffers.add_keyed(key, row[0], cursor, row)
            else:
                size = self.buffers.add_listed(
                    key, plan.generic.row(data, record.get("emitted_at"), record.get("meta"))
                )
        except BadValue as err:
            raise BadRecord(f"stream {plan.name!r}: record {_record_id(data)} cannot be written: {err}.") from None
        self.since_state[key] = self.since_state.get(key, 0) + 1
        if size >= self.config.batch_size:
            if self.held:  # held STATEs cover every stream's buffered rows: all of them must be written
                self._flush_all()
            else:
                self._flush([key])

    def _state(self, message: Mapping[str, Any]) -> None:
        state = dict(message.get("state") or {})
        descriptor = (state.get("stream") or {}).get("stream_descriptor") if state.get("type") == "STREAM" else None
        if descriptor:
            key = (descriptor.get("namespace"), descriptor.get("name"))
            count = self.since_state.pop(key, 0)
            if count == 0 and descriptor.get("namespace") is None:
                matches = [k for k in self.since_state if k[1] == descriptor.get("name")]
                count = sum(self.since_state.pop(k) for k in matches)
        else:
            count = sum(self.since_state.values())
            self.since_state.clear()
        state["destinationStats"] = {"recordCount": float(count)}
        if self.buffers.nonempty():
            if not self.held:
                self.held_since = time.monotonic()
            self.held.append({**message, "state": state})
        else:
            self.flusher.release_after_current({**message, "state": state})

    def _trace(self, trace: Mapping[str, Any]) -> None:
        if trace.get("type") != "STREAM_STATUS":
            return
        status = trace.get("stream_status") or {}
        if status.get("status") != "COMPLETE":
            return
        descriptor = status.get("stream_descriptor") or {}
        key = (descriptor.get("namespace"), descriptor.get("name"))
        plan = self.plans.get(key) or next((p for p in self.plans.values() if p.name == key[1]), None)
        if plan is not None:
            self._flush_all()
            self.flusher.wait()
            self._complete(plan)

    # ─── flushing ───────────────────────────────────────────────────────────

    def _flush_all(self) -> None:
        """Everything buffered as one job; the held STATEs are released once it committed."""
        self._flush(self.buffers.nonempty(), progress=bool(self.held))
        for state in self.held:
            self.flusher.release_after_current(state)
        self.held.clear()

    def _flush(self, keys: list[tuple[str | None, str]], progress: bool = False) -> None:
        """Hand these streams' rows to the flush thread as one job; `progress` also updates sync_log after them."""
        batches = []
        for key in sorted(keys, key=lambda k: self.plans[k].flush_rank):
            rows = self.buffers.take(key)
            if rows:
                batches.append((self.plans[key], rows))
        if not batches and not progress:
            return
        staged = [(plan, self._stage(plan, rows)) for plan, rows in batches]
        del batches  # only the payloads stay in memory while the job runs
        job = Job(lambda lane: self._write(lane, staged, progress))
        if len(staged) == 1:
            plan, batch = staged[0]
            if plan.core is not None and batch.ids is not None:
                job.table, job.ids = plan.core.table, batch.ids
        self.flusher.submit(job)

    def _stage(self, plan: StreamPlan, rows: list[tuple]) -> Batch:
        if plan.core is not None:
            return self.backend.stage_core(plan.core, rows)
        return self.backend.stage_generic(plan.generic, rows)

    def _write(self, lane: PostgresBackend, staged: list[tuple[StreamPlan, Batch]], progress: bool) -> None:
        """Runs on a flush thread: one transaction per batch, parents first."""
        for plan, batch in staged:
            try:
                refreshing = plan.prune_below is not None
                if plan.core is not None:
                    lane.merge_core(plan.core, batch, plan.generation_id, refreshing)
                else:
                    lane.merge_generic(plan.generic, batch, refreshing)
            except Exception as err:
                raise self._as_error(err, f"loading stream {plan.name!r}") from err
            with self.stats_lock:
                self.stats.counts[plan.name] = self.stats.counts.get(plan.name, 0) + batch.count
                if batch.watermark is not None and (
                    self.stats.watermark is None or batch.watermark > self.stats.watermark
                ):
                    self.stats.watermark = batch.watermark
        if progress:
            with self.stats_lock:  # held while writing, so lanes never write older counts over newer ones
                lane.update_sync_log(self.sync_id, self.stats.counts, self.stats.watermark, self.stats.errors)

    def _complete(self, plan: StreamPlan) -> None:
        """The source finished this stream: a refresh may now delete the rows of older generations."""
        if plan.completed:
            return
        plan.completed = True
        if plan.prune_below is None:
            return
        if plan.core is not None:
            removed = self.backend.delete_older_generations(plan.core, plan.prune_below)
            table = plan.core.table
        else:
            removed = self.backend.drop_older_generations(plan.generic, plan.prune_below)
            table = plan.generic.table
        logger.info(f"refresh of {table}: removed {removed} rows of generations below {plan.prune_below}")

    def _finish(self) -> None:
        """Everything is flushed and committed: close sync_log.

        A stream the source never reported COMPLETE is not complete, whatever the end of input says (a killed
        source or a signalled runner also ends stdin): nothing of it was pruned, and the sync is not
        `completed`.
        """
        self.backend.settle_pending()
        pending = self.backend.pending_messages()
        if pending:
            shown = ", ".join(f"{issue} ({n})" for issue, n in list(pending.items())[:MAX_LOGGED_PENDING])
            more = f" and {len(pending) - MAX_LOGGED_PENDING} more" if len(pending) > MAX_LOGGED_PENDING else ""
            note = (
                f"{sum(pending.values())} messages wait for issues that have not been synced "
                f"(kept in _support_pending_messages, loaded when the issue arrives): {shown}{more}"
            )
            logger.warning(note)
            self.stats.errors.append(note)
        unfinished = [p.name for p in self.plans.values() if not p.completed]
        status = "completed"
        if unfinished:
            note = f"{INTERRUPTED}: no STREAM_STATUS COMPLETE for {', '.join(unfinished)}; nothing of them was deleted"
            logger.warning(note)
            self.stats.errors.append(note)
            status = "failed"
        else:
            # What the dashboard holds, not only what this attempt wrote: a sync that resumed a killed attempt
            # skips the issues that attempt committed, and a quiet one wrote none.
            self.stats.watermark = self.backend.newest_issue_update()
        self.backend.update_sync_log(self.sync_id, self.stats.counts, self.stats.watermark, self.stats.errors, status)

    def _fail(self, err: BaseException) -> None:
        self.flusher.abandon()  # the lanes' transactions rolled back as their jobs failed
        if self.sync_id is None:
            return
        message = err.message if isinstance(err, DestinationError) else f"{type(err).__name__}: {err}"
        try:
            if not self.backend.conn.closed:
                self.backend.conn.rollback()
                self.backend.update_sync_log(
                    self.sync_id, self.stats.counts, self.stats.watermark, [*self.stats.errors, message], "failed"
                )
        except psycopg.Error as log_err:  # the original failure matters more than the log row
            logger.warning(f"could not record the failure in sync_log: {log_err}")

    @staticmethod
    def _as_error(err: Exception, doing: str) -> DestinationError:
        if isinstance(err, DestinationError):
            return err
        if isinstance(err, psycopg.Error):
            return from_database(err, doing)
        return DestinationError(f"Unexpected error while {doing}: {type(err).__name__}: {err}", SYSTEM_ERROR)


def _record_id(data: Mapping[str, Any]) -> str:
    value = data.get("id")
    return f"id={str(value)[:MAX_LOGGED_LINE]!r}" if value is not None else "(no id)"
