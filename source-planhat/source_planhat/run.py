"""The console script `source-planhat` (spec | check | discover | read)."""

from __future__ import annotations

import sys

from airbyte_cdk.entrypoint import launch

from .source import SourcePlanhat


def run() -> None:
    launch(SourcePlanhat(), sys.argv[1:])
