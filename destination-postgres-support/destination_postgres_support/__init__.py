"""Airbyte destination: Pylon streams into seed 003's support database on Postgres/Neon.

`DestinationPostgresSupport` is imported lazily, so `write` starts without the CDK's ~1 s import.
"""

from typing import Any

__all__ = ["DestinationPostgresSupport"]


def __getattr__(name: str) -> Any:
    if name == "DestinationPostgresSupport":
        from .destination import DestinationPostgresSupport

        return DestinationPostgresSupport
    raise AttributeError(name)
