"""The two ways the form connects (a connection string, or host/port fields) and the config shapes from before."""

from __future__ import annotations

import logging

import pytest
from airbyte_cdk.models import Status
from airbyte_cdk.sources.utils.schema_helpers import check_config_against_spec_or_exit
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import ValidationError

from destination_postgres_support import DestinationPostgresSupport
from destination_postgres_support.config import DestinationConfig, SslMode, describe
from destination_postgres_support.loader import connection_string

LOG = logging.getLogger("test")
SECRET = "pa55-not-in-any-log"


def _passes_the_spec(config: dict) -> None:
    """What the CDK's run_cmd does before check: a config the spec refuses never reaches the connector."""
    check_config_against_spec_or_exit(config, DestinationPostgresSupport().spec(LOG))


def _fields(pg_url: str) -> dict:
    """The harness database as the form's host/port fields (the harness may use a Unix socket as host)."""
    parts = conninfo_to_dict(pg_url)
    return {
        "method": "host_and_port",
        "host": parts.get("host") or "127.0.0.1",
        "port": int(parts.get("port") or 5432),
        "database": parts["dbname"],
        "username": parts.get("user") or "postgres",
    }


def test_check_succeeds_with_each_connection_method_and_with_the_old_database_url(pg_url):
    """What breaks if this fails: a user of one of the form's two options, or a config written before the form
    (`{"database_url": …}`, every existing deployment's), cannot connect."""
    configs = {
        "connection string": {"connection": {"method": "connection_string", "database_url": pg_url}},
        "host and port": {"connection": _fields(pg_url)},
        "database_url (before the form)": {"database_url": pg_url},
    }
    for name, config in configs.items():
        _passes_the_spec(config)
        status = DestinationPostgresSupport().check(LOG, config)
        assert status.status == Status.SUCCEEDED, (name, status.message)


def test_host_and_port_fields_make_the_same_connection_as_the_url(pg_url):
    parts = _fields(pg_url)
    by_fields = DestinationConfig.model_validate({"connection": {**parts, "password": SECRET}})
    by_url = DestinationConfig.model_validate(
        {
            "database_url": make_conninfo(
                host=parts["host"],
                port=parts["port"],
                dbname=parts["database"],
                user=parts["username"],
                password=SECRET,
            )
        }
    )
    assert conninfo_to_dict(connection_string(by_fields)) == conninfo_to_dict(connection_string(by_url))


def test_ssl_mode_is_read_from_the_form_and_from_the_bare_ssl_mode_configs_had(pg_url):
    """The form sends ssl: {"mode": "require"}; configs before it said ssl_mode: "require". Both set libpq's
    sslmode; the older one must also pass the spec, which the CDK checks every config against."""
    for given in (
        {"ssl": {"mode": "require"}},
        {"ssl_mode": "require"},
        {"ssl": {"mode": "require"}, "ssl_mode": "require"},
    ):
        raw = {"database_url": pg_url, **given}
        _passes_the_spec(raw)
        config = DestinationConfig.model_validate(raw)
        assert config.ssl is SslMode.require
        assert conninfo_to_dict(connection_string(config))["sslmode"] == "require"
    with pytest.raises(ValidationError, match="ssl"):
        DestinationConfig.model_validate({"database_url": pg_url, "ssl": {"mode": "require", "cert": "x"}})
    with pytest.raises(ValidationError, match="disagree"):
        DestinationConfig.model_validate({"database_url": pg_url, "ssl": {"mode": "require"}, "ssl_mode": "disable"})


@pytest.mark.parametrize(
    "config, phrase",
    [
        ({}, "connection is required"),
        ({"batch_size": 5}, "connection is required"),
        (
            {
                "database_url": f"postgresql://u:{SECRET}@h/x",
                "connection": {"method": "connection_string", "database_url": f"postgresql://u:{SECRET}@h/x"},
            },
            "not both",
        ),
        ({"connection": {"method": "connection_string", "database_url": f"mysql://u:{SECRET}@h/x"}}, "PostgreSQL"),
        ({"connection": {"method": "host_and_port", "host": "h", "database": "d"}}, "username"),
        ({"connection": {"method": "host_and_port", "host": "h", "port": 0, "database": "d", "username": "u"}}, "port"),
        ({"connection": {"method": "ssh", "host": "h"}}, "method"),
    ],
    ids=["empty", "no connection", "both", "not postgres", "no user", "port 0", "unknown method"],
)
def test_a_config_without_one_valid_connection_is_refused_without_echoing_it(config, phrase):
    """What breaks if this fails: a half-filled form reaches libpq (whose errors quote the password), or two
    connections are given and one of them is silently ignored."""
    with pytest.raises(ValidationError) as raised:
        DestinationConfig.model_validate(config)
    message = describe(raised.value)
    assert phrase in message and SECRET not in message, message
