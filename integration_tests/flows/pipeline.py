"""`source read | destination write`, as two processes, the way the Airbyte platform runs a sync.

The runner sits in the middle of the pipe rather than letting the shell connect it, because it has
to do what the platform does there: forward RECORD, STATE and stream-status TRACE messages to the
destination, show the source's logs, count records, and keep the states the destination echoes
(only those are durable) so the next run resumes from them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

# Connectors announce waits in their logs; the runner counts them for the progress line.
RATE_LIMIT_LOG = re.compile(r"rate.?limit|retry-after|\b429\b|backing off", re.IGNORECASE)
# The sources announce each long wait ("Waiting 41.0 s for …", "Still waiting 30 s …"): the progress line
# shows the latest until the next record.
WAIT_LOG = re.compile(r"^(Still waiting|Waiting) ", re.IGNORECASE)
FORWARDED_TRACES = {"STREAM_STATUS"}
# How long a connector asked to stop (SIGTERM) may take before it is killed: the destination commits what
# it holds and echoes its last STATE in that time.
STOP_GRACE_S = 30.0


@dataclass(frozen=True)
class Connector:
    name: str
    command: tuple[str, ...]  # e.g. (sys.executable, "source-pylon/main.py")

    def run(
        self, *args: str, stdin: Any = None, stdout: Any = subprocess.PIPE, tmp: Path | None = None
    ) -> subprocess.Popen:
        """`tmp`: the connector's TMPDIR (source-pylon's SQLite caches of issue data go there)."""
        return subprocess.Popen(
            [*self.command, *args],
            stdin=stdin,
            stdout=stdout,
            env={**os.environ, "TMPDIR": str(tmp)} if tmp else None,
            stderr=None,  # connectors' stderr is the user's to see
            bufsize=1 << 16,
            # Its own session: Ctrl-C reaches the runner only, which stops the source first and lets the
            # destination commit what it received (a terminal's SIGINT to all three left no saved state).
            start_new_session=True,
        )


class SyncFailed(RuntimeError):
    """A sync did not complete; the message is the failing connector's own explanation."""


class SyncInterrupted(SyncFailed):
    """The runner was asked to stop (Ctrl-C, SIGTERM): the source was stopped, what was committed is kept."""


@dataclass
class SyncResult:
    records: Counter[str] = field(default_factory=Counter)
    states_committed: int = 0
    rate_limit_waits: int = 0
    waiting: str | None = None  # the source's latest wait announcement, while no record followed it
    state: list[dict] = field(default_factory=list)  # what to pass as --state next time


def messages_of(connector: Connector, *args: str) -> list[dict]:
    """Run a short command (spec, check, discover) and return its protocol messages."""
    proc = subprocess.run([*connector.command, *args], capture_output=True, text=True)
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        raise SyncFailed(f"{connector.name} {args[0]} failed: {error_of(messages) or proc.stderr.strip()[-2000:]}")
    return messages


def error_of(messages: list[dict]) -> str | None:
    for message in messages:
        trace = message.get("trace") or {}
        if message.get("type") == "TRACE" and trace.get("type") == "ERROR":
            return trace["error"].get("message") or trace["error"].get("internal_message")
    return None


def merge_state(saved: list[dict], state: dict) -> list[dict]:
    """Keep the newest state per stream (STREAM states) or the newest overall (GLOBAL/LEGACY)."""
    if state.get("type") != "STREAM":
        return [state]
    descriptor = state["stream"]["stream_descriptor"]
    kept = [s for s in saved if s.get("type") == "STREAM" and s["stream"]["stream_descriptor"] != descriptor]
    return kept + [state]


def write_private(directory: Path, name: str, content: Any) -> Path:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # configs hold secrets
    with os.fdopen(fd, "w") as handle:
        json.dump(content, handle)
    return path


def run_sync(
    source: Connector,
    destination: Connector,
    source_config: dict,
    destination_config: dict,
    catalog: dict,
    state: list[dict] | None = None,
    on_state: Callable[[list[dict]], None] | None = None,
    progress: Callable[[SyncResult], None] | None = None,
    log: IO[str] = sys.stderr,
    verbose: bool = False,
) -> SyncResult:
    """Run one sync; `on_state` receives the resumable state each time the destination commits one.

    `verbose`: connectors' log lines in full (tracebacks included); otherwise each in one line."""
    result = SyncResult(state=list(state or []))
    sweep_leftovers()
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as tmp:
        tmp_path = Path(tmp)
        args_source = ["read", "--config", str(write_private(tmp_path, "source.json", source_config))]
        args_source += ["--catalog", str(write_private(tmp_path, "catalog.json", catalog))]
        if state:
            args_source += ["--state", str(write_private(tmp_path, "state.json", state))]
        dest_config_path = write_private(tmp_path, "destination.json", destination_config)
        dest_catalog_path = tmp_path / "catalog.json"

        dest = destination.run(
            "write",
            "--config",
            str(dest_config_path),
            "--catalog",
            str(dest_catalog_path),
            stdin=subprocess.PIPE,
            tmp=tmp_path,
        )
        src = source.run(*args_source, tmp=tmp_path)
        source_errors: list[dict] = []
        pump = threading.Thread(
            target=_pump, args=(source.name, src, dest, result, source_errors, progress, log, verbose), daemon=True
        )
        pump.start()

        destination_errors: list[dict] = []

        def collect() -> None:
            for raw in dest.stdout:
                message = _parse(raw)
                if message is None:
                    continue
                kind = message.get("type")
                if kind == "STATE":
                    result.state = merge_state(result.state, message["state"])
                    result.states_committed += 1
                    if on_state:
                        on_state(result.state)
                elif kind == "LOG":
                    _show_log(log, destination.name, message["log"], verbose)
                elif kind == "TRACE":
                    destination_errors.append(message)

        interrupted = False
        try:
            try:
                collect()
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (see flows.__main__)
                interrupted = True
                # The source stops; its end of output closes the destination's stdin, and the destination
                # commits what it received and echoes the last STATEs (no STREAM_STATUS COMPLETE: it prunes
                # nothing).
                _stop(src)
                collect()
            dest_code = _wait(dest)
            if dest_code != 0:
                # The pump drains the source meanwhile, so it never blocks on a full pipe (seen: a destination
                # failing at start-up hung the runner for good); nothing it sends can be written now.
                _stop(src)
        except BaseException:
            _stop(src, grace=0)
            _stop(dest, grace=0)
            raise
        pump.join()
        source_code = src.wait()

    if interrupted:
        raise SyncInterrupted(f"interrupted after {result.states_committed} committed states; run again to resume")
    if dest_code != 0:
        raise SyncFailed(f"{destination.name} failed: {error_of(destination_errors) or f'exit code {dest_code}'}")
    if source_code != 0:
        raise SyncFailed(f"{source.name} failed: {error_of(source_errors) or f'exit code {source_code}'}")
    return result


def _parse(raw: bytes) -> dict | None:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


def _pump(name: str, src, dest, result: SyncResult, errors: list[dict], progress, log: IO[str], verbose: bool) -> None:
    """Source stdout -> destination stdin, as the platform does: data and stream statuses only.

    Once the destination is gone, the source's output is still read (and dropped) to its end: a source
    blocked on a full pipe would never exit.
    """
    open_ = True
    for raw in src.stdout:
        message = _parse(raw)
        if message is None:
            continue
        kind = message.get("type")
        if kind == "RECORD":
            result.records[message["record"]["stream"]] += 1
            result.waiting = None
        elif kind == "LOG":
            _show_log(log, name, message["log"], verbose)
            text = message["log"].get("message", "")
            if RATE_LIMIT_LOG.search(text):
                result.rate_limit_waits += 1
            if WAIT_LOG.match(text):
                result.waiting = one_line(text).rstrip(".")
                if progress:
                    progress(result)
            continue
        elif kind == "TRACE":
            if message["trace"].get("type") not in FORWARDED_TRACES:
                errors.append(message)
                continue
        elif kind != "STATE":
            continue
        if open_:
            try:
                dest.stdin.write(raw)
                if kind != "RECORD":
                    # A STATE or stream status must not wait in this pipe's buffer (seen: no row committed
                    # until the sync ended): records before it go along.
                    dest.stdin.flush()
            except BrokenPipeError:
                open_ = False  # the destination died; its own error explains why
        if progress and kind != "RECORD":
            progress(result)
        elif progress and sum(result.records.values()) % 500 == 0:
            progress(result)
    try:
        dest.stdin.close()
    except BrokenPipeError:
        pass


# A sync's private folder: configs with tokens and passwords, the connectors' TMPDIR. Named after the
# runner's pid, so a run can tell a folder whose runner was killed (SIGKILL skips every cleanup).
TEMP_PREFIX = "supportsuite-sync-"


def sweep_leftovers(root: Path | None = None) -> list[Path]:
    """Delete the private folders of syncs whose runner is gone; return them."""
    swept = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*"):
        pid = folder.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            swept.append(folder)
    return swept


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(proc: subprocess.Popen, grace: float = STOP_GRACE_S) -> None:
    """Ask a connector to stop (SIGTERM), kill it if it has not within `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait(proc: subprocess.Popen) -> int:
    """Wait for a connector; a second Ctrl-C meanwhile kills it."""
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.kill()
        return proc.wait()


def _show_log(out: IO[str], who: str, log: dict, verbose: bool = False) -> None:
    level = log.get("level", "INFO")
    if level in ("DEBUG", "TRACE"):
        return
    text = log.get("message", "")
    if not verbose:
        text = one_line(text)
    out.write(f"[{who}] {level} {text}\n")


TRACEBACK = "Traceback (most recent call last):"


def one_line(text: str) -> str:
    """A log message in one line: a traceback becomes its last line, the exception (see --verbose)."""
    head, _, trace = text.partition(TRACEBACK)
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    if trace:
        last = [line.strip() for line in trace.splitlines() if line.strip()]
        lines.append(last[-1] if last else "")
    return ": ".join(lines[:1] + lines[-1:]) if len(lines) > 1 else (lines[0] if lines else "")
