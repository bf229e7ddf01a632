"""Console entry point (`destination-postgres-support`, `python main.py`).

`write` reads stdin itself: orjson per line, dispatch on "type", the writer's dicts dumped back. That keeps
each STATE's raw fields (the platform's `id`, which CDK 7's message model drops), names the line number of
any garbage (after committing what came before it), and avoids the CDK's ~1 s import and per-message dataclass round trip on the
hot path. `spec` and `check` go through the CDK `Destination`.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import select
import sys
import time
import traceback
from collections.abc import Iterator
from typing import IO, Any

import orjson

from .writer import IDLE, BadLine, Idle, Numbered, parse_line

logger = logging.getLogger("airbyte")
GIL_SWITCH_INTERVAL_S = 0.0005
GC_THRESHOLD = 100_000
IDLE_TICK_S = 0.5
READ_CHUNK = 1 << 16


class _AirbyteLogHandler(logging.Handler):
    """Log records as Airbyte LOG messages on stdout (what the CDK's logger does, without the CDK)."""

    def __init__(self, out: IO[bytes]):
        super().__init__(logging.INFO)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        message = {
            "type": "LOG",
            "log": {"level": record.levelname.replace("WARNING", "WARN"), "message": self.format(record)},
        }
        self.out.write(orjson.dumps(message) + b"\n")
        self.out.flush()


def parse_lines(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | BadLine | Idle]]:
    """Each stdin line as a message dict, or a BadLine the writer fails on once what came before is committed.

    Reads the pipe's file descriptor directly, whatever is available at a time, and yields IDLE when nothing
    arrived for IDLE_TICK_S: a source waiting on a rate limit leaves stdin quiet for minutes, and held
    STATEs must still be committed and echoed within their bound (see writer.STATE_MAX_WAIT_S).
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests hand over BytesIO): no idle ticks
        for number, line in enumerate(stream, 1):
            if not line.isspace():  # (not strip(): that copies every line)
                yield number, parse_line(number, line)
        return
    number = 0
    tail = b""
    while True:
        ready, _, _ = select.select([fd], [], [], IDLE_TICK_S)
        if not ready:
            yield number, IDLE
            continue
        chunk = os.read(fd, READ_CHUNK)
        if not chunk:
            break
        lines = chunk.split(b"\n")
        lines[0] = tail + lines[0]
        tail = lines.pop()
        for line in lines:
            number += 1
            if line and not line.isspace():
                yield number, parse_line(number, line)
    if tail and not tail.isspace():
        yield number + 1, parse_line(number + 1, tail)


def trace_error(message: str, internal: str, failure_type: str, stack: bool = True) -> dict[str, Any]:
    """`stack`: False where the traceback would quote the input (a config may hold a password)."""
    return {
        "type": "TRACE",
        "trace": {
            "type": "ERROR",
            "emitted_at": time.time() * 1000,
            "error": {
                "message": message,
                "internal_message": internal,
                "failure_type": failure_type,
                **({"stack_trace": traceback.format_exc()} if stack else {}),
            },
        },
    }


def write(config_path: str, catalog_path: str, stdin: IO[bytes], stdout: IO[bytes]) -> int:
    import psycopg
    from pydantic import ValidationError

    from .config import DestinationConfig, describe
    from .errors import CONFIG_ERROR, DestinationError, from_database
    from .loader import PostgresBackend, connect
    from .writer import Writer

    # The flush thread mostly waits on Postgres; each reply needs the GIL back from the parsing thread, which
    # the default 5 ms switch interval made cost up to 5 ms per statement. This process is ours to tune.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    # Buffered rows are tracked containers, and the parsed JSON is freed by reference counting: the loop
    # makes no cycles of its own. At the default threshold (700) the cycle collector ran every few hundred
    # records and walked every buffered row and every object of the imports: ~10% of this process's CPU
    # (perf). The imports are frozen out of its walks and it runs every 100k net allocations instead.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)
    if not logger.handlers:
        logger.addHandler(_AirbyteLogHandler(stdout))
        logger.setLevel(logging.INFO)
        logger.propagate = False
    problem = _not_a_json_object(config_path)
    if problem is None:
        try:
            with open(config_path, "rb") as f:
                config = DestinationConfig.model_validate(orjson.loads(f.read()))
        except ValidationError as err:
            problem = f"Invalid config ({config_path}): {describe(err)}"
    if problem is not None:
        stdout.write(orjson.dumps(trace_error(problem, problem, CONFIG_ERROR, stack=False)) + b"\n")
        return 1
    try:
        with open(catalog_path, "rb") as f:
            catalog = orjson.loads(f.read())
        if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
            raise ValueError("it has no `streams` list")
    except (orjson.JSONDecodeError, OSError, ValueError) as err:
        problem = f"The configured catalog {catalog_path} is not a configured catalog: {err}"
        stdout.write(orjson.dumps(trace_error(problem, problem, CONFIG_ERROR, stack=False)) + b"\n")
        return 1
    try:
        try:
            conn = connect(config)
        except psycopg.Error as err:
            raise from_database(err, "connecting") from err
        with conn:
            for message in Writer(config, catalog, PostgresBackend(config, conn)).run(Numbered(parse_lines(stdin))):
                stdout.write(orjson.dumps(message) + b"\n")
                stdout.flush()
    except DestinationError as err:
        logger.error(err.message)
        stdout.write(orjson.dumps(trace_error(err.message, err.internal, err.failure_type)) + b"\n")
        stdout.flush()
        return 1
    return 0


def run(args: list[str] | None = None) -> None:
    args = sys.argv[1:] if args is None else args
    if args and args[0] == "write":
        parser = argparse.ArgumentParser(prog="destination-postgres-support write")
        parser.add_argument("--config", required=True)
        parser.add_argument("--catalog", required=True)
        parsed = parser.parse_args(args[1:])
        sys.exit(write(parsed.config, parsed.catalog, sys.stdin.buffer, sys.stdout.buffer))

    config_path = _option(args, "--config")
    if config_path is not None:
        problem = _not_a_json_object(config_path)
        if problem:
            sys.stdout.buffer.write(orjson.dumps(trace_error(problem, problem, "config_error", stack=False)) + b"\n")
            sys.exit(1)

    from .destination import DestinationPostgresSupport

    DestinationPostgresSupport().run(args)


def _option(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _not_a_json_object(path: str) -> str | None:
    """Why the CDK would answer this config file with its generic "Something went wrong", if it would."""
    try:
        with open(path, "rb") as f:
            value = orjson.loads(f.read())
    except OSError as err:
        return f"Cannot read the config file {path}: {err.strerror}"
    except orjson.JSONDecodeError as err:
        return f"The config file {path} is not JSON: {err}"
    if not isinstance(value, dict):
        return f"The config file {path} must hold a JSON object, not a {type(value).__name__}"
    return None
