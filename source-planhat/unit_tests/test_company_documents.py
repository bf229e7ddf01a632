"""company_documents: the self-contained record per company, and its change-driven incremental read."""

from __future__ import annotations

from datetime import timedelta

from airbyte_cdk.models import Level, SyncMode

from source_planhat import streams
from source_planhat.streams import COMPANY_ID_QUERY_BUDGET, RecentCursor, id_batches

from .conftest import config_for, records, states_of, sync


def by_id(output):
    return {doc["_id"]: doc for doc in records(output, "company_documents")}


def test_document_holds_the_company_and_all_its_related_records(planhat):
    """Every conversation (paged, not the first 30), the real field names, the owner's name and email."""
    server = planhat(per_company={"conversations": 9})
    data = server.emulator.data.models
    out = sync(config_for(server, page_sizes={"conversations": 4}), ["company_documents"], mode=SyncMode.full_refresh)

    docs = by_id(out)
    assert len(docs) == 12
    company = data["companies"][3]
    doc = docs[company["_id"]]
    owner = server.emulator.find("users", company["owner"])
    assert doc["company"]["owner"] == {
        "_id": owner["_id"],
        "nickName": owner["nickName"],
        "name": f"{owner['firstName']} {owner['lastName']}",
        "email": owner["email"],
    }
    for model, key in [
        ("conversations", "companyId"),
        ("endusers", "companyId"),
        ("nps", "cId"),
        ("assets", "companyId"),
    ]:
        expected = {r["_id"] for r in data[model] if r[key] == company["_id"]}
        assert {r["_id"] for r in doc[model]} == expected, model
    assert len(doc["conversations"]) == 9
    assert doc["company"]["h"] == company["h"] and doc["company"]["name"] == company["name"]


def test_incremental_reemits_exactly_the_companies_whose_records_changed(planhat):
    """A change to a child re-emits its company; unchanged companies cost no request at all."""
    server = planhat(size=30)
    emulator = server.emulator
    data = emulator.data.models
    config = config_for(server, lookback_window=0)
    first = sync(config, ["company_documents"])
    assert len(by_id(first)) == 30

    conversation = data["conversations"][10]
    answer = data["nps"][40]
    company = data["companies"][20]
    emulator.touch("conversations", conversation["_id"])
    emulator.touch("nps", answer["_id"])
    emulator.touch("companies", company["_id"])
    server.log.clear()

    second = sync(config, ["company_documents"], state=states_of(first))
    changed = {conversation["companyId"], answer["cId"], company["_id"]}
    emitted = set(by_id(second))
    assert emitted == changed
    paths = [e.path for e in server.log.entries()]
    only_via_children = changed - {company["_id"]}
    assert len([p for p in paths if p.startswith("/companies/")]) == len(only_via_children)
    assert len(paths) <= 2 + 6 * 2 + 2 + 5 * 2  # users; a page + probe per model; two companies; one batch


def test_nothing_changed_emits_nothing_even_through_the_lookback(planhat):
    """Records read again because of the lookback are recognised, not re-emitted as changes."""
    server = planhat(size=30)
    config = config_for(server, lookback_window=60 * 24 * 30)
    first = sync(config, ["company_documents"])
    server.log.clear()
    second = sync(config, ["company_documents"], state=states_of(first))
    assert by_id(second) == {}
    assert server.log.count() <= 2 + 6 * 2


def test_a_forbidden_related_model_leaves_its_section_empty_with_one_warning(planhat):
    server = planhat(forbidden={"assets"})
    out = sync(config_for(server), ["company_documents"], mode=SyncMode.full_refresh)
    assert not out.errors
    docs = by_id(out)
    assert len(docs) == 12 and all(doc["assets"] == [] for doc in docs.values())
    warnings = [m.log.message for m in out.logs if m.log.level == Level.WARN]
    assert len(warnings) == 1 and "company_documents" in warnings[0] and "assets" in warnings[0]


def test_company_id_batches_stay_under_the_url_budget():
    ids = [f"{n:024x}" for n in range(500)]
    batches = list(id_batches(ids))
    assert [i for b in batches for i in b] == ids
    assert all(len("%2C".join(b)) <= COMPANY_ID_QUERY_BUDGET for b in batches)
    assert len(batches) == 500 // (COMPANY_ID_QUERY_BUDGET // 27) + 1


def test_state_keeps_the_records_inside_the_lookback_of_the_newest():
    """The `recent` state tells re-read records from changed ones; it must hold the whole window, no more."""
    cursor = RecentCursor(timedelta(minutes=30), "2026-01-01T10:00:00Z", {"old": "2026-01-01T09:00:00Z"})
    for key, stamp in [("a", "2026-01-01T10:20:00Z"), ("b", "2026-01-01T10:45:00Z"), ("c", "not a time")]:
        cursor.observe({"_id": key, "updatedAt": stamp})
    assert cursor.value == "2026-01-01T10:45:00Z"
    assert cursor.window() == {"a": "2026-01-01T10:20:00Z", "b": "2026-01-01T10:45:00Z", "c": "not a time"}
    cursor.observe({"_id": "d", "updatedAt": "2026-01-01T11:00:00Z"})
    assert cursor.window() == {"b": "2026-01-01T10:45:00Z", "c": "not a time", "d": "2026-01-01T11:00:00Z"}


def test_the_state_the_cdk_reads_after_every_document_costs_no_rescan(planhat, monkeypatch):
    """The CDK reads the state after each record; rescanning the read each time made a sync quadratic."""
    server = planhat(size=40)
    parsed = []
    real = streams.parse_time
    monkeypatch.setattr(streams, "parse_time", lambda value: parsed.append(value) or real(value))
    out = sync(config_for(server), ["company_documents"], mode=SyncMode.full_refresh)

    assert len(by_id(out)) == 40
    read = sum(len(server.emulator.data.models[m]) for m in ("companies", "conversations", "endusers", "nps"))
    read += sum(len(server.emulator.data.models[m]) for m in ("projects", "assets"))
    assert len(parsed) <= 2 * read  # once per record observed, plus the window's pruning


def test_a_first_incremental_sync_skips_companies_whose_every_part_predates_start_date(planhat):
    """Issue 12: with start_date at the median company updatedAt, `companies` sent 20 records and
    company_documents all 40, including companies whose every part was updated before it. Here start_date
    is the median of each company's newest part, so half the companies are entirely older."""
    server = planhat(size=40)
    data = server.emulator.data.models
    keys = {"conversations": "companyId", "endusers": "companyId", "nps": "cId", "projects": "companyId"}
    keys["assets"] = "companyId"
    newest = {c["_id"]: c["updatedAt"] for c in data["companies"]}
    for model, key in keys.items():
        for record in data[model]:
            newest[record[key]] = max(newest[record[key]], record["updatedAt"])
    start = sorted(newest.values())[20]
    expected = {company for company, stamp in newest.items() if stamp >= start}
    assert len(expected) == 20

    first = sync(config_for(server, start_date=start), ["companies", "company_documents"])

    assert set(by_id(first)) == expected
    assert {c["_id"] for c in records(first, "companies")} <= expected
    # The skipped companies still moved the cursors: the next sync, with nothing changed, sends nothing.
    second = sync(config_for(server, start_date=start), ["company_documents"], state=states_of(first))
    assert not records(second, "company_documents")
    # A full refresh ignores start_date, as the model streams' full refreshes do.
    full = sync(config_for(server, start_date=start), ["company_documents"], mode=SyncMode.full_refresh)
    assert len(by_id(full)) == 40


def test_documents_built_without_a_forbidden_model_are_rebuilt_once_it_is_readable(planhat):
    """A company changed while assets answered 403 gets a document without them; the state remembers it, a
    sync still refused rebuilds nothing, the first that reads assets again rebuilds exactly it (issue 12's
    planhat-to-dust history: no later sync did)."""
    server = planhat(size=10)
    emulator, data = server.emulator, server.emulator.data.models
    config = config_for(server, lookback_window=0)
    first = sync(config, ["company_documents"])
    company_id = data["assets"][0]["companyId"]
    emulator.touch("companies", company_id)

    emulator.configure(forbidden={"assets"})
    degraded = sync(config, ["company_documents"], state=states_of(first))
    assert set(by_id(degraded)) == {company_id} and by_id(degraded)[company_id]["assets"] == []
    refused = sync(config, ["company_documents"], state=states_of(degraded))
    assert by_id(refused) == {}

    emulator.configure(forbidden=set())
    restored = sync(config, ["company_documents"], state=states_of(refused))
    assert set(by_id(restored)) == {company_id}
    assert {a["_id"] for a in by_id(restored)[company_id]["assets"]} == {
        a["_id"] for a in data["assets"] if a["companyId"] == company_id
    }
    assert by_id(sync(config, ["company_documents"], state=states_of(restored))) == {}


def test_a_document_start_date_skipped_is_not_rebuilt_when_a_model_becomes_readable(planhat):
    """Only documents that were sent are remembered as incomplete: a first sync whose start_date skips every
    company, while assets answer 403, leaves nothing to rebuild once they answer again."""
    server = planhat(size=10)
    emulator, data = server.emulator, server.emulator.data.models
    newest = max(r["updatedAt"] for records in data.values() for r in records if r.get("updatedAt"))
    config = config_for(server, lookback_window=0, start_date=newest)
    emulator.configure(forbidden={"assets"})
    first = sync(config, ["company_documents"])
    assert by_id(first) == {}
    emulator.configure(forbidden=set())
    assert by_id(sync(config, ["company_documents"], state=states_of(first))) == {}  # was: all 10
