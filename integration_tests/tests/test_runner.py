"""The shell runner's mechanics, with scripted connectors; the real flows are tested end to end elsewhere."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import pytest

from flows.catalog import configured_catalog
from flows.pipeline import Connector, SyncFailed, merge_state, run_sync

HERE = Path(__file__).parent / "fake_connectors"
SOURCE = Connector("fake-source", (sys.executable, str(HERE / "source.py")))
DESTINATION = Connector("fake-destination", (sys.executable, str(HERE / "destination.py")))


def record(stream, n):
    return {"type": "RECORD", "record": {"stream": stream, "data": {"id": n}, "emitted_at": 0}}


def state(stream, cursor):
    return {
        "type": "STATE",
        "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"c": cursor}}},
    }


def sync(monkeypatch, script, fail_after=None):
    monkeypatch.setenv("FAKE_SOURCE_SCRIPT", json.dumps(script))
    if fail_after is not None:
        monkeypatch.setenv("FAKE_DEST_FAIL_AFTER", str(fail_after))
    saved = []
    result = run_sync(SOURCE, DESTINATION, {}, {}, {"streams": []}, on_state=saved.append, log=io.StringIO())
    return result, saved


def test_counts_records_and_keeps_the_newest_state_per_stream(monkeypatch):
    """The next run resumes from what was saved: a stale or missing stream state re-reads or loses data."""
    script = [record("a", 1), state("a", 1), record("b", 1), state("b", 5), record("a", 2), state("a", 2)]
    result, saved = sync(monkeypatch, script)
    assert result.records == {"a": 2, "b": 1}
    assert result.states_committed == 3
    assert {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in result.state} == {
        "a": {"c": 2},
        "b": {"c": 5},
    }
    assert len(saved) == 3


def test_destination_failure_surfaces_its_own_message_and_keeps_only_committed_state(monkeypatch):
    """A user must read why the sync failed, and the next run must not skip records never written."""
    script = [record("a", 1), state("a", 1), record("a", 2), record("a", 3), state("a", 3)]
    with pytest.raises(SyncFailed, match="fake-destination failed: the warehouse is full"):
        sync(monkeypatch, script, fail_after=2)


def test_source_failure_is_reported_even_when_the_destination_succeeds(monkeypatch):
    """A source that dies mid-read must never look like a successful (but short) sync."""
    error = {"message": "Pylon rejected the API token", "failure_type": "config_error"}
    script = [record("a", 1), {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0, "error": error}}, "EXIT1"]
    with pytest.raises(SyncFailed, match="fake-source failed: Pylon rejected the API token"):
        sync(monkeypatch, script)


def test_garbage_from_the_source_is_not_forwarded(monkeypatch):
    """Stray prints in a source must not reach the destination, which would fail on them."""
    result, _ = sync(monkeypatch, ["not json", record("a", 1), state("a", 1)])
    assert result.records == {"a": 1} and result.states_committed == 1


def test_merge_state_replaces_only_the_same_stream():
    """One stream's checkpoint must not erase another's."""
    a1, b1, a2 = (state(s, c)["state"] for s, c in [("a", 1), ("b", 1), ("a", 2)])
    assert merge_state(merge_state(merge_state([], a1), b1), a2) == [b1, a2]


def test_catalog_uses_the_best_mode_each_stream_supports():
    """Full refresh where incremental exists wastes API quota; dedup without a key is impossible."""
    discovered = {
        "streams": [
            {
                "name": "issues",
                "supported_sync_modes": ["full_refresh", "incremental"],
                "source_defined_primary_key": [["id"]],
                "default_cursor_field": ["updated_at"],
            },
            {"name": "teams", "supported_sync_modes": ["full_refresh"], "source_defined_primary_key": [["id"]]},
            {"name": "events", "supported_sync_modes": ["full_refresh", "incremental"]},
        ]
    }
    catalog = configured_catalog(discovered, generation=4)
    modes = {
        s["stream"]["name"]: (s["sync_mode"], s["destination_sync_mode"], s["minimum_generation_id"])
        for s in catalog["streams"]
    }
    assert modes == {
        "issues": ("incremental", "append_dedup", 0),
        "teams": ("full_refresh", "overwrite", 4),
        "events": ("incremental", "append", 0),
    }
    assert [s["stream"]["name"] for s in configured_catalog(discovered, ["teams"])["streams"]] == ["teams"]
    with pytest.raises(ValueError, match="unknown stream"):
        configured_catalog(discovered, ["tickets"])


def test_a_traceback_in_a_log_line_shows_as_its_exception_unless_verbose():
    """A failing sync printed 40-50 lines of traceback per stream before the one line that says what to fix."""
    from flows.pipeline import _show_log

    message = (
        "Encountered an exception while reading stream issues\nTraceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n    raise E\nE: Pylon rejected the API token (401)\n'
    )
    out = io.StringIO()
    _show_log(out, "source-pylon", {"level": "ERROR", "message": message})
    assert out.getvalue() == (
        "[source-pylon] ERROR Encountered an exception while reading stream issues: "
        "E: Pylon rejected the API token (401)\n"
    )
    out = io.StringIO()
    _show_log(out, "source-pylon", {"level": "ERROR", "message": message}, verbose=True)
    assert out.getvalue() == f"[source-pylon] ERROR {message}\n"


def test_a_killed_runners_secrets_and_caches_are_swept_at_the_next_start(tmp_path, monkeypatch):
    """SIGKILL skips every cleanup: the folder with source.json/destination.json (tokens, the database
    password) and source-pylon's SQLite caches of issue data stayed behind for good."""
    import subprocess as sp
    import tempfile

    from flows.pipeline import TEMP_PREFIX, sweep_leftovers

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = sp.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f"{TEMP_PREFIX}{dead.pid}-abc"
    leftover.mkdir()
    (leftover / "destination.json").write_text('{"database_url": "postgresql://u:secret@h/db"}')
    (leftover / "source-pylon-1.sqlite").write_text("issues")
    running = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-def"  # this process: alive
    running.mkdir()
    result, _ = sync(monkeypatch, [record("issues", 1), state("issues", 1)])
    assert not leftover.exists() and running.exists()
    assert list(tmp_path.glob(f"{TEMP_PREFIX}*")) == [running]
    assert sweep_leftovers(tmp_path) == []


def test_progress_says_what_the_source_waits_for_and_the_rate_per_stream():
    """For 2.5 minutes of a real-time Pylon sync the last line was `Marking stream issues as RUNNING`."""
    from flows.__main__ import Progress
    from flows.pipeline import SyncResult

    out = io.StringIO()
    progress = Progress("pylon-to-dust", out)
    result = SyncResult()
    result.records["issue_documents"] = 12
    result.states_committed = 3
    result.waiting = "Waiting 41.0 s for the issue search budget (20/min)"
    progress(result)
    line = out.getvalue().strip()
    assert line.startswith("pylon-to-dust: issue_documents 12 (")
    assert line.endswith("| states committed 3 | Waiting 41.0 s for the issue search budget (20/min)")


def test_a_state_reaches_the_destination_while_the_source_waits(monkeypatch):
    """The runner wrote into the destination through a 64 KiB buffer it never flushed: no row was committed
    until the sync ended, and a STATE before a rate-limit wait was not resumable if the sync was killed."""
    monkeypatch.setenv("FAKE_SOURCE_SCRIPT", json.dumps([record("issues", 1), state("issues", 1), "SLEEP 4"]))
    committed = []
    started = time.monotonic()
    run_sync(
        SOURCE, DESTINATION, {}, {}, {"streams": []}, on_state=lambda s: committed.append(time.monotonic()),
        log=io.StringIO(),
    )  # fmt: skip
    assert len(committed) == 1
    assert committed[0] - started < 3, "the STATE waited for the source's pause to end"


def test_flows_that_share_a_state_directory_can_discover_at_the_same_moment(tmp_path, monkeypatch):
    """docker-compose's three flows share one /state volume and start together: each discover's config file
    must be its own (a shared name was unlinked by one flow before another's source read it)."""
    from concurrent.futures import ThreadPoolExecutor

    from flows.runs import discover

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # TMPDIR is read again
    with ThreadPoolExecutor(4) as pool:
        catalogs = list(pool.map(lambda _: discover("source-pylon", {"api_token": "x"}), range(4)))
    assert all(len(c["streams"]) == len(catalogs[0]["streams"]) > 0 for c in catalogs)
    assert list(tmp_path.iterdir()) == []  # no config (with its token) left behind
