"""The emulator kit, exercised over real HTTP with `requests`, as the connectors will use it."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from emulators.fakedata import FakeData
from emulators.ratelimit import SlidingWindowLimiter

from .sample_emulator import SampleEmulator, SharedQuotaEmulator

AUTH = {"Authorization": f"Bearer {SampleEmulator.TOKEN}"}


@pytest.fixture
def sample(serve_emulator):
    return serve_emulator(SampleEmulator(size=10), time_scale=60)  # a limit minute lasts 1 s


def get(server, path, **kwargs):
    return requests.get(server.url + path, headers=AUTH, timeout=kwargs.pop("timeout", 5), **kwargs)


# -- serving ---------------------------------------------------------------------------------


def test_routes_params_auth_and_errors(sample):
    """The base every emulator stands on: if routing or auth breaks, every connector test lies."""
    assert get(sample, "/items", params={"offset": 3, "limit": 2}).json() == [
        {"id": 3, "name": "item 3"},
        {"id": 4, "name": "item 4"},
    ]
    assert get(sample, "/items/7").json()["name"] == "item 7"
    assert get(sample, "/items/70").status_code == 404
    assert requests.get(sample.url + "/items", timeout=5).status_code == 401
    assert get(sample, "/nowhere").status_code == 404
    bug = get(sample, "/boom")
    assert bug.status_code == 500 and "a bug in the emulator" in bug.json()["error"]


def test_request_log_records_calls_bodies_and_headers(sample):
    """Tests assert exact requests through this log; a wrong count would hide wasted calls."""
    get(sample, "/items")
    get(sample, "/items/1")
    requests.post(sample.url + "/search", json={"text": "item 1"}, headers=AUTH, timeout=5)

    assert sample.log.by_family() == {"items": 2, "search": 1}
    search = sample.log.entries(family="search")[0]
    assert search.method == "POST" and search.json() == {"text": "item 1"}
    assert search.headers["authorization"] == AUTH["Authorization"]
    assert [e.path for e in sample.log.entries(family="items")] == ["/items", "/items/1"]


# -- rate limits -----------------------------------------------------------------------------


def test_limit_is_enforced_per_family_and_frees_after_the_window(sample):
    """A connector that is paced wrong must see 429s here exactly as it would from the real API."""
    statuses = [get(sample, "/items/0").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    # another family has its own budget
    assert requests.post(sample.url + "/search", json={}, headers=AUTH, timeout=5).status_code == 200

    wait = float(get(sample, "/items/0").headers["Retry-After"])
    assert 0 < wait <= 1.0  # one scaled minute
    time.sleep(wait + 0.05)
    assert get(sample, "/items/0").status_code == 200


def test_time_scale_keeps_the_limit_proportions():
    """At scale 60, 20/min means 20 per second: benchmarks rely on this to compute their floor."""
    now = [0.0]
    real = SlidingWindowLimiter({"f": 20}, time_scale=1, clock=lambda: now[0])
    fast = SlidingWindowLimiter({"f": 20}, time_scale=60, clock=lambda: now[0] / 60)
    for limiter in (real, fast):
        allowed = sum(limiter.acquire("f") is None for _ in range(25))
        assert allowed == 20
    now[0] = 60.0  # one real minute later, both windows are empty again
    assert real.acquire("f") is None and fast.acquire("f") is None
    assert fast.window == pytest.approx(1.0) and real.window == pytest.approx(60.0)


def test_families_can_share_one_bucket(serve_emulator):
    """APIs with one quota for many endpoints: a connector pacing per endpoint must see 429s here too."""
    server = serve_emulator(SharedQuotaEmulator(), time_scale=60)

    def search():
        return requests.post(server.url + "/search", json={}, headers=AUTH, timeout=5)

    statuses = [get(server, "/items/0").status_code for _ in range(3)] + [search().status_code]
    assert statuses == [200] * 4
    assert (get(server, "/items/0").status_code, search().status_code) == (429, 429)
    # families stay apart for faults and the log, whatever bucket they count against
    assert server.log.by_family() == {"items": 4, "search": 2}

    assert requests.delete(server.url + "/_emulator/limits", timeout=5).ok  # as if a minute later
    assert search().status_code == 200


def test_quota_headers_on_every_api_answer(serve_emulator):
    """Clients pace on these headers: they must count down with the limiter, 429 and errors included."""
    server = serve_emulator(SharedQuotaEmulator(), time_scale=60)
    answers = [get(server, "/items/0"), get(server, "/items/70"), get(server, "/items"), get(server, "/items/1")]
    answers.append(get(server, "/items/0"))
    assert [a.status_code for a in answers] == [200, 404, 200, 200, 429]
    assert [a.headers["X-Quota-Remaining"] for a in answers] == ["3", "2", "1", "0", "0"]
    assert {a.headers["X-Quota-Limit"] for a in answers} == {"4"}
    assert "X-Quota-Limit" not in requests.get(server.url + "/_emulator/health", timeout=5).headers

    unlimited = serve_emulator(SharedQuotaEmulator(), limits={})
    assert "X-Quota-Limit" not in get(unlimited, "/items/0").headers


def test_remaining_follows_the_window():
    """The count behind quota headers: wrong here, and a client pacing on it is paced wrong."""
    now = [0.0]
    limiter = SlidingWindowLimiter({"b": 3}, clock=lambda: now[0])
    assert limiter.remaining("b") == 3 and limiter.remaining("unlimited") is None
    limiter.acquire("b")
    now[0] = 30.0
    limiter.acquire("b")
    assert limiter.remaining("b") == 1
    now[0] = 60.0  # the first call has left the window
    assert limiter.remaining("b") == 2


# -- faults ----------------------------------------------------------------------------------


def test_status_fault_fires_for_the_next_k_calls_only(sample):
    """A 429 burst must end: retry tests depend on the fault stopping after K calls."""
    sample.faults.add("status", family="items", times=2, status=429, retry_after=3)
    first, second, third = (get(sample, "/items/0") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "3"
    # other families were never affected
    assert requests.post(sample.url + "/search", json={}, headers=AUTH, timeout=5).status_code == 200
    assert [e.fault for e in sample.log.entries(family="items")] == ["status", "status", None]


def test_no_fault_fires_unless_asked(sample):
    """Faults on by accident would make every other test flaky."""
    assert all(get(sample, "/items/0").status_code == 200 for _ in range(5))
    assert all(e.fault is None for e in sample.log.entries())


def test_fraction_fault_is_seeded_and_roughly_that_share(serve_emulator):
    """Hostile-API tests need repeatable randomness: the same seed gives the same failures."""

    def run(seed):
        server = serve_emulator(SampleEmulator(), fault_seed=seed, limits={})
        server.faults.add("status", family="items", fraction=0.3, status=503)
        return [get(server, "/items/0").status_code for _ in range(60)]

    a, b = run(7), run(7)
    assert a == b
    assert 8 <= a.count(503) <= 28


def test_5xx_slow_hang_reset_malformed_truncated(sample):
    """Each failure mode a real API shows must reach the client as that failure, not another."""
    sample.faults.add("status", family="items", times=1, status=502)
    assert get(sample, "/items/0").status_code == 502

    sample.faults.add("slow", family="items", times=1, delay=0.3)
    started = time.monotonic()
    assert get(sample, "/items/0").status_code == 200
    assert time.monotonic() - started >= 0.3

    sample.faults.add("hang", family="items", times=1, delay=2)
    with pytest.raises(requests.Timeout):
        get(sample, "/items/0", timeout=0.3)

    sample.faults.add("reset", family="items", times=1)
    with pytest.raises(requests.ConnectionError):
        get(sample, "/items/0")

    sample.faults.add("malformed", family="items", times=1)
    with pytest.raises(requests.JSONDecodeError):
        get(sample, "/items/0").json()

    sample.faults.add("truncated", family="items", times=1)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, http.client.IncompleteRead)):
        get(sample, "/items", params={"limit": 10})

    assert get(sample, "/items/0").json() == {"id": 0, "name": "item 0"}


def test_fault_spec_is_validated(sample):
    """A typo in a test's fault must fail loudly, not silently inject nothing."""
    with pytest.raises(ValueError):
        sample.faults.add("status", family="items")  # neither times nor fraction
    with pytest.raises(ValueError):
        sample.faults.add("explode", family="items", times=1)
    with pytest.raises(ValueError, match="no route family 'itemz'"):
        sample.faults.add("status", family="itemz", times=1)


# -- fake data -------------------------------------------------------------------------------


def test_fake_data_is_deterministic_per_seed():
    """Benchmarks and flow tests compare runs: the same seed must give the same records."""

    def sample_records(seed):
        fake = FakeData(seed)
        return [
            (fake.uuid(), fake.person()["email"], fake.company()["name"], fake.iso(fake.past(90))) for _ in range(50)
        ]

    assert sample_records(1) == sample_records(1)
    assert sample_records(1) != sample_records(2)
    ids = [record[0] for record in sample_records(3)]
    assert len(set(ids)) == len(ids)


def test_object_ids_look_like_mongo_ids_and_are_unique():
    """Planhat pages on `_id`; duplicates would make offset paging tests meaningless."""
    fake = FakeData(5)
    ids = [fake.object_id(fake.past(30)) for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)


# -- as a command ----------------------------------------------------------------------------


def test_command_serves_on_a_port_with_the_admin_api(tmp_path):
    """The demo and docker-compose start emulators this way; faults must be settable over HTTP."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulators", "tests.sample_emulator:SampleEmulator", "--port", "0", "--size", "4"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        assert requests.get(url + "/_emulator/health", timeout=5).json()["name"] == "sample"
        assert len(requests.get(url + "/items", params={"limit": 10}, headers=AUTH, timeout=5).json()) == 4

        fault = {"kind": "status", "family": "items", "times": 1, "status": 500}
        assert requests.post(url + "/_emulator/faults", json=fault, timeout=5).ok
        assert requests.get(url + "/items", headers=AUTH, timeout=5).status_code == 500
        assert requests.get(url + "/items", headers=AUTH, timeout=5).status_code == 200
        bad = requests.post(url + "/_emulator/faults", json={"kind": "status"}, timeout=5)
        assert bad.status_code == 400

        log = requests.get(url + "/_emulator/requests", timeout=5).json()
        assert log["counts"] == {"items": 3}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
