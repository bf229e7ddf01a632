"""The Airbyte entry points: spec (from the config model), check, and write over raw stdin lines."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

import orjson
from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    ConnectorSpecificationSerializer,
    FailureType,
    Status,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from pydantic import ValidationError

from . import config as config_module
from .client import DustClient
from .config import DustConfig
from .writer import BadInput, Writer


def parse_config(config: Mapping[str, Any]) -> DustConfig:
    try:
        return DustConfig.model_validate(dict(config))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise AirbyteTracedException(
            message=f"The configuration is not valid: {problems}", failure_type=FailureType.config_error
        ) from None


def read_lines(lines: Iterable[str]) -> Iterator[dict]:
    """stdin as JSON objects, untouched: the CDK's models would drop fields they do not know (state `id`)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise BadInput(number, f"not JSON ({exc.msg}): {line[:80]!r}") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise BadInput(number, f"no message type: {line[:80]!r}")
        if message["type"] == "RECORD" and not isinstance((message.get("record") or {}).get("data"), dict):
            raise BadInput(number, "a RECORD without a data object")
        yield message


def as_dict(message: Any) -> dict:
    if isinstance(message, dict):
        return message
    return AirbyteMessageSerializer.dump(message)


class DestinationDust(Destination):
    def __init__(self, client_options: dict | None = None) -> None:
        self.client_options = client_options or {}  # tests and benchmarks scale the rate window

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecificationSerializer.load(config_module.spec())

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            problem = DustClient(parse_config(config), **self.client_options).check()
        except AirbyteTracedException as exc:
            problem = exc.message
        if problem:
            return AirbyteConnectionStatus(status=Status.FAILED, message=problem)
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog | dict,
        input_messages: Iterable[AirbyteMessage | dict],
    ) -> Iterable[dict]:
        """Yields output messages as dicts (JSON-ready), STATE messages exactly as received plus stats."""
        catalog = asdict(configured_catalog) if is_dataclass(configured_catalog) else configured_catalog
        catalog = json.loads(json.dumps(catalog, default=lambda v: getattr(v, "value", str(v))))
        client = DustClient(parse_config(config), **self.client_options)
        yield from Writer(client.config, catalog, client).run(as_dict(m) for m in input_messages)

    def _run_write(self, config: Mapping[str, Any], configured_catalog_path: str, input_stream: io.TextIOWrapper):
        with open(configured_catalog_path) as handle:
            catalog = json.load(handle)
        yield from self.write(config, catalog, read_lines(input_stream))

    def run(self, args: list[str]) -> None:
        from airbyte_cdk.exception_handler import init_uncaught_exception_handler

        init_uncaught_exception_handler(logging.getLogger("airbyte"))
        for message in self.run_cmd(self.parse_args(args)):
            data = message if isinstance(message, dict) else AirbyteMessageSerializer.dump(message)
            sys.stdout.write(orjson.dumps(data).decode() + "\n")
            sys.stdout.flush()
