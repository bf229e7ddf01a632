"""issues.type has one spelling, seed 003's "Conversation" / "Ticket", whatever case the API sent it in."""

from __future__ import annotations

from destination_postgres_support.migrate import available, migrate, render

from .conftest import catalog_for, load_lines


def test_every_spelling_lands_as_seed_003s_and_the_raw_value_is_kept(run_write, config, pg_conn):
    """A dashboard filter on `type: "Ticket"` must find every ticket, however Pylon spelled it; `type_raw` keeps
    the API's own value, and a type outside the two is stored as sent rather than guessed."""
    lines = load_lines("issue_types")
    run_write(config, catalog_for(["issues"]), lines)
    rows = pg_conn.execute("SELECT id, type, type_raw FROM issues ORDER BY id").fetchall()
    assert rows == [
        ("i-1", "Ticket", "Ticket"),  # the later version's type wins, normalised like any other
        ("i-2", "Conversation", "Conversation"),
        ("i-3", "Ticket", "ticket"),
        ("i-4", "Ticket", "Ticket"),
        ("i-5", "Ticket", "TICKET"),
        ("i-6", None, None),
        ("i-7", None, None),
        ("i-8", "tracked", "tracked"),
    ]
    tickets = pg_conn.execute("SELECT id FROM issues WHERE type = 'Ticket' ORDER BY id").fetchall()
    assert [r[0] for r in tickets] == ["i-1", "i-3", "i-4", "i-5"]


def test_the_migration_brings_rows_written_before_it_to_the_same_spelling(pg_conn):
    """A database synced before migration 008 must not keep its mixed spellings until every issue changes again."""
    before = [m for m in available() if m.version < "008"]
    for migration in before:
        pg_conn.execute(render(migration, "public").encode())
    pg_conn.execute('CREATE TABLE "schema_migrations" ("version" TEXT PRIMARY KEY, "name" TEXT NOT NULL)')
    for migration in before:
        pg_conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (migration.version, migration.name))
    for issue_id, spelling in [("a", "conversation"), ("b", "Ticket"), ("c", "ticket"), ("d", None), ("e", "tracked")]:
        pg_conn.execute(
            "INSERT INTO issues (id, title, state, created_at, synced_at, type) VALUES (%s, '', 'new', now(), now(), %s)",
            (issue_id, spelling),
        )

    assert "008" in migrate(pg_conn, "public")
    assert pg_conn.execute("SELECT id, type, type_raw FROM issues ORDER BY id").fetchall() == [
        ("a", "Conversation", "conversation"),
        ("b", "Ticket", "Ticket"),
        ("c", "Ticket", "ticket"),
        ("d", None, None),
        ("e", "tracked", "tracked"),
    ]
