import sys

from airbyte_cdk.logger import init_logger

from .destination import DestinationDust


def run() -> None:
    init_logger("airbyte")
    DestinationDust().run(sys.argv[1:])
