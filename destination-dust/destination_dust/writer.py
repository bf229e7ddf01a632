"""Orchestration: messages in, upserts out, STATE echoed only once everything before it is in Dust.

The writer owns one buffer per stream, renders documents, asks Dust (through the
non-rate-limited list endpoint) which of them it already holds unchanged, and hands the rest to
a small thread pool; the client paces them. Each STATE remembers how many upserts had been
submitted when it arrived and is echoed, in arrival order, once all of those have completed.
Messages are plain dicts so that fields the CDK's models do not know (the platform's state `id`)
pass through untouched.

Whatever stops a sync (a bad line, a record that cannot be written, Dust failing), the states of
everything written before it are echoed first, so a retry resumes after them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .client import DustClient, RecordRejected
from .config import DustConfig, OnRejected, Target
from .documents import (
    PARTS_TAG,
    STREAM_TAG,
    DustDocument,
    MissingKey,
    RecordContext,
    build_document,
    stored_hash,
    stored_tag,
)
from .generations import GENERATION_TAG, Generations, as_generation
from .inputs import MAX_RECORD_DEPTH, BadInput, config_error, depth_of
from .presets import layout_for
from .split import DocumentTooLarge, part_id, split_document
from .tables import ColumnClash, TableWriter

logger = logging.getLogger("airbyte")

REJECTION_HINTS = {
    "missing_key": "Records of a stream with a key need every key field (set id_fields to fields every record "
    "has), or set on_rejected_record to skip_and_report to skip such records.",
    "too_large": "Leave the biggest field out (exclude_fields), or set on_rejected_record to skip_and_report.",
    "too_deep": "Leave the field out (exclude_fields), or set on_rejected_record to skip_and_report.",
    "column_clash": "Declare one of the two fields in the stream's schema, or set on_rejected_record to "
    "skip_and_report to skip such records.",
    "dust": "Fix the record at its source, leave the field out (exclude_fields), or set on_rejected_record "
    "to skip_and_report to skip such records.",
}
BATCH_DOCUMENTS = 50  # records rendered before one hash lookup; a STATE flushes earlier
QUEUED_PER_WORKER = 4  # upserts queued ahead of the pool, per worker: bounds memory


@dataclass
class Rejection:
    """A record that cannot be written: the sync fails on it, or (skip_and_report) skips and reports it."""

    stream: str
    line: int
    kind: str  # short, for the summary: Dust's error type, `missing_key`, `too_large`, `too_deep`
    reason: str
    document_id: str | None = None
    what: str | None = None  # what was refused when it is not a document ("row")
    failure_type: FailureType = FailureType.config_error  # the user decides: fix, exclude, or skip

    @classmethod
    def from_dust(cls, stream: str, line: int, error: RecordRejected, **where: str) -> Rejection:
        # A 400 is a request this connector built wrong (a bug); 403 quota and 413 are the record's size.
        failure_type = FailureType.config_error if error.status in (403, 413) else FailureType.system_error
        return cls(stream, line, error.kind, f"refused: {error}", failure_type=failure_type, **where)

    def describe(self) -> str:
        what = f"document {self.document_id}" if self.document_id else self.what
        return f"the record at line {self.line} of stream {self.stream!r}{f' ({what})' if what else ''}: {self.reason}"


class Held(NamedTuple):
    """What Dust holds for a document id: its content hash and the generation it was written under."""

    hash: str | None
    generation: int


def held(listed: dict) -> Held:
    return Held(stored_hash(listed), as_generation(stored_tag(listed, GENERATION_TAG)))


@dataclass
class StreamWriter:
    key: tuple[str | None, str]
    ctx: RecordContext
    target: Target
    generations: Generations
    layout: Any = None
    table: TableWriter | None = None
    buffer: dict[str, tuple[int, list[DustDocument]]] = field(default_factory=dict)  # id -> (line, parts)
    records_since_state: int = 0
    records: int = 0
    complete: bool = False
    incomplete: bool = False  # the source said INCOMPLETE: nothing of this stream may be pruned


@dataclass
class Stats:
    records: int = 0
    upserts: int = 0
    unchanged: int = 0
    retagged: int = 0  # unchanged content re-sent only to carry a refresh's generation
    deleted: int = 0
    rows_deleted: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def stream_key(descriptor: dict) -> tuple[str | None, str]:
    return descriptor.get("namespace") or None, descriptor["name"]


class Writer:
    def __init__(self, config: DustConfig, catalog: dict, client: DustClient) -> None:
        self.config = config
        self.client = client
        self.streams: dict[tuple[str | None, str], StreamWriter] = {}
        for configured in catalog.get("streams") or []:
            stream = configured["stream"]
            settings = config.stream(stream["name"])
            primary_key = configured.get("primary_key") or stream.get("source_defined_primary_key") or []
            declared = frozenset((stream.get("json_schema") or {}).get("properties") or {})
            ctx = RecordContext(stream["name"], primary_key, settings, declared)
            writer = StreamWriter(stream_key(stream), ctx, settings.target, Generations.of(configured))
            if settings.target == Target.table:
                generation = writer.generations.current
                writer.table = TableWriter(client, stream, primary_key, generation, settings.id_fields)
            else:
                writer.layout = layout_for(stream["name"], settings.preset)
            self.streams[writer.key] = writer
        self.stats = Stats()
        self.pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="dust-upsert")
        self._futures: deque[Future] = deque()  # submitted, in order; the head is popped once done
        self._completed = 0  # how many futures were popped done
        self._submitted = 0
        self._pending_states: deque[tuple[dict, int]] = deque()  # (message, futures submitted before it)
        self._latest: dict[str, Future] = {}  # document id -> its last submitted write, to keep order per id
        self._known: dict[str, Held | None] = {}  # document id -> what Dust holds (None: absent)
        self._known_parts: dict[str, int] = {}  # base document id -> parts in Dust (0: not split)
        self._records_since_global = 0
        self._source_failed = False
        self._failure: BaseException | None = None  # the first failed write; nothing after it is committed
        self._lock = threading.Lock()

    # -- the message loop --------------------------------------------------------------------

    def run(self, messages: Iterable[tuple[int, dict]]) -> Iterator[dict]:
        """`messages` are (line number, message) pairs; the numbers go into every error message."""
        bad: BadInput | None = None
        iterator = iter(messages)
        try:
            try:
                while True:
                    try:
                        line, message = next(iterator)
                    except StopIteration:
                        break
                    except BadInput as exc:
                        bad = exc
                        break
                    kind = message.get("type")
                    if kind == "RECORD":
                        self._record(message["record"], line)
                    elif kind == "STATE":
                        self._state(message)
                    elif kind == "TRACE":
                        self._trace(message["trace"])
                    yield from self._ready_states()
                self._flush_all()  # the records before a bad line are valid: write them too
                self._drain()
                yield from self._ready_states()
            except Exception as exc:  # noqa: BLE001 -- raised again below, once the committed states are out
                yield from self._committed_states()
                first = self._failure or exc  # a write that failed before `exc` was raised came first
                if first is not exc:
                    logger.warning(f"Also stopped on: {exc}")
                raise first from None
            if bad is not None:
                raise AirbyteTracedException(
                    message=f"Stopped at {bad}. Everything before it was written and its states echoed.",
                    internal_message=str(bad),
                    failure_type=FailureType.system_error,
                )
            self._finish_streams()
            self._report()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _committed_states(self) -> Iterator[dict]:
        """After a failure: let what is in flight finish, then echo the states all of whose writes succeeded."""
        wait(list(self._futures))
        with contextlib.suppress(Exception):  # a failure is kept in self._failure, which `run` raises
            self._advance()
        while self._pending_states and self._pending_states[0][1] <= self._completed:
            yield self._pending_states.popleft()[0]

    def _stream(self, record: dict, line: int) -> StreamWriter:
        found = self.streams.get(stream_key({"name": record["stream"], "namespace": record.get("namespace")}))
        if found is None:
            raise config_error(
                f"Line {line} is a record of stream {record['stream']!r}, which the configured catalog does not "
                "list: the catalog given to `write` must be the one the source reads with."
            )
        return found

    def _record(self, record: dict, line: int) -> None:
        stream = self._stream(record, line)
        stream.records_since_state += 1
        stream.records += 1
        self._records_since_global += 1
        self.stats.records += 1
        name, data = stream.ctx.stream, record["data"]
        depth, path = depth_of(data)
        if depth > MAX_RECORD_DEPTH:
            where = ".".join(path[:4]) + (".…" if len(path) > 4 else "")
            reason = f"it nests more than {MAX_RECORD_DEPTH} levels deep (under {where!r}), deeper than this destination renders"
            self._rejected(Rejection(name, line, "too_deep", reason))
            return
        if stream.table is not None:
            self._guard(name, line, "row", lambda: stream.table.add(data))
            return
        try:
            document = replace(build_document(data, stream.ctx, stream.layout), generation=stream.generations.current)
        except MissingKey as exc:
            self._rejected(Rejection(name, line, "missing_key", str(exc)))
            return
        try:
            parts = split_document(document, self.config.max_document_chars)
        except DocumentTooLarge as exc:
            self._rejected(Rejection(name, line, "too_large", str(exc), document_id=document.document_id))
            return
        stream.buffer.pop(document.document_id, None)  # a later record with the same id wins
        stream.buffer[document.document_id] = (line, parts)
        if len(stream.buffer) >= BATCH_DOCUMENTS:
            self._flush(stream)

    def _state(self, message: dict) -> None:
        state = message.get("state") or {}
        if state.get("type") == "STREAM":
            stream = self.streams.get(stream_key(state["stream"]["stream_descriptor"]))
            count = stream.records_since_state if stream else 0
            if stream:
                stream.records_since_state = 0
        else:
            count = self._records_since_global
            self._records_since_global = 0
        state["destinationStats"] = {**(state.get("destinationStats") or {}), "recordCount": float(count)}
        self._flush_all()
        self._pending_states.append((message, self._submitted))

    def _trace(self, trace: dict) -> None:
        if trace.get("type") == "ERROR":
            self._source_failed = True
        status = trace.get("stream_status") or {}
        if trace.get("type") != "STREAM_STATUS" or not status.get("stream_descriptor"):
            return
        stream = self.streams.get(stream_key(status["stream_descriptor"]))
        if stream and status.get("status") == "COMPLETE":
            stream.complete = True
        elif stream and status.get("status") == "INCOMPLETE":
            stream.incomplete = True

    def _ready_states(self) -> Iterator[dict]:
        self._advance()
        while self._pending_states and self._pending_states[0][1] <= self._completed:
            yield self._pending_states.popleft()[0]

    # -- documents: lookup, compare, submit --------------------------------------------------

    def _flush_all(self) -> None:
        for stream in self.streams.values():
            if stream.table is not None:
                stream.table.flush()
            else:
                self._flush(stream)

    def _flush(self, stream: StreamWriter) -> None:
        if not stream.buffer:
            return
        batch, stream.buffer = stream.buffer, {}
        self._lookup([base for base in batch if base not in self._known_parts])
        for base, (line, parts) in batch.items():
            split = len(parts) > 1 or parts[0].document_id != base
            previous_parts = self._known_parts.get(base, 0)
            stale = [part_id(base, i) for i in range(len(parts) + 1 if split else 1, previous_parts + 1)]
            if split and self._known.get(base) is not None:
                stale.append(base)
            new_futures = []
            for part in parts:
                content_hash = part.content_hash
                known = self._known.get(part.document_id)
                if known is not None and known.hash == content_hash:
                    # Unchanged, but a refresh must re-tag what is of an older generation or its prune
                    # would delete it; what is current (an earlier attempt or sync) is left alone.
                    if not stream.generations.is_stale(known.generation):
                        self.stats.unchanged += 1
                        continue
                    self.stats.retagged += 1
                self._known[part.document_id] = Held(content_hash, as_generation(part.generation))
                new_futures.append(self._submit(part.document_id, self._upsert, stream.ctx.stream, part, line))
            self._known_parts[base] = len(parts) if split else 0
            for document_id in stale:
                self._known[document_id] = None
                self._submit(document_id, self._delete, document_id, new_futures)

    def _lookup(self, bases: list[str]) -> None:
        """What Dust holds for these ids, their first part, and the other parts a first part names."""
        if not bases:
            return
        found = {d["document_id"]: d for d in self.client.list_documents([*bases, *(part_id(b, 1) for b in bases)])}
        more = []
        for base in bases:
            self._known[base] = held(found[base]) if base in found else None
            first = found.get(part_id(base, 1))
            count = int(stored_tag(first, PARTS_TAG) or 1) if first else 0
            self._known_parts[base] = count
            if first:
                self._known[part_id(base, 1)] = held(first)
            more.extend(part_id(base, i) for i in range(2, count + 1))
        others = {d["document_id"]: d for d in self.client.list_documents(more)} if more else {}
        for document_id in more:
            self._known[document_id] = held(others[document_id]) if document_id in others else None

    def _submit(self, document_id: str, task, *args) -> Future:
        previous = self._latest.get(document_id)
        future = self.pool.submit(self._after, previous, task, *args)
        self._latest[document_id] = future
        self._futures.append(future)
        self._submitted += 1
        while len(self._futures) > self.config.concurrency * QUEUED_PER_WORKER:
            wait([self._futures[0]])
            self._advance()  # raises if that write failed
        return future

    @staticmethod
    def _after(previous: Future | None, task, *args):
        # Writes to one id run in submission order; the earlier one was queued first, so it
        # is already running or done by the time a worker picks this one up.
        if previous is not None:
            previous.result()
        return task(*args)

    def _upsert(self, stream: str, document: DustDocument, line: int) -> Rejection | None:
        try:
            self.client.upsert_document(document.document_id, document.body())
        except RecordRejected as exc:
            return Rejection.from_dust(stream, line, exc, document_id=document.document_id)
        with self._lock:
            self.stats.upserts += 1
        return None

    def _delete(self, document_id: str, wait_for: list[Future]) -> None:
        for future in wait_for:
            future.result()
        self.client.delete_document(document_id)
        with self._lock:
            self.stats.deleted += 1

    def _advance(self) -> None:
        """Count the writes that finished, in order. The first one that failed stops the sync: it is
        kept in `_failure`, left uncounted, and nothing after it is counted (so no state after it is echoed)."""
        while self._failure is None and self._futures and self._futures[0].done():
            try:
                result = self._futures[0].result()
                if isinstance(result, Rejection):
                    self._rejected(result)
            except Exception as exc:
                self._failure = exc
                raise
            self._futures.popleft()
            self._completed += 1

    def _drain(self) -> None:
        while self._futures and self._failure is None:
            wait([self._futures[0]])
            self._advance()

    def _rejected(self, rejection: Rejection) -> None:
        if self.config.on_rejected_record == OnRejected.skip_and_report:
            logger.warning(f"Skipped {rejection.describe()}")
            if rejection.document_id in self._known:
                self._known[rejection.document_id] = None  # not in Dust: a later record with this id is sent
            self.stats.rejected.append(rejection)
            return
        hint = REJECTION_HINTS.get(rejection.kind, REJECTION_HINTS["dust"])
        raise AirbyteTracedException(
            message=f"Cannot write {rejection.describe()}. {hint}",
            internal_message=rejection.reason,
            failure_type=rejection.failure_type,
        )

    def _guard(self, stream: str, line: int, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except RecordRejected as exc:
            self._rejected(Rejection.from_dust(stream, line, exc, what=what))
        except MissingKey as exc:
            self._rejected(Rejection(stream, line, "missing_key", str(exc), what=what))
        except ColumnClash as exc:
            self._rejected(Rejection(stream, line, "column_clash", str(exc), what=what))

    # -- end of the sync ---------------------------------------------------------------------

    def _finish_streams(self) -> None:
        """After a clean end: prune, per the generation rule, the streams that completed."""
        pruned: dict[str, StreamWriter] = {}
        for stream in self.streams.values():
            name, generations = stream.ctx.stream, stream.generations
            reason = generations.why_no_prune(name)
            if reason:
                logger.info(reason)
            if not generations.prunes:
                continue
            if not self._finished(stream):
                logger.warning(
                    f"Stream {name!r}: nothing was pruned because the stream never reported COMPLETE "
                    f"(what is below generation {generations.minimum} stays until a sync of it completes)"
                )
            elif stream.table is not None:
                deleted = stream.table.prune(generations)
                self.stats.rows_deleted += deleted
                if deleted:
                    logger.info(f"Stream {name!r}: deleted {deleted} rows below generation {generations.minimum}")
            else:
                pruned[name] = stream
        if not pruned:
            return
        stale: dict[str, list[str]] = {name: [] for name in pruned}
        for listed in self.client.list_documents():
            name = stored_tag(listed, STREAM_TAG) or ""
            if name in pruned and pruned[name].generations.is_stale(stored_tag(listed, GENERATION_TAG)):
                stale[name].append(listed["document_id"])
        for name, document_ids in stale.items():
            for document_id in document_ids:
                self.client.delete_document(document_id)
            self.stats.deleted += len(document_ids)
            if document_ids:
                minimum = pruned[name].generations.minimum
                logger.info(f"Stream {name!r}: deleted {len(document_ids)} documents below generation {minimum}")

    def _finished(self, stream: StreamWriter) -> bool:
        """Completion is the source's COMPLETE for the stream: a killed source also ends stdin."""
        return stream.complete and not stream.incomplete and not self._source_failed

    def _report(self) -> None:
        stats = self.stats
        logger.info(
            f"Dust sync done: {stats.records} records, {stats.upserts} upserts, {stats.unchanged} unchanged "
            f"documents not re-sent, {stats.retagged} re-sent for a new generation only, {stats.deleted} deleted, "
            f"{stats.rows_deleted} table rows deleted, {len(stats.rejected)} rejected, "
            f"{self.client.rate_limited_total} rate-limit answers absorbed"
        )
        if stats.rejected:
            # The last line of the sync: skipping was asked for, but the user must see what is missing.
            count = len(stats.rejected)
            listing = "; ".join(f"line {r.line} of {r.stream}: {r.kind}" for r in stats.rejected[:20])
            more = f"; and {count - 20} more" if count > 20 else ""
            logger.warning(
                f"Skipped {count} of {stats.records} records, which are not in Dust (on_rejected_record is "
                f"skip_and_report): {listing}{more}"
            )
