"""The `source-pylon` console script and main.py: spec | check | discover | read, as Airbyte runs them."""

import sys

from airbyte_cdk.entrypoint import launch

from .source import SourcePylon


def run() -> None:
    launch(SourcePylon(), sys.argv[1:])
