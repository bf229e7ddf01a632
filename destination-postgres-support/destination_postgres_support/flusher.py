"""Background loading: batches are written to Postgres while the main thread parses and maps the next ones.

Postgres is the slow side (heap, eight indexes and two foreign-key checks per issue), and one server backend
runs on one core. Jobs that cannot touch the same rows therefore run at once, each on a connection of its
own (a "lane"); everything else runs alone, in submission order, exactly as with a single lane.

STATE messages: a STATE is released once every job submitted before it has committed. Jobs are harvested
oldest first, so a job that fails raises in the main thread and nothing submitted after it is released.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Lane = TypeVar("Lane")  # what a job runs on: a PostgresBackend with its own connection


@dataclass
class Job(Generic[Lane]):
    run: Callable[[Lane], None]
    # Set for a job that upserts one table's rows by id, whose other writes are keyed by those ids too (an
    # issue batch's pending messages) or idempotent and taken in id order (placeholder accounts/users): it
    # may overlap with another such job of the same table whose ids are disjoint. None: it runs alone.
    table: str | None = None
    ids: frozenset = field(default_factory=frozenset)

    def may_overlap(self, other: Job) -> bool:
        return self.table is not None and self.table == other.table and self.ids.isdisjoint(other.ids)


@dataclass
class _Running:
    job: Job
    seq: int
    lane: Any
    future: Future


class Flusher(Generic[Lane]):
    """Runs jobs on background threads, one per lane, each job on a lane of its own.

    Memory holds the batch being built, the jobs running, and at most one job queued behind them.
    """

    def __init__(self, lanes: list[Lane]):
        if not lanes:
            raise ValueError("a flusher needs at least one lane")
        self._idle: list[Lane] = list(lanes)
        self._max_lanes = len(lanes)
        self._pool = ThreadPoolExecutor(max_workers=self._max_lanes, thread_name_prefix="flush")
        self._seq = itertools.count(1)
        self._last_submitted = 0
        self._queued: list[tuple[Job, int]] = []
        self._running: list[_Running] = []  # oldest first
        self._waiting: list[tuple[int, dict[str, Any]]] = []  # (last job before it, STATE)
        self.ready: list[dict[str, Any]] = []

    # ─── jobs ───────────────────────────────────────────────────────────────

    def submit(self, job: Job) -> None:
        """Queue a job; `start()` runs it once the states released meanwhile are out.

        Blocks (harvesting older jobs) until the job can run beside every job still running.
        """
        self.start()
        while self._running and (
            len(self._running) >= self._max_lanes or not all(job.may_overlap(r.job) for r in self._running)
        ):
            self._harvest_oldest()
        seq = next(self._seq)
        self._last_submitted = seq
        self._queued.append((job, seq))

    def start(self) -> None:
        for job, seq in self._queued:
            lane = self._idle.pop()  # submit() admitted the job only once a lane was free
            self._running.append(_Running(job, seq, lane, self._pool.submit(job.run, lane)))
        self._queued.clear()

    def _harvest_oldest(self) -> None:
        """Wait for the oldest running job; re-raise its error. States waiting only for it become ready."""
        running = self._running[0]
        running.future.result()
        self._running.pop(0)
        self._idle.append(running.lane)
        done_through = self._running[0].seq - 1 if self._running else self._last_submitted
        if self._queued:
            done_through = min(done_through, self._queued[0][1] - 1)
        still = []
        for after, state in self._waiting:
            (self.ready.append(state) if after <= done_through else still.append((after, state)))
        self._waiting = still

    # ─── states ─────────────────────────────────────────────────────────────

    def release_after_current(self, state: dict[str, Any]) -> None:
        """Release this STATE once every job submitted so far has committed."""
        if not self._queued and not self._running:
            self.ready.append(state)
        else:
            self._waiting.append((self._last_submitted, state))

    def poll(self) -> None:
        """Harvest jobs that are done, oldest first, without blocking."""
        while self._running and self._running[0].future.done():
            self._harvest_oldest()

    def wait(self) -> None:
        """Block until every submitted job committed; re-raise a job's error (its STATEs stay unreleased)."""
        self.start()
        while self._running:
            self._harvest_oldest()

    def take_ready(self) -> list[dict[str, Any]]:
        ready, self.ready = self.ready, []
        return ready

    # ─── end ────────────────────────────────────────────────────────────────

    def abandon(self) -> None:
        """After a failure: let running jobs end (their lanes roll back as they fail), release nothing."""
        self._queued.clear()
        wait_for([r.future for r in self._running])
        self._idle.extend(r.lane for r in self._running)
        self._running.clear()
        self._waiting.clear()
        self.ready.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
