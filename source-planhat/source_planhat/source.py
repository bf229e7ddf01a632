"""The Airbyte source: check, discover and read over the streams of streams.py."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airbyte_cdk.models import ConnectorSpecification, ConnectorSpecificationSerializer, FailureType
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from pydantic import ValidationError

from .client import PermissionDenied, PlanhatClient
from .config import PlanhatConfig, spec
from .models import BY_STREAM, MODELS
from .streams import CompanyDocumentsStream, ReadContext, model_stream


def parse_config(config: Mapping[str, Any]) -> PlanhatConfig:
    try:
        return PlanhatConfig.model_validate(dict(config))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in error.errors())
        raise AirbyteTracedException(
            message=f"The Planhat configuration is invalid: {problems}",
            failure_type=FailureType.config_error,
        ) from None


class SourcePlanhat(AbstractSource):
    def __init__(self, time_scale: float = 1.0) -> None:
        # time_scale shrinks every wait of the HTTP policy; tests and benchmarks set it with the emulator's.
        self.time_scale = time_scale

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecificationSerializer.load(spec())

    def client(self, config: PlanhatConfig) -> PlanhatClient:
        return PlanhatClient(
            config.url,
            config.api_token.get_secret_value(),
            config.requests_per_minute,
            region=config.region,
            time_scale=self.time_scale,
        )

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        """Reads one company (reference: the cheap check); other models' permissions are checked per stream."""
        try:
            parsed = parse_config(config)
            self.client(parsed).get(BY_STREAM["companies"].path, {"limit": 1, "offset": 0})
        except PermissionDenied as denied:
            return False, f"The service account may not read companies ({denied}); the source needs at least that."
        except AirbyteTracedException as error:
            return False, error.message
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        parsed = parse_config(config)
        context = ReadContext(parsed, self.client(parsed))
        return [model_stream(model, context) for model in MODELS] + [CompanyDocumentsStream(context)]


__all__ = ["SourcePlanhat"]
