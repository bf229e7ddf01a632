"""The Pylon emulator over real HTTP: the rules source-pylon is developed and tested against."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from emulators.pylon import EMULATOR, PylonEmulator
from emulators.pylon.paging import DEFAULT_PAGE_SIZE

TOKEN = "pylon-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def pylon(serve_emulator):
    """A 120-issue workspace with rate limits off, so only the behaviour under test answers."""
    return serve_emulator(PylonEmulator(seed=3, size=120), limits={})


def get(server, path, **params):
    return requests.get(server.url + path, params=params, headers=AUTH, timeout=10)


def search(server, body):
    return requests.post(server.url + "/issues/search", json=body, headers=AUTH, timeout=10)


def walk(fetch):
    """Every record of a paginated list, following cursors until has_next_page is false."""
    records, cursor = [], None
    for _ in range(1000):
        body = fetch(cursor)
        records += body.get("data", [])
        if not body.get("pagination", {}).get("has_next_page"):
            return records
        cursor = body["pagination"]["cursor"]
    raise AssertionError("pagination never ended")


def search_all(server, filter_=None, limit=999):
    def fetch(cursor):
        response = search(server, {"filter": filter_, "limit": limit, "cursor": cursor})
        assert response.status_code == 200, response.text
        return response.json()

    return walk(fetch)


def updated_between(after: str, before: str) -> dict:
    return {
        "operator": "and",
        "subfilters": [
            {"field": "updated_at", "operator": "time_is_after", "value": after},
            {"field": "updated_at", "operator": "time_is_before", "value": before},
        ],
    }


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


# -- envelope and pagination ---------------------------------------------------------------


def test_search_pages_return_every_issue_exactly_once(pylon):
    """A paginator that drops or repeats a page shows up here as missing or duplicate issues."""
    first = search(pylon, {"limit": 7}).json()
    assert set(first) == {"data", "pagination", "request_id"}
    assert len(first["data"]) == 7 and first["pagination"]["has_next_page"] is True
    created, _, ident = base64.b64decode(first["pagination"]["cursor"]).decode().partition("|")
    assert (created, ident) == (first["data"][-1]["created_at"], first["data"][-1]["id"])

    issues = search_all(pylon, limit=7)
    ids = [i["id"] for i in issues]
    assert len(ids) == len(set(ids)) == 120
    assert ids == [i["id"] for i in sorted(issues, key=lambda i: (i["created_at"], i["id"]))]


def test_get_lists_page_with_query_params_and_keep_a_cursor_on_the_last_page(pylon):
    """GET lists take cursor/limit in the query; a client that stops on an empty cursor loops forever."""
    accounts = walk(lambda cursor: get(pylon, "/accounts", limit=4, cursor=cursor).json())
    assert len(accounts) == len({a["id"] for a in accounts}) == len(pylon.emulator.data.accounts)

    everything = get(pylon, "/accounts", limit=999).json()
    assert everything["pagination"]["has_next_page"] is False
    assert everything["pagination"]["cursor"]  # only has_next_page says stop
    assert get(pylon, "/accounts", cursor=everything["pagination"]["cursor"]).json().keys() == {"request_id"}


def test_default_page_size_and_page_cap(serve_emulator):
    """Without a limit the page is DEFAULT_PAGE_SIZE; a server cap below the limit must not end the walk."""
    server = serve_emulator(PylonEmulator(seed=3, size=150, page_cap=10), limits={})
    assert len(search(server, {"limit": 999}).json()["data"]) == 10
    assert len({i["id"] for i in search_all(server)}) == 150

    uncapped = serve_emulator(PylonEmulator(seed=3, size=150), limits={})
    assert len(search(uncapped, {}).json()["data"]) == DEFAULT_PAGE_SIZE


def test_empty_result_has_no_data_key(pylon):
    """Pylon answers an empty result with only a request_id: a reader indexing body["data"] crashes."""
    nothing = {"field": "state", "operator": "equals", "value": "no-such-state"}
    body = search(pylon, {"filter": nothing}).json()
    assert body.keys() == {"request_id"}
    assert get(pylon, "/custom-fields", object_type="task").json().keys() == {"request_id"}


@pytest.mark.parametrize("limit", [0, 1000, -1, "ten", 2.5])
def test_limit_outside_1_to_999_is_rejected(pylon, limit):
    """Pylon accepts 0 < limit < 1000; a connector sending 1000 must fail here, not in production."""
    response = search(pylon, {"limit": limit})
    assert response.status_code == 400
    assert set(response.json()) == {"errors", "request_id"}
    if not isinstance(limit, float):
        assert get(pylon, "/users", limit=limit).status_code == 400


def test_limit_bounds_that_are_allowed(pylon):
    """1 and 999 are the documented extremes; rejecting them would push connectors to worse page sizes."""
    assert len(search(pylon, {"limit": 1}).json()["data"]) == 1
    assert len(search(pylon, {"limit": 999}).json()["data"]) == 120
    assert get(pylon, "/contacts", limit="999").status_code == 200


def test_bad_cursor_is_a_400(pylon):
    """A corrupted or hand-built cursor must be refused, not silently restart from the first page."""
    assert search(pylon, {"cursor": "not base64!"}).status_code == 400
    assert get(pylon, "/users", cursor=base64.b64encode(b"no separator").decode()).status_code == 400


# -- search filter -------------------------------------------------------------------------


def test_time_bounds_are_exclusive(pylon):
    """time_is_after/time_is_before drop a record exactly on the bound; slicers that rely on
    them without overlap lose it, and this test is what proves the emulator reproduces that."""
    marks = pylon.emulator.landmarks()
    bound = parse(marks["boundary_updated_at"][0])
    on_bound = {i["id"] for i in pylon.emulator.data.issues if i["updated_at"] == iso(bound)}
    assert on_bound

    before = {i["id"] for i in search_all(pylon, updated_between(iso(bound - timedelta(days=30)), iso(bound)))}
    after = {i["id"] for i in search_all(pylon, updated_between(iso(bound), iso(bound + timedelta(days=30))))}
    assert not on_bound & (before | after)

    wider = search_all(pylon, updated_between(iso(bound - timedelta(seconds=1)), iso(bound + timedelta(seconds=1))))
    assert {i["id"] for i in wider} == on_bound

    half_open = {
        "field": "updated_at",
        "operator": "time_range",
        "values": [iso(bound), iso(bound + timedelta(days=1))],
    }
    assert on_bound <= {i["id"] for i in search_all(pylon, half_open)}
    closed_end = {
        "field": "updated_at",
        "operator": "time_range",
        "values": [iso(bound - timedelta(days=1)), iso(bound)],
    }
    assert not on_bound & {i["id"] for i in search_all(pylon, closed_end)}


def test_exclusive_30_day_slices_lose_exactly_the_boundary_issues(pylon):
    """The data is built so naive slicing loses records: a connector passing this scenario
    (it should find all 120) is doing overlap or lookback right."""
    marks = pylon.emulator.landmarks()
    epoch, now = parse(marks["epoch"]), parse(marks["now"])
    seen, start = set(), epoch
    while start < now:
        end = start + timedelta(days=30)
        seen |= {i["id"] for i in search_all(pylon, updated_between(iso(start), iso(end)))}
        start = end
    lost = {i["updated_at"] for i in pylon.emulator.data.issues if i["id"] not in seen}
    assert lost == set(marks["boundary_updated_at"])

    shared = marks["shared_updated_at"]
    for second in shared:
        assert sum(i["updated_at"] == second for i in pylon.emulator.data.issues) >= 2


def test_filter_operators_match_the_data(pylon):
    """Each operator the connector may use must select the same issues the data says it should."""
    issues = pylon.emulator.data.issues

    def ids(filter_):
        return sorted(i["id"] for i in search_all(pylon, filter_))

    def expect(predicate):
        return sorted(i["id"] for i in issues if predicate(i))

    account = next(i["account"]["id"] for i in issues if i["account"])
    assert ids({"field": "account_id", "operator": "equals", "value": account}) == expect(
        lambda i: (i["account"] or {}).get("id") == account
    )
    assert ids({"field": "assignee_id", "operator": "is_unset"}) == expect(lambda i: i["assignee"] is None)
    assert ids({"field": "state", "operator": "in", "values": ["closed", "on_hold"]}) == expect(
        lambda i: i["state"] in ("closed", "on_hold")
    )
    assert ids({"field": "state", "operator": "not_in", "values": ["closed"]}) == expect(
        lambda i: i["state"] != "closed"
    )
    assert ids({"field": "tags", "operator": "contains", "value": "billing"}) == expect(
        lambda i: "billing" in (i["tags"] or [])
    )
    assert ids({"field": "issue_type", "operator": "equals", "value": "ticket"}) == expect(
        lambda i: i["type"].lower() == "ticket"
    )
    assert ids({"field": "resolved_at", "operator": "is_set"}) == expect(lambda i: i["resolution_time"] is not None)
    either = {
        "operator": "or",
        "subfilters": [
            {"field": "team_id", "operator": "is_unset"},
            {"field": "category", "operator": "equals", "value": "platform-bug"},
        ],
    }
    assert ids(either) == expect(
        lambda i: i["team"] is None or (i["custom_fields"].get("category") or {}).get("value") == "platform-bug"
    )


def nest(levels: int) -> dict:
    node = {"field": "state", "operator": "equals", "value": "closed"}
    for _ in range(levels - 1):
        node = {"operator": "and", "subfilters": [node]}
    return node


@pytest.mark.parametrize(
    "bad_filter",
    [
        nest(4),
        {"field": "priority_level", "operator": "equals", "value": "x"},
        {"field": "state", "operator": "is_roughly", "value": "closed"},
        {"field": "state", "operator": "time_is_after", "value": "2025-01-01T00:00:00Z"},
        {"field": "updated_at", "operator": "time_is_after", "value": "yesterday"},
        {"field": "updated_at", "operator": "time_range", "values": ["2025-01-01T00:00:00Z"]},
        {"field": "state", "operator": "in", "value": "closed"},
        {"operator": "and", "subfilters": []},
    ],
    ids=[
        "depth-4",
        "unknown-field",
        "unknown-operator",
        "wrong-kind",
        "bad-time",
        "range-1",
        "in-no-values",
        "empty-and",
    ],
)
def test_invalid_filters_are_400(pylon, bad_filter):
    """A filter Pylon rejects must be rejected here too, or the connector ships a 400 to production."""
    response = search(pylon, {"filter": bad_filter})
    assert response.status_code == 400, response.text
    assert response.json()["errors"]


def test_depth_three_is_allowed(pylon):
    """Depth 3 is the documented maximum; a connector building and(or(leaf)) must be served."""
    assert search(pylon, {"filter": nest(3)}).status_code == 200


# -- GET /issues ---------------------------------------------------------------------------


def test_issue_list_window_is_at_most_30_days_on_created_at(pylon):
    """GET /issues filters on created_at over <= 30 days: wider windows fail, updates are not seen."""
    epoch = parse(pylon.emulator.landmarks()["epoch"])
    too_wide = get(pylon, "/issues", start_time=iso(epoch), end_time=iso(epoch + timedelta(days=30, seconds=1)))
    assert too_wide.status_code == 400
    assert get(pylon, "/issues").status_code == 400

    window = (epoch, epoch + timedelta(days=30))
    listed = walk(
        lambda cursor: get(
            pylon, "/issues", start_time=iso(window[0]), end_time=iso(window[1]), limit=3, cursor=cursor
        ).json()
    )
    expected = {i["id"] for i in pylon.emulator.data.issues if window[0] <= parse(i["created_at"]) < window[1]}
    assert {i["id"] for i in listed} == expected and len(listed) == len(expected) > 3


def test_issue_list_without_pagination_returns_the_window_at_once(serve_emulator):
    """If the real GET /issues ignores limit, a connector must still take the whole window from one page."""
    server = serve_emulator(PylonEmulator(seed=3, size=120, paginate_issue_list=False), limits={})
    epoch = parse(server.emulator.landmarks()["epoch"])
    body = get(server, "/issues", start_time=iso(epoch), end_time=iso(epoch + timedelta(days=30)), limit=1).json()
    assert body["pagination"]["has_next_page"] is False
    assert len(body["data"]) == sum(
        parse(i["created_at"]) < epoch + timedelta(days=30) for i in server.emulator.data.issues
    )
    assert len(body["data"]) > 1


# -- rate limits, auth ---------------------------------------------------------------------


def test_rate_limits_per_family_without_retry_after(serve_emulator):
    """The 21st search in a minute is refused while other families keep their own budget; with no
    Retry-After the connector must fall back to its own wait."""
    server = serve_emulator(PylonEmulator(seed=3, size=10), time_scale=60)
    statuses = [search(server, {"limit": 1}).status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    refused = search(server, {})
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    assert set(refused.json()) == {"errors", "request_id"}
    assert get(server, "/issues/1").status_code == 200
    assert [get(server, "/issue-statuses").status_code for _ in range(11)] == [200] * 10 + [429]


def test_retry_after_when_enabled(serve_emulator):
    """With retry_after on, the 429 names whole seconds to wait: the connector must honour it."""
    server = serve_emulator(PylonEmulator(seed=3, size=10, retry_after=True), time_scale=60)
    for _ in range(10):
        assert get(server, "/activity-types").status_code == 200
    refused = get(server, "/activity-types")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"  # a scaled minute is 1 s


def test_wrong_or_missing_token_is_401(pylon):
    """A bad token must come back as Pylon's 401 envelope so the connector can call it a config error."""
    missing = requests.get(pylon.url + "/me", timeout=5)
    wrong = requests.get(pylon.url + "/me", headers={"Authorization": "Bearer nope"}, timeout=5)
    for response in (missing, wrong):
        assert response.status_code == 401
        assert set(response.json()) == {"errors", "request_id"}
    me = get(pylon, "/me").json()
    assert set(me) == {"data", "request_id"} and set(me["data"]) == {"id", "name"}


def test_forbidden_family_is_403_and_others_still_work(serve_emulator):
    """A token without a permission fails one stream with 403; the rest of the sync must go on."""
    server = serve_emulator(PylonEmulator(seed=3, size=10, forbidden={"surveys", "accounts"}), limits={})
    for path in ("/surveys", "/accounts"):
        response = get(server, path)
        assert response.status_code == 403 and response.json()["errors"]
    assert get(server, "/users").status_code == 200
    with pytest.raises(ValueError):
        PylonEmulator(forbidden={"acounts"})


# -- shapes and consistency ----------------------------------------------------------------


@pytest.mark.parametrize("form", ["object", "array"])
def test_custom_fields_in_both_forms(serve_emulator, form):
    """Seed 003 describes an array of {slug, value}, the docs an object keyed by slug: readers must take both."""
    server = serve_emulator(PylonEmulator(seed=3, size=60, custom_fields_form=form), limits={})
    issues = search_all(server)
    with_fields = [i for i in issues if i["custom_fields"]]
    assert with_fields
    for issue in with_fields:
        fields = issue["custom_fields"]
        entries = list(fields.values()) if form == "object" else fields
        assert isinstance(fields, dict if form == "object" else list)
        if form == "object":
            assert all(slug == entry["slug"] for slug, entry in fields.items())
        for entry in entries:
            assert "value" in entry or "values" in entry
    slugs = {
        e["slug"]
        for i in with_fields
        for e in (i["custom_fields"].values() if form == "object" else i["custom_fields"])
    }
    assert {"priority", "category", "handler", "resolution-type", "self-servable", "affected-modules"} <= slugs

    definitions = get(server, "/custom-fields", object_type="issue").json()["data"]
    options = {d["slug"]: {o["slug"] for o in d["select_metadata"]["options"]} for d in definitions}
    assert "platform-bug" in options["category"] and "engineer" in options["handler"]
    assert get(server, "/custom-fields").status_code == 400
    assert get(server, "/custom-fields", object_type="ticket").status_code == 400


def test_same_seed_same_data_other_seed_other_data():
    """Benchmarks and flow tests compare runs; a generator that drifts makes them meaningless."""

    def snapshot(seed):
        emulator = PylonEmulator(seed=seed, size=40)
        issues = [emulator._public(i) for i in emulator.data.issues]
        messages = {k: [emulator._public(m) for m in v] for k, v in emulator.data.messages.items()}
        return issues, messages, emulator.data.accounts, emulator.data.contacts

    assert snapshot(4) == snapshot(4)
    assert snapshot(4) != snapshot(5)


def test_references_and_timelines_are_consistent(serve_emulator):
    """Joins in the destinations (issue -> account/user/contact, message -> author) must resolve,
    and the timeline rules hold, or the SLA metrics computed downstream are nonsense."""
    server = serve_emulator(PylonEmulator(seed=8, size=300), limits={})
    data = server.emulator.data
    accounts, users = {a["id"] for a in data.accounts}, {u["id"] for u in data.users}
    contacts, teams = {c["id"] for c in data.contacts}, {t["id"] for t in data.teams}
    issues = search_all(server)

    for issue in issues:
        assert issue["account"] is None or issue["account"]["id"] in accounts
        assert issue["assignee"] is None or issue["assignee"]["id"] in users
        assert issue["requester"] is None or issue["requester"]["id"] in contacts
        assert issue["team"] is None or issue["team"]["id"] in teams
        created, updated = parse(issue["created_at"]), parse(issue["updated_at"])
        if issue["latest_message_time"]:
            assert created <= parse(issue["latest_message_time"]) <= updated
        if issue["first_response_time"]:
            assert parse(issue["first_response_time"]) > created
        assert (issue["state"] == "closed") == (issue["resolution_time"] is not None)
        if issue["csat_responses"]:
            assert issue["state"] == "closed"

    for kind in ("account", "assignee", "requester", "team"):
        assert any(i[kind] is None for i in issues), kind
    assert any(i["tags"] is None for i in issues)
    assert any(i["state"] == "waiting-on-engineering" for i in issues)
    assert any(i["type"] in ("Conversation", "Ticket") for i in issues)
    assert any(i["csat_responses"] for i in issues)
    statuses = get(server, "/issue-statuses").json()["data"]
    assert "waiting-on-engineering" in {s["slug"] for s in statuses} and all("id" not in s for s in statuses)

    with_notes = next(i for i in issues if any(m["is_private"] for m in data.messages[i["id"]]))
    messages = walk(lambda cursor: get(server, f"/issues/{with_notes['id']}/messages", limit=2, cursor=cursor).json())
    threads = get(server, f"/issues/{with_notes['number']}/threads").json()["data"]
    assert {t["issue_id"] for t in threads} == {with_notes["id"]}
    for message in messages:
        assert "issue_id" not in message
        author = message["author"]
        assert not (author["user"] and author["contact"])
        assert author["user"] is None or author["user"]["id"] in users
        assert author["contact"] is None or author["contact"]["id"] in contacts
        assert bool(message["thread_id"]) == message["is_private"]
        assert message["thread_id"] is None or message["thread_id"] in {t["id"] for t in threads}
    all_messages = [m for ms in data.messages.values() for m in ms]
    assert any(m["author"]["user"] is None and m["author"]["contact"] is None for m in all_messages)
    assert any(m["email_info"] for m in all_messages)

    listed = walk(lambda cursor: get(server, "/accounts", cursor=cursor).json())
    assert any(a["tags"] is None for a in listed) and any(a["owner"] is None for a in listed)
    assert all("created_at" not in c and "updated_at" not in c for c in get(server, "/contacts").json()["data"])


def test_survey_responses_bounds_are_exclusive_and_kb_articles_page(pylon):
    """Survey responses sync incrementally on submitted_at; an inclusive bound would duplicate or lose one."""
    surveys = {s["type"]: s for s in get(pylon, "/surveys").json()["data"]}
    assert {"csat", "nps"} <= surveys.keys()
    path = f"/surveys/{surveys['nps']['id']}/responses"
    responses = walk(lambda cursor: get(pylon, path, limit=5, cursor=cursor).json())
    assert responses and all(r["answers"] for r in responses)
    pivot = responses[len(responses) // 2]["submitted_at"]
    after = get(pylon, path, submitted_after=pivot, limit=999).json().get("data", [])
    before = get(pylon, path, submitted_before=pivot, limit=999).json().get("data", [])
    at_pivot = [r for r in responses if r["submitted_at"] == pivot]
    assert len(after) + len(before) + len(at_pivot) == len(responses)

    kb = get(pylon, "/knowledge-bases").json()["data"][0]
    articles = walk(lambda cursor: get(pylon, f"/knowledge-bases/{kb['id']}/articles", limit=3, cursor=cursor).json())
    assert len(articles) == len(pylon.emulator.data.articles[kb["id"]])
    assert get(pylon, "/knowledge-bases/nope/articles").status_code == 404


# -- mutations -----------------------------------------------------------------------------


def test_mutations_move_updated_at_past_the_previous_max(pylon):
    """An incremental sync after a change must find exactly the changed issues past its watermark."""
    emulator = pylon.emulator
    watermark = max(i["updated_at"] for i in search_all(pylon))
    changed = emulator.data.issues[5]

    updated = emulator.update_issue(changed["id"], state="on_hold")
    assert updated["updated_at"] > watermark and updated["state"] == "on_hold"
    since = {"field": "updated_at", "operator": "time_is_after", "value": watermark}
    assert [i["id"] for i in search_all(pylon, since)] == [changed["id"]]

    second = emulator.data.issues[9]
    message = requests.post(
        f"{pylon.url}/_emulator/pylon/issues/{second['number']}/messages",
        json={"text": "any news?", "author": "contact"},
        timeout=5,
    ).json()["data"]
    assert message["author"]["contact"] and "issue_id" not in message
    issue = get(pylon, f"/issues/{second['id']}").json()["data"]
    assert issue["latest_message_time"] == issue["updated_at"] == message["timestamp"] > updated["updated_at"]
    thread = get(pylon, f"/issues/{second['id']}/messages", limit=999).json()["data"]
    assert thread[-1]["id"] == message["id"]

    patched = requests.patch(
        f"{pylon.url}/_emulator/pylon/issues/{changed['id']}", json={"title": "renamed"}, timeout=5
    )
    assert patched.json()["data"]["updated_at"] > issue["updated_at"]
    created = requests.post(f"{pylon.url}/_emulator/pylon/issues", json={"title": "brand new"}, timeout=5).json()[
        "data"
    ]
    assert created["number"] == 121 and created["created_at"] == created["updated_at"]
    assert {i["id"] for i in search_all(pylon, since)} == {changed["id"], second["id"], created["id"]}

    assert requests.patch(f"{pylon.url}/_emulator/pylon/issues/nope", json={}, timeout=5).status_code == 404
    with pytest.raises(ValueError):
        emulator.update_issue(changed["id"], updated_at="2020-01-01T00:00:00Z")


def test_updated_at_is_strictly_increasing_across_fast_mutations():
    """Several changes in one second must still get distinct, ordered updated_at values, or a
    watermark test could not tell them apart."""
    emulator = PylonEmulator(seed=3, size=20)
    stamps = [emulator.update_issue(emulator.data.issues[n % 20]["id"], title=str(n))["updated_at"] for n in range(5)]
    stamps.append(emulator.add_message(emulator.data.issues[0]["id"], text="hi", author="user")["timestamp"])
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert datetime.now(timezone.utc) - timedelta(minutes=1) < parse(stamps[0])


# -- scale and packaging -------------------------------------------------------------------


def test_benchmark_sized_workspace_generates():
    """The benchmark serves 2,000 issues x 10 messages; generation must not dominate its runtime."""
    emulator = PylonEmulator(seed=1, size=2000, messages_per_issue=10)
    assert len(emulator.data.issues) == 2000
    assert sum(len(m) for m in emulator.data.messages.values()) == 20_000


def test_command_serves_pylon():
    """docker-compose and the demo start it as `python -m emulators pylon`."""
    assert EMULATOR is PylonEmulator
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulators", "pylon", "--port", "0", "--size", "20"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip().split()[-1]
        assert requests.get(url + "/me", headers=AUTH, timeout=5).json()["data"]["name"]
        assert requests.get(url + "/_emulator/pylon/landmarks", timeout=5).json()["slice_days"] == 30
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
