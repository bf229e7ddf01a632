"""source-planhat company_documents: requests and wall time against the quota floor (issue #6).

    cd integration_tests && python -m benchmarks.source_planhat_documents [--companies 1000]

A tenant of N companies with 20 conversations, 5 endusers, 3 NPS, 2 projects and 2 assets each, served
by the Planhat emulator with its real 200/min quota on a real clock. A full sync of company_documents is
compared with the floor: the fewest calls any reader needs (each model read once at its largest page,
plus the empty page that proves the end) at the quota's steady rate. Then the children of 10 companies
change and an incremental sync runs: its calls should follow the 10, not the N.
"""

from __future__ import annotations

import argparse
import json
import math
import time

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder, ConfiguredAirbyteStreamBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.state_builder import StateBuilder

from emulators.planhat import PlanhatEmulator
from emulators.planhat.api import QUOTA_PER_MINUTE
from emulators.server import EmulatorServer
from source_planhat import SourcePlanhat
from source_planhat.config import PlanhatConfig

PER_COMPANY = {"conversations": 20, "endusers": 5, "nps": 3, "projects": 2, "assets": 2}
NO_OTHER_CHILDREN = {m: 0 for m in ("tickets", "licenses", "opportunities", "issues", "tasks", "churn")}
NO_OTHER_CHILDREN |= {m: 0 for m in ("invoices", "sales", "objectives", "workflows")}
CHANGED_COMPANIES = 10
TARGET_RATIO = 1.15


def catalog():
    stream = ConfiguredAirbyteStreamBuilder().with_name("company_documents").with_sync_mode(SyncMode.incremental)
    return CatalogBuilder().with_stream(stream).build()


def floor_calls(counts: dict[str, int]) -> int:
    page = PlanhatConfig(api_token="x").page_size
    models = {"companies": "companies", "users": "users", **{m: m for m in PER_COMPANY}}
    return sum(math.ceil(counts[model] / page(stream)) + 1 for stream, model in models.items())


def run(companies: int) -> dict:
    emulator = PlanhatEmulator(seed=7, size=companies, per_company={**PER_COMPANY, **NO_OTHER_CHILDREN})
    counts = {m: len(r) for m, r in emulator.data.models.items()}
    with EmulatorServer(emulator) as server:
        config = {"api_token": emulator.TOKEN, "region": "custom", "base_url": server.url}
        started = time.monotonic()
        full = read(SourcePlanhat(), config, catalog())
        full_seconds = time.monotonic() - started
        full_calls = server.log.count()
        assert not full.errors, full.errors
        documents = [m.record.data for m in full.records]
        assert len(documents) == companies

        changed = set()
        for company in emulator.data.models["companies"][:: max(companies // CHANGED_COMPANIES, 1)][:CHANGED_COMPANIES]:
            for model, key in (("conversations", "companyId"), ("nps", "cId"), ("assets", "companyId")):
                child = next(r for r in emulator.data.models[model] if r[key] == company["_id"])
                emulator.touch(model, child["_id"])
            changed.add(company["_id"])
        state = StateBuilder().with_stream_state("company_documents", full.most_recent_state.stream_state).build()
        server.log.clear()
        started = time.monotonic()
        incremental = read(SourcePlanhat(), config, catalog(), state)
        incremental_seconds = time.monotonic() - started
        assert not incremental.errors, incremental.errors
        emitted = {m.record.data["_id"] for m in incremental.records}
        incremental_calls = server.log.count()

    floor = floor_calls(counts)
    floor_seconds = floor * 60 / QUOTA_PER_MINUTE
    return {
        "companies": companies,
        "records": {m: counts[m] for m in ("companies", *PER_COMPANY, "users")},
        "full": {
            "calls": full_calls,
            "floor_calls": floor,
            "calls_vs_floor": round(full_calls / floor, 3),
            "seconds": round(full_seconds, 2),
            "floor_seconds_at_quota_rate": round(floor_seconds, 2),
            "seconds_vs_floor": round(full_seconds / floor_seconds, 3),
            "document_megabytes": round(sum(len(json.dumps(d)) for d in documents) / 1e6, 1),
            "seed_001_calls_for_comparison": 1 + 5 * companies,
        },
        "incremental": {
            "changed_companies": len(changed),
            "documents_emitted": len(emitted),
            "emitted_exactly_the_changed": emitted == changed,
            "calls": incremental_calls,
            "seconds": round(incremental_seconds, 2),
        },
        "target_ratio": TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(run(args.companies), indent=2))


if __name__ == "__main__":
    main()
