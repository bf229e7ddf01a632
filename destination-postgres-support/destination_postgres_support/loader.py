"""The Postgres backend: every byte the destination writes goes through here.

One batch = one transaction: COPY (binary) into a temp table dropped at commit, then one merge statement
into the target that lets a row replace another only if it is not older ("newer wins" on updated_at / the
stream's cursor). Temp tables live inside the transaction and locks are transaction-scoped, so the loader
also works through a transaction pooler (Neon's pooled URL). Identifiers are always psycopg.sql.Identifier.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.copy import FileWriter

from .business_hours import Calendar
from .config import DestinationConfig
from .generic import META_COLUMNS, GenericStream, fit_identifier
from .mapping import PG_TYPES, TableMapping
from .migrate import migrate

logger = logging.getLogger("airbyte")

CONNECT_TIMEOUT_S = 15
# Batches are staged in temp tables, which live in temp_buffers (8 MB by default): a 20k-issue batch (~26 MB)
# spilled to disk and was read back, ~15% of Postgres's CPU per batch. Allocated only as used; it can be
# raised only before a session first touches a temp table, so behind a pooler the default may stay.
TEMP_BUFFERS = "64MB"
PENDING = "_support_pending_messages"
GENERATION = "_airbyte_generation_id"  # see migration 007
INTERRUPTED = "interrupted: the sync stopped before it finished (killed, or its input ended early)"
MESSAGE_COLUMNS = ("id", "issue_id", "sender_type", "sender_name", "body_text", "body_html", "created_at", "is_private")
# Foreign keys of `issues` that get a placeholder parent row when the parent has not arrived.
ISSUE_PARENTS = (("account_id", "accounts"), ("assignee_id", "users"))
# Another stream's staging table: its key columns (TEXT), then (column, type, binary COPY type) below; _seq
# keeps the arrival order.
GENERIC_STAGED = (
    ("_airbyte_raw_id", "TEXT", "text"),
    ("_airbyte_extracted_at", "TIMESTAMPTZ", "timestamptz"),
    ("_airbyte_generation_id", "BIGINT", "int8"),
    ("_airbyte_meta", "TEXT", "text"),
    ("_airbyte_cursor", "TEXT", "text"),
    ("_airbyte_data", "TEXT", "text"),
    ("_seq", "BIGINT", "int8"),
)
# Columns the dashboard's tables get in SQL rather than from the record.
SETTINGS_COLUMNS = ('"timezone"', '"day_start_seconds"', '"day_end_seconds"', '"week_prefix"', '"holiday_days"')


def connection_string(config: DestinationConfig) -> str:
    extra: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "destination-postgres-support"}
    if config.ssl is not None:
        extra["sslmode"] = config.ssl.value
    return make_conninfo(config.conninfo(), **extra)


def connect(config: DestinationConfig) -> psycopg.Connection:
    # prepare_threshold=None: server-side prepared statements break behind transaction poolers.
    conn = psycopg.connect(connection_string(config), autocommit=False, prepare_threshold=None)
    raise_temp_buffers(conn)
    return conn


def raise_temp_buffers(conn: psycopg.Connection) -> None:
    try:
        conn.execute(sql.SQL("SET temp_buffers = {}").format(sql.Literal(TEMP_BUFFERS)))
        conn.commit()
    except psycopg.errors.InvalidParameterValue:  # the session already used temp tables (a pooled connection)
        conn.rollback()


def _now_ms() -> dt.datetime:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_sync_id() -> str:
    """A cuid-like id for sync_log.id (Prisma's @default(cuid()) is generated client-side)."""
    return "c" + format(int(time.time() * 1000), "x") + secrets.token_hex(8)


@dataclass
class Batch:
    """One batch, staged on the writer's main thread for the flush thread: COPY data and what it implies."""

    payload: bytes  # binary COPY, signature to trailer
    count: int
    watermark: dt.datetime | None = None  # newest issues.updated_at, for sync_log
    parents: dict[str, list[str]] = field(default_factory=dict)  # table → ids the rows point to
    # The ids a keyed table's batch upserts and nothing else (None for messages, which also move pending
    # rows and update issues): two batches with disjoint ids may load at once.
    ids: frozenset | None = None


class PostgresBackend:
    def __init__(self, config: DestinationConfig, conn: psycopg.Connection):
        self.config = config
        self.conn = conn
        self.schema = config.schema_name
        self.synced_at = _now_ms()
        self.calendar = Calendar.from_config(config.business_hours)

    def twin(self) -> PostgresBackend:
        """The same sync on a connection of its own (a loading lane); call once the sync has started."""
        twin = PostgresBackend(self.config, connect(self.config))
        twin.synced_at = self.synced_at
        return twin

    def close(self) -> None:
        self.conn.close()

    # ─── helpers ────────────────────────────────────────────────────────────

    def ident(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def _begin(self) -> None:
        # Inlined SQL functions resolve names at the caller's search_path. A merge runs its plan once: JIT
        # compiling it cost ~20 ms per 10k-issue batch and saved less (measured with EXPLAIN ANALYZE).
        self.conn.execute(
            sql.SQL("SET LOCAL search_path TO {}; SET LOCAL jit = off").format(sql.Identifier(self.schema))
        )

    def _encode(self, types: Sequence[str], rows: Iterable[tuple]) -> bytes:
        """Rows as one binary COPY payload, formatted without touching the server.

        The writer calls this on its main thread, on its own connection (idle while the lanes load):
        formatting needs the GIL, and on a flush thread it fought the parser for it (COPY took ~3x longer).
        The flush threads then only send bytes and wait on Postgres.
        """
        out = io.BytesIO()
        with psycopg.Copy(self.conn.cursor(), binary=True, writer=FileWriter(out)) as copy:
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)
        return out.getvalue()

    def _copy(self, temp: str, columns: Sequence[str], payload: bytes) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(temp), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with self.conn.cursor().copy(statement) as copy:
            copy.write(payload)

    def _temp_table(self, temp: str, columns: Sequence[tuple[str, str]]) -> None:
        self.conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
                sql.Identifier(temp),
                sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns),
            )
        )

    # ─── setup ──────────────────────────────────────────────────────────────

    def prepare(self) -> None:
        """Migrate, then write the configured business hours and SLA targets."""
        migrate(self.conn, self.schema)
        cal = self.calendar
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL(
                    "UPDATE {} SET timezone = %s, day_start_seconds = %s, day_end_seconds = %s, working_days = %s,"
                    " holidays = %s, week_prefix = %s, holiday_days = %s"
                ).format(self.ident("business_hours_settings")),
                (
                    cal.timezone,
                    cal.day_start,
                    cal.day_end,
                    list(cal.working_days),
                    list(self.config.business_hours.holidays),
                    list(cal.week_prefix),
                    list(cal.holiday_days),
                ),
            )
            for target in self.config.sla_targets:
                self.conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (priority, first_response_hours, resolution_hours) VALUES (%s, %s, %s)"
                        " ON CONFLICT (priority) DO UPDATE SET first_response_hours = EXCLUDED.first_response_hours,"
                        " resolution_hours = EXCLUDED.resolution_hours"
                    ).format(self.ident("sla_targets")),
                    (target.priority, target.first_response_hours, target.resolution_hours),
                )

    # ─── sync_log ───────────────────────────────────────────────────────────

    def start_sync_log(self) -> tuple[str, dt.datetime | None]:
        """Open this sync's row; return its id and the watermark of the latest completed sync.

        A row still `running` belongs to a sync that was killed (Airbyte never runs two syncs of one
        connection at once): it is closed as failed, so "the latest successful SyncLog" stays true.
        """
        sync_id = new_sync_id()
        log = self.ident("sync_log")
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL(
                    "UPDATE {} SET status = 'failed', ended_at = coalesce(ended_at, %s),"
                    " errors = coalesce(errors, %s) WHERE status = 'running'"
                ).format(log),
                (self.synced_at, orjson.dumps([INTERRUPTED]).decode()),
            )
            watermark = self.conn.execute(
                sql.SQL(
                    "SELECT last_issue_updated_at FROM {} WHERE status = 'completed'"
                    " AND last_issue_updated_at IS NOT NULL ORDER BY started_at DESC LIMIT 1"
                ).format(log)
            ).fetchone()
            self.conn.execute(
                sql.SQL("INSERT INTO {} (id, started_at, status) VALUES (%s, %s, 'running')").format(log),
                (sync_id, self.synced_at),
            )
        return sync_id, watermark[0].replace(tzinfo=dt.timezone.utc) if watermark else None

    def newest_issue_update(self) -> dt.datetime | None:
        """The newest `updated_at` the issues table holds: a completed sync's watermark."""
        with self.conn.transaction():
            row = self.conn.execute(sql.SQL("SELECT max(updated_at) FROM {}").format(self.ident("issues"))).fetchone()
        return row[0].replace(tzinfo=dt.timezone.utc) if row and row[0] else None

    def update_sync_log(
        self,
        sync_id: str,
        counts: dict[str, int],
        watermark: dt.datetime | None,
        errors: list[str],
        status: str | None = None,
    ) -> None:
        ended = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) if status else None
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL(
                    "UPDATE {} SET issues_synced = %s, accounts_synced = %s, messages_synced = %s,"
                    " errors = %s, last_issue_updated_at = %s, status = coalesce(%s, status),"
                    " ended_at = coalesce(%s, ended_at) WHERE id = %s"
                ).format(self.ident("sync_log")),
                (
                    counts.get("issues", 0),
                    counts.get("accounts", 0),
                    counts.get("issue_messages", 0),
                    orjson.dumps(errors).decode() if errors else None,
                    watermark.replace(tzinfo=None) if watermark else None,  # naive UTC, as the column holds
                    status,
                    ended,
                    sync_id,
                ),
            )

    # ─── dashboard tables ───────────────────────────────────────────────────

    def stage_core(self, mapping: TableMapping, rows: Sequence[tuple]) -> Batch:
        """A batch of a seed-003 table; the parent ids and watermark are read here, not by scanning in SQL."""
        batch = Batch(self._encode([PG_TYPES[c.kind][1] for c in mapping.columns], rows), len(rows))
        if mapping.table != "messages":
            batch.ids = frozenset(row[0] for row in rows)
        if mapping.table == "issues":
            names = mapping.column_names
            for column, table in ISSUE_PARENTS:
                index = names.index(column)
                batch.parents[table] = sorted({row[index] for row in rows if row[index] is not None})
            index = names.index("updated_at")
            batch.watermark = max((row[index] for row in rows if row[index] is not None), default=None)
        return batch

    def merge_core(
        self, mapping: TableMapping, batch: Batch, generation: int | None = None, refreshing: bool = False
    ) -> None:
        """Load one staged batch of a seed-003 table in one transaction, its rows stamped with `generation`.

        `refreshing`: this stream prunes older generations once it completes, so a row the batch names but
        "newer wins" kept (the stored version is newer) is stamped too: the source still has it.
        """
        temp = f"tmp_{mapping.table}"
        columns = mapping.column_names
        with self.conn.transaction():
            self._begin()
            self._temp_table(temp, [(c.name, PG_TYPES[c.kind][0]) for c in mapping.columns])
            self._copy(temp, columns, batch.payload)
            if mapping.table == "issues":
                self._placeholders(batch.parents)
                self._merge_issues(temp, columns, generation)
                self._move_pending(sql.SQL("SELECT id FROM {}").format(sql.Identifier(temp)))
            elif mapping.table == "messages":
                self._merge_messages(temp, generation)
            else:
                self._merge_plain(mapping, temp, columns, generation)
            if refreshing:
                self.conn.execute(
                    sql.SQL(
                        "UPDATE {target} t SET {gen} = %s WHERE coalesce(t.{gen}, 0) < %s"
                        " AND t.id = ANY(ARRAY(SELECT id FROM {temp}))"  # by primary key: see _batch_ids
                    ).format(
                        target=self.ident(mapping.table), temp=sql.Identifier(temp), gen=sql.Identifier(GENERATION)
                    ),
                    (generation, generation),
                )

    def _newer_wins(self, table: str) -> sql.Composable:
        return sql.SQL("t.updated_at IS NULL OR EXCLUDED.updated_at IS NULL OR EXCLUDED.updated_at >= t.updated_at")

    def _assignments(self, columns: Sequence[str]) -> sql.Composable:
        return sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns if c != "id")

    def _merge_plain(self, mapping: TableMapping, temp: str, columns: Sequence[str], generation: int | None) -> None:
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        self.conn.execute(
            sql.SQL(
                "INSERT INTO {target} AS t ({cols}, synced_at, _airbyte_generation_id) SELECT {cols}, %s, %s FROM {temp}"
                " ON CONFLICT (id) DO UPDATE SET {assign}, synced_at = EXCLUDED.synced_at,"
                " _airbyte_generation_id = EXCLUDED._airbyte_generation_id WHERE {guard}"
            ).format(
                target=self.ident(mapping.table),
                cols=cols,
                temp=sql.Identifier(temp),
                assign=self._assignments(columns),
                guard=self._newer_wins(mapping.table),
            ),
            (self.synced_at, generation),
        )

    def _placeholders(self, parents: dict[str, list[str]]) -> None:
        """Accounts and users an issue points to but that have not arrived (or are not synced) yet.

        The foreign keys need a row; a placeholder has name = id and updated_at NULL, so the real record
        replaces it whenever it comes.
        """
        for table, ids in parents.items():
            if ids:
                self.conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (id, name, synced_at) SELECT id, id, %s FROM unnest(%s::text[]) AS id"
                        " ON CONFLICT (id) DO NOTHING"
                    ).format(self.ident(table)),
                    (self.synced_at, ids),
                )

    def _calendar_args(self) -> sql.Composable:
        """The calendar as constants: the same values prepare() stored in business_hours_settings. Constants
        let Postgres inline the SQL functions into a tight expression (joining the settings row instead was
        ~10x slower per row)."""
        cal = self.calendar
        return sql.SQL("{ds}::int, {de}::int, {wp}::int[], {hd}::int[]").format(
            ds=sql.Literal(cal.day_start),
            de=sql.Literal(cal.day_end),
            wp=sql.Literal("{" + ",".join(map(str, cal.week_prefix)) + "}"),
            hd=sql.Literal("{" + ",".join(map(str, cal.holiday_days)) + "}"),
        )

    def _bh(self, start: str, end: str) -> sql.Composable:
        """Business hours between two UTC columns."""
        return sql.SQL("{fn}({start}, {end}, {tz}::text, {args})").format(
            fn=self.ident("business_hours_between"),
            start=sql.SQL(start),
            end=sql.SQL(end),
            tz=sql.Literal(self.calendar.timezone),
            args=self._calendar_args(),
        )

    def _local(self, column: str) -> sql.Composable:
        """A UTC column as the team's wall-clock time."""
        return sql.SQL("(({} AT TIME ZONE 'UTC') AT TIME ZONE {}::text)").format(
            sql.SQL(column), sql.Literal(self.calendar.timezone)
        )

    def _bh_local(self, start: str, end: str) -> sql.Composable:
        """Business hours between two columns already in local time (see migration 006)."""
        return sql.SQL("{fn}({start}, {end}, {args})").format(
            fn=self.ident("business_hours_between_local"),
            start=sql.SQL(start),
            end=sql.SQL(end),
            args=self._calendar_args(),
        )

    def _merge_issues(self, temp: str, columns: Sequence[str], generation: int | None) -> None:
        computed = [c for c in columns if c != "first_response_at"]
        select = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in computed)
        cols = sql.SQL(", ").join(map(sql.Identifier, computed))
        self.conn.execute(
            sql.SQL(
                "INSERT INTO {target} AS t ({cols}, first_response_at, first_response_source, first_response_hours,"
                " resolution_hours, synced_at, _airbyte_generation_id)"
                " SELECT {select}, f.first_response_at,"
                " CASE WHEN s.first_response_at IS NOT NULL THEN 'pylon' END,"
                " {fr_hours}, CASE WHEN s.closed_at IS NOT NULL THEN {res_hours} END, %s, %s"
                " FROM {temp} s"
                # An aggregate keeps the planner from pulling the subquery up: f.first_response_at stays a plain
                # column, so the business-hours functions inline (a sub-select argument blocks inlining).
                " CROSS JOIN LATERAL (SELECT coalesce(s.first_response_at, min(m.created_at)) AS first_response_at"
                "   FROM {messages} m WHERE s.first_response_at IS NULL AND m.issue_id = s.id"
                "   AND m.sender_type = 'team') f"
                # Each timestamp in local time once: OFFSET 0 keeps Postgres from pasting the conversion into
                # every use inside the business-hours expression.
                " CROSS JOIN LATERAL (SELECT {created} AS created, {first} AS first_response, {closed} AS closed"
                "   OFFSET 0) l"
                " ON CONFLICT (id) DO UPDATE SET {assign}, first_response_at = EXCLUDED.first_response_at,"
                " first_response_source = EXCLUDED.first_response_source,"
                " first_response_hours = EXCLUDED.first_response_hours,"
                " resolution_hours = EXCLUDED.resolution_hours, synced_at = EXCLUDED.synced_at,"
                " _airbyte_generation_id = EXCLUDED._airbyte_generation_id WHERE {guard}"
            ).format(
                target=self.ident("issues"),
                cols=cols,
                select=select,
                fr_hours=self._bh_local("l.created", "l.first_response"),
                res_hours=self._bh_local("l.created", "l.closed"),
                created=self._local("s.created_at"),
                first=self._local("f.first_response_at"),
                closed=self._local("s.closed_at"),
                temp=sql.Identifier(temp),
                messages=self.ident("messages"),
                assign=self._assignments(computed),
                guard=self._newer_wins("issues"),
            ),
            (self.synced_at, generation),
        )

    def _message_cols(self, prefix: str = "") -> sql.Composable:
        return sql.SQL(", ").join(sql.SQL(prefix + "{}").format(sql.Identifier(c)) for c in MESSAGE_COLUMNS)

    def _merge_messages(self, temp: str, generation: int | None) -> None:
        """Messages whose issue exists go to `messages`; the others wait in the pending table.

        Only the issues this batch names are read, each by primary key (see `_known_issues`): a batch's cost
        follows its size, not the dashboard's.
        """
        known = self._known_issues(temp)
        self._move_pending(sql.SQL("SELECT issue_id FROM {}").format(sql.Identifier(known)), recompute=False)
        upsert = sql.SQL(
            " ON CONFLICT (id) DO UPDATE SET {}, synced_at = EXCLUDED.synced_at,"
            " _airbyte_generation_id = EXCLUDED._airbyte_generation_id"
        ).format(self._assignments(MESSAGE_COLUMNS))
        for target, where in (
            (self.ident("messages"), "EXISTS"),
            (self.ident(PENDING), "NOT EXISTS"),
        ):
            self.conn.execute(
                sql.SQL(
                    "INSERT INTO {target} AS t ({cols}, synced_at, _airbyte_generation_id) SELECT {scols}, %s, %s"
                    " FROM {temp} s"
                    " WHERE {where} (SELECT 1 FROM {known} k WHERE k.issue_id = s.issue_id)"
                ).format(
                    target=target,
                    cols=self._message_cols(),
                    scols=self._message_cols("s."),
                    temp=sql.Identifier(temp),
                    where=sql.SQL(where),
                    known=sql.Identifier(known),
                )
                + upsert,
                (self.synced_at, generation),
            )
        self._recompute_first_response(known)

    def _known_issues(self, temp: str) -> str:
        """A temp table of the distinct issue ids in this messages batch that exist in `issues`.

        A semi-join of the batch with `issues` lets the planner hash the whole table once a batch is large
        next to it (at 100k issues it read all of them for every 20k-message batch). With ANY(ARRAY(subquery))
        the planner cannot see how many ids there are, assumes a few, and probes the primary key for each
        (sorted: ~3x cheaper than one LATERAL lookup per id, measured with EXPLAIN ANALYZE).
        """
        known = "tmp_known_issues"
        self.conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE {known} ON COMMIT DROP AS SELECT i.id AS issue_id FROM {issues} i"
                " WHERE i.id = ANY(ARRAY(SELECT DISTINCT issue_id FROM {temp}))"
            ).format(known=sql.Identifier(known), temp=sql.Identifier(temp), issues=self.ident("issues"))
        )
        return known

    def _move_pending(self, issue_ids: sql.Composable | None, recompute: bool = True) -> None:
        """Pending messages of these existing issues (None: of every existing issue) move into `messages`.

        `recompute` then updates the first response of the issues that received messages.
        """
        moved = "tmp_moved_messages"
        if issue_ids is None:
            which = sql.SQL("EXISTS (SELECT 1 FROM {} i WHERE i.id = p.issue_id)").format(self.ident("issues"))
        else:
            # ANY(ARRAY(subquery)): the planner cannot see the array's length, assumes a few ids and probes
            # the issue_id index for each, however large the pending table has grown.
            which = sql.SQL("p.issue_id = ANY(ARRAY({}))").format(issue_ids)
        self.conn.execute(sql.SQL("CREATE TEMP TABLE {} (issue_id TEXT) ON COMMIT DROP").format(sql.Identifier(moved)))
        self.conn.execute(
            sql.SQL(
                "WITH gone AS (DELETE FROM {pending} p WHERE {which} RETURNING p.*),"
                " ins AS (INSERT INTO {messages} AS t ({cols}, synced_at, _airbyte_generation_id)"
                " SELECT {cols}, synced_at, _airbyte_generation_id FROM gone ON CONFLICT (id) DO UPDATE SET {assign},"
                " synced_at = EXCLUDED.synced_at, _airbyte_generation_id = EXCLUDED._airbyte_generation_id"
                " RETURNING t.issue_id)"
                " INSERT INTO {moved} SELECT DISTINCT issue_id FROM ins"
            ).format(
                pending=self.ident(PENDING),
                which=which,
                messages=self.ident("messages"),
                cols=self._message_cols(),
                assign=self._assignments(MESSAGE_COLUMNS),
                moved=sql.Identifier(moved),
            )
        )
        if recompute:
            self._recompute_first_response(moved)
        self.conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(moved)))

    def _recompute_first_response(self, ids_table: str) -> None:
        """first_response_at/hours of the issues in `ids_table` from their first team message (unless Pylon gave it).

        One index-only lookup in messages(issue_id, sender_type, created_at) per issue; the aggregate keeps
        the LATERAL from being flattened, so first_at is a plain column and the business-hours function
        inlines (computed once, not once per reference as a sub-select was). The issues are reached by
        primary key (ANY(ARRAY(...)), as in `_move_pending`), never by reading the table.
        """
        self.conn.execute(
            sql.SQL(
                "UPDATE {issues} i SET first_response_at = f.first_at, first_response_hours = {hours}"
                " FROM (SELECT x.issue_id, f.first_at FROM {ids} x CROSS JOIN LATERAL"
                "       (SELECT min(m.created_at) AS first_at FROM {messages} m"
                "        WHERE m.issue_id = x.issue_id AND m.sender_type = 'team') f) f"
                " WHERE i.id = ANY(ARRAY(SELECT issue_id FROM {ids})) AND i.id = f.issue_id"
                " AND i.first_response_source IS NULL AND i.first_response_at IS DISTINCT FROM f.first_at"
            ).format(
                issues=self.ident("issues"),
                messages=self.ident("messages"),
                ids=sql.Identifier(ids_table),
                hours=self._bh("i.created_at", "f.first_at"),
            )
        )

    def settle_pending(self) -> None:
        """Once per sync: move every pending message whose issue exists by now.

        Batches only move the pending messages of the issues they name; this catches the rest, e.g. a
        message parked while a concurrent sync was committing its issue.
        """
        with self.conn.transaction():
            self._begin()
            self._move_pending(None)

    def pending_messages(self) -> dict[str, int]:
        """Issue id → number of messages still waiting for it."""
        with self.conn.transaction():
            rows = self.conn.execute(
                sql.SQL("SELECT issue_id, count(*) FROM {} GROUP BY issue_id ORDER BY issue_id").format(
                    self.ident(PENDING)
                )
            ).fetchall()
        return {issue_id: count for issue_id, count in rows}

    def delete_older_generations(self, mapping: TableMapping, minimum: int) -> int:
        """Finish a refresh of a dashboard table: drop its rows of a generation lower than `minimum`.

        Rename-and-swap would break the foreign keys and Prisma's constraint names, so the dashboard tables
        are upserted in place and the stale rows go only once the stream completed. An account or user that
        an issue still points to stays (a deleted account, a deactivated user: the list no longer returns
        them, but the dashboard still attributes the issue); the list replaces it if it returns it again.
        """
        table = self.ident(mapping.table)
        stale = sql.SQL("coalesce(t._airbyte_generation_id, 0) < %s")
        with self.conn.transaction():
            if mapping.table == "issues":
                for child in (self.ident("messages"), self.ident(PENDING)):
                    self.conn.execute(
                        sql.SQL("DELETE FROM {child} m USING {issues} t WHERE m.issue_id = t.id AND {stale}").format(
                            child=child, issues=table, stale=stale
                        ),
                        (minimum,),
                    )
            keep = sql.SQL("")
            referenced = [column for column, parent in ISSUE_PARENTS if parent == mapping.table]
            for column in referenced:
                keep += sql.SQL(" AND NOT EXISTS (SELECT 1 FROM {issues} i WHERE i.{column} = t.id)").format(
                    issues=self.ident("issues"), column=sql.Identifier(column)
                )
            cursor = self.conn.execute(sql.SQL("DELETE FROM {} t WHERE {}{}").format(table, stale, keep), (minimum,))
            return cursor.rowcount

    # ─── other streams ──────────────────────────────────────────────────────

    def _generic_columns(self, stream: GenericStream) -> list[tuple[str, str]]:
        return [(c, "TEXT NOT NULL") for c in stream.key_columns] + list(META_COLUMNS)

    def _unique_index(self, table: str) -> str:
        return fit_identifier(f"{table}_pk_uidx")

    def create_generic(self, stream: GenericStream) -> None:
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                    self.ident(stream.table),
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in self._generic_columns(stream)
                    ),
                )
            )
            if stream.dedup:
                self.conn.execute(
                    sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})").format(
                        sql.Identifier(self._unique_index(stream.table)),
                        self.ident(stream.table),
                        sql.SQL(", ").join(map(sql.Identifier, stream.key_columns)),
                    )
                )

    def stage_generic(self, stream: GenericStream, rows: Sequence[tuple]) -> Batch:
        types = ["text"] * len(stream.key_columns) + [t for _, _, t in GENERIC_STAGED]
        return Batch(self._encode(types, ((*row, seq) for seq, row in enumerate(rows))), len(rows))

    def merge_generic(self, stream: GenericStream, batch: Batch, refreshing: bool = False) -> None:
        """Load one staged batch of another stream in one transaction (`refreshing`: see merge_core)."""
        target = stream.table
        temp = "tmp_generic"
        loaded = [c for c, _ in self._generic_columns(stream) if c != "_airbyte_loaded_at"]
        temp_columns = [(c, "TEXT") for c in stream.key_columns] + [(c, t) for c, t, _ in GENERIC_STAGED]
        casts = {"_airbyte_meta": "::jsonb", "_airbyte_cursor": "::jsonb", "_airbyte_data": "::jsonb"}
        select = sql.SQL(", ").join(
            sql.SQL("s.{}{}").format(sql.Identifier(c), sql.SQL(casts.get(c, ""))) for c in loaded
        )
        cols = sql.SQL(", ").join(map(sql.Identifier, loaded))
        with self.conn.transaction():
            self._temp_table(temp, temp_columns)
            self._copy(temp, [c for c, _ in temp_columns], batch.payload)
            if not stream.dedup:
                self.conn.execute(
                    sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} s ORDER BY s._seq").format(
                        self.ident(target), cols, select, sql.Identifier(temp)
                    )
                )
                return
            keys = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in stream.key_columns)
            self.conn.execute(
                sql.SQL(
                    "INSERT INTO {target} AS t ({cols}) SELECT DISTINCT ON ({keys}) {select} FROM {temp} s"
                    " ORDER BY {keys}, s._airbyte_cursor::jsonb DESC NULLS FIRST, s._seq DESC"
                    " ON CONFLICT ({key_cols}) DO UPDATE SET {assign}"
                    " WHERE t._airbyte_cursor IS NULL OR EXCLUDED._airbyte_cursor IS NULL"
                    " OR EXCLUDED._airbyte_cursor >= t._airbyte_cursor"
                ).format(
                    target=self.ident(target),
                    cols=cols,
                    keys=keys,
                    select=select,
                    temp=sql.Identifier(temp),
                    key_cols=sql.SQL(", ").join(map(sql.Identifier, stream.key_columns)),
                    assign=sql.SQL(", ").join(
                        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                        for c in loaded
                        if c not in stream.key_columns
                    ),
                )
            )
            if refreshing and stream.generation_id is not None:
                match = sql.SQL(" AND ").join(
                    sql.SQL("t.{0} = s.{0}").format(sql.Identifier(c)) for c in stream.key_columns
                )
                self.conn.execute(
                    sql.SQL(
                        "UPDATE {target} t SET _airbyte_generation_id = %s FROM {temp} s"
                        " WHERE {match} AND coalesce(t._airbyte_generation_id, 0) < %s"
                    ).format(target=self.ident(target), temp=sql.Identifier(temp), match=match),
                    (stream.generation_id, stream.generation_id),
                )

    def drop_older_generations(self, stream: GenericStream, minimum: int) -> int:
        """Finish a refresh of another stream's table: drop its rows of a generation lower than `minimum`."""
        with self.conn.transaction():
            return self.conn.execute(
                sql.SQL("DELETE FROM {} WHERE coalesce(_airbyte_generation_id, 0) < %s").format(
                    self.ident(stream.table)
                ),
                (minimum,),
            ).rowcount

    # ─── check ──────────────────────────────────────────────────────────────

    def missing_privileges(self) -> list[str]:
        """What the role lacks to migrate and load; empty when all is well."""
        problems = []

        def holds(query: str, *args: Any) -> bool:
            return bool(self.conn.execute(query, args).fetchone()[0])

        with self.conn.transaction():
            schema_exists = holds("SELECT count(*) FROM pg_namespace WHERE nspname = %s", self.schema)
            if schema_exists:
                # has_*_privilege is true when ANY listed privilege is held: ask one at a time
                lacking = [
                    p for p in ("CREATE", "USAGE") if not holds("SELECT has_schema_privilege(%s, %s)", self.schema, p)
                ]
                if lacking:
                    problems.append(f"CREATE and USAGE on schema {self.schema!r} (missing: {', '.join(lacking)})")
            elif not holds("SELECT has_database_privilege(current_database(), 'CREATE')"):
                problems.append(f"CREATE on the database (schema {self.schema!r} does not exist yet)")
            if not holds("SELECT has_database_privilege(current_database(), 'TEMPORARY')"):
                problems.append("TEMPORARY on the database (the loader stages batches in temp tables)")
            if schema_exists and not problems:
                for table in ("issues", "accounts", "users", "messages", "sync_log"):
                    name = sql.Identifier(self.schema, table).as_string(self.conn)
                    if not holds("SELECT to_regclass(%s) IS NOT NULL", name):
                        continue
                    lacking = [
                        p
                        for p in ("SELECT", "INSERT", "UPDATE", "DELETE")
                        if not holds("SELECT has_table_privilege(%s, %s)", name, p)
                    ]
                    if lacking:
                        problems.append(f"{', '.join(lacking)} on table {self.schema}.{table}")
        return problems
