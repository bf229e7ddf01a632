"""A corpus of hostile inputs through `python main.py check|write`, kept as data: each case says the exit code,
the failure_type, a phrase the message must hold, and what must have been committed before the failure. Every
output of every case is also searched for the password the configs carry: it must never appear."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .conftest import CONNECTOR_ROOT

SECRET = "s3cretpw-5e1f"
ISSUE = {"id": "i-1", "title": "ok", "state": "new", "created_at": "2024-03-04T12:00:00Z"}


def record(data: dict, stream: str = "issues") -> str:
    return json.dumps({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 1}})


def state(state_id: int, stream: str = "issues") -> str:
    body = {"stream_descriptor": {"name": stream}, "stream_state": {"n": state_id}}
    return json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": body, "id": state_id}})


def nested(depth: int, stream: str = "events") -> str:
    """A RECORD whose data is nested `depth` objects deep (as text: json.dumps itself stops near 1,000)."""
    data = '{"id": "deep", "child": ' * depth + "{}" + "}" * depth
    return f'{{"type": "RECORD", "record": {{"stream": "{stream}", "emitted_at": 1, "data": {data}}}}}'


GOOD = [record(ISSUE), state(1)]  # what every bad line below follows: it must be committed and echoed


@dataclass(frozen=True)
class Case:
    name: str
    command: str = "write"
    config: object = None  # None: the test database; a str is written as the file's raw text
    catalog: object = None  # None: issues + events (a generic stream)
    lines: list[str | bytes] = field(default_factory=list)
    exit: int = 1
    failure_type: str | None = "config_error"
    phrase: str = ""
    committed: tuple[str, ...] = ()  # issue ids that must be in the table afterwards
    echoed: tuple[int, ...] = ()  # state ids that must have been echoed


CASES = [
    # configs
    Case("config is not JSON", config="{not json", phrase="is not JSON"),
    Case("config is empty", config="", phrase="is not JSON"),
    Case("config is a JSON array", config="[1, 2]", phrase="must hold a JSON object"),
    Case("check: config is a JSON array", config="[1, 2]", command="check", phrase="must hold a JSON object"),
    Case("database_url of the wrong type", config={"database_url": 12345}, phrase="database_url"),
    Case(
        "database_url without a scheme",
        config={"database_url": f"postgres:{SECRET}@db.example.com/x"},
        phrase="not a PostgreSQL connection string",
    ),  # fmt: skip
    Case(
        "database_url of another scheme",
        config={"database_url": f"mysql://u:{SECRET}@h/x"},
        phrase="not a PostgreSQL connection string",
    ),  # fmt: skip
    Case(
        "database_url with a bad port",
        config={"database_url": f"postgresql://u:{SECRET}@127.0.0.1:99999/x"},
        phrase="port",
    ),  # fmt: skip
    Case(
        "check: database_url without a scheme",
        command="check",
        config={"database_url": f"postgres:{SECRET}@h/x"},
        exit=0,
        failure_type=None,
        phrase="not a PostgreSQL connection string",
    ),  # fmt: skip
    Case("check: config not JSON", command="check", config="{", phrase="is not JSON"),
    Case("batch_size of the wrong type", config={"database_url": "{db}", "batch_size": "many"}, phrase="batch_size"),
    # catalogs
    Case("catalog is not JSON", catalog="{", phrase="is not a configured catalog"),
    Case("catalog without streams", catalog={"nope": 1}, phrase="no `streams` list"),
    # stdin, after a committed record and state
    Case(
        "a line that is not JSON",
        lines=[*GOOD, "garbage {"],
        failure_type="system_error",
        phrase="line 3",
        committed=("i-1",),
        echoed=(1,),
    ),  # fmt: skip
    Case(
        "a STATE whose body is a list",
        lines=[*GOOD, json.dumps({"type": "STATE", "state": [1, 2]})],
        failure_type="system_error",
        phrase="line 3 of the input",
        committed=("i-1",),
        echoed=(1,),
    ),  # fmt: skip
    Case(
        "a record without its id",
        lines=[*GOOD, record({"title": "x"})],
        failure_type="system_error",
        phrase="required field 'id' is missing",
        committed=("i-1",),
        echoed=(1,),
    ),  # fmt: skip
    Case(
        "an id that is an object",
        lines=[*GOOD, record({**ISSUE, "id": {"a": 1}})],
        failure_type="system_error",
        phrase="string or integer id",
        committed=("i-1",),
        echoed=(1,),
    ),  # fmt: skip
    Case(
        "a wrongly typed value",
        lines=[*GOOD, record({**ISSUE, "id": "i-2", "number_of_touches": "lots"})],
        failure_type="system_error",
        phrase="number_of_touches",
        committed=("i-1",),
        echoed=(1,),
    ),  # fmt: skip
    Case(
        "a bad timestamp",
        lines=[*GOOD, record({**ISSUE, "id": "i-2", "created_at": "yesterday"})],
        failure_type="system_error",
        phrase="ISO-8601",
        committed=("i-1",),
        echoed=(1,),
    ),  # fmt: skip
    Case(
        "a stream outside the catalog",
        lines=[*GOOD, record({"id": "x"}, stream="tickets")],
        failure_type="system_error",
        phrase="not in the configured catalog",
        committed=("i-1",),
        echoed=(1,),
    ),  # fmt: skip
    Case(
        "a generic record without its key",
        lines=[*GOOD, record({"x": 1}, stream="events")],
        failure_type="system_error",
        phrase="primary key field 'id' is missing",
        committed=("i-1",),
        echoed=(1,),
    ),  # fmt: skip
    Case(
        "non-UTF-8 bytes",
        lines=[*GOOD, b'{"type": "RECORD", "record": {"stream": "issues", "data": {"id": "\xff\xfe"}}}'],
        failure_type="system_error",
        phrase="line 3",
        committed=("i-1",),
        echoed=(1,),
    ),  # fmt: skip
    Case(
        "JSON nested 5,000 deep",
        lines=[*GOOD, '{"a":' * 5000 + "1" + "}" * 5000],
        failure_type="system_error",
        phrase="line 3",
        committed=("i-1",),
        echoed=(1,),
    ),  # fmt: skip
    Case(
        "a generic record nested 300 deep is stored",
        lines=[*GOOD, nested(300), state(2)],
        exit=0,
        failure_type=None,
        committed=("i-1",),
        echoed=(1, 2),
    ),  # fmt: skip
    Case(
        "a generic record nested 900 deep is stored",
        lines=[*GOOD, nested(900), state(2)],
        exit=0,
        failure_type=None,
        committed=("i-1",),
        echoed=(1, 2),
    ),  # fmt: skip
]


def catalog_default() -> dict:
    def entry(name: str) -> dict:
        return {
            "stream": {"name": name, "json_schema": {"type": "object"}, "supported_sync_modes": ["incremental"]},
            "sync_mode": "incremental",
            "destination_sync_mode": "append_dedup",
            "primary_key": [["id"]],
            "cursor_field": ["updated_at"],
            "generation_id": 1,
            "minimum_generation_id": 0,
        }

    return {"streams": [entry("issues"), entry("events")]}


def _file(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, pg_url: str, tmp_path: Path):
    """What breaks if this fails: a user gets a generic or wrongly typed error, loses the records accepted
    before a bad line (every retry then fails at the same place), or finds the database password in a log."""
    db_url = make_conninfo(pg_url, password=SECRET)  # the test server's trust auth ignores it
    config = {"database_url": db_url} if case.config is None else case.config
    if isinstance(config, dict):
        config = {k: (db_url if v == "{db}" else v) for k, v in config.items()}
    args = [sys.executable, "main.py", case.command, "--config", str(_file(tmp_path / "config.json", config))]
    if case.command == "write":
        catalog = catalog_default() if case.catalog is None else case.catalog
        args += ["--catalog", str(_file(tmp_path / "catalog.json", catalog))]
    stdin = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in case.lines)
    done = subprocess.run(args, input=stdin, capture_output=True, cwd=CONNECTOR_ROOT, timeout=120)
    out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")

    assert SECRET not in out and SECRET not in err, "the password appeared in the output"
    assert "Something went wrong in the connector" not in out
    assert done.returncode == case.exit, out[-3000:] + err[-2000:]
    messages = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    errors = [m["trace"]["error"] for m in messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    if case.failure_type is None:
        assert not errors, errors
    else:
        assert [e["failure_type"] for e in errors] == [case.failure_type], out[-3000:]
        assert case.phrase in errors[0]["message"], errors[0]["message"]
    if case.command == "check" and case.exit == 0:
        status = next(m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS")
        assert status["status"] == "FAILED" and case.phrase in status["message"]
    assert tuple(m["state"]["id"] for m in messages if m["type"] == "STATE") == case.echoed
    if case.committed:
        with psycopg.connect(pg_url) as conn:
            ids = tuple(r[0] for r in conn.execute("SELECT id FROM issues ORDER BY id"))
        assert ids == case.committed


def test_tls_required_by_the_config_but_not_offered_by_the_server(pg_url: str, tmp_path: Path):
    """The message used to say the server *requires* TLS: the opposite of the cause."""
    if str(conninfo_to_dict(pg_url).get("host", "")).startswith("/"):
        pytest.skip("the test server is on a Unix socket (the embedded one), where libpq ignores sslmode")
    with psycopg.connect(pg_url) as conn:
        if conn.execute("SHOW ssl").fetchone()[0] == "on":
            pytest.skip("this test server offers TLS: the case needs one without")
    config = _file(tmp_path / "config.json", {"database_url": make_conninfo(pg_url, sslmode="require")})
    done = subprocess.run(
        [sys.executable, "main.py", "check", "--config", str(config)], capture_output=True, cwd=CONNECTOR_ROOT
    )
    status = next(json.loads(x)["connectionStatus"] for x in done.stdout.splitlines() if b"CONNECTION_STATUS" in x)
    assert status["status"] == "FAILED"
    assert "does not accept encrypted (TLS) connections" in status["message"], status["message"]
