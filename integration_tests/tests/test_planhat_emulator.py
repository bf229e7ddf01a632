"""The Planhat emulator behaves as reference/planhat-api.md says, including the switchable unknowns."""

from __future__ import annotations

import base64

import pytest
import requests

from emulators.planhat import PlanhatEmulator
from emulators.planhat.api import MAX_LIMIT, QUOTA_BUCKET

TOKEN = PlanhatEmulator.TOKEN
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def planhat(serve_emulator):
    def start(limits=None, **options):
        emulator = PlanhatEmulator(seed=3, size=options.pop("size", 10), **options)
        return serve_emulator(emulator, time_scale=60, limits=limits)

    return start


def get(server, path, **params):
    return requests.get(server.url + path, params=params, headers=AUTH, timeout=5)


def test_lists_are_bare_arrays_paged_with_limit_and_offset(planhat):
    server = planhat()
    everything = get(server, "/endusers", limit=1000).json()
    assert isinstance(everything, list) and len(everything) == 30
    page = get(server, "/endusers", limit=7, offset=7, sort="_id").json()
    assert [e["_id"] for e in page] == sorted(e["_id"] for e in everything)[7:14]
    assert get(server, "/endusers", limit=7, offset=30).json() == []


def test_conversations_default_to_30_and_every_limit_has_a_silent_maximum(planhat):
    server = planhat(size=10, per_company={"conversations": 4})
    assert len(get(server, "/conversations").json()) == 30
    assert MAX_LIMIT["conversations"] == 2000 and MAX_LIMIT["tickets"] == 10000


def test_sort_is_honoured_or_ignored_on_demand(planhat):
    server = planhat()
    newest_first = [c["updatedAt"] for c in get(server, "/companies", sort="-updatedAt").json()]
    assert newest_first == sorted(newest_first, reverse=True)
    server.emulator.configure(sort_mode="ignored")
    natural = [c["_id"] for c in get(server, "/companies", sort="-updatedAt").json()]
    assert natural == [c["_id"] for c in server.emulator.data.models["companies"]]


def test_limit_cap_serves_fewer_records_without_saying_so(planhat):
    server = planhat(limit_cap=4)
    response = get(server, "/companies", limit=100)
    assert response.status_code == 200 and len(response.json()) == 4


def test_select_and_company_filter_including_nps_cid(planhat):
    server = planhat()
    companies = server.emulator.data.models["companies"]
    ids = [companies[1]["_id"], companies[4]["_id"]]
    convs = get(server, "/conversations", companyId=",".join(ids), limit=500, select="subject").json()
    assert convs and all(set(c) == {"_id", "subject"} for c in convs)
    nps = get(server, "/nps", companyId=ids[0], limit=500).json()
    assert nps and {n["cId"] for n in nps} == {ids[0]}


def test_owner_is_an_object_on_lists_and_an_id_by_id(planhat):
    server = planhat()
    listed = get(server, "/companies").json()[0]
    assert set(listed["owner"]) == {"_id", "nickName"}
    single = get(server, f"/companies/{listed['_id']}").json()
    assert single["owner"] == listed["owner"]["_id"]


def test_shapes_use_the_real_field_names(planhat):
    server = planhat()
    company = get(server, "/companies").json()[0]
    assert {"h", "renewalDate", "createDate", "custom", "updatedAt"} <= set(company)
    assert not {"health", "renewal", "createdAt"} & set(company)
    nps = get(server, "/nps").json()[0]
    assert {"cId", "euId", "dateAnswered"} <= set(nps) and "companyId" not in nps
    conv = get(server, "/conversations").json()[0]
    assert isinstance(conv["users"], list) and isinstance(conv["users"][0], dict)
    assert isinstance(conv["endusers"], list) and isinstance(conv["custom"], dict)
    assert "position" in get(server, "/endusers").json()[0]


def test_wrong_token_is_401_and_basic_auth_works(planhat):
    server = planhat()
    bad = requests.get(server.url + "/companies", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401
    basic = "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()
    assert requests.get(server.url + "/companies", headers={"Authorization": basic}, timeout=5).ok


def test_forbidden_models_answer_403(planhat):
    server = planhat(forbidden={"assets"})
    assert get(server, "/assets").status_code == 403
    assert get(server, "/projects").status_code == 200


def test_one_quota_for_the_whole_api_with_headers(planhat):
    """200/min across every endpoint, not per endpoint; Remaining counts down; then a bare 429."""
    assert PlanhatEmulator.limits == {QUOTA_BUCKET: 200}
    server = planhat(limits={QUOTA_BUCKET: 5})
    answers = [get(server, path) for path in ("/companies", "/nps", "/assets", "/users", "/leancompanies", "/nps")]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    assert answers[0].headers["X-Rate-Limit-Limit"] == "5"
    assert answers[-1].json() == {"message": "Too many requests"} and "Retry-After" not in answers[-1].headers
    server.limiter.reset()  # a minute later
    assert get(server, "/companies").headers["X-Rate-Limit-Remaining"] == "4"


def test_no_quota_means_no_quota_headers(planhat):
    """Tests that switch the quota off (limits={}) must not see headers promising one."""
    server = planhat(limits={})
    answers = [get(server, "/companies") for _ in range(3)]
    assert all(a.ok and "X-Rate-Limit-Limit" not in a.headers for a in answers)


def test_faults_target_one_model(planhat):
    """A 500 on /nps only: a connector's per-stream error handling is tested without breaking the rest."""
    server = planhat()
    server.faults.add("status", family="nps", times=1, status=500)
    assert get(server, "/companies").status_code == 200
    assert get(server, "/nps").status_code == 500
    assert get(server, "/nps").status_code == 200
    assert server.log.by_family() == {"companies": 1, "nps": 2}


def test_changes_move_updated_at_forward_in_process_and_over_http(planhat):
    server = planhat()
    emulator = server.emulator
    company = emulator.data.models["companies"][0]
    before = company["updatedAt"]
    touched = requests.post(f"{server.url}/_emulator/planhat/companies/{company['_id']}/touch", timeout=5).json()
    assert touched["updatedAt"] > before
    added = requests.post(
        f"{server.url}/_emulator/planhat/conversations", json={"companyId": company["_id"], "subject": "Hi"}, timeout=5
    ).json()
    assert added["subject"] == "Hi" and added["updatedAt"] > touched["updatedAt"]
    assert added["_id"] == max(c["_id"] for c in emulator.data.models["conversations"])
    settings = requests.post(f"{server.url}/_emulator/planhat/settings", json={"sort_mode": "ignored"}, timeout=5)
    assert settings.ok and emulator.sort_mode == "ignored"
    assert (
        requests.post(f"{server.url}/_emulator/planhat/settings", json={"sort_mode": "x"}, timeout=5).status_code == 400
    )
    # the quota is the server's limit: reset with DELETE /_emulator/limits, not a Planhat setting
    assert requests.post(f"{server.url}/_emulator/planhat/settings", json={"quota": 5}, timeout=5).status_code == 400


def test_same_seed_same_tenant():
    a, b = PlanhatEmulator(seed=5, size=5), PlanhatEmulator(seed=5, size=5)
    assert a.data.models == b.data.models
    assert a.data.models != PlanhatEmulator(seed=6, size=5).data.models
