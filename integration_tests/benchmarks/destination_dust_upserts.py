"""Benchmark: destination-dust against the Dust emulator at Dust's real limit, on a scaled clock.

    cd integration_tests && python -m benchmarks.destination_dust_upserts [--documents 1000] [--time-scale 30]

1. N new documents, each upsert taking 1 (scaled) second, the workspace limit at 120/min:
   wall time vs the rate floor (N / 120 per minute; target <= 1.05x) and 429s received (target 0).
2. The same N again, unchanged: upserts made (target 0).
3. 10 of them changed: upserts made (target exactly 10).
Needs destination-dust installed next to this package (`pip install -e destination-dust`).
"""

from __future__ import annotations

import argparse
import sys
import time

from destination_dust import DestinationDust
from emulators.dust import DustEmulator
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, UPSERTS, WORKSPACE_ID
from emulators.fakedata import FakeData
from emulators.server import EmulatorServer

DUST_LIMIT_PER_MINUTE = 120
FLOOR_TARGET = 1.05  # wall time vs the rate floor
UPSERT_LATENCY_S = 1.0  # in emulated seconds; divided by the time scale
STREAM = "issue_documents"


def issues(count: int, seed: int = 7) -> list[dict]:
    fake = FakeData(seed)
    out = []
    for number in range(1, count + 1):
        messages = [
            {"id": fake.uuid(), "timestamp": fake.iso(fake.past(30)), "author_name": fake.person()["name"],
             "author_kind": fake.choice(["user", "contact"]), "is_private": False, "message_html": fake.html(2)}
            for _ in range(fake.rng.randint(1, 6))
        ]  # fmt: skip
        out.append(
            {
                "id": fake.uuid(),
                "number": number,
                "title": fake.sentence(),
                "state": fake.choice(["new", "waiting_on_you", "closed"]),
                "updated_at": fake.iso(fake.past(60)),
                "link": f"https://app.usepylon.com/issues?issueNumber={number}",
                "account": {"name": fake.company()["name"]},
                "body_html": fake.html(3),
                "messages": messages,
            }
        )
    return out


def messages_for(records: list[dict]) -> list[dict]:
    out = []
    for index, data in enumerate(records, 1):
        out.append({"type": "RECORD", "record": {"stream": STREAM, "data": data, "emitted_at": 0}})
        if index % 100 == 0:
            out.append({"type": "STATE", "state": {"type": "STREAM", "id": index,
                        "stream": {"stream_descriptor": {"name": STREAM}, "stream_state": {"n": index}}}})  # fmt: skip
    return out


CATALOG = {
    "streams": [
        {
            "stream": {"name": STREAM, "json_schema": {"type": "object"}, "supported_sync_modes": ["incremental"]},
            "sync_mode": "incremental",
            "destination_sync_mode": "append_dedup",
            "primary_key": [["id"]],
        }
    ]
}


def sync(server: EmulatorServer, config: dict, window_s: float, records: list[dict]) -> tuple[float, int, int, int]:
    """(wall seconds, upserts accepted, 429s answered, states echoed) of one sync."""
    server.log.clear()
    started = time.monotonic()
    output = list(DestinationDust(client_options={"window_s": window_s}).write(config, CATALOG, messages_for(records)))
    wall = time.monotonic() - started
    answers = [e.status for e in server.log.entries(family=UPSERTS)]
    return wall, answers.count(200), answers.count(429), sum(m["type"] == "STATE" for m in output)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=30.0, help="60 makes Dust's minute last 1 s")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)

    emulator = DustEmulator(latency_s=UPSERT_LATENCY_S / args.time_scale)
    server = EmulatorServer(emulator, time_scale=args.time_scale).start()
    window_s = 60.0 / args.time_scale
    config = {
        "api_key": API_KEY, "workspace_id": WORKSPACE_ID, "space_id": SPACE_ID, "data_source_id": DATA_SOURCE_ID,
        "base_url": server.url, "upserts_per_minute": DUST_LIMIT_PER_MINUTE, "concurrency": args.concurrency,
    }  # fmt: skip
    records = issues(args.documents)
    floor = args.documents / DUST_LIMIT_PER_MINUTE * window_s
    try:
        wall, upserts, refused, echoed = sync(server, config, window_s, records)
        again_wall, again_upserts, again_refused, _ = sync(server, config, window_s, records)
        for data in records[:10]:
            data["state"] = "closed" if data["state"] != "closed" else "new"
        changed_wall, changed_upserts, changed_refused, _ = sync(server, config, window_s, records)
    finally:
        server.stop()
    result = {
        "documents": args.documents,
        "time_scale": args.time_scale,
        "floor_s": round(floor, 2),
        "first_wall_s": round(wall, 2),
        "first_vs_floor": round(wall / floor, 3),
        "first_upserts": upserts,
        "first_429": refused,
        "states_echoed": echoed,
        "unchanged_wall_s": round(again_wall, 2),
        "unchanged_upserts": again_upserts,
        "changed_wall_s": round(changed_wall, 2),
        "changed_upserts": changed_upserts,
        "429_total": refused + again_refused + changed_refused,
    }
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    return result


def verdict(result: dict, changed: int = 10) -> list[str]:
    """The targets of the docstring, each checked."""
    missed = []
    if result["first_vs_floor"] > FLOOR_TARGET:
        missed.append(f"first run {result['first_vs_floor']}x the rate floor (target {FLOOR_TARGET}x)")
    if result["429_total"]:
        missed.append(f"{result['429_total']} rate-limit answers (target 0)")
    if result["unchanged_upserts"]:
        missed.append(f"{result['unchanged_upserts']} upserts of unchanged documents (target 0)")
    if result["changed_upserts"] != changed:
        missed.append(f"{result['changed_upserts']} upserts for {changed} changed documents")
    return missed


if __name__ == "__main__":
    missed = verdict(main())
    print("verdict: FAIL — " + "; ".join(missed) if missed else "verdict: PASS — every target met")
    sys.exit(1 if missed else 0)
