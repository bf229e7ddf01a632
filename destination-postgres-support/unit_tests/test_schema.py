"""The dashboard's Prisma client reads our tables unchanged only if they are what `prisma migrate` makes."""

from __future__ import annotations

import threading

import psycopg

from destination_postgres_support.migrate import available, migrate

# (table, column) → (data_type, nullable, default) for seed 003's Prisma models
PRISMA_COLUMNS = {
    "issues": [
        ("id", "text", "NO", None),
        ("title", "text", "NO", None),
        ("state", "text", "NO", None),
        ("priority", "text", "YES", None),
        ("source", "text", "YES", None),
        ("category", "text", "YES", None),
        ("handler", "text", "YES", None),
        ("resolution_type", "text", "YES", None),
        ("self_servable", "text", "YES", None),
        ("account_id", "text", "YES", None),
        ("assignee_id", "text", "YES", None),
        ("created_at", "timestamp(3)", "NO", None),
        ("closed_at", "timestamp(3)", "YES", None),
        ("first_response_at", "timestamp(3)", "YES", None),
        ("first_response_seconds", "integer", "YES", None),
        ("business_hours_first_response_seconds", "integer", "YES", None),
        ("resolution_time", "timestamp(3)", "YES", None),
        ("body_html", "text", "YES", None),
        ("number_of_touches", "integer", "YES", None),
        ("link", "text", "YES", None),
        ("type", "text", "YES", None),
        ("tags", "text[]", "YES", "ARRAY[]::text[]"),
        ("synced_at", "timestamp(3)", "NO", None),
    ],
    "accounts": [
        ("id", "text", "NO", None),
        ("name", "text", "NO", None),
        ("domain", "text", "YES", None),
        ("synced_at", "timestamp(3)", "NO", None),
    ],
    "users": [
        ("id", "text", "NO", None),
        ("name", "text", "NO", None),
        ("email", "text", "YES", None),
        ("synced_at", "timestamp(3)", "NO", None),
    ],
    "messages": [
        ("id", "text", "NO", None),
        ("issue_id", "text", "NO", None),
        ("sender_type", "text", "NO", None),
        ("sender_name", "text", "YES", None),
        ("body_text", "text", "YES", None),
        ("body_html", "text", "YES", None),
        ("created_at", "timestamp(3)", "NO", None),
        ("synced_at", "timestamp(3)", "NO", None),
    ],
    "sync_log": [
        ("id", "text", "NO", None),
        ("started_at", "timestamp(3)", "NO", None),
        ("ended_at", "timestamp(3)", "YES", None),
        ("status", "text", "NO", None),
        ("issues_synced", "integer", "NO", "0"),
        ("accounts_synced", "integer", "NO", "0"),
        ("messages_synced", "integer", "NO", "0"),
        ("errors", "text", "YES", None),
        ("last_issue_updated_at", "timestamp(3)", "YES", None),
    ],
}
ADDED = {
    "issues": {
        "updated_at",
        "requester_id",
        "team_id",
        "first_response_hours",
        "resolution_hours",
        "first_response_source",
        "_airbyte_generation_id",
        "type_raw",
    },
    "accounts": {"updated_at", "_airbyte_generation_id"},
    "users": {"updated_at", "_airbyte_generation_id"},
    "messages": {"is_private", "_airbyte_generation_id"},
    "sync_log": set(),
}
FOREIGN_KEYS = {
    ("issues_account_id_fkey", "issues", "accounts", "SET NULL", "CASCADE"),
    ("issues_assignee_id_fkey", "issues", "users", "SET NULL", "CASCADE"),
    ("messages_issue_id_fkey", "messages", "issues", "RESTRICT", "CASCADE"),
}
INDEXES = {
    "messages_issue_id_idx": "(issue_id)",
    "messages_issue_id_sender_type_created_at_idx": "(issue_id, sender_type, created_at)",
    "issues_state_idx": "(state)",
    "issues_priority_idx": "(priority)",
    "issues_category_idx": "(category)",
    "issues_handler_idx": "(handler)",
    "issues_account_id_idx": "(account_id)",
    "issues_created_at_idx": "(created_at)",
    "issues_closed_at_idx": "(closed_at)",
}


def _columns(conn, table):
    return conn.execute(
        """SELECT column_name, format_type(a.atttypid, a.atttypmod), is_nullable, column_default
           FROM information_schema.columns c
           JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_name))::regclass AND a.attname = c.column_name
           WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position""",
        (table,),
    ).fetchall()


def _normalise(rows):
    return [
        (name, type_.replace("timestamp(3) without time zone", "timestamp(3)"), nullable, default)
        for name, type_, nullable, default in rows
    ]


def test_tables_match_prisma_and_additions_are_nullable(pg_conn):
    """Prisma maps columns by name and type; a NOT NULL column it does not know would break its INSERTs."""
    migrate(pg_conn, "public")
    for table, expected in PRISMA_COLUMNS.items():
        actual = _normalise(_columns(pg_conn, table))
        prisma = [row for row in actual if row[0] not in ADDED[table]]
        assert prisma == expected, table
        added = [row for row in actual if row[0] in ADDED[table]]
        assert {row[0] for row in added} == ADDED[table]
        assert all(row[2] == "YES" for row in added)
        pk = pg_conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", (table,)
        ).fetchone()[0]
        assert pk == f"{table}_pkey"


def test_foreign_keys_use_prismas_default_actions(pg_conn):
    migrate(pg_conn, "public")
    actions = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
    rows = pg_conn.execute(
        "SELECT conname, conrelid::regclass::text, confrelid::regclass::text, confdeltype, confupdtype"
        " FROM pg_constraint WHERE contype = 'f'"
    ).fetchall()
    assert {(n, t, r, actions[d], actions[u]) for n, t, r, d, u in rows} == FOREIGN_KEYS


def test_prisma_and_seed_indexes_exist(pg_conn):
    migrate(pg_conn, "public")
    rows = dict(pg_conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'").fetchall())
    for name, columns in INDEXES.items():
        assert name in rows and rows[name].endswith(columns), name


def test_migrations_are_idempotent_and_safe_when_two_syncs_start_together(pg_url):
    """Two syncs starting at once must both succeed and apply each migration exactly once."""
    results, errors = [], []

    def run():
        try:
            with psycopg.connect(pg_url) as conn:
                results.append(migrate(conn, "public"))
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    versions = [m.version for m in available()]
    assert sorted(results, key=len) == [[], [], versions]
    with psycopg.connect(pg_url) as conn:
        assert migrate(conn, "public") == []
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")] == versions


def test_migrations_accept_tables_prisma_created_first(pg_conn):
    """The dashboard may run `prisma migrate` before the first sync: our migrations must adopt its tables."""
    pg_conn.execute(available()[0].text)
    assert len(migrate(pg_conn, "public")) == len(available())
