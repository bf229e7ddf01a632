"""SourcePylon: validates the config, builds one client and one sync cache per read, and lists the streams."""

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

from . import config as config_module
from . import inputs
from .cache import SyncCache
from .client import CHECK, NotFound, PylonClient, Unanswered
from .config import PylonConfig
from .dates import utc_now
from .endpoints import ENDPOINTS
from .streams import IssueDocuments, IssueMessages, Issues, IssueThreads, ListStream, SurveyResponses

ISSUE_FAMILY = (Issues, IssueMessages, IssueThreads, IssueDocuments)
STREAM_NAMES = tuple(stream.name for stream in ISSUE_FAMILY) + tuple(endpoint.name for endpoint in ENDPOINTS)


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
        message=f"The configured catalog names {'streams' if len(unknown) > 1 else 'a stream'} that source-pylon "
        f"does not offer: {', '.join(named)}. The streams it offers are: {', '.join(offered)}. Fix the name in "
        "the catalog, or refresh the source schema and reselect the streams.",
        internal_message=f"unknown streams in the configured catalog: {unknown}",
        failure_type=FailureType.config_error,
    )


class SourcePylon(AbstractSource):
    def __init__(self) -> None:
        super().__init__()
        self._open: list[tuple[PylonClient, SyncCache]] = []

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecificationSerializer.load(config_module.spec())

    # The entrypoint reads the three files through these: inputs.py says what each may hold.
    def read_config(self, config_path: str) -> dict[str, Any]:
        return inputs.read_config(config_path)

    def read_catalog(self, catalog_path: str) -> ConfiguredAirbyteCatalog:
        return inputs.read_catalog(catalog_path)

    def read_state(self, state_path: str) -> list[AirbyteStateMessage]:
        return inputs.read_state(state_path, STREAM_NAMES)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """The CDK's check, but the message as written: AbstractSource.check sends repr(message), in quotes."""
        succeeded, message = self.check_connection(logger, config)
        if succeeded:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED)
        return AirbyteConnectionStatus(status=Status.FAILED, message=str(message))

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        """GET /me, the cheapest call that proves the URL and the token, with the CHECK persistence."""
        try:
            parsed = PylonConfig.parse(config)
            client = PylonClient(parsed)
            try:
                client.request("GET", "/me", "me", "check", persistence=CHECK)
            finally:
                client.close()
        except Unanswered as failed:
            return False, (
                f"No usable answer from Pylon at {parsed.url} to GET /me in {failed.attempts} attempts "
                f"({failed.problem}). Check the API base URL, and that this machine can reach it."
            )
        except AirbyteTracedException as error:
            return False, error.message
        except NotFound:
            return False, f"{parsed.url}/me answered 404: is the API base URL right?"
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        parsed = PylonConfig.parse(config)
        client = PylonClient(parsed)
        cache = SyncCache(client, now=utc_now().replace(microsecond=0), end=parsed.end)
        self._open.append((client, cache))
        lists: list[Stream] = [
            SurveyResponses(e, client, cache, parsed) if e.name == "survey_responses" else ListStream(e, client, cache)
            for e in ENDPOINTS
        ]
        return [*(stream(parsed, cache) for stream in ISSUE_FAMILY), *lists]

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Any = None,
    ) -> Iterator[AirbyteMessage]:
        require_offered(catalog, STREAM_NAMES)
        try:
            yield from super().read(logger, config, catalog, state)
        finally:
            while self._open:
                client, cache = self._open.pop()
                cache.close()
                client.close()
