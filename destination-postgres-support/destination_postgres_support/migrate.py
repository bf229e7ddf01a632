"""Versioned, idempotent schema migrations, run by the destination before it loads anything.

Each `migrations/NNN_name.sql` runs once per schema, recorded in `schema_migrations`. All pending files
run in one transaction behind a transaction-scoped advisory lock, so two syncs starting together apply
them once (the second waits, then finds nothing to do); xact locks also work through Neon's pooler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

MIGRATION_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
LOCK_NAMESPACE = "destination-postgres-support:migrations:"


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    text: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(match.group(1), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def render(migration: Migration, schema: str) -> str:
    quoted = '"' + schema.replace('"', '""') + '"'
    return migration.text.replace("{{schema}}", quoted)


def migrate(conn: psycopg.Connection, schema: str) -> list[str]:
    """Apply pending migrations to `schema`; return the versions applied now."""
    applied_now = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_NAMESPACE + schema,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS "schema_migrations" (
                   "version" TEXT PRIMARY KEY,
                   "name" TEXT NOT NULL,
                   "applied_at" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))"""
        )
        done = {row[0] for row in conn.execute('SELECT "version" FROM "schema_migrations"')}
        for migration in available():
            if migration.version in done:
                continue
            conn.execute(render(migration, schema).encode())
            conn.execute(
                'INSERT INTO "schema_migrations" ("version", "name") VALUES (%s, %s)',
                (migration.version, migration.name),
            )
            applied_now.append(migration.version)
    return applied_now
