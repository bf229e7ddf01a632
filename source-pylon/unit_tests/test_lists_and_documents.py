"""The list streams (one class, endpoint table), survey responses, and the issue documents."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from source_pylon.endpoints import CUSTOM_FIELD_OBJECT_TYPES, ENDPOINTS

from .conftest import make_config

SCHEMAS = Path(__file__).resolve().parents[1] / "source_pylon" / "schemas"
ALL_STREAMS = ["issues", "issue_messages", "issue_threads", "issue_documents", *(e.name for e in ENDPOINTS)]


def test_every_list_stream_reads_its_endpoint_once_with_max_page_size(pylon, sync):
    server = pylon(size=20)
    result = sync(server, *(e.name for e in ENDPOINTS))
    assert not result.errors
    data = server.emulator.data
    assert len(result.records("accounts")) == len(data.accounts)
    assert len(result.records("contacts")) == len(data.contacts)
    assert {r["slug"] for r in result.records("issue_statuses")} >= {"new", "closed", "waiting-on-engineering"}
    for entry in server.log.entries():
        assert entry.method == "GET" and entry.status == 200
        assert entry.query.get("limit") == "999"
    # custom fields: one request per documented object type
    assert sorted(e.query["object_type"] for e in server.log.entries(family="custom_fields")) == sorted(
        CUSTOM_FIELD_OBJECT_TYPES
    )
    assert len(result.records("custom_fields")) == len(data.custom_fields)


def test_knowledge_base_articles_carry_their_knowledge_base(pylon, sync):
    server = pylon(size=5)
    articles = sync(server, "knowledge_base_articles").records("knowledge_base_articles")
    expected = {a["id"]: kb for kb, items in server.emulator.data.articles.items() for a in items}
    assert {a["id"]: a["knowledge_base_id"] for a in articles} == expected


def test_list_pagination_with_a_small_page(pylon, sync):
    server = pylon(size=40)
    result = sync(server, "contacts", config=make_config(server, page_size=3))
    assert len({r["id"] for r in result.records("contacts")}) == len(server.emulator.data.contacts)
    assert server.log.count(family="contacts") == -(-len(server.emulator.data.contacts) // 3)


def test_survey_responses_are_incremental_per_survey(pylon, sync):
    server = pylon(size=40)
    first = sync(server, "survey_responses")
    responses = first.records("survey_responses")
    assert responses and all(r["survey_id"] for r in responses)
    total = sum(len(v) for v in server.emulator.data.survey_responses.values())
    assert len({r["id"] for r in responses}) == len(responses) == total
    state = first.states("survey_responses")[-1]
    assert set(state["surveys"]) == {s for s, v in server.emulator.data.survey_responses.items() if v}

    second = sync(server, "survey_responses", state=first.final_state())
    # The lookback re-reads at most the last hour of each survey: never the whole history again.
    assert len(second.records("survey_responses")) < len(responses)
    for entry in server.log.entries(family="survey_responses"):
        assert "submitted_after" in entry.query


def test_issue_document_is_self_contained(pylon, sync):
    """The Dust flow indexes this record alone: account, people, fields and the ordered thread must be in it."""
    server = pylon(size=30, messages_per_issue=4)
    documents = sync(server, "issue_documents").records("issue_documents")
    data = server.emulator.data
    accounts = {a["id"]: a for a in data.accounts}
    users = {u["id"]: u for u in data.users}
    assert len(documents) == 30
    for doc in documents:
        issue = next(i for i in data.issues if i["id"] == doc["id"])
        if issue["account"]:
            account = accounts[issue["account"]["id"]]
            assert doc["account"] == {k: account[k] for k in ("id", "name", "domain", "primary_domain", "type")}
        if issue["assignee"]:
            assert doc["assignee"]["name"] == users[issue["assignee"]["id"]]["name"]
        if issue["requester"]:
            assert doc["requester"]["name"] and doc["requester"]["email"] == issue["requester"]["email"]
        times = [m["timestamp"] for m in doc["messages"]]
        assert times == sorted(times) and len(times) == 4
        assert {m["author_kind"] for m in doc["messages"]} <= {"user", "contact", "system"}
        assert isinstance(doc["custom_fields"], dict)


def test_empty_pages_without_data_and_missing_objects_do_not_crash(pylon, sync):
    """Pylon answers an empty result with no `data` key; optional objects may be null."""
    server = pylon(size=3)
    server.emulator.add_issue(account=None, requester=None, assignee=None, team=None, tags=None, custom_fields=None)
    result = sync(server, "issues", "issue_documents", "issue_messages")
    assert not result.errors
    bare = result.records("issue_documents")[-1]
    # The CDK's serializer drops top-level null fields of a record: absent means null downstream.
    assert bare.get("account") is None and bare.get("requester") is None and bare["messages"] == []


@pytest.mark.parametrize("form", ["object", "array"])
def test_every_record_matches_its_declared_schema(pylon, sync, form):
    """Schemas are exact: tags are strings, custom_fields an object keyed by slug, nulls where the API sends them."""
    server = pylon(size=30, messages_per_issue=3, custom_fields_form=form)
    result = sync(server, *ALL_STREAMS)
    assert not result.errors
    for stream in ALL_STREAMS:
        schema = json.loads((SCHEMAS / f"{stream}.json").read_text())
        records = result.records(stream)
        assert records, stream
        for record in records:
            jsonschema.validate(record, schema)
            undeclared = set(record) - set(schema["properties"])
            assert not undeclared, f"{stream} has fields its schema does not declare: {undeclared}"
