"""The CDK `Destination`: spec, check, and write() for callers that hand over messages in-process."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    ConnectorSpecification,
    ConnectorSpecificationSerializer,
    FailureType,
    Status,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from pydantic import ValidationError

from .config import DestinationConfig, describe, render_spec
from .errors import DestinationError, classify, from_database
from .loader import PostgresBackend, connect
from .writer import BadLine, Numbered, Writer, parse_line


@dataclass
class AirbyteStateMessageWithId(AirbyteStateMessage):
    """CDK 7's AirbyteStateMessage plus the `id` Airbyte ≥ 1.7 puts on every state and expects back."""

    id: Any = None


def _as_dict(number: int, message: AirbyteMessage | Mapping[str, Any] | str | bytes) -> dict[str, Any] | BadLine:
    if isinstance(message, Mapping):
        return dict(message)
    if isinstance(message, (str, bytes)):
        return parse_line(number, message)
    data = AirbyteMessageSerializer.dump(message)
    state_id = getattr(message.state, "id", None) if message.state is not None else None
    if state_id is not None:
        data["state"]["id"] = state_id
    return data


def _as_message(data: dict[str, Any]) -> AirbyteMessage:
    message = AirbyteMessageSerializer.load(data)
    if message.state is not None and "id" in data["state"]:
        fields = {name: getattr(message.state, name) for name in message.state.__dataclass_fields__}
        message.state = AirbyteStateMessageWithId(**fields, id=data["state"]["id"])
    return message


def traced(err: DestinationError) -> AirbyteTracedException:
    return AirbyteTracedException(
        message=err.message, internal_message=err.internal, failure_type=FailureType(err.failure_type), exception=err
    )


class DestinationPostgresSupport(Destination):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecificationSerializer.load(json.loads(render_spec()))

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            parsed = DestinationConfig.model_validate(dict(config))
        except ValidationError as err:
            return AirbyteConnectionStatus(status=Status.FAILED, message=f"Invalid configuration: {describe(err)}")
        try:
            with connect(parsed) as conn:
                problems = PostgresBackend(parsed, conn).missing_privileges()
        except psycopg.Error as err:
            failure_type, message = classify(err)
            logger.info(f"check failed ({failure_type}): {err!r}")
            return AirbyteConnectionStatus(status=Status.FAILED, message=message)
        if problems:
            return AirbyteConnectionStatus(
                status=Status.FAILED, message="The database user lacks: " + "; ".join(problems) + "."
            )
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog | Mapping[str, Any],
        input_messages: Iterable[AirbyteMessage | Mapping[str, Any] | str | bytes],
    ) -> Iterator[AirbyteMessage]:
        """Messages may be CDK dataclasses, dicts or raw JSON lines; dicts and lines keep the state `id`."""
        try:
            parsed = DestinationConfig.model_validate(dict(config))
        except ValidationError as err:
            raise AirbyteTracedException(
                message=f"Invalid configuration: {describe(err)}", failure_type=FailureType.config_error
            ) from None
        catalog = (
            dict(configured_catalog)
            if isinstance(configured_catalog, Mapping)
            else ConfiguredAirbyteCatalogSerializer.dump(configured_catalog)
        )
        try:
            try:
                conn = connect(parsed)
            except psycopg.Error as err:
                raise from_database(err, "connecting") from err
            with conn:
                writer = Writer(parsed, catalog, PostgresBackend(parsed, conn))
                for output in writer.run(Numbered((n, _as_dict(n, m)) for n, m in enumerate(input_messages, 1))):
                    yield _as_message(output)
        except DestinationError as err:
            raise traced(err) from err
