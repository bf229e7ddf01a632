"""A batch reads only the rows it names: its cost follows the batch, never the size of the tables.

Counted, not timed: pg_stat_xact_user_tables holds the rows this transaction read by sequential scan.
"""

from __future__ import annotations

import psycopg
import pytest

from destination_postgres_support.config import DestinationConfig
from destination_postgres_support.loader import PENDING, TEMP_BUFFERS, PostgresBackend, connect, raise_temp_buffers
from destination_postgres_support.mapping import core_mappings

ISSUES = 20_000  # the tables must be large next to a batch, or a sequential scan is the planner's right choice
MESSAGES_PER_ISSUE = 2
BATCH = 2_000
WATCHED = ("issues", "messages", PENDING)


def _rows_read_by_seq_scan(conn: psycopg.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT relname, coalesce(seq_tup_read, 0) FROM pg_stat_xact_user_tables WHERE relname = ANY(%s)",
        (list(WATCHED),),
    ).fetchall()
    return {name: 0 for name in WATCHED} | dict(rows)


def _merge_and_count(backend: PostgresBackend, stream: str, records: list[dict], refreshing: bool) -> dict[str, int]:
    mapping = core_mappings(backend.config.custom_field_slugs)[stream]
    batch = backend.stage_core(mapping, [mapping.row(r) for r in records])
    with backend.conn.transaction(force_rollback=True):  # merge_core's own transaction becomes a savepoint
        before = _rows_read_by_seq_scan(backend.conn)
        backend.merge_core(mapping, batch, generation=3, refreshing=refreshing)
        after = _rows_read_by_seq_scan(backend.conn)
    return {name: after[name] - before[name] for name in WATCHED}


@pytest.fixture
def big_backend(pg_url):
    config = DestinationConfig.model_validate({"database_url": pg_url})
    with psycopg.connect(pg_url) as conn:
        backend = PostgresBackend(config, conn)
        backend.prepare()
        with conn.transaction():
            conn.execute(
                "INSERT INTO issues (id, title, state, created_at, synced_at)"
                " SELECT 'i-' || g, 'title', 'new', timestamp '2024-03-01' + g * interval '1 minute', now()"
                " FROM generate_series(1, %s) g",
                (ISSUES,),
            )
            conn.execute(
                "INSERT INTO messages (id, issue_id, sender_type, created_at, synced_at)"
                " SELECT 'm-' || g, 'i-' || (1 + g %% %s), CASE WHEN g %% 2 = 0 THEN 'team' ELSE 'customer' END,"
                " timestamp '2024-03-02' + g * interval '1 second', now() FROM generate_series(1, %s) g",
                (ISSUES, ISSUES * MESSAGES_PER_ISSUE),
            )
            conn.execute(
                f"INSERT INTO {PENDING} (id, issue_id, sender_type, created_at, synced_at)"
                " SELECT 'p-' || g, 'gone-' || g, 'team', timestamp '2024-03-02', now() FROM generate_series(1, %s) g",
                (ISSUES,),
            )
        for table in WATCHED:
            conn.execute(f'ANALYZE "{table}"')
        conn.commit()
        yield backend


def test_message_batch_reads_no_table_in_full(big_backend):
    """A messages batch must look up its issues, their pending messages and their first team reply by key.

    If this fails, a statement of the messages merge scans issues/messages/pending: every batch then costs
    time proportional to the dashboard's size, and a large sync slows down as the tables grow.
    """
    records = [
        {
            "id": f"new-{n}",
            "issue_id": f"i-{1 + n * 7 % ISSUES}" if n % 20 else f"not-yet-{n}",
            "timestamp": "2024-03-01T12:00:00Z",
            "message_html": "<p>hello</p>",
            "author": {"name": "Ann", "user": {"id": "u-1"}},
        }
        for n in range(BATCH)
    ]
    assert _merge_and_count(big_backend, "issue_messages", records, refreshing=True) == dict.fromkeys(WATCHED, 0)


def test_issue_batch_reads_no_table_in_full(big_backend):
    """An issues batch must reach the rows it names by key (first reply, pending messages, overwrite marks).

    If this fails, an issues merge scans a whole table per batch: see the messages test above.
    """
    records = [
        {
            "id": f"i-{1 + n * 7 % ISSUES}",
            "title": "updated",
            "state": "closed",
            "created_at": "2024-03-01T10:00:00Z",
            "updated_at": "2024-05-01T10:00:00Z",
            "closed_at": "2024-03-04T10:00:00Z",
        }
        for n in range(BATCH)
    ]
    assert _merge_and_count(big_backend, "issues", records, refreshing=True) == dict.fromkeys(WATCHED, 0)


def test_batches_stage_in_memory_and_a_used_pooled_session_keeps_working(pg_url):
    """A 20k-issue batch (~26 MB) spilled out of the default 8 MB temp_buffers to disk and back."""
    with connect(DestinationConfig.model_validate({"database_url": pg_url})) as conn:
        assert conn.execute("SHOW temp_buffers").fetchone()[0] == TEMP_BUFFERS
    with psycopg.connect(pg_url) as used:  # as a pooler hands over a session that already staged a batch
        used.execute("CREATE TEMP TABLE staged (id TEXT)")
        used.commit()
        raise_temp_buffers(used)
        assert used.execute("SELECT count(*) FROM staged").fetchone()[0] == 0
