"""source-planhat company_documents: requests and wall time against two floors (issue #6).

    cd integration_tests && python -m benchmarks.source_planhat_documents [--companies 1000]

A tenant of N companies with 20 conversations, 5 endusers, 3 NPS, 2 projects and 2 assets each, served
by the Planhat emulator in its own process (an in-process emulator would compete with the connector for
the GIL) with its real 200/min quota on a real clock. A full sync of company_documents runs through the
connector's own entrypoint, its messages written to a file as `launch` writes them to stdout; the file is
parsed after the clock stops. Its wall time is compared with two lower bounds:

- the quota floor: the time Planhat's quota forces on that many calls. A reader may send Q = 200 calls at
  once and call i (from 0) no earlier than floor(i / Q) windows of 60 s later, sliding window or fixed
  (the fixed one resets after 60-120 s, so 60 s is its best case): floor((calls - 1) / Q) * 60 s. For a
  workload that fits in one window this is 0 s: the quota does not bind.
- the fetch floor: the best of three replays of the sync's own requests, in order, with plain `requests`
  and no processing: what the emulator needs to serve those pages and the loopback to carry them.

The ratio that matters is against the larger of the two. Then the children of 10 companies change and an
incremental sync runs: its calls should follow the 10, not the N.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from airbyte_cdk.entrypoint import AirbyteEntrypoint

from emulators.planhat import PlanhatEmulator
from emulators.planhat.api import QUOTA_PER_MINUTE
from emulators.server import ADMIN_PREFIX
from source_planhat import SourcePlanhat
from source_planhat.config import PlanhatConfig

PER_COMPANY = {"conversations": 20, "endusers": 5, "nps": 3, "projects": 2, "assets": 2}
NO_OTHER_CHILDREN = {m: 0 for m in ("tickets", "licenses", "opportunities", "issues", "tasks", "churn")}
NO_OTHER_CHILDREN |= {m: 0 for m in ("invoices", "sales", "objectives", "workflows")}
CHANGED_COMPANIES = 10
TARGET_RATIO = 1.15
QUOTA_WINDOW_SECONDS = 60.0
FETCH_FLOOR_REPLAYS = 3
SEED = 7
ROOT = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": f"Bearer {PlanhatEmulator.TOKEN}"}


class BenchmarkTenant(PlanhatEmulator):
    """The benchmark's tenant, for `python -m emulators benchmarks.source_planhat_documents:BenchmarkTenant`."""

    def __init__(self, seed: int, size: int) -> None:
        super().__init__(seed, size, per_company={**PER_COMPANY, **NO_OTHER_CHILDREN})


@contextmanager
def emulator_process(companies: int) -> Iterator[str]:
    command = [sys.executable, "-m", "emulators", "benchmarks.source_planhat_documents:BenchmarkTenant", "--port", "0"]
    command += ["--seed", str(SEED), "--size", str(companies)]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            line = process.stdout.readline().strip()
            if not line.startswith("listening on "):
                raise RuntimeError(f"the emulator did not start: {line!r}")
            yield line.split()[-1]
        finally:
            process.terminate()


def admin(url: str, method: str, path: str, body: dict | None = None) -> dict:
    response = requests.request(method, url + ADMIN_PREFIX + path, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def new_phase(url: str) -> None:
    """Each phase starts with an empty request log and a fresh quota window, as if minutes apart."""
    admin(url, "DELETE", "/requests")
    admin(url, "DELETE", "/limits")


def sync(url: str, state: list[dict] | None = None) -> tuple[float, list[dict], list[dict]]:
    """(seconds, documents, the last state) of one company_documents sync through the entrypoint."""
    config = {"api_token": PlanhatEmulator.TOKEN, "region": "custom", "base_url": url}
    stream = {"name": "company_documents", "json_schema": {}, "supported_sync_modes": ["incremental"]}
    catalog = {"streams": [{"stream": stream, "sync_mode": "incremental", "destination_sync_mode": "append"}]}
    with tempfile.TemporaryDirectory() as tmp:
        files = {"config": config, "catalog": catalog} | ({"state": state} if state is not None else {})
        args = ["read"]
        for name, content in files.items():
            (Path(tmp) / f"{name}.json").write_text(json.dumps(content))
            args += [f"--{name}", str(Path(tmp) / f"{name}.json")]
        output = Path(tmp) / "messages.jsonl"
        entrypoint = AirbyteEntrypoint(SourcePlanhat())
        parsed = entrypoint.parse_args(args)
        started = time.monotonic()
        with output.open("w") as sink:
            for message in entrypoint.run(parsed):
                sink.write(message + "\n")
        seconds = time.monotonic() - started
        messages = [json.loads(line) for line in output.read_text().splitlines()]
    errors = [m for m in messages if m["type"] == "TRACE" and m["trace"].get("type") == "ERROR"]
    assert not errors, errors
    documents = [m["record"]["data"] for m in messages if m["type"] == "RECORD"]
    states = [m["state"] for m in messages if m["type"] == "STATE"]
    return seconds, documents, states[-1:]


def sent_requests(url: str) -> list[tuple[str, dict]]:
    return [(e["path"], e["query"]) for e in admin(url, "GET", "/requests")["requests"]]


def fetch_floor_seconds(url: str, sent: list[tuple[str, dict]]) -> float:
    """The best of a few replays of `sent` with plain requests: fetched, not parsed, not processed."""
    best = math.inf
    for _ in range(FETCH_FLOOR_REPLAYS):
        new_phase(url)
        with requests.Session() as session:
            session.headers.update(AUTH)
            started = time.monotonic()
            for path, query in sent:
                response = session.get(url + path, params=query, timeout=120)
                assert response.status_code == 200 and response.content
            best = min(best, time.monotonic() - started)
    return best


def quota_floor_seconds(calls: int) -> float:
    return (max(calls, 1) - 1) // QUOTA_PER_MINUTE * QUOTA_WINDOW_SECONDS


def minimum_calls(counts: dict[str, int]) -> int:
    """Each model read once at its largest page, plus the empty page that proves the end."""
    page = PlanhatConfig(api_token="x").page_size
    streams = ("companies", "users", *PER_COMPANY)
    return sum(math.ceil(counts[stream] / page(stream)) + 1 for stream in streams)


def touch_children(url: str, documents: list[dict]) -> set[str]:
    """Touch one conversation, NPS answer and asset of each of CHANGED_COMPANIES spread-out companies."""
    changed = set()
    for document in documents[:: max(len(documents) // CHANGED_COMPANIES, 1)][:CHANGED_COMPANIES]:
        for model in ("conversations", "nps", "assets"):
            child = min(document[model], key=lambda r: r["_id"])
            admin(url, "POST", f"/planhat/{model}/{child['_id']}/touch")
        changed.add(document["_id"])
    return changed


def ratio(seconds: float, floor: float) -> float | None:
    return round(seconds / floor, 3) if floor > 0 else None


def run(companies: int) -> dict:
    with emulator_process(companies) as url:
        counts = admin(url, "GET", "/planhat/stats")["counts"]
        new_phase(url)
        full_seconds, documents, state = sync(url)
        sent = sent_requests(url)
        assert len(documents) == companies
        fetch_floor = fetch_floor_seconds(url, sent)

        changed = touch_children(url, documents)
        new_phase(url)
        incremental_seconds, emitted, _ = sync(url, state)
        incremental_calls = len(sent_requests(url))

    quota_floor = quota_floor_seconds(len(sent))
    floor = max(quota_floor, fetch_floor)
    return {
        "companies": companies,
        "records": {m: counts[m] for m in ("companies", *PER_COMPANY, "users")},
        "full": {
            "calls": len(sent),
            "minimum_calls": minimum_calls(counts),
            "calls_vs_minimum": round(len(sent) / minimum_calls(counts), 3),
            "seconds": round(full_seconds, 2),
            "quota_floor_seconds": quota_floor,
            "fetch_floor_seconds": round(fetch_floor, 2),
            "seconds_vs_quota_floor": ratio(full_seconds, quota_floor),
            "seconds_vs_fetch_floor": ratio(full_seconds, fetch_floor),
            "seconds_vs_floor": ratio(full_seconds, floor),
            "meets_target": full_seconds <= TARGET_RATIO * floor,
            "document_megabytes": round(sum(len(json.dumps(d)) for d in documents) / 1e6, 1),
            "seed_001_calls_for_comparison": 1 + 5 * companies,
        },
        "incremental": {
            "changed_companies": len(changed),
            "documents_emitted": len(emitted),
            "emitted_exactly_the_changed": {d["_id"] for d in emitted} == changed,
            "calls": incremental_calls,
            "seconds": round(incremental_seconds, 2),
        },
        "target_ratio": TARGET_RATIO,
    }


def verdict(result: dict) -> list[str]:
    """What missed its target, in words: the JSON above is the detail, this is the answer."""
    full, incremental = result["full"], result["incremental"]
    missed = []
    if not full["meets_target"]:
        missed.append(f"full sync took {full['seconds_vs_floor']}x its floor (target {result['target_ratio']}x)")
    if not incremental["emitted_exactly_the_changed"]:
        missed.append(
            f"incremental emitted {incremental['documents_emitted']} documents for "
            f"{incremental['changed_companies']} changed companies"
        )
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=1000)
    args = parser.parse_args()
    result = run(args.companies)
    print(json.dumps(result, indent=2))
    missed = verdict(result)
    if missed:
        print("verdict: FAIL — " + "; ".join(missed))
        return 1
    print(f"verdict: PASS — full sync {result['full']['seconds_vs_floor']}x its floor, incremental exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
