"""The Dust emulator keeps the rules of reference/dust-api.md; connector tests rely on each one."""

from __future__ import annotations

import time

import pytest
import requests

from emulators.dust import DustEmulator
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, MANAGED_DATA_SOURCE_ID, READ_ONLY_KEY, SPACE_ID, WORKSPACE_ID

AUTH = {"Authorization": f"Bearer {API_KEY}"}
DS = f"/api/v1/w/{WORKSPACE_ID}/spaces/{SPACE_ID}/data_sources/{DATA_SOURCE_ID}"


@pytest.fixture
def emulator():
    return DustEmulator()


@pytest.fixture
def dust(serve_emulator, emulator):
    return serve_emulator(emulator, time_scale=60)  # the 60 s window lasts 1 s


def call(server, method, path, headers=AUTH, **kwargs):
    return requests.request(method, server.url + path, headers=headers, timeout=10, **kwargs)


def upsert(server, document_id, body, **kwargs):
    return call(server, "POST", f"{DS}/documents/{document_id}", json=body, **kwargs)


def error_type(response):
    return response.json()["error"]["type"]


def test_upsert_get_list_delete_roundtrip(dust, emulator):
    """The document lifecycle a destination uses, with the section tree flattened as Dust does."""
    section = {
        "prefix": "# T\n",
        "content": "a\n",
        "sections": [{"prefix": "## S\n", "content": "b\n", "sections": []}],
    }
    body = {
        "title": "T",
        "section": section,
        "tags": ["k:v"],
        "timestamp": 1736365559000,
        "light_document_output": True,
    }
    response = upsert(dust, "doc-1", body)
    assert response.status_code == 200
    assert set(response.json()["document"]) == {"hash", "text_size", "chunk_count", "token_count", "created"}
    assert emulator.documents()["doc-1"].text == "# T\na\n## S\nb\n"

    got = call(dust, "GET", f"{DS}/documents/doc-1").json()["document"]
    assert got["text"] == "# T\na\n## S\nb\n" and got["tags"] == ["k:v"]
    missing = call(dust, "GET", f"{DS}/documents/nope")
    assert missing.status_code == 400 and error_type(missing) == "data_source_error"

    upsert(dust, "doc-2", {"text": "two"})
    listed = call(dust, "GET", f"{DS}/documents", params={"document_ids": ["doc-2", "ghost"]}).json()
    assert listed["total"] == 1 and listed["documents"][0]["document_id"] == "doc-2"
    page = call(dust, "GET", f"{DS}/documents", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and [d["document_id"] for d in page["documents"]] == ["doc-2"]

    deleted = call(dust, "DELETE", f"{DS}/documents/doc-1").json()
    assert deleted == {"document": {"document_id": "doc-1"}}
    assert list(emulator.documents()) == ["doc-2"]


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"title": "x"}, 400, "invalid_request_error"),  # neither text nor section
        ({"text": "x", "title": "t" * 513}, 400, "invalid_request_error"),
        ({"text": "x", "source_url": "ftp://a.io/x"}, 400, "invalid_request_error"),
        ({"text": "x", "source_url": "https://a.io//x"}, 400, "invalid_request_error"),
        ({"text": "x", "parents": ["a"]}, 400, "invalid_request_error"),
        ({"text": "x", "parent_id": "a"}, 400, "invalid_request_error"),
        ({"section": {"prefix": 3}}, 400, "invalid_request_error"),
    ],
)
def test_upsert_body_rules(dust, body, status, kind):
    """Each 400 the reference lists: a connector that renders one of these wrong must see it fail here."""
    response = upsert(dust, "d", body)
    assert (response.status_code, error_type(response)) == (status, kind)


def test_text_wins_over_section_and_unknown_keys_are_dropped(dust, emulator):
    assert upsert(dust, "d", {"text": "plain", "section": {"content": "ignored"}, "mimeType": "x"}).status_code == 200
    assert emulator.documents()["d"].text == "plain" and emulator.documents()["d"].mime_type is None


def test_size_limits(dust, emulator):
    """Document over the plan limit -> 403 data_source_quota_error; body over 8 MB -> 413."""
    emulator.plan_document_chars = 100
    quota = upsert(dust, "d", {"text": "x" * 101})
    assert quota.status_code == 403 and error_type(quota) == "data_source_quota_error"
    too_big = upsert(dust, "d", {"text": "x" * (8 * 1024 * 1024 + 1)})
    assert too_big.status_code == 413


def test_auth_region_and_managed_errors(dust, emulator):
    """Each auth failure has its own type, as the connector's check tells them apart."""
    assert error_type(upsert(dust, "d", {"text": "x"}, headers={})) == "not_authenticated"
    assert (
        error_type(upsert(dust, "d", {"text": "x"}, headers={"Authorization": "Token abc"}))
        == "malformed_authorization_header_error"
    )
    assert (
        error_type(upsert(dust, "d", {"text": "x"}, headers={"Authorization": "Bearer nope"}))
        == "invalid_api_key_error"
    )
    read_only = upsert(dust, "d", {"text": "x"}, headers={"Authorization": f"Bearer {READ_ONLY_KEY}"})
    assert read_only.status_code == 403 and error_type(read_only) == "data_source_auth_error"
    managed = call(
        dust, "POST", DS.replace(DATA_SOURCE_ID, MANAGED_DATA_SOURCE_ID) + "/documents/d", json={"text": "x"}
    )
    assert managed.status_code == 403 and "managed data source" in managed.json()["error"]["message"]
    hyphen = call(dust, "POST", DS.replace("data_sources", "data-sources") + "/documents/d", json={"text": "x"})
    assert hyphen.status_code == 404
    emulator.workspace_region = "eu"
    wrong_region = upsert(dust, "d", {"text": "x"})
    assert wrong_region.status_code == 404 and error_type(wrong_region) == "workspace_not_found"


def test_upserts_share_a_sliding_window_of_120_without_retry_after(serve_emulator, emulator):
    """Dust's limit is per workspace with no Retry-After: the client has to wait for the window itself."""
    # a 3 s window: 125 upserts must fit in one even on a loaded machine (1 s did not, once)
    dust = serve_emulator(emulator, time_scale=20)
    statuses = [upsert(dust, f"d{i}", {"text": "x"}).status_code for i in range(125)]
    assert statuses.count(200) == 120 and statuses[-1] == 429
    refused = upsert(dust, "late", {"text": "x"})
    assert error_type(refused) == "rate_limit_error" and "Retry-After" not in refused.headers
    # reads are not limited
    assert call(dust, "GET", f"{DS}/documents").status_code == 200
    time.sleep(3.05)
    assert upsert(dust, "later", {"text": "x"}).status_code == 200


def test_upsert_latency_grows_with_size(dust, emulator):
    """Benchmarks depend on slow upserts: big documents take longer, as on Dust."""
    emulator.latency_s, emulator.latency_per_mb_s = 0.05, 1.0
    started = time.monotonic()
    upsert(dust, "small", {"text": "x"})
    small = time.monotonic() - started
    started = time.monotonic()
    upsert(dust, "big", {"text": "x" * 300_000})
    assert time.monotonic() - started > small + 0.2


def test_tables_and_rows(dust, emulator):
    """Tables: deterministic ids, unique names, column-key rule, typed values, truncate, missing table 500."""
    table = {"table_id": "t1", "name": "accounts", "title": "Accounts", "description": "d"}
    assert call(dust, "POST", f"{DS}/tables", json=table).status_code == 200
    assert call(dust, "POST", f"{DS}/tables", json={**table, "mime_type": "text/csv"}).status_code == 400
    assert call(dust, "POST", f"{DS}/tables", json={**table, "table_id": "t2"}).status_code == 400  # same name

    rows = [{"row_id": "1", "value": {"name": "a", "at": {"type": "datetime", "epoch": 1}, "n": 2, "ok": True}}]
    assert call(dust, "POST", f"{DS}/tables/t1/rows", json={"rows": rows}).status_code == 200
    bad_key = call(dust, "POST", f"{DS}/tables/t1/rows", json={"rows": [{"row_id": "2", "value": {"Name": "a"}}]})
    assert bad_key.status_code == 400
    nested = call(dust, "POST", f"{DS}/tables/t1/rows", json={"rows": [{"row_id": "2", "value": {"tags": ["a"]}}]})
    assert nested.status_code == 400
    assert call(dust, "POST", f"{DS}/tables/nope/rows", json={"rows": rows}).status_code == 500
    huge = [{"row_id": str(i), "value": {"v": "x" * 1000}} for i in range(1100)]
    assert call(dust, "POST", f"{DS}/tables/t1/rows", json={"rows": huge}).status_code == 413

    replacement = [{"row_id": "9", "value": {"name": "z"}}]
    call(dust, "POST", f"{DS}/tables/t1/rows", json={"rows": replacement, "truncate": True})
    assert emulator.rows("t1") == {"9": {"name": "z"}}
    listed = call(dust, "GET", f"{DS}/tables/t1/rows").json()
    assert listed["total"] == 1
    assert dust.log.count(family="upserts") == 0  # tables never touch the document budget


def test_inspection_api_over_http(dust, emulator):
    """The demo and out-of-process tests inspect and steer the emulator through /_emulator/dust/."""
    upsert(dust, "d", {"text": "hello", "tags": ["a:b"]})
    state = requests.get(dust.url + "/_emulator/dust/documents", timeout=5).json()
    assert state["upserts_accepted"] == 1 and state["documents"][0]["text"] == "hello"
    assert requests.post(dust.url + "/_emulator/dust/settings", json={"latency_s": 0.01}, timeout=5).ok
    assert emulator.latency_s == 0.01
    assert requests.post(dust.url + "/_emulator/dust/settings", json={"bogus": 1}, timeout=5).status_code == 400
    assert requests.delete(dust.url + "/_emulator/dust/data", timeout=5).ok
    assert emulator.documents() == {}
