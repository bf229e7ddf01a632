"""Hostile inputs through real `main.py check|write` processes against the Dust emulator (issue 16).

The corpus is data: each case names the command, what is wrong with its input, the exit code, the
failure_type of its TRACE (or the status of its CONNECTION_STATUS for `check`), a phrase the message
must hold, and what must have been committed (documents in Dust, states echoed). Every case also
proves that the API key never reaches stdout or stderr and that no answer is the CDK's generic
"Something went wrong". A failing case means a user meets a crash, a silent loss or a leaked key.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from emulators.dust.api import DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID, DataSource

from .conftest import CONNECTOR_ROOT, catalog, configured

SECRET = "sk-corpus-3f9c2a7be41d08c6"  # registered with the emulator for these tests only
GENERIC = "Something went wrong in the connector"
BIG = 9 * 1024 * 1024  # over Dust's 8 MB request body limit


def rec(i: Any, stream: str = "tickets", **data: Any) -> str:
    body = {"id": i, **data} if i is not None else data
    return json.dumps({"type": "RECORD", "record": {"stream": stream, "data": body, "emitted_at": 1}})


def st(state_id: int, stream: str = "tickets") -> str:
    descriptor = {"stream_descriptor": {"name": stream}, "stream_state": {"cursor": state_id}}
    return json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": descriptor, "id": state_id}})


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


BEFORE = [rec(1), st(1)]  # a record and its state ahead of each bad line: both must survive it
TICKETS = catalog(configured("tickets"))


@dataclass
class Case:
    name: str
    command: str  # check | write
    stdin: list[str | bytes] = field(default_factory=list)
    config: dict | str | None = None  # changes to the working config, or the raw text of the file
    drop: tuple[str, ...] = ()  # config keys removed
    catalog: dict | str = field(default_factory=lambda: TICKETS)
    exit: int = 0
    failure: str | None = None  # write: failure_type of the one TRACE ERROR (None: no error)
    status: str | None = None  # check: status of the one CONNECTION_STATUS
    phrase: str = ""
    documents: set[str] | Callable[[set[str]], bool] | None = None  # what is in Dust after the run
    states: list[int] | None = None  # ids of the states echoed
    setup: Callable[[Any, Any], None] | None = None  # (emulator, server) before the run


def two_spaces(emulator, server) -> None:
    emulator.spaces["vlt_copy"] = {DATA_SOURCE_ID: DataSource(DATA_SOURCE_ID, "Support knowledge (copy)")}


def parts_of(base: str) -> Callable[[set[str]], bool]:
    return lambda ids: len(ids) > 1 and all(i.startswith(f"{base}-part") for i in ids)


# One case a line: the corpus reads as a table.
# fmt: off
CORPUS: list[Case] = [
    # -- the config file ------------------------------------------------------------------------------
    Case("config not JSON (check)", "check", config=f"api_key: {SECRET}\n", status="FAILED", phrase="is not valid JSON"),
    Case("config not JSON (write)", "write", config=f"api_key: {SECRET}\n", exit=1, failure="config_error", phrase="is not valid JSON", documents=set(), states=[]),
    Case("config empty (check)", "check", config="", status="FAILED", phrase="is empty"),
    Case("config empty (write)", "write", config="  \n", exit=1, failure="config_error", phrase="is empty"),
    Case("config a JSON array (check)", "check", config=json.dumps([SECRET]), status="FAILED", phrase="holds a JSON array"),
    Case("config a JSON array (write)", "write", config=json.dumps([SECRET]), exit=1, failure="config_error", phrase="holds a JSON array"),
    Case("config JSON null", "write", config="null", exit=1, failure="config_error", phrase="holds a JSON null"),
    Case("config not UTF-8", "write", config="\udcff", exit=1, failure="config_error", phrase="not UTF-8"),
    Case("config without workspace_id", "check", drop=("workspace_id",), status="FAILED", phrase="workspace_id: Field required"),
    Case("api_key pasted with a line break", "check", config={"api_key": f"  {SECRET}\n"}, status="SUCCEEDED"),
    Case("api_key with a space inside", "check", config={"api_key": SECRET[:8] + " " + SECRET[8:]}, status="FAILED", phrase="api_key: Value error, must be the key itself"),
    Case("api_key with a non-ASCII character", "write", config={"api_key": SECRET + "…"}, exit=1, failure="config_error", phrase="not printable ASCII"),
    Case("api_key of no workspace", "write", config={"api_key": "sk-wrong"}, stdin=BEFORE, exit=1, failure="config_error", phrase="Dust rejected the API key", documents=set(), states=[]),
    Case("upserts_per_minute a string", "write", config={"upserts_per_minute": "fast"}, exit=1, failure="config_error", phrase="upserts_per_minute: Input should be a valid integer"),
    Case("base_url not http", "check", config={"base_url": "ftp://dust.example"}, status="FAILED", phrase="base_url: String should match pattern"),
    # -- the catalog file -----------------------------------------------------------------------------
    Case("catalog not JSON", "write", catalog="{streams: [", exit=1, failure="config_error", phrase="The catalog file"),
    Case("catalog a JSON array", "write", catalog="[]", exit=1, failure="config_error", phrase="holds a JSON array"),
    Case("catalog without streams", "write", catalog={"streams": "tickets"}, exit=1, failure="config_error", phrase="no `streams` list"),
    Case("catalog stream without a name", "write", catalog={"streams": [{"stream": {}}]}, exit=1, failure="config_error", phrase="streams[0]"),
    Case("catalog sync mode unknown", "write", catalog=catalog({**configured("tickets"), "destination_sync_mode": "upsert"}), exit=1, failure="config_error", phrase="'upsert' is not one of"),
    Case("catalog primary_key a string", "write", catalog=catalog({**configured("tickets"), "primary_key": "id"}), exit=1, failure="config_error", phrase="`primary_key` must be a list"),
    Case("catalog generation_id a string", "write", catalog=catalog({**configured("tickets"), "generation_id": "two"}), exit=1, failure="config_error", phrase="`generation_id`"),
    # -- stdin lines that are not Airbyte messages: the source's bug (system_error), named by line ----
    Case("line not JSON", "write", stdin=[*BEFORE, "this is not json", rec(2)], exit=1, failure="system_error", phrase="line 3", documents={"tickets-1"}, states=[1]),
    Case("line a JSON array", "write", stdin=[*BEFORE, "[1, 2]"], exit=1, failure="system_error", phrase="line 3", documents={"tickets-1"}, states=[1]),
    Case("RECORD without data", "write", stdin=[*BEFORE, '{"type": "RECORD", "record": {"stream": "tickets"}}'], exit=1, failure="system_error", phrase="line 3 of the input is not an Airbyte message: a RECORD without a data object", documents={"tickets-1"}, states=[1]),
    Case("RECORD without a stream", "write", stdin=[*BEFORE, '{"type": "RECORD", "record": {"data": {"id": 2}}}'], exit=1, failure="system_error", phrase="without a stream name", states=[1]),
    Case("STATE with a malformed body", "write", stdin=[*BEFORE, '{"type": "STATE", "state": {"type": "STREAM", "stream": "tickets"}}'], exit=1, failure="system_error", phrase="line 3", documents={"tickets-1"}, states=[1]),
    Case("STATE that is a string", "write", stdin=[*BEFORE, '{"type": "STATE", "state": "tickets:2"}'], exit=1, failure="system_error", phrase="a STATE without a state object", states=[1]),
    Case("TRACE without a trace", "write", stdin=[*BEFORE, '{"type": "TRACE", "trace": null}'], exit=1, failure="system_error", phrase="a TRACE without a trace object", states=[1]),
    Case("JSON nested 5,000 deep", "write", stdin=[*BEFORE, '{"type": "RECORD", "record": {"stream": "tickets", "data": {"id": 2, "x": ' + "[" * 5000 + "]" * 5000 + "}}}"], exit=1, failure="system_error", phrase="line 3 of the input is not an Airbyte message: JSON nested deeper", documents={"tickets-1"}, states=[1]),
    Case("non-UTF-8 bytes", "write", stdin=[*BEFORE, b'{"type": "RECORD", "record": {"stream": "tickets", "data": {"id": "\xff\xfe"}}}', rec(3)], exit=1, failure="system_error", phrase="line 3 of the input is not an Airbyte message: not UTF-8", documents={"tickets-1"}, states=[1]),
    Case("NaN in a record", "write", stdin=[*BEFORE, '{"type": "RECORD", "record": {"stream": "tickets", "data": {"id": 2, "score": NaN}}}'], exit=1, failure="system_error", phrase="NaN is not JSON", states=[1]),
    Case("record of a stream not in the catalog", "write", stdin=[*BEFORE, rec(2, stream="other")], exit=1, failure="config_error", phrase="Line 3 is a record of stream 'other'", documents={"tickets-1"}, states=[1]),
    # -- odd but valid input: written ---------------------------------------------------------------
    Case("blank lines, LOG and CONTROL messages", "write", stdin=["", rec(1), "   ", '{"type": "LOG", "log": {"level": "INFO", "message": "hi"}}', '{"type": "CONTROL", "control": {}}', st(1)], documents={"tickets-1"}, states=[1]),
    Case("lone UTF-16 surrogate", "write", stdin=['{"type": "RECORD", "record": {"stream": "tickets", "data": {"id": 1, "title": "a\\ud800b"}}}', st(1)], documents={"tickets-1"}, states=[1]),
    Case("NUL characters in text", "write", stdin=[rec(1, body="before\u0000after"), st(1)], documents={"tickets-1"}, states=[1]),
    Case("timestamp 1e400 and a 30-digit integer", "write", stdin=['{"type": "RECORD", "record": {"stream": "tickets", "data": {"id": 1, "updated_at": 1e400, "n": 123456789012345678901234567890}}}', st(1)], documents={"tickets-1"}, states=[1]),
    Case("record nested 300 deep", "write", stdin=[rec(1, x=nested(300)), st(1)], documents={"tickets-1"}, states=[1]),
    Case("record nested 700 deep", "write", stdin=[*BEFORE, rec(2, x=nested(700)), st(2)], exit=1, failure="config_error", phrase="line 3 of stream 'tickets': it nests more than 500 levels", documents={"tickets-1"}, states=[1]),
    # -- records without their primary key (the policy: README, "Document ids") -----------------------
    Case("record missing its primary key", "write", stdin=[*BEFORE, rec(None, title="no id"), st(2)], exit=1, failure="config_error", phrase="line 3 of stream 'tickets': it has no value for 'id'", documents={"tickets-1"}, states=[1]),
    Case("record with a null primary key", "write", stdin=[*BEFORE, rec(None, id=None, title="null id"), st(2)], exit=1, failure="config_error", phrase="has no value for 'id'", documents={"tickets-1"}, states=[1]),
    Case("missing key, skip_and_report", "write", config={"on_rejected_record": "skip_and_report"}, stdin=[*BEFORE, rec(None, title="no id"), rec(3), st(2)], phrase="Skipped 1 of 3 records, which are not in Dust", documents={"tickets-1", "tickets-3"}, states=[1, 2]),
    Case("keyless stream: content-hash ids", "write", catalog=catalog(configured("tickets", "append", primary_key=())), stdin=[rec(None, title="a"), rec(None, title="a"), rec(None, title="b"), st(1)], documents=lambda ids: len(ids) == 2, states=[1]),
    # -- records too big for one Dust request ------------------------------------------------------------
    Case("record of 9 MB of text", "write", stdin=[rec(1, body="x" * BIG), st(1)], documents=parts_of("tickets-1"), states=[1]),
    Case("1.9M control characters (11 MB escaped)", "write", config={"max_document_chars": 2_000_000}, stdin=[rec(1, body="\u0001" * 1_900_000), st(1)], documents=parts_of("tickets-1"), states=[1]),
    Case("tags alone over 8 MB", "write", config={"streams": [{"name": "tickets", "tag_fields": ["labels"]}]}, stdin=[*BEFORE, rec(2, labels=[f"label-{i}" for i in range(700_000)]), st(2)], exit=1, failure="config_error", phrase="line 3 of stream 'tickets' (document tickets-2): its title and tags alone take", documents={"tickets-1"}, states=[1]),
    Case("tags over 8 MB, skip_and_report", "write", config={"on_rejected_record": "skip_and_report", "streams": [{"name": "tickets", "tag_fields": ["labels"]}]}, stdin=[*BEFORE, rec(2, labels=[f"label-{i}" for i in range(700_000)]), st(2)], phrase="line 3 of tickets: too_large", documents={"tickets-1"}, states=[1, 2]),
    Case("table row over 1 MB", "write", config={"streams": [{"name": "tickets", "target": "table"}]}, stdin=[rec(1, body="x" * 2_000_000), st(1)], exit=1, failure="config_error", phrase="line 1 of stream 'tickets' (row): refused: 413 row_too_large", states=[]),
    Case("document over the plan limit (Dust's 403)", "write", stdin=[*BEFORE, rec(2, body="word " * 5000), st(2)], setup=lambda e, s: setattr(e, "plan_document_chars", 20_000), exit=1, failure="config_error", phrase="line 3 of stream 'tickets' (document tickets-2): refused: 403 data_source_quota_error", documents={"tickets-1"}, states=[1]),
    # -- Dust's answers cut short or garbled: retried under the client's one HTTP policy --------------
    Case("truncated list body", "write", stdin=BEFORE, setup=lambda e, s: s.faults.add("truncated", family="documents", times=1), documents={"tickets-1"}, states=[1]),
    Case("malformed list body", "write", stdin=BEFORE, setup=lambda e, s: s.faults.add("malformed", family="documents", times=1), documents={"tickets-1"}, states=[1]),
    Case("truncated upsert answer", "write", stdin=BEFORE, setup=lambda e, s: s.faults.add("truncated", family="upserts", times=1), documents={"tickets-1"}, states=[1]),
    Case("malformed upsert answer", "write", stdin=BEFORE, setup=lambda e, s: s.faults.add("malformed", family="upserts", times=1), documents={"tickets-1"}, states=[1]),
    # -- no space_id (seed 000's .env): the space holding the data source is found ---------------------
    Case("no space_id (check)", "check", drop=("space_id",), status="SUCCEEDED", phrase=f"is in space '{SPACE_ID}'"),
    Case("no space_id (write)", "write", drop=("space_id",), stdin=BEFORE, phrase=f"was found in space {SPACE_ID}", documents={"tickets-1"}, states=[1]),
    Case("no space_id, unknown data source", "check", drop=("space_id",), config={"data_source_id": "dts_nope"}, status="FAILED", phrase="holds data source 'dts_nope'"),
    Case("no space_id, data source in two spaces", "write", drop=("space_id",), setup=two_spaces, stdin=BEFORE, exit=1, failure="config_error", phrase="is in 2 spaces: vlt_support, vlt_copy", documents=set(), states=[]),
]
# fmt: on


def run_case(tmp_path: Path, case: Case, config: dict) -> subprocess.CompletedProcess:
    config_path, catalog_path = tmp_path / "config.json", tmp_path / "catalog.json"
    if isinstance(case.config, str):
        config_path.write_bytes(case.config.encode("utf-8", "surrogateescape"))
    else:
        config = {k: v for k, v in {**config, **(case.config or {})}.items() if k not in case.drop}
        config_path.write_text(json.dumps(config))
    catalog_path.write_text(case.catalog if isinstance(case.catalog, str) else json.dumps(case.catalog))
    args = [sys.executable, str(CONNECTOR_ROOT / "main.py"), case.command, "--config", str(config_path)]
    if case.command == "write":
        args += ["--catalog", str(catalog_path)]
    stdin = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in case.stdin)
    return subprocess.run(args, input=stdin, capture_output=True, timeout=240)


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_hostile_input(case: Case, tmp_path, dust, emulator):
    emulator.keys[SECRET] = (WORKSPACE_ID, True)
    config = {"api_key": SECRET, "workspace_id": WORKSPACE_ID, "space_id": SPACE_ID, "data_source_id": DATA_SOURCE_ID}
    config["base_url"] = dust.url
    if case.setup:
        case.setup(emulator, dust)
    result = run_case(tmp_path, case, config)
    stdout, stderr = result.stdout.decode("utf-8", "replace"), result.stderr.decode("utf-8", "replace")
    output = stdout + stderr
    assert SECRET not in output and SECRET[8:] not in output, "the API key leaked"
    assert GENERIC not in output
    messages = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert result.returncode == case.exit, stdout[-3000:] + stderr[-3000:]
    errors = [m["trace"]["error"] for m in messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    statuses = [m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"]
    said = " ".join(m["log"]["message"] for m in messages if m["type"] == "LOG")
    if case.command == "check":
        assert len(statuses) == 1 and statuses[0]["status"] == case.status, statuses
        said += " " + (statuses[0].get("message") or "")
    elif case.failure:
        assert len(errors) == 1 and errors[0]["failure_type"] == case.failure, errors
        said += " " + errors[0]["message"]
    else:
        assert errors == [], errors
    assert case.phrase in said, said[-3000:]
    if case.states is not None:
        assert [m["state"]["id"] for m in messages if m["type"] == "STATE"] == case.states
    if case.documents is not None:
        ids = set(emulator.documents())
        assert case.documents(ids) if callable(case.documents) else ids == case.documents, sorted(ids)[:10]
