import time

import psutil
import psycopg
import pytest

from testkit.postgres import embedded_server

pytest_plugins = ["pytester"]

# Run by an inner pytest session, in file order, with the plugin as every package's tests get it.
TWO_TESTS_SHARING_A_SERVER = """
from psycopg.conninfo import conninfo_to_dict

def record(pg_url, pg_conn):
    assert conninfo_to_dict(pg_url)["dbname"] == pg_conn.info.dbname
    with open({log!r}, "a") as log:
        log.write(pg_conn.info.dbname + "\\n")

def test_first(pg_url, pg_conn):
    pg_conn.execute("create table only_in_first (id int)")
    record(pg_url, pg_conn)

def test_second(pg_url, pg_conn):
    tables = pg_conn.execute("select tablename from pg_tables where schemaname = 'public'").fetchall()
    assert tables == []
    record(pg_url, pg_conn)
"""


def run_inner_session(pytester, monkeypatch, database_url):
    monkeypatch.setenv("TEST_DATABASE_URL", database_url)
    # Autoloading would register the installed plugin a second time next to -p.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester.runpytest_inprocess("-p", "testkit.plugin")


def test_each_test_gets_its_own_database_dropped_afterwards(pytester, monkeypatch, pg_server_url):
    """If this fails, tests leak tables and rows into each other (passing or failing by run order) or leave
    test_* databases piling up on the developer's server."""
    log = pytester.path / "databases.txt"
    pytester.makepyfile(TWO_TESTS_SHARING_A_SERVER.format(log=str(log)))

    run_inner_session(pytester, monkeypatch, pg_server_url).assert_outcomes(passed=2)

    names = log.read_text().split()
    assert len(names) == 2 and names[0] != names[1]
    with psycopg.connect(pg_server_url) as admin:
        left = admin.execute("select datname from pg_database where datname = any(%s)", [names]).fetchall()
    assert left == []


def test_unreachable_database_url_names_it_and_the_way_out(pytester, monkeypatch):
    """If this fails, a stale TEST_DATABASE_URL shows up as a bare libpq error in every test, with nothing
    telling the user where the URL came from or that unsetting it would start an embedded server."""
    pytester.makepyfile("def test_needs_a_database(pg_url):\n    pass\n")

    result = run_inner_session(pytester, monkeypatch, "postgresql://postgres:s3cret@127.0.0.1:1/postgres")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*TEST_DATABASE_URL is set to*127.0.0.1*", "*unset TEST_DATABASE_URL*embedded*"])
    assert "s3cret" not in result.stdout.str()


def stopped_within(pid, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            # A zombie has exited; only its parent (init, once pg_ctl daemonised it) has not reaped it yet.
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_embedded_server_starts_answers_and_stops():
    """If this fails, a newcomer without TEST_DATABASE_URL cannot run any database test (the embedded server
    does not start, e.g. as root in CI), or each test run leaves a postgres process and its files behind."""
    with embedded_server() as server:
        url, pid, pgdata = server.get_uri(), server.get_pid(), server.pgdata
        with psycopg.connect(url) as conn:
            (version,) = conn.execute("select version()").fetchone()
        assert version.startswith("PostgreSQL ")

    assert stopped_within(pid)
    assert not pgdata.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
