"""Shared helpers: the Planhat emulator on a fast clock, configs pointing at it, in-process reads."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from airbyte_cdk.models import AirbyteStateMessage, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder, ConfiguredAirbyteStreamBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.state_builder import StateBuilder

from emulators.planhat import PlanhatEmulator
from source_planhat import SourcePlanhat
from source_planhat.models import BY_STREAM

# A rate-limit minute lasts one second on both sides, so quota tests take seconds, not minutes.
TIME_SCALE = 60


def config_for(server, **overrides) -> dict:
    return {"api_token": PlanhatEmulator.TOKEN, "region": "custom", "base_url": server.url, **overrides}


def sync(
    config: dict,
    streams: Iterable[str],
    state: list[AirbyteStateMessage] | None = None,
    mode: SyncMode = SyncMode.incremental,
    expecting_exception: bool = False,
) -> EntrypointOutput:
    catalog = CatalogBuilder()
    for name in streams:
        incremental = name == "company_documents" or BY_STREAM[name].incremental
        stream_mode = mode if incremental else SyncMode.full_refresh
        catalog.with_stream(ConfiguredAirbyteStreamBuilder().with_name(name).with_sync_mode(stream_mode))
    return read(SourcePlanhat(time_scale=TIME_SCALE), config, catalog.build(), state, expecting_exception)


def states_of(output: EntrypointOutput) -> list[AirbyteStateMessage]:
    """The last state of each stream, as Airbyte would pass it to the next sync."""
    last = {}
    for message in output.state_messages:
        last[message.state.stream.stream_descriptor.name] = message.state.stream.stream_state
    builder = StateBuilder()
    for name, blob in last.items():
        builder.with_stream_state(name, blob)
    return builder.build()


def records(output: EntrypointOutput, stream: str) -> list[dict]:
    return [m.record.data for m in output.records if m.record.stream == stream]


@pytest.fixture
def planhat(serve_emulator):
    """A small tenant (12 companies) on the fast clock; tests change its behaviour with configure().

    `limits={"api": N}` replaces Planhat's quota of 200 calls a minute (`{}`: no quota).
    """

    def start(limits=None, **options):
        options.setdefault("size", 12)
        emulator = PlanhatEmulator(seed=options.pop("seed", 1), **options)
        return serve_emulator(emulator, time_scale=TIME_SCALE, limits=limits)

    return start


@pytest.fixture(autouse=True)
def no_real_backoff(monkeypatch):
    """Retry waits are asserted through this list rather than slept (the pacer's own waits still run)."""
    waits: list[float] = []
    monkeypatch.setattr("source_planhat.client.backoff_seconds", _recording(waits))
    return waits


def _recording(waits):
    from source_planhat import client

    real = client.backoff_seconds

    def backoff(attempt, rng, retry_after=None):
        delay = real(attempt, rng, retry_after)
        waits.append(delay)
        return 0.0

    return backoff
