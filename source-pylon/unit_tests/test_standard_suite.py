"""The CDK's standard source suite, driven by acceptance-test-config.yml, against the session's Pylon emulator."""

from __future__ import annotations

import pytest
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase


@pytest.mark.usefixtures("acceptance_secrets")
class TestSourcePylon(SourceTestSuiteBase):
    pass
