"""The `source-pylon` console script and main.py: spec | check | discover | read, as Airbyte runs them."""

import sys

from airbyte_cdk.entrypoint import AirbyteEntrypoint

from .inputs import InputError
from .output import prompt_stdout
from .source import SourcePylon


def run() -> None:
    """The CDK's `launch()`, but every message reaches stdout as it is emitted (see output.py), and a config,
    catalog or state file the user must fix ends in one config_error TRACE, not the CDK's traceback."""
    entrypoint = AirbyteEntrypoint(SourcePylon())
    parsed_args = entrypoint.parse_args(sys.argv[1:])
    with prompt_stdout() as out:
        try:
            for message in entrypoint.run(parsed_args):
                out.write(f"{message}\n")
        except InputError as error:
            out.write(f"{entrypoint.airbyte_message_to_string(error.as_sanitized_airbyte_message())}\n")
            sys.exit(1)
