"""Protocol guarantees and failure classification."""

from __future__ import annotations

import json
import logging

import psycopg
import pytest
from airbyte_cdk.models import AirbyteMessage, AirbyteRecordMessage, Status, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_postgres_support import DestinationPostgresSupport

from .conftest import catalog_for, write_subprocess

LOG = logging.getLogger("test")


def _record(stream, data):
    return json.dumps({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 1}})


def _issue(n):
    return {"id": f"i-{n}", "title": "t", "state": "new", "created_at": "2024-01-01T00:00:00Z"}


def test_state_is_echoed_only_after_its_records_are_committed(config, pg_url):
    """If a state were echoed before its records commit, a crash would lose them for good."""
    lines = [_record("issues", _issue(n)) for n in range(5)]
    lines.append(json.dumps({"type": "STATE", "state": {"type": "LEGACY", "data": {"x": 1}, "id": 9}}))
    lines += [_record("issues", _issue(n)) for n in range(5, 8)]
    seen = []
    for message in DestinationPostgresSupport().write(config, catalog_for(["issues"]), lines):
        if message.type == Type.STATE:
            with psycopg.connect(pg_url) as other:
                seen.append(other.execute("SELECT count(*) FROM issues").fetchone()[0])
            assert message.state.id == 9
            assert message.state.destinationStats.recordCount == 5.0
    assert len(seen) == 1 and seen[0] >= 5  # its 5 records (the 3 after it may be in the same commit)


def test_cdk_dataclass_messages_are_accepted_too(config, pg_conn):
    message = AirbyteMessage(
        type=Type.RECORD, record=AirbyteRecordMessage(stream="users", data={"id": "u", "name": "U"}, emitted_at=1)
    )
    list(DestinationPostgresSupport().write(config, catalog_for(["users"]), [message]))
    assert pg_conn.execute("SELECT name FROM users").fetchone()[0] == "U"


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"title": "no id", "created_at": "2024-01-01T00:00:00Z"}, "required field 'id' is missing"),
        ({**_issue(1), "number_of_touches": "many"}, "field 'number_of_touches': expected an integer"),
        ({**_issue(1), "created_at": "yesterday"}, "expected an ISO-8601 timestamp"),
    ],
)
def test_bad_records_fail_with_a_message_naming_the_field(config, pg_conn, data, fragment):
    """A bad record must stop the sync with a message that says which record and field, not corrupt data."""
    with pytest.raises(AirbyteTracedException) as failure:
        list(DestinationPostgresSupport().write(config, catalog_for(["issues"]), [_record("issues", data)]))
    assert fragment in failure.value.message
    assert pg_conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 0
    assert pg_conn.execute("SELECT status FROM sync_log").fetchone()[0] == "failed"


def test_record_for_a_stream_outside_the_catalog_is_an_error(config):
    with pytest.raises(AirbyteTracedException, match="not in the configured catalog"):
        list(DestinationPostgresSupport().write(config, catalog_for(["users"]), [_record("issues", _issue(1))]))


def test_check_succeeds_on_a_usable_database(config):
    assert DestinationPostgresSupport().check(LOG, config).status == Status.SUCCEEDED


def test_check_names_missing_privileges(pg_url, pg_conn):
    pg_conn.execute("CREATE ROLE reader LOGIN")
    pg_conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    pg_conn.execute("REVOKE TEMPORARY ON DATABASE " + pg_url.split("dbname=")[1].split()[0] + " FROM PUBLIC")
    try:
        url = psycopg.conninfo.make_conninfo(pg_url, user="reader")
        status = DestinationPostgresSupport().check(LOG, {"database_url": url})
    finally:
        pg_conn.execute("DROP OWNED BY reader")
        pg_conn.execute("DROP ROLE reader")
    assert status.status == Status.FAILED
    assert "CREATE and USAGE on schema 'public'" in status.message
    assert "TEMPORARY" in status.message


def test_check_reports_tls_required_as_config_error(pg_url, pg_conn):
    """Neon refuses plain-text connections: the message must say to use sslmode=require."""
    host = psycopg.conninfo.conninfo_to_dict(pg_url).get("host", "")
    if host.startswith("/") or pg_conn.execute("SHOW ssl").fetchone()[0] == "on":
        pytest.skip("needs a TCP server without TLS (libpq ignores sslmode on Unix sockets)")
    status = DestinationPostgresSupport().check(LOG, {"database_url": pg_url, "ssl_mode": "require"})
    assert status.status == Status.FAILED  # the local server has no TLS: same family of error
    assert "TLS" in status.message or "SSL" in status.message


@pytest.mark.parametrize(
    "text, sqlstate, expected",
    [
        ('FATAL:  password authentication failed for user "x"', "28P01", "config_error"),
        ("ERROR: connection is insecure (try using `sslmode=require`)", "28000", "config_error"),
        ("permission denied for schema public", "42501", "config_error"),
        ("could not serialize access due to concurrent update", "40001", "transient_error"),
        ("server closed the connection unexpectedly", "08006", "transient_error"),
        ('column "x" does not exist', "42703", "system_error"),
    ],
)
def test_database_errors_are_classified_by_who_can_fix_them(text, sqlstate, expected):
    from destination_postgres_support.errors import classify

    class FakeError(Exception):
        pass

    err = FakeError(text)
    err.sqlstate = sqlstate
    assert classify(err)[0] == expected


def test_cli_wrong_password_exits_non_zero_with_a_config_error(tmp_path):
    config = {"database_url": "postgresql://nobody:wrong@127.0.0.1:1/none?connect_timeout=2"}
    code, outputs = write_subprocess(config, catalog_for(["issues"]), [], tmp_path)
    assert code == 1
    error = [o for o in outputs if o["type"] == "TRACE"][-1]["trace"]["error"]
    assert error["failure_type"] == "config_error"


def test_cli_config_that_fails_validation_is_a_config_error(tmp_path):
    code, outputs = write_subprocess({"database_url": "x", "batch_size": 0}, catalog_for([]), [], tmp_path)
    assert code == 1 and outputs[-1]["trace"]["error"]["failure_type"] == "config_error"
