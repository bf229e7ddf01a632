"""The console script `source-planhat` (spec | check | discover | read)."""

from __future__ import annotations

import sys

from airbyte_cdk.entrypoint import AirbyteEntrypoint

from .output import prompt_stdout
from .source import SourcePlanhat


def run() -> None:
    """The CDK's `launch()`, but every message reaches stdout as it is emitted (see output.py)."""
    entrypoint = AirbyteEntrypoint(SourcePlanhat())
    parsed_args = entrypoint.parse_args(sys.argv[1:])
    with prompt_stdout() as out:
        for message in entrypoint.run(parsed_args):
            out.write(f"{message}\n")
