"""Benchmark: source-pylon backfill and incremental sync against the Pylon emulator under Pylon's limits.

    python integration_tests/benchmarks/source_pylon_backfill.py [--size 2000] [--messages 10]

The emulator enforces Pylon's documented limits on a clock `--time-scale` times faster (60: a limit
minute lasts one second) and the connector counts its budgets (the documented per-minute limits, its
defaults) in the same scaled window, so every limit keeps its proportions. Prints requests per
endpoint family against the minimum a correct client needs, and wall time against the rate-limit floor
for that many requests; then changes 20 issues and checks the incremental sync costs requests in
proportion to them. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder, ConfiguredAirbyteStreamBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from emulators.pylon import PylonEmulator
from emulators.pylon.api import LIMITS
from emulators.server import EmulatorServer
from source_pylon import SourcePylon
from source_pylon.config import MAX_PAGE_SIZE, PylonConfig

REQUEST_TARGET = 1.05  # requests made <= 1.05 x the minimum
WALL_TARGET = 1.15  # wall time <= 1.15 x the rate-limit floor
CHANGED = 20
SEARCH_WINDOW = timedelta(days=30)
STREAMS = ["issues", "issue_messages", "issue_documents", "accounts", "contacts", "users", "teams"]
INCREMENTAL = {"issues", "issue_messages", "issue_documents"}


def catalog():
    builder = CatalogBuilder()
    for name in STREAMS:
        mode = SyncMode.incremental if name in INCREMENTAL else SyncMode.full_refresh
        builder.with_stream(ConfiguredAirbyteStreamBuilder().with_name(name).with_sync_mode(mode))
    return builder.build()


def pages(count: int) -> int:
    return max(1, math.ceil(count / MAX_PAGE_SIZE))


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def backfill_minimum(emulator: PylonEmulator, start: datetime, now: datetime) -> Counter:
    """Requests any client slicing searches at 30 days needs: a page per window, a message page per issue."""
    data = emulator.data
    minimum: Counter = Counter()
    lo = start
    while True:
        hi = lo + SEARCH_WINDOW
        last = hi >= now
        inside = sum(1 for i in data.issues if lo <= parse(i["updated_at"]) and (last or parse(i["updated_at"]) <= hi))
        minimum["issues_search"] += pages(inside)
        if last:
            break
        lo = hi
    minimum["issue_messages"] = sum(pages(len(data.messages[i["id"]])) for i in data.issues)
    for family in ("accounts", "contacts", "users", "teams"):
        minimum[family] = pages(len(getattr(data, family)))
    return minimum


def floor_seconds(requests: Counter, window: float) -> float:
    """The least time those requests need under the limits: full windows per family, families in parallel."""
    return max((math.ceil(n / LIMITS[f]) - 1) * window for f, n in requests.items() if n) if requests else 0.0


def run_sync(server: EmulatorServer, config: dict, state=None):
    server.log.clear()
    started = time.monotonic()
    output = read(SourcePylon(), config, catalog(), state=state)
    wall = time.monotonic() - started
    time.sleep(0.1)  # the kit's server logs a request just after answering it
    made = Counter(server.log.by_family())
    failed = sum(1 for e in server.log.entries() if e.status != 200)
    if output.errors:
        raise SystemExit(f"the sync failed: {[e.trace.error.message for e in output.errors]}")
    return output, made, wall, failed


def final_state(output):
    last = {}
    for message in output.state_messages:
        last[message.state.stream.stream_descriptor.name] = message.state
    return list(last.values())


def table(title: str, made: Counter, minimum: Counter) -> list[str]:
    lines = [title, f"  {'family':<16}{'requests':>10}{'minimum':>10}{'ratio':>8}"]
    for family in sorted(set(made) | set(minimum)):
        ratio = made[family] / minimum[family] if minimum[family] else float("inf") if made[family] else 1.0
        lines.append(f"  {family:<16}{made[family]:>10}{minimum[family]:>10}{ratio:>8.2f}")
    total_made, total_min = sum(made.values()), sum(minimum.values())
    lines.append(f"  {'total':<16}{total_made:>10}{total_min:>10}{total_made / max(total_min, 1):>8.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000, help="issues in the emulated workspace")
    parser.add_argument("--messages", type=int, default=10, help="messages per issue")
    parser.add_argument("--time-scale", type=float, default=60.0, help="60: a rate-limit minute lasts 1 s")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--wall-target", type=float, default=WALL_TARGET, help="small smoke runs are dominated by fixed costs"
    )
    args = parser.parse_args(argv)
    # The connector's own log lines (~110 of them) go to a file, not into the table.
    log_path = Path(tempfile.gettempdir()) / "source_pylon_backfill.log"
    log_file = log_path.open("w")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log_file)
    print(f"(connector logs: {log_path})")

    emulator = PylonEmulator(seed=args.seed, size=args.size, messages_per_issue=args.messages)
    window = 60.0 / args.time_scale
    problems: list[str] = []
    with EmulatorServer(emulator, time_scale=args.time_scale) as server:
        config = {
            "api_token": emulator.token,
            "base_url": server.url,
            "start_date": emulator.landmarks()["epoch"],
            "rate_limit_window_seconds": window,
        }
        parsed = PylonConfig.parse(config)
        print(f"source-pylon backfill: {args.size} issues x {args.messages} messages, time scale {args.time_scale:g}")

        now = datetime.now(timezone.utc)
        output, made, wall, failed = run_sync(server, config)
        minimum = backfill_minimum(emulator, parsed.start, now)
        floor = floor_seconds(made, window)
        for line in table("backfill", made, minimum):
            print(line)
        records = Counter(m.record.stream for m in output.records)
        print(f"  records: {dict(records)}")
        print(
            f"  wall {wall:.1f}s, rate-limit floor {floor:.1f}s, ratio {wall / max(floor, 1e-9):.3f}; failed requests {failed}"
        )
        if sum(made.values()) > REQUEST_TARGET * sum(minimum.values()):
            problems.append(
                f"backfill made {sum(made.values())} requests, over {REQUEST_TARGET} x {sum(minimum.values())}"
            )
        if floor and wall > args.wall_target * floor:
            problems.append(f"backfill took {wall:.1f}s, over {args.wall_target} x the {floor:.1f}s floor")
        if failed:
            problems.append(f"backfill had {failed} failed requests")
        if records["issues"] != args.size or records["issue_messages"] != args.size * args.messages:
            problems.append(f"backfill lost records: {dict(records)}")

        issues = emulator.data.issues
        step = max(1, len(issues) // CHANGED)
        changed = [issues[i]["id"] for i in range(0, len(issues), step)][:CHANGED]
        for n, issue_id in enumerate(changed):
            if n % 2:
                emulator.add_message(issue_id, text="Following up on this.")
            else:
                emulator.update_issue(issue_id, state="closed")
        server.limiter.reset()  # syncs are an hour apart: the backfill's windows have rolled over
        output, made, wall, failed = run_sync(server, config, state=final_state(output))
        expected = Counter(issues_search=1, issue_messages=len(changed), accounts=1, contacts=1, users=1, teams=1)
        for line in table(f"incremental after changing {len(changed)} issues", made, expected):
            print(line)
        records = Counter(m.record.stream for m in output.records)
        print(f"  records: {dict(records)}; wall {wall:.2f}s; failed requests {failed}")
        if made["issue_messages"] > len(changed) or made["issues_search"] > 2:
            problems.append(f"incremental requests not proportional to {len(changed)} changed issues: {dict(made)}")
        if records["issues"] != len(changed) or records["issue_documents"] != len(changed):
            problems.append(f"incremental emitted {dict(records)} for {len(changed)} changed issues")
        if failed:
            problems.append(f"incremental had {failed} failed requests")

    if problems:
        print("verdict: FAIL — " + "; ".join(problems))
        return 1
    print("verdict: PASS — every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
