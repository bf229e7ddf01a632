"""The CDK's standard source suite (spec, check, discover, basic read) over acceptance-test-config.yml.

The configs it names live in the gitignored secrets/ folder; this module writes them, pointing at a Planhat
emulator served for the module's duration, so the suite runs anywhere without credentials.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from emulators.planhat import PlanhatEmulator
from emulators.server import EmulatorServer
from source_planhat import SourcePlanhat

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

SECRETS = Path(__file__).resolve().parents[1] / "secrets"


@pytest.fixture(scope="module", autouse=True)
def emulated_planhat_configs():
    # No quota (limits={}): the suite's many short runs each start a fresh pacer; the quota is tested elsewhere.
    with EmulatorServer(PlanhatEmulator(seed=1, size=20), limits={}) as server:
        SECRETS.mkdir(exist_ok=True)
        good = {"api_token": PlanhatEmulator.TOKEN, "region": "custom", "base_url": server.url}
        (SECRETS / "config.json").write_text(json.dumps(good))
        (SECRETS / "invalid_config.json").write_text(json.dumps({**good, "api_token": "a-token-of-another-region"}))
        yield


class TestSourcePlanhat(SourceTestSuiteBase):
    connector = SourcePlanhat
