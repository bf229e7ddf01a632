"""Fixture to run emulators in-process on an ephemeral port, stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from emulators.server import Emulator, EmulatorServer


@pytest.fixture
def serve_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """`serve_emulator(SomeEmulator(seed=1, size=100), time_scale=60)` -> a started server."""
    servers: list[EmulatorServer] = []

    def start(emulator: Emulator, **options) -> EmulatorServer:
        server = EmulatorServer(emulator, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
