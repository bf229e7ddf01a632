"""The CDK's standard destination tests (check + config-vs-spec) against the session's Dust emulator.

Run with `-m "not image_tests"` where no Docker engine answers.
"""

from airbyte_cdk.test.standard_tests import DestinationTestSuiteBase

from destination_dust import DestinationDust


class TestDestinationDust(DestinationTestSuiteBase):
    connector = DestinationDust
