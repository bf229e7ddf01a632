"""The Airbyte entry points: spec (from the config model), check, and write over raw stdin lines.

Every input is checked before it is used (inputs.py): a config or catalog file that cannot be read
is a config_error naming the file, never the CDK's generic "Something went wrong".
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
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
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets, get_secrets, update_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from pydantic import ValidationError

from . import config as config_module
from .client import DustClient
from .config import DustConfig
from .inputs import InputMessages, check_catalog, read_json_object
from .writer import Writer


def parse_config(config: Mapping[str, Any]) -> DustConfig:
    try:
        return DustConfig.model_validate(dict(config))
    except ValidationError as exc:
        # `msg` and `loc` only: pydantic's `input` would quote the values, the API key among them.
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise AirbyteTracedException(
            message=f"The configuration is not valid: {problems}", failure_type=FailureType.config_error
        ) from None


def as_dict(message: Any) -> dict:
    if isinstance(message, dict):
        return message
    return AirbyteMessageSerializer.dump(message)


class DestinationDust(Destination):
    def __init__(self, client_options: dict | None = None) -> None:
        self.client_options = client_options or {}  # tests and benchmarks scale the rate window

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecificationSerializer.load(config_module.spec())

    @staticmethod
    def read_config(config_path: str) -> MutableMapping[str, Any]:
        return read_json_object(config_path, "config")

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            client = DustClient(parse_config(config), **self.client_options)
            problem = client.check()
        except AirbyteTracedException as exc:
            problem = exc.message
        if problem:
            return AirbyteConnectionStatus(status=Status.FAILED, message=problem)
        if client.config.space_id is None:  # say which space was found, so that the user can pin it
            found = (
                f"space_id is not set: data source {client.config.data_source_id!r} is in space {client.space_id!r}."
            )
            return AirbyteConnectionStatus(status=Status.SUCCEEDED, message=found)
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog | dict,
        input_messages: Iterable[AirbyteMessage | dict] | InputMessages,
    ) -> Iterable[dict]:
        """Yields output messages as dicts (JSON-ready), STATE messages exactly as received plus stats.

        `input_messages` is stdin's InputMessages (line numbers in every error) or, in tests, messages
        numbered from 1 as if each were a line.
        """
        catalog = asdict(configured_catalog) if is_dataclass(configured_catalog) else configured_catalog
        catalog = check_catalog(json.loads(json.dumps(catalog, default=lambda v: getattr(v, "value", str(v)))))
        client = DustClient(parse_config(config), **self.client_options)
        client.find_space()
        if isinstance(input_messages, InputMessages):
            numbered: Iterable[tuple[int, dict]] = input_messages
        else:
            numbered = enumerate((as_dict(m) for m in input_messages), 1)
        yield from Writer(client.config, catalog, client).run(numbered)

    def _run_write(self, config: Mapping[str, Any], configured_catalog_path: str, input_stream: Any):
        catalog = check_catalog(
            read_json_object(configured_catalog_path, "catalog"), f"The catalog {configured_catalog_path}"
        )
        # The CDK hands stdin wrapped in a strict UTF-8 text reader, which fails on a bad byte ahead of the
        # line holding it; read its bytes instead, and decode line by line (inputs.InputMessages).
        yield from self.write(config, catalog, InputMessages(getattr(input_stream, "buffer", input_stream)))

    def run_cmd(self, parsed_args: argparse.Namespace) -> Iterator[AirbyteMessage | dict]:
        try:
            if parsed_args.command in ("check", "write"):
                # The model first: its messages name the field and never quote a value; the CDK's
                # JSON-schema check that follows says "'fast' is not of type 'integer'" and no more.
                config = self.read_config(parsed_args.config)
                secrets = get_secrets(config_module.connection_specification(), config)
                # The key is used stripped (config.py): mask it as used, not only as pasted.
                update_secrets([*secrets, *(v.strip() for v in secrets if isinstance(v, str) and v.strip())])
                parse_config(config)
            yield from super().run_cmd(parsed_args)
        except AirbyteTracedException as exc:
            # The protocol's answer to a check that cannot even start is a failed status, not a crash.
            status = exc.as_connection_status_message() if parsed_args.command == "check" else None
            if status is None:
                raise
            yield status

    def run(self, args: list[str]) -> None:
        from airbyte_cdk.exception_handler import init_uncaught_exception_handler

        init_uncaught_exception_handler(logging.getLogger("airbyte"))
        for message in self.run_cmd(self.parse_args(args)):
            data = message if isinstance(message, dict) else AirbyteMessageSerializer.dump(message)
            if data.get("type") == "CONNECTION_STATUS":  # logs and traces are filtered by the CDK; this is not
                status = data["connectionStatus"]
                status["message"] = (
                    filter_secrets(status["message"]) if status.get("message") else status.get("message")
                )
            sys.stdout.write(orjson.dumps(data).decode() + "\n")
            sys.stdout.flush()
