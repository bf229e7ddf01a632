"""The Airbyte source: check, discover and read over the streams of streams.py."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    ConnectorSpecificationSerializer,
    FailureType,
    Status,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from pydantic import ValidationError

from . import inputs
from .client import CHECK, PermissionDenied, PlanhatClient, Unanswered
from .config import PlanhatConfig, spec
from .models import BY_STREAM, MODELS
from .streams import CompanyDocumentsStream, ReadContext, model_stream

STREAM_NAMES = tuple(model.stream for model in MODELS) + (CompanyDocumentsStream.name,)


def parse_config(config: Mapping[str, Any]) -> PlanhatConfig:
    try:
        return PlanhatConfig.model_validate(dict(config))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in error.errors())
        raise AirbyteTracedException(
            message=f"The Planhat configuration is invalid: {problems}",
            failure_type=FailureType.config_error,
        ) from None


def require_offered(catalog: ConfiguredAirbyteCatalog, offered: Iterable[str]) -> None:
    """A catalog naming a stream we do not offer is a config error, raised before any request.

    The CDK only marks such a stream INCOMPLETE and exits 0: a typo'd raw catalog read nothing and looked fine.
    """
    offered = sorted(offered)
    unknown = [c.stream.name for c in catalog.streams if c.stream.name not in offered]
    if not unknown:
        return
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, offered, n=1)
        named.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    raise AirbyteTracedException(
        message=f"The configured catalog names {'streams' if len(unknown) > 1 else 'a stream'} that "
        f"source-planhat does not offer: {', '.join(named)}. The streams it offers are: {', '.join(offered)}. "
        "Fix the name in the catalog, or refresh the source schema and reselect the streams.",
        internal_message=f"unknown streams in the configured catalog: {unknown}",
        failure_type=FailureType.config_error,
    )


class SourcePlanhat(AbstractSource):
    def __init__(self, time_scale: float = 1.0) -> None:
        # time_scale shrinks every wait of the HTTP policy; tests and benchmarks set it with the emulator's.
        self.time_scale = time_scale

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecificationSerializer.load(spec())

    # The entrypoint reads the three files through these: inputs.py says what each may hold.
    def read_config(self, config_path: str) -> dict[str, Any]:
        return inputs.read_config(config_path)

    def read_catalog(self, catalog_path: str) -> ConfiguredAirbyteCatalog:
        return inputs.read_catalog(catalog_path)

    def read_state(self, state_path: str) -> list[AirbyteStateMessage]:
        return inputs.read_state(state_path, STREAM_NAMES)

    def client(self, config: PlanhatConfig) -> PlanhatClient:
        return PlanhatClient(
            config.url,
            config.api_token.get_secret_value(),
            config.requests_per_minute,
            target=config.target,
            time_scale=self.time_scale,
        )

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """The CDK's check, but the message as written: AbstractSource.check sends repr(message), in quotes."""
        succeeded, message = self.check_connection(logger, config)
        if succeeded:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED)
        return AirbyteConnectionStatus(status=Status.FAILED, message=str(message))

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        """Reads one company (reference: the cheap check) with the CHECK persistence: seconds, not minutes.

        Other models' permissions are checked per stream."""
        try:
            parsed = parse_config(config)
            self.client(parsed).get(BY_STREAM["companies"].path, {"limit": 1, "offset": 0}, CHECK)
        except PermissionDenied as denied:
            return False, f"The service account may not read companies ({denied}); the source needs at least that."
        except Unanswered as failed:
            return False, (
                f"No usable answer from Planhat at {parsed.target} to GET {failed.path} in {failed.retries + 1} "
                f"attempts ({failed.problem}). Check base_url or region, and that this machine can reach it."
            )
        except AirbyteTracedException as error:
            return False, error.message
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        parsed = parse_config(config)
        context = ReadContext(parsed, self.client(parsed))
        return [model_stream(model, context) for model in MODELS] + [CompanyDocumentsStream(context)]

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        require_offered(catalog, STREAM_NAMES)
        yield from super().read(logger, config, catalog, state)


__all__ = ["SourcePlanhat"]
