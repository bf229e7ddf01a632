"""The dashboard's own toolchain on the database a real Pylon sync wrote: the Prisma client generated from
destination-postgres-support/prisma/schema.prisma reads every model as stored, and Prisma Migrate's schema
engine finds no drift between that schema and the database.

Node runs the Prisma side (integration_tests/prisma: read.mjs, drift.mjs, their pinned npm packages, installed
here with `npm ci` into integration_tests/prisma/node_modules); each result is recomputed here in SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from emulators.pylon import EMULATOR as PylonEmulator
from emulators.pylon.api import TOKEN as PYLON_TOKEN
from emulators.server import EmulatorServer
from flows.connections import FLOWS
from flows.runs import StateStore, run_flow
from testkit.postgres import isolated_database

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "integration_tests" / "prisma"
SHIPPED = REPO / "destination-postgres-support" / "prisma"
MIGRATIONS = REPO / "destination-postgres-support" / "destination_postgres_support" / "migrations"
NPM_TIMEOUT_S = 600  # a cold `npm ci` takes ~15 s here; a slow registry gets room before failing
NODE_TIMEOUT_S = 120
TIME_SCALE = 60  # Pylon's 20/min limits would make each run take minutes
# Seed 4 of 40 issues has all four spellings of issues.type (conversation, Conversation, ticket, Ticket).
EMULATOR_SEED, EMULATOR_ISSUES = 4, 40
EMPTY_MIGRATION = "-- This is an empty migration.\n"
# Prisma scalar type -> the Postgres types (information_schema data_type or, for arrays, udt_name) it maps.
PRISMA_TYPES = {
    "String": {"text"},
    "Int": {"integer"},
    "BigInt": {"bigint"},
    "Float": {"double precision"},
    "Boolean": {"boolean"},
    "DateTime": {"timestamp without time zone", "date"},
}
ARRAY_TYPES = {"String": {"_text"}, "Int": {"_int4"}, "DateTime": {"_date", "_timestamp"}}
SLA_RANK = {None: 0, "ok": 1, "at_risk": 2, "breached": 3}


# ─── the toolchain ──────────────────────────────────────────────────────────


@contextlib.contextmanager
def harness_lock() -> Iterator[None]:
    """One test session at a time installs into, generates into and reads the shared node_modules."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; sessions there run one at a time anyway
        yield
        return
    digest = hashlib.sha256(str(HARNESS).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"prisma-harness-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run_node_tool(args: list[str], what: str, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish in {timeout:.0f} s: {' '.join(map(str, args))}", pytrace=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-4000:]
        pytest.fail(f"{what} failed (exit {done.returncode}): {' '.join(map(str, args))}\n{output}", pytrace=False)
    return done


def npm_ci(npm: str) -> None:
    """`npm ci` of the pinned packages, skipped while node_modules matches the lock file. --ignore-scripts:
    @prisma/engines' postinstall would download native engines, which nothing here uses."""
    stamp = HARNESS / "node_modules" / ".installed-from-lock"
    wanted = hashlib.sha256((HARNESS / "package-lock.json").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    run_node_tool(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        "npm ci of the Prisma packages (integration_tests/prisma/package-lock.json; needs the npm registry)",
        NPM_TIMEOUT_S,
        cwd=HARNESS,
    )
    stamp.write_text(wanted)


@pytest.fixture(scope="module")
def prisma(tmp_path_factory) -> Iterator[Path]:
    """The shipped schema and config copied into a fresh directory, its client generated: that directory."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the dashboard's Prisma toolchain; install Node.js 20.19+")
    workdir = tmp_path_factory.mktemp("prisma")
    for name in ("schema.prisma", "prisma.config.ts"):
        shutil.copy(SHIPPED / name, workdir / name)
    # `prisma generate` would download the native schema engine first (offline it fails); it does not run
    # it, so this stands in. Anything that did run it would fail, saying why.
    stand_in = workdir / "no-schema-engine"
    stand_in.write_text("#!/bin/sh\necho 'no native schema engine here: drift.mjs drives the wasm one' >&2\nexit 1\n")
    stand_in.chmod(0o755)
    with harness_lock():
        npm_ci(npm)
        # The generator puts the client next to the @prisma/client it finds from the schema's directory.
        (workdir / "node_modules").symlink_to(HARNESS / "node_modules", target_is_directory=True)
        run_node_tool(
            [node, HARNESS / "node_modules" / "prisma" / "build" / "index.js", "generate"],
            "prisma generate of destination-postgres-support/prisma/schema.prisma",
            NODE_TIMEOUT_S,
            cwd=workdir,
            env={**os.environ, "PRISMA_SCHEMA_ENGINE_BINARY": str(stand_in), "CHECKPOINT_DISABLE": "1"},
        )
        yield workdir


def as_url(conninfo: str) -> str:
    """A libpq connection string as the postgresql:// URL node's pg takes (a socket directory as ?host=)."""
    parts = conninfo_to_dict(conninfo)
    auth = quote(parts.get("user", ""), safe="")
    if parts.get("password"):
        auth += ":" + quote(parts["password"], safe="")
    host, query = parts.get("host", "localhost"), {}
    if host.startswith("/"):
        host, query["host"] = "", host
    port = f":{parts['port']}" if parts.get("port") and host else ""
    if parts.get("port") and not host:
        query["port"] = parts["port"]
    tail = f"?{urlencode(query)}" if query else ""
    return f"postgresql://{auth}@{host}{port}/{quote(parts['dbname'], safe='')}{tail}"


def node_json(prisma: Path, script: str, *args: str, url: str) -> Any:
    done = run_node_tool(
        [shutil.which("node"), HARNESS / script, *args],
        f"node {script}",
        NODE_TIMEOUT_S,
        cwd=prisma,
        env={**os.environ, "DATABASE_URL": url},
    )
    return json.loads(done.stdout)


# ─── the synced database ────────────────────────────────────────────────────


class Synced:
    """A database after two pylon-to-postgres runs (a first sync, then an incremental one), and the API's data."""

    def __init__(self, url: str, pylon: EmulatorServer, changed_issue: str) -> None:
        self.conninfo = url
        self.url = as_url(url)
        self.api_issues = {issue["id"]: issue for issue in pylon.emulator.data.issues}
        self.changed_issue = changed_issue

    def query(self, query: str | sql.Composable, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.conninfo) as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def synced(pg_server_url, tmp_path_factory) -> Iterator[Synced]:
    """source-pylon | destination-postgres-support as two processes against the Pylon emulator, twice: a first
    sync, then an incremental one after an issue changed (so sync_log has a latest completed row to find)."""
    emulator = PylonEmulator(seed=EMULATOR_SEED, size=EMULATOR_ISSUES, messages_per_issue=3)
    pylon = EmulatorServer(emulator, time_scale=TIME_SCALE).start()
    try:
        with isolated_database(pg_server_url) as url:
            flow = FLOWS["pylon-to-postgres"]
            store = StateStore(tmp_path_factory.mktemp("state"), flow.name)
            source = {
                "api_token": PYLON_TOKEN,
                "base_url": pylon.url,
                "start_date": emulator.landmarks()["epoch"],
                "rate_limit_window_seconds": 60 / TIME_SCALE,
            }
            run_flow(flow, source, {"database_url": url}, store)
            changed = emulator.data.issues[7]["id"]
            emulator.update_issue(changed, title="Renamed by the customer")
            emulator.add_message(changed, text="Any news?", author="contact")
            run_flow(flow, source, {"database_url": url}, store)
            yield Synced(url, pylon, changed)
    finally:
        pylon.stop()


# ─── what the client returns, from SQL ──────────────────────────────────────


def as_json(value: Any, prisma_type: str) -> Any:
    """A value read by psycopg as the Prisma client returns it, through JSON (read.mjs: BigInt as a string)."""
    if value is None:
        return None
    if isinstance(value, list):
        return [as_json(v, prisma_type) for v in value]
    if prisma_type == "DateTime":
        if isinstance(value, dt.datetime):  # TIMESTAMP(3) holds naive UTC; the client reads it as UTC
            return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
        return f"{value.isoformat()}T00:00:00.000Z"  # a DATE is midnight UTC
    if prisma_type == "BigInt":
        return str(value)
    return value


def scalars(model: dict) -> list[dict]:
    return [f for f in model["fields"] if f["kind"] == "scalar"]


def model_rows(db: Synced, model: dict, where: sql.Composable | None = None) -> list[dict]:
    """Every row of a model's table (or view), ordered by its key, as the client returns it."""
    fields = scalars(model)
    rows = db.query(
        sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
            sql.SQL(", ").join(sql.Identifier(f["column"]) for f in fields),
            sql.Identifier(model["table"]),
            where or sql.SQL("TRUE"),
            sql.Identifier(model["key"]),
        )
    )
    return [{f["name"]: as_json(v, f["type"]) for f, v in zip(fields, row, strict=True)} for row in rows]


def ids(rows: list[tuple]) -> list[dict]:
    return [{"id": row[0]} for row in rows]


def grouped(rows: list[dict]) -> list[dict]:
    """groupBy results in a fixed order (the client promises none without orderBy)."""
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def view_columns(db: Synced) -> list[dict]:
    with psycopg.connect(db.conninfo, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM issue_sla_status ORDER BY id").fetchall()


@pytest.fixture(scope="module")
def reads(prisma, synced) -> dict:
    """read.mjs's output, with the SLA view read just before and just after it (the view is as of now())."""
    tag = synced.query("SELECT t FROM issues, unnest(tags) t GROUP BY t ORDER BY count(*) DESC, t LIMIT 1")[0][0]
    # a plain word (no LIKE wildcard), lower-cased: titles capitalise it
    word = synced.query("SELECT (regexp_match(title, '[A-Za-z]{4,}'))[1] FROM issues ORDER BY id LIMIT 1")[0][0].lower()
    since = synced.query("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY created_at) FROM issues")[0][0]
    params = {"tag": tag, "word": word, "since": as_json(since, "DateTime"), "minHours": 1.0}
    before = view_columns(synced)
    output = node_json(prisma, "read.mjs", json.dumps(params), url=synced.url)
    after = view_columns(synced)
    fields = scalars(output["dataModel"]["IssueSlaStatus"])

    def converted(rows: list[dict]) -> list[dict]:
        return [{f["name"]: as_json(row[f["column"]], f["type"]) for f in fields} for row in rows]

    return {**output, "params": params, "view_before": converted(before), "view_after": converted(after)}


# ─── the tests ──────────────────────────────────────────────────────────────


def assert_view_read_between(got: list[dict], before: list[dict], after: list[dict]) -> None:
    """issue_sla_status is as of now(): each value the client read lies between the reads before and after it
    (elapsed hours only grow, a status only worsens); the others are equal."""
    assert [r["id"] for r in got] == [r["id"] for r in before] == [r["id"] for r in after]
    for row, low, high in zip(got, before, after, strict=True):
        for name, value in row.items():
            if low[name] == high[name]:
                assert value == low[name], (row["id"], name)
            elif name.endswith("Status"):
                assert SLA_RANK[low[name]] <= SLA_RANK[value] <= SLA_RANK[high[name]], (row["id"], name)
            else:
                assert low[name] <= value <= high[name], (row["id"], name)


def test_the_client_reads_every_row_of_every_model_as_the_sync_stored_it(reads, synced):
    """What a dashboard shows is what the sync stored, field for field: a wrong @map or type, or a field with no
    column, fails a query here or reads a different value (a column the schema lacks is the drift tests')."""
    data_model, results = reads["dataModel"], reads["results"]
    assert set(data_model) == {
        "Issue", "Account", "User", "Message", "SyncLog", "PendingMessage", "BusinessHoursSettings", "SlaTarget",
        "SchemaMigration", "IssueSlaStatus",
    }  # fmt: skip
    for name, model in data_model.items():
        got = results[f"{name}.findMany all rows"]
        if name == "IssueSlaStatus":
            assert_view_read_between(got, reads["view_before"], reads["view_after"])
        else:
            assert got == model_rows(synced, model), name
    counts = {name: len(results[f"{name}.findMany all rows"]) for name in data_model}
    assert counts["Issue"] == EMULATOR_ISSUES and counts["Message"] == 3 * EMULATOR_ISSUES + 1
    assert counts["SyncLog"] == 2 and counts["SchemaMigration"] == len(list(MIGRATIONS.glob("*.sql")))
    assert min(counts[m] for m in ("Account", "User", "SlaTarget", "BusinessHoursSettings", "IssueSlaStatus")) > 0
    assert counts["PendingMessage"] == 0  # every message's issue arrived
    api = synced.api_issues
    for issue in results["Issue.findMany all rows"]:
        sent = api[issue["id"]]
        assert (issue["title"], issue["state"], issue["typeRaw"]) == (sent["title"], sent["state"], sent["type"])
        assert dt.datetime.fromisoformat(issue["createdAt"]) == dt.datetime.fromisoformat(sent["created_at"])


def test_relations_read_both_ways_and_from_the_sla_view_to_its_issue(reads, synced):
    """include/_count/select through each relation: the foreign keys the client joins on must be the ones
    the destination fills (an issue's account, assignee and messages; the view's issue)."""
    data_model, results = reads["dataModel"], reads["results"]
    accounts = {r["id"]: r for r in model_rows(synced, data_model["Account"])}
    users = {r["id"]: r for r in model_rows(synced, data_model["User"])}
    messages: dict[str, list[dict]] = {}
    for message_id, issue_id in synced.query("SELECT id, issue_id FROM messages ORDER BY created_at, id"):
        messages.setdefault(issue_id, []).append({"id": message_id})
    open_ids = {row[0] for row in synced.query("SELECT id FROM issue_sla_status")}
    expected = [
        {
            "id": issue_id,
            "account": accounts.get(account_id),
            "assignee": users.get(assignee_id),
            "messages": messages.get(issue_id, []),
            "slaStatus": {"id": issue_id} if issue_id in open_ids else None,
        }
        for issue_id, account_id, assignee_id in synced.query(
            "SELECT id, account_id, assignee_id FROM issues ORDER BY id"
        )
    ]
    assert results["issue.findMany include account, assignee, messages, slaStatus"] == expected
    assert any(e["account"] for e in expected) and any(e["assignee"] for e in expected) and open_ids

    assert results["account.findMany _count issues"] == [
        {"id": a, "_count": {"issues": n}}
        for a, n in synced.query(
            "SELECT a.id, count(i.id) FROM accounts a LEFT JOIN issues i ON i.account_id = a.id GROUP BY a.id ORDER BY a.id"
        )
    ]
    assert results["user.findMany include issues"] == [
        {"id": u, "issues": [{"id": i} for i in issue_ids]}
        for u, issue_ids in synced.query(
            "SELECT u.id, coalesce(array_agg(i.id ORDER BY i.id) FILTER (WHERE i.id IS NOT NULL), '{}')"
            " FROM users u LEFT JOIN issues i ON i.assignee_id = u.id GROUP BY u.id ORDER BY u.id"
        )
    ]
    assert results["message.findMany include issue"] == [
        {"id": m, "issue": {"id": i, "title": t}}
        for m, i, t in synced.query(
            "SELECT m.id, i.id, i.title FROM messages m JOIN issues i ON i.id = m.issue_id ORDER BY m.id"
        )
    ]
    assert results["issueSlaStatus.findMany include issue"] == [
        {"id": i, "issue": {"title": t, "state": s, "closedAt": None}}
        for i, t, s, c in synced.query(
            "SELECT v.id, i.title, i.state, i.closed_at FROM issue_sla_status v JOIN issues i USING (id) ORDER BY v.id"
        )
    ]


def test_one_spelling_of_issue_type_lets_a_filter_find_every_ticket(reads, synced):
    """Seed 003's dashboard filters on `type: "Ticket"`: it must find every ticket the API sent, in whichever of
    Pylon's spellings (a filter on the raw values found 5 of 23)."""
    results, api = reads["results"], synced.api_issues.values()
    sent = {issue["type"] for issue in api}
    assert {"ticket", "Ticket", "conversation", "Conversation"} <= sent, "the emulator sends every spelling"
    for spelling in ("Ticket", "Conversation"):
        expected = sorted(i["id"] for i in api if i["type"].lower() == spelling.lower())
        found = results[f"issue.findMany where type = {spelling}"]
        assert (
            [r["id"] for r in found]
            == expected
            == [r[0] for r in synced.query("SELECT id FROM issues WHERE type = %s ORDER BY id", (spelling,))]
        )
    assert grouped(results["issue.groupBy type"]) == grouped(
        [{"type": t, "_count": {"_all": n}} for t, n in synced.query("SELECT type, count(*) FROM issues GROUP BY type")]
    )
    assert {r["type"] for r in results["issue.groupBy type"]} == {"Conversation", "Ticket"}


def test_filters_match_their_sql(reads, synced):
    """The filters a dashboard builds (scalar, list, case-insensitive text, relation some/none, the view's
    status) return exactly the issues the same condition selects in SQL."""
    results, params = reads["results"], reads["params"]
    conditions = {
        "issue.findMany where open": ("closed_at IS NULL AND state <> 'closed'", ()),
        "issue.findMany where tags has": ("%s = ANY(tags)", (params["tag"],)),
        "issue.findMany where title contains, insensitive": ("title ILIKE '%%' || %s || '%%'", (params["word"],)),
        "issue.findMany where createdAt >= since and firstResponseHours > minHours": (
            "created_at >= %s::timestamptz AT TIME ZONE 'UTC' AND first_response_hours > %s",
            (params["since"], params["minHours"]),
        ),
        "issue.findMany where some internal note": (
            "EXISTS (SELECT 1 FROM messages m WHERE m.issue_id = issues.id AND m.sender_type = 'team' AND m.is_private)",
            (),
        ),
        "issue.findMany where no team message": (
            "NOT EXISTS (SELECT 1 FROM messages m WHERE m.issue_id = issues.id AND m.sender_type = 'team')",
            (),
        ),
    }
    for name, (condition, args) in conditions.items():
        expected = ids(synced.query(f"SELECT id FROM issues WHERE {condition} ORDER BY id", args))  # noqa: S608
        assert results[name] == expected, name
        assert 0 < len(expected) < EMULATOR_ISSUES, f"{name}: a filter that selects none or all proves little"
    before = [{"id": r["id"]} for r in reads["view_before"] if r["slaStatus"] == "breached"]
    after = [{"id": r["id"]} for r in reads["view_after"] if r["slaStatus"] == "breached"]
    assert results["issueSlaStatus.findMany where slaStatus = breached"] in (before, after)


def test_group_by_aggregates_the_latest_sync_log_and_raw_sql_match_their_sql(reads, synced):
    """The dashboard's counts and averages (groupBy, aggregate), its "last synced" line and next watermark
    (the latest completed SyncLog) and the business-hours function called through $queryRaw."""
    results, data_model = reads["results"], reads["dataModel"]
    assert grouped(results["issue.groupBy state, priority"]) == grouped(
        [
            {
                "state": state,
                "priority": priority,
                "_count": {"_all": n},
                "_avg": {"firstResponseHours": fr, "resolutionHours": res},
                "_max": {"updatedAt": as_json(updated, "DateTime")},
            }
            for state, priority, n, fr, res, updated in synced.query(
                "SELECT state, priority, count(*), avg(first_response_hours), avg(resolution_hours), max(updated_at)"
                " FROM issues GROUP BY state, priority"
            )
        ]
    )
    assert grouped(results["message.groupBy issueId, senderType"]) == grouped(
        [
            {"issueId": i, "senderType": s, "_count": {"_all": n}, "_min": {"createdAt": as_json(first, "DateTime")}}
            for i, s, n, first in synced.query(
                "SELECT issue_id, sender_type, count(*), min(created_at) FROM messages GROUP BY issue_id, sender_type"
            )
        ]
    )

    def by_status(rows: list[dict]) -> list[dict]:
        statuses = [r["slaStatus"] for r in rows]
        return grouped([{"slaStatus": s, "_count": {"_all": statuses.count(s)}} for s in set(statuses)])

    got = grouped(results["issueSlaStatus.groupBy slaStatus"])
    assert got in (by_status(reads["view_before"]), by_status(reads["view_after"]))

    count, avg, latest = synced.query(
        "SELECT count(*), avg(resolution_hours), max(closed_at) FROM issues WHERE closed_at IS NOT NULL"
    )[0]
    assert results["issue.aggregate closed"] == {
        "_count": {"_all": count},
        "_avg": {"resolutionHours": avg},
        "_max": {"closedAt": as_json(latest, "DateTime")},
    }
    assert count > 0

    latest_completed = results["syncLog.findFirst latest completed"]
    assert [latest_completed] == model_rows(
        synced,
        data_model["SyncLog"],
        sql.SQL("id = (SELECT id FROM sync_log WHERE status = 'completed' ORDER BY started_at DESC LIMIT 1)"),
    )
    # the second run's: the renamed issue (the newest updated_at) and its thread, re-read with the new message
    thread = synced.query("SELECT count(*) FROM messages WHERE issue_id = %s", (synced.changed_issue,))[0][0]
    assert (latest_completed["issuesSynced"], latest_completed["messagesSynced"]) == (1, thread)
    newest = max(results["Issue.findMany all rows"], key=lambda i: i["updatedAt"])
    assert newest["id"] == synced.changed_issue
    assert latest_completed["lastIssueUpdatedAt"] == newest["updatedAt"]

    hours = results["$queryRaw business_hours_between"]
    stored = {
        i: h for i, h in synced.query("SELECT id, first_response_hours FROM issues WHERE first_response_at IS NOT NULL")
    }
    assert {r["id"] for r in hours} == set(stored) and stored
    for row in hours:
        assert row["hours"] == pytest.approx(stored[row["id"]], abs=1e-9), row["id"]


def test_every_query_read_mjs_runs_is_checked(reads):
    """read.mjs and this module name the same queries: a query added there is compared here too."""
    models = {f"{name}.findMany all rows" for name in reads["dataModel"]}
    checked = models | {
        "issue.findMany include account, assignee, messages, slaStatus",
        "account.findMany _count issues",
        "user.findMany include issues",
        "message.findMany include issue",
        "issueSlaStatus.findMany include issue",
        "issue.findMany where type = Ticket",
        "issue.findMany where type = Conversation",
        "issue.findMany where open",
        "issue.findMany where tags has",
        "issue.findMany where title contains, insensitive",
        "issue.findMany where createdAt >= since and firstResponseHours > minHours",
        "issue.findMany where some internal note",
        "issue.findMany where no team message",
        "issueSlaStatus.findMany where slaStatus = breached",
        "issue.groupBy type",
        "issue.groupBy state, priority",
        "message.groupBy issueId, senderType",
        "issueSlaStatus.groupBy slaStatus",
        "issue.aggregate closed",
        "syncLog.findFirst latest completed",
        "$queryRaw business_hours_between",
    }
    assert set(reads["results"]) == checked


# ─── drift ──────────────────────────────────────────────────────────────────


def information_schema_drift(db: Synced, data_model: dict) -> list[str]:
    """Where the database's tables and views differ from the schema's models and views, column by column and
    type by type. Prisma Migrate does not look at views, so this is what checks issue_sla_status."""
    columns: dict[str, dict[str, tuple[str, str]]] = {}
    for table, column, data_type, udt in db.query(
        "SELECT table_name, column_name, data_type, udt_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'"
    ):
        columns.setdefault(table, {})[column] = (data_type, udt)
    problems = []
    modelled = {model["table"]: model for model in data_model.values()}
    problems += [f"table or view {t} is not in the schema" for t in sorted(set(columns) - set(modelled))]
    for table, model in modelled.items():
        have = columns.get(table, {})
        if not have:
            problems.append(f"{table} is in the schema, not in the database")
            continue
        fields = {f["column"]: f for f in scalars(model)}
        problems += [f"{table}.{c} is not in the schema" for c in sorted(set(have) - set(fields))]
        problems += [f"{table}.{c} is not in the database" for c in sorted(set(fields) - set(have))]
        for column in sorted(set(have) & set(fields)):
            data_type, udt = have[column]
            prisma_type = fields[column]["type"]
            allowed = ARRAY_TYPES.get(prisma_type, set()) if data_type == "ARRAY" else PRISMA_TYPES[prisma_type]
            if (udt if data_type == "ARRAY" else data_type) not in allowed:
                problems.append(f"{table}.{column} is {data_type} ({udt}), the schema says {prisma_type}")
    return problems


def test_prisma_migrate_finds_no_drift_and_a_dashboard_baselines_without_a_reset(prisma, synced, reads):
    """The schema ships as what the destination's migrations make: Prisma Migrate's diff between them is empty,
    and a dashboard that adopts the database as the README says (0_init from the schema, `migrate resolve
    --applied 0_init`) is not told "Drift detected" and asked to reset the database, as it was before."""
    schema = str(prisma / "schema.prisma")
    assert node_json(prisma, "drift.mjs", "diff", schema, url=synced.url) == {"exitCode": 0, "script": EMPTY_MIGRATION}
    assert information_schema_drift(synced, reads["dataModel"]) == []

    adopted = node_json(prisma, "drift.mjs", "baseline", schema, url=synced.url)
    assert adopted["before"]["tag"] == "reset" and "Drift detected" in adopted["before"]["reason"]
    assert adopted["after"] == {"tag": "createMigration"}, adopted["after"]
    assert adopted["history"]["history"] is None and adopted["history"]["failedMigrationNames"] == []
    assert 'CREATE TABLE "issues"' in adopted["initScript"]
    # Prisma Migrate's own table, now there, is not drift either
    assert node_json(prisma, "drift.mjs", "diff", schema, url=synced.url) == {"exitCode": 0, "script": EMPTY_MIGRATION}


def test_the_drift_checks_see_drift(prisma, synced, reads):
    """Both checks must be able to fail: a column and an index the schema does not know show in Prisma's diff;
    a column added to the view shows only in the information_schema comparison (Prisma Migrate ignores views)."""
    (definition,) = synced.query("SELECT pg_get_viewdef('issue_sla_status'::regclass)")[0]
    with psycopg.connect(synced.conninfo) as conn:
        conn.execute('ALTER TABLE issues ADD COLUMN "probe" TEXT')
        conn.execute('DROP INDEX "issues_state_idx"')
        conn.execute(
            f"CREATE OR REPLACE VIEW issue_sla_status AS SELECT v.*, 1 AS probe FROM ({definition.rstrip(';')}) v"
        )
    drift = node_json(prisma, "drift.mjs", "diff", str(prisma / "schema.prisma"), url=synced.url)
    assert drift["exitCode"] == 2
    assert 'DROP COLUMN "probe"' in drift["script"] and 'CREATE INDEX "issues_state_idx"' in drift["script"]
    assert "issue_sla_status" not in drift["script"]
    assert sorted(information_schema_drift(synced, reads["dataModel"])) == [
        "issue_sla_status.probe is not in the schema",
        "issues.probe is not in the schema",
    ]
