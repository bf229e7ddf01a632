"""Run a flow from a shell, as Airbyte would: `python -m flows run pylon-to-dust`.

    python -m flows list
    python -m flows run pylon-to-dust [--source-config F] [--destination-config F] [--streams a,b]
    python -m flows demo
    source main.py discover … | python -m flows catalog [--streams a,b] > catalog.json
    destination main.py write … | python -m flows state --update state.json

Configs come from files or from the seed scripts' environment variables (see connections.py). The state
the destination committed is saved in --state-dir and passed back on the next run, so reruns are
incremental and a failed run resumes where its last committed state left off.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from . import shell
from .connections import FLOWS, ConfigMissing, environment, load_config, not_needed
from .pipeline import SyncFailed, SyncInterrupted
from .runs import StateStore, run_flow


class Progress:
    """A live line on a terminal; a plain log line every few seconds otherwise (CI, cron, Airbyte logs)."""

    PLAIN_EVERY_S = 5.0

    def __init__(self, flow: str, stream=sys.stderr) -> None:
        self.flow = flow
        self.out = stream
        self.live = stream.isatty()
        self._last = 0.0
        self._started = time.monotonic()
        self._said_waiting: str | None = None

    def __call__(self, result) -> None:
        now = time.monotonic()
        new_wait = result.waiting is not None and result.waiting != self._said_waiting
        self._said_waiting = result.waiting
        if not self.live and now - self._last < self.PLAIN_EVERY_S and not new_wait:
            return
        self._last = now
        elapsed = max(now - self._started, 1e-9)
        counts = (
            ", ".join(f"{stream} {n:,} ({n / elapsed:.1f}/s)" for stream, n in sorted(result.records.items()))
            or "starting"
        )
        line = f"{self.flow}: {counts} | states committed {result.states_committed}"
        if result.waiting:
            line += f" | {result.waiting}"
        elif result.rate_limit_waits:
            line += f" | rate-limit waits {result.rate_limit_waits}"
        self.out.write(f"\r\x1b[2K{line}" if self.live else f"{line}\n")
        self.out.flush()

    def done(self) -> None:
        if self.live:
            self.out.write("\n")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the named flows")
    run = sub.add_parser("run", help="run one flow")
    run.add_argument("flow", choices=sorted(FLOWS))
    run.add_argument("--source-config", help="JSON config file (default: environment variables)")
    run.add_argument("--destination-config", help="JSON config file (default: environment variables)")
    run.add_argument("--streams", help="comma-separated streams (default: the flow's own)")
    run.add_argument("--verbose", action="store_true", help="connectors' log lines in full, tracebacks included")
    run.add_argument("--env-file", help="variables to read besides the environment (default: ./.env if present)")
    run.add_argument("--state-dir", default=".state", help="where committed states are kept (default .state)")
    run.add_argument(
        "--reset", action="store_true", help="forget the saved state: a full re-read that replaces the data"
    )
    demo_cmd = sub.add_parser("demo", help="every flow on the local emulators, twice, with a summary")
    demo_cmd.add_argument("--database-url", help="write there instead of an embedded Postgres (never DATABASE_URL)")
    cat = sub.add_parser("catalog", help="a configured catalog from `discover` output on stdin")
    cat.add_argument("--streams", help="comma-separated streams (default: all)")
    st = sub.add_parser("state", help="keep the newest committed state per stream from a destination's output")
    st.add_argument("--update", required=True, metavar="FILE", help="state file to merge into (created if absent)")
    args = parser.parse_args(argv)

    if args.command == "catalog":
        return shell.catalog(sys.stdin, sys.stdout, args.streams.split(",") if args.streams else None)
    if args.command == "state":
        return shell.state(sys.stdin, Path(args.update))

    if args.command == "list":
        for flow in FLOWS.values():
            print(f"{flow.name:20} {flow.source} -> {flow.destination}: {flow.description}")
        return 0
    if args.command == "demo":
        from .demo import main as demo

        return demo(args.database_url)

    flow = FLOWS[args.flow]
    try:
        environ = environment(args.env_file)
        source_config = load_config(flow.source, args.source_config, environ)
        destination_config = load_config(flow.destination, args.destination_config, environ)
    except (ConfigMissing, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in not_needed(environ):
        print(f"warning: {warning}", file=sys.stderr)
    store = StateStore(args.state_dir, flow.name)
    progress = Progress(flow.name)
    streams = args.streams.split(",") if args.streams else None
    started = time.monotonic()
    # SIGTERM (a scheduler, `kill`) stops a sync the way Ctrl-C does: source first, committed state kept.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run_flow(
            flow,
            source_config,
            destination_config,
            store,
            streams=streams,
            progress=progress,
            verbose=args.verbose,
            refresh=args.reset,
        )
    except SyncInterrupted as exc:
        progress.done()
        print(f"{flow.name}: {exc}", file=sys.stderr)
        return 130
    except (SyncFailed, ValueError) as exc:
        progress.done()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    progress.done()
    counts = ", ".join(f"{s} {n:,}" for s, n in sorted(result.records.items())) or "no records"
    print(f"{flow.name}: {counts}; {result.states_committed} states committed in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
