"""A corpus of hostile inputs through real `python main.py check|discover|read` processes against the emulator.

Each case is data: the input (config overrides or raw file content, catalog, state, emulator faults), the
command, the exit code, the failure_type of the error (None: no error), a phrase the error, the check's
message or a WARN/INFO line must hold, and for reads what must be read (every record, or fewer: a migrated
state took effect). The CDK answered 14 of these with its generic "Something went wrong" system_error, and a
truncated body failed the sync (issue 16). Every output of every case is searched for the API tokens used.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from emulators.planhat import PlanhatEmulator
from emulators.server import EmulatorServer
from source_planhat.documents import RELATED

from .conftest import TIME_SCALE, catalog_of, run_main

TOKEN = "planhat-corpus-token-8c41d2"  # what the emulator accepts; distinctive, so a leak is found by grep
WRONG_TOKEN = "planhat-wrong-token-5a90e7"
GENERIC = "Something went wrong in the connector"
COMPANIES = 8
NEWEST = "@NEWEST@"  # replaced by the newest update of any model: a state that, migrated, leaves little to read
DROP = object()  # a config override that removes the key
DOCUMENT_MODELS = ("companies", *RELATED)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stream_state(name: str, state: Any, **descriptor: Any) -> dict[str, Any]:
    return {"type": "STREAM", "stream": {"stream_descriptor": {"name": name, **descriptor}, "stream_state": state}}


def documents_state(state: Any) -> list[dict[str, Any]]:
    return [stream_state("company_documents", state)]


@dataclass(frozen=True)
class Case:
    name: str
    command: str
    exit: int = 1
    failure_type: str | None = "config_error"  # of the error TRACE; None: there must be none
    phrase: str = ""  # in the error or check message, or a WARN/INFO line
    config: Any = field(default_factory=dict)  # a dict: overrides of a working config; else the file's content
    catalog: Any = None  # None: the companies stream; a tuple: those streams; else the file's content
    state: Any = None  # None: no state file; a str or bytes: the file's content; else JSON
    faults: tuple[dict[str, Any], ...] = ()
    reads: str | None = None  # "all": the stream read whole from start; "fewer": the state took effect
    status: str | None = None  # the CONNECTION_STATUS of a check


NOT_JSON = '{"api_token": "' + TOKEN + '", "region": '  # cut short, with the token in it
DOCS = ("company_documents",)
ALL_CURSORS = {model: NEWEST for model in DOCUMENT_MODELS}

CASES = [
    # -- the config file ------------------------------------------------------------------------
    *(Case(f"{c}: config not JSON", c, config=NOT_JSON, phrase="is not valid JSON") for c in ("check", "discover", "read")),
    *(Case(f"{c}: config empty", c, config="", phrase="is empty") for c in ("check", "discover", "read")),
    *(Case(f"{c}: config a JSON array", c, config="[1, 2]", phrase="holds a JSON array") for c in ("check", "discover", "read")),
    Case("check: config JSON null", "check", config="null", phrase="holds a JSON null"),
    Case("check: config not UTF-8", "check", config=b'{"api_token": "\xff\xfe"}', phrase="is not UTF-8"),
    # -- what the config says -------------------------------------------------------------------
    Case("check: no api_token", "check", exit=0, failure_type=None, status="FAILED", config={"api_token": DROP}, phrase="api_token"),
    Case("read: no api_token", "read", config={"api_token": DROP}, phrase="api_token"),
    Case("check: api_token a list", "check", exit=0, failure_type=None, status="FAILED", config={"api_token": [TOKEN]}, phrase="is not of type 'string'"),
    Case("check: wrong token", "check", exit=0, failure_type=None, status="FAILED", config={"api_token": WRONG_TOKEN}, phrase="refused the API token (401"),
    Case("read: wrong token", "read", config={"api_token": WRONG_TOKEN}, phrase="refused the API token (401"),
    Case("check: region custom without base_url", "check", exit=0, failure_type=None, status="FAILED", config={"base_url": DROP}, phrase="needs a base_url"),
    Case("check: unknown region", "check", exit=0, failure_type=None, status="FAILED", config={"region": "api-mars"}, phrase="is not one of"),
    Case("check: base_url without region custom", "check", exit=0, failure_type=None, status="SUCCEEDED", config={"region": DROP}, phrase="Check succeeded"),
    Case("check: base_url not http", "check", exit=0, failure_type=None, status="FAILED", config={"base_url": "api-eu.planhat.com"}, phrase="does not match"),
    Case("read: base_url with no host", "read", config={"base_url": "http://:80"}, phrase="cannot be requested"),
    Case("check: start_date not a date", "check", exit=0, failure_type=None, status="FAILED", config={"start_date": "last week"}, phrase="start_date"),
    Case("check: page size of an unknown stream", "check", exit=0, failure_type=None, status="FAILED", config={"page_sizes": {"nope": 5}}, phrase="unknown stream 'nope'"),
    Case("check: unreachable host", "check", exit=0, failure_type=None, status="FAILED", config={"base_url": "@CLOSED@"}, phrase="No usable answer from Planhat"),
    # -- the catalog file -----------------------------------------------------------------------
    Case("read: catalog not JSON", "read", catalog='{"streams": [', phrase="catalog file"),
    Case("read: catalog empty", "read", catalog="", phrase="is empty"),
    Case("read: catalog a JSON array", "read", catalog="[]", phrase="holds a JSON array"),
    Case("read: catalog without streams", "read", catalog="{}", phrase="without a `streams` list"),
    Case("read: catalog stream without its fields", "read", catalog='{"streams": [{"stream": {"name": "companies"}}]}', phrase="is not a configured catalog"),
    Case("read: catalog names an unknown stream", "read", catalog=("company_document",), phrase="does not offer: 'company_document'"),
    # -- the state file: broken files fail, every shape of state is migrated or dropped ----------
    Case("read: state not JSON", "read", state='[{"type": "STREAM", ', phrase="state file"),
    Case("read: state empty", "read", exit=0, failure_type=None, state="", phrase="is empty", reads="all"),
    Case("read: state a JSON number", "read", exit=0, failure_type=None, state=42, phrase="a JSON number", reads="all"),
    Case("read: legacy dict state", "read", exit=0, failure_type=None, state={"companies": {"updatedAt": NEWEST}}, phrase="migrated the legacy state", reads="fewer"),
    Case("read: LEGACY message", "read", exit=0, failure_type=None, state=[{"type": "LEGACY", "data": {"companies": {"updatedAt": NEWEST}}}], phrase="migrated state message 1 (LEGACY)", reads="fewer"),
    Case("read: one message, not a list", "read", exit=0, failure_type=None, state=stream_state("companies", {"updatedAt": NEWEST}), reads="fewer"),
    Case("read: stream_state a string", "read", exit=0, failure_type=None, state=[stream_state("companies", "abc")], phrase="a string that is not a JSON object", reads="all"),
    Case("read: stream_state JSON text", "read", exit=0, failure_type=None, state=[stream_state("companies", json.dumps({"updatedAt": NEWEST}))], phrase="JSON text, to an object", reads="fewer"),
    Case("read: stream_state an array", "read", exit=0, failure_type=None, state=[stream_state("companies", [NEWEST])], phrase="a JSON array, not an object", reads="all"),
    Case("read: GLOBAL of another source", "read", exit=0, failure_type=None, state=[{"type": "GLOBAL", "global": {"shared_state": {"lsn": 7}, "stream_states": [{"stream_descriptor": {"name": "orders"}, "stream_state": {"id": 3}}]}}], phrase="ignoring the shared_state", reads="all"),
    Case("read: GLOBAL with this source's streams", "read", exit=0, failure_type=None, state=[{"type": "GLOBAL", "global": {"stream_states": [{"stream_descriptor": {"name": "companies"}, "stream_state": {"updatedAt": NEWEST}}]}}], reads="fewer"),
    Case("read: junk state messages", "read", exit=0, failure_type=None, state=[1, {"type": "SNAPSHOT"}, {}], phrase="of type 'SNAPSHOT'", reads="all"),
    Case("read: state of a stream in a namespace", "read", exit=0, failure_type=None, state=[stream_state("companies", {"updatedAt": NEWEST}, namespace="public")], phrase="namespace 'public'", reads="all"),
    Case("read: updatedAt not a time", "read", exit=0, failure_type=None, state=[stream_state("companies", {"updatedAt": "yesterday"})], phrase="is not a time", reads="all"),
    Case("read: updatedAt a number", "read", exit=0, failure_type=None, state=[stream_state("companies", {"updatedAt": 1700000000})], phrase="is not a time", reads="all"),
    Case("read: model state without updatedAt", "read", exit=0, failure_type=None, state=[stream_state("companies", {"cursor": NEWEST})], phrase="has no updatedAt", reads="all"),
    # company_documents' own state, malformed in each part
    Case("read: documents cursors a list", "read", exit=0, failure_type=None, catalog=DOCS, state=documents_state({"cursors": [NEWEST]}), phrase="`cursors` is not an object", reads="all"),
    Case("read: documents cursor not a time", "read", exit=0, failure_type=None, catalog=DOCS, state=documents_state({"cursors": {m: "soon" for m in DOCUMENT_MODELS}}), phrase="the cursor of companies is not a time", reads="all"),
    Case("read: documents cursor of an unknown model", "read", exit=0, failure_type=None, catalog=DOCS, state=documents_state({"cursors": {"orders": NEWEST}}), phrase="the cursor of orders", reads="all"),
    Case("read: documents recent not an object", "read", exit=0, failure_type=None, catalog=DOCS, state=documents_state({"cursors": ALL_CURSORS, "recent": "x"}), phrase="`recent` is not an object", reads="fewer"),
    Case("read: documents recent of a model a list", "read", exit=0, failure_type=None, catalog=DOCS, state=documents_state({"cursors": ALL_CURSORS, "recent": {"companies": ["x"]}}), phrase="the `recent` of companies", reads="fewer"),
    Case("read: documents state without cursors", "read", exit=0, failure_type=None, catalog=DOCS, state=documents_state({"recent": {}}), phrase="neither `cursors` nor an updatedAt", reads="all"),
    Case("read: documents state as one updatedAt", "read", exit=0, failure_type=None, catalog=DOCS, state=documents_state({"updatedAt": NEWEST}), phrase="from one updatedAt to a cursor per model", reads="fewer"),
    Case("read: documents stream_state a string", "read", exit=0, failure_type=None, catalog=DOCS, state=documents_state("cursors"), phrase="a string that is not a JSON object", reads="all"),
    # -- broken answers are retried ----------------------------------------------------------------
    Case("read: truncated bodies", "read", exit=0, failure_type=None, faults=({"kind": "truncated", "family": "companies", "times": 2},), reads="all"),
    Case("read: malformed bodies", "read", exit=0, failure_type=None, faults=({"kind": "malformed", "family": "companies", "times": 2},), reads="all"),
    Case("read: connection resets", "read", exit=0, failure_type=None, faults=({"kind": "reset", "family": "companies", "times": 2},), reads="all"),
]  # fmt: skip


@pytest.fixture(scope="module")
def server():
    emulator = PlanhatEmulator(seed=5, size=COMPANIES, token=TOKEN)
    with EmulatorServer(emulator, time_scale=TIME_SCALE) as running:
        yield running


def config_file(case: Case, server: EmulatorServer) -> Any:
    if not isinstance(case.config, dict):
        return case.config
    config = {"api_token": TOKEN, "region": "custom", "base_url": server.url, "lookback_window": 0}
    for key, value in case.config.items():
        if value is DROP:
            config.pop(key)
        else:
            config[key] = f"http://127.0.0.1:{closed_port()}" if value == "@CLOSED@" else value
    return config


def catalog_file(case: Case) -> Any:
    if case.command != "read":
        return None
    if case.catalog is None or isinstance(case.catalog, tuple):
        return ConfiguredAirbyteCatalogSerializer.dump(catalog_of(case.catalog or ("companies",)))
    return case.catalog


def state_file(case: Case, server: EmulatorServer) -> Any:
    if case.state is None or isinstance(case.state, (str, bytes)):
        return case.state
    models = server.emulator.data.models
    newest = max(record["updatedAt"] for model in DOCUMENT_MODELS for record in models[model])
    return json.dumps(case.state).replace(NEWEST, newest)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input(case: Case, server, tmp_path):
    server.faults.clear()
    server.log.clear()
    server.limiter.reset()
    for fault in case.faults:
        server.faults.add(**fault)

    outcome = run_main(tmp_path, case.command, config_file(case, server), catalog_file(case), state_file(case, server))

    for secret in (TOKEN, WRONG_TOKEN):
        assert secret not in outcome.stdout and secret not in outcome.stderr, f"{secret} leaked"
    assert "NOT_JSON" not in {m["type"] for m in outcome.messages}, "stdout holds a line that is not a message"
    assert outcome.code == case.exit, (outcome.errors, outcome.stderr[-2000:])
    errors = outcome.errors
    assert not any(GENERIC in e["message"] for e in errors), errors
    if case.failure_type is None:
        assert not errors, errors
    else:
        assert errors and {e["failure_type"] for e in errors} == {case.failure_type}, errors
    if case.status:
        assert outcome.status and outcome.status["status"] == case.status, outcome.status
    said = [e["message"] for e in errors] + [(outcome.status or {}).get("message") or ""]
    said += outcome.logs("WARN", "INFO")
    assert any(case.phrase in line for line in said), (case.phrase, said)
    stream = case.catalog[0] if isinstance(case.catalog, tuple) else "companies"
    read = {r["_id"] for r in outcome.records(stream)}
    if case.reads == "all":
        assert len(read) == COMPANIES  # a document per company, or the companies themselves
    elif case.reads == "fewer":
        assert len(read) < COMPANIES
