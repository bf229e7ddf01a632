"""SourcePylon: validates the config, builds one client and one sync cache per read, and lists the streams."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from airbyte_cdk.models import (
    AirbyteMessage,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    ConnectorSpecificationSerializer,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from . import config as config_module
from .cache import SyncCache
from .client import CHECK_ATTEMPTS, NotFound, PylonClient
from .config import PylonConfig
from .dates import utc_now
from .endpoints import ENDPOINTS
from .streams import IssueDocuments, IssueMessages, Issues, IssueThreads, ListStream, SurveyResponses


class SourcePylon(AbstractSource):
    def __init__(self) -> None:
        super().__init__()
        self._open: list[tuple[PylonClient, SyncCache]] = []

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecificationSerializer.load(config_module.spec())

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        """GET /me: the cheapest call that proves the URL and the token."""
        try:
            parsed = PylonConfig.parse(config)
            client = PylonClient(parsed)
            try:
                client.request("GET", "/me", "me", "check", attempts=CHECK_ATTEMPTS)
            finally:
                client.close()
        except AirbyteTracedException as error:
            return False, error.message
        except NotFound:
            return False, f"{config.get('base_url')}/me answered 404: is the API base URL right?"
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        parsed = PylonConfig.parse(config)
        client = PylonClient(parsed)
        cache = SyncCache(client, now=utc_now().replace(microsecond=0))
        self._open.append((client, cache))
        lists: list[Stream] = [
            SurveyResponses(e, client, cache, parsed) if e.name == "survey_responses" else ListStream(e, client, cache)
            for e in ENDPOINTS
        ]
        family = [
            Issues(parsed, cache),
            IssueMessages(parsed, cache),
            IssueThreads(parsed, cache),
            IssueDocuments(parsed, cache),
        ]
        return [*family, *lists]

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Any = None,
    ) -> Iterator[AirbyteMessage]:
        try:
            yield from super().read(logger, config, catalog, state)
        finally:
            while self._open:
                client, cache = self._open.pop()
                cache.close()
                client.close()
