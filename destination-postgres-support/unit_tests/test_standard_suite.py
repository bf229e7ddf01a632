"""The CDK's standard destination suite (check + config-vs-spec), scenarios from acceptance-test-config.yml.

integration_tests/config.json names the local server; the harness's database replaces it here so the
suite also runs against the embedded Postgres.
"""

from __future__ import annotations

import pytest
from airbyte_cdk.test.standard_tests import DestinationTestSuiteBase

from destination_postgres_support import DestinationPostgresSupport

SAMPLE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_harness_url: dict[str, str] = {}


class _OnHarnessDatabase(DestinationPostgresSupport):
    def check(self, logger, config):
        if config.get("database_url") == SAMPLE_URL and "url" in _harness_url:
            config = {**config, "database_url": _harness_url["url"]}
        return super().check(logger, config)


@pytest.fixture(autouse=True)
def _point_at_harness(pg_url):
    _harness_url["url"] = pg_url
    yield
    _harness_url.clear()


class TestDestinationPostgresSupport(DestinationTestSuiteBase):
    connector = _OnHarnessDatabase
