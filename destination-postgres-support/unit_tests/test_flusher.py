"""The loading lanes: which batches may load at once, and when a STATE may go out."""

from __future__ import annotations

import threading

import pytest

from destination_postgres_support.flusher import Flusher, Job

TIMEOUT_S = 5


class Lanes:
    """Jobs that record which ran at the same time, and on which lane."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.overlaps: list[tuple[str, ...]] = []
        self.lanes_used: set[str] = set()
        self.lock = threading.Lock()

    def job(self, name: str, gate: threading.Event | None = None, fail: bool = False, **kind) -> Job:
        def run(lane: str) -> None:
            with self.lock:
                self.lanes_used.add(lane)
                self.running.add(name)
                if len(self.running) > 1:
                    self.overlaps.append(tuple(sorted(self.running)))
            try:
                if gate is not None:
                    assert gate.wait(TIMEOUT_S), f"{name} waited for a gate that never opened"
                if fail:
                    raise RuntimeError(f"{name} failed")
            finally:
                with self.lock:
                    self.running.discard(name)

        return Job(run, **kind)


def issues(*ids: str) -> dict:
    return {"table": "issues", "ids": frozenset(ids)}


def test_batches_of_one_table_with_disjoint_ids_load_at_once():
    lanes, gate = Lanes(), threading.Event()
    flusher = Flusher(["lane-1", "lane-2"])
    flusher.submit(lanes.job("a", gate, **issues("1", "2")))
    flusher.submit(lanes.job("b", **issues("3")))  # must not wait for "a", which waits for the gate
    flusher.start()
    for _ in range(100):
        if lanes.overlaps:
            break
        threading.Event().wait(0.01)
    gate.set()
    flusher.wait()
    assert lanes.overlaps == [("a", "b")]
    assert lanes.lanes_used == {"lane-1", "lane-2"}


@pytest.mark.parametrize(
    "first, second",
    [
        (issues("1", "2"), issues("2", "3")),  # the same issue twice: newer-wins needs them in order
        (issues("1"), {"table": "users", "ids": frozenset({"9"})}),  # another table: parents before children
        (issues("1"), {}),  # messages, several batches, sync_log: always alone
        ({}, issues("1")),
    ],
)
def test_batches_that_may_touch_the_same_rows_load_one_after_the_other(first, second):
    lanes = Lanes()
    flusher = Flusher(["lane-1", "lane-2"])
    gate = threading.Event()
    flusher.submit(lanes.job("first", gate, **first))
    threading.Timer(0.2, gate.set).start()  # "second" would run meanwhile if it were allowed to
    flusher.submit(lanes.job("second", **second))
    flusher.wait()
    assert lanes.overlaps == []


def test_one_lane_runs_everything_in_order():
    lanes = Lanes()
    flusher = Flusher(["lane-1"])
    for n in range(5):
        flusher.submit(lanes.job(str(n), **issues(str(n))))
    flusher.wait()
    assert lanes.overlaps == [] and lanes.lanes_used == {"lane-1"}


def test_a_state_waits_for_every_batch_before_it_even_when_a_later_one_finishes_first():
    lanes, slow = Lanes(), threading.Event()
    flusher = Flusher(["lane-1", "lane-2"])
    flusher.submit(lanes.job("slow", slow, **issues("1")))
    flusher.release_after_current({"id": 1})
    flusher.submit(lanes.job("fast", **issues("2")))
    flusher.release_after_current({"id": 2})
    flusher.start()
    threading.Event().wait(0.2)  # "fast" is done by now
    flusher.poll()
    assert flusher.take_ready() == []
    slow.set()
    flusher.wait()
    assert flusher.take_ready() == [{"id": 1}, {"id": 2}]


def test_a_failed_batch_raises_and_releases_no_state_after_it():
    lanes = Lanes()
    flusher = Flusher(["lane-1", "lane-2"])
    flusher.submit(lanes.job("ok", **issues("1")))
    flusher.release_after_current({"id": 1})
    flusher.submit(lanes.job("broken", fail=True, **issues("2")))
    flusher.release_after_current({"id": 2})
    with pytest.raises(RuntimeError, match="broken failed"):
        flusher.wait()
    assert flusher.take_ready() == [{"id": 1}]
    flusher.abandon()
    assert flusher.take_ready() == []


def test_a_state_with_nothing_loading_is_ready_at_once():
    flusher = Flusher(["lane-1", "lane-2"])
    flusher.release_after_current({"id": 1})
    assert flusher.take_ready() == [{"id": 1}]
