"""The seed scripts' `.env` files, read by the runner as those scripts read them: every variable honoured or
named in one warning, none silently ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flows.connections import ConfigMissing, config_from_env, environment, not_needed

INTEGRATION = Path(__file__).resolve().parents[1]

# The variables of seed 000 (Pylon → Dust) and seed 001 (Planhat → Dust), laid out as their READMEs show.
SEED_000 = """\
PYLON_API_KEY=pylon-key
DUST_API_KEY=dust-key
DUST_WORKSPACE_ID=ws-1
DUST_DATASOURCE_ID=ds-1
DUST_RATE_LIMIT=100
PYLON_MAX_CONCURRENT=5
PYLON_START_DATE=2024-01-01
PYLON_END_DATE=2024-12-31
"""
SEED_001 = """\
PLANHAT_API_TOKEN=planhat-token
DUST_API_KEY=dust-key
DUST_WORKSPACE_ID=ws-1
DUST_DATASOURCE_ID=ds-1
DUST_SPACE_ID=space-1
LOOKBACK_DAYS=7  # Number of days to look back for updated companies
THREADS_NUMBER=1  # Number of parallel threads for processing
"""


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in list(os.environ):
        if var.startswith(("PYLON_", "DUST_", "PLANHAT_")) or var in ("LOOKBACK_DAYS", "THREADS_NUMBER"):
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_seed_000_env_configures_pylon_and_dust_without_a_space_id(clean_env):
    """Seed 000 predates Dust spaces: its .env must still work, and each of its variables must count."""
    (clean_env / ".env").write_text(SEED_000)
    environ = environment()
    assert config_from_env("source-pylon", environ) == {
        "api_token": "pylon-key",
        "start_date": "2024-01-01",
        "end_date": "2024-12-31",
    }
    assert config_from_env("destination-dust", environ) == {
        "api_key": "dust-key",
        "workspace_id": "ws-1",
        "data_source_id": "ds-1",
        "upserts_per_minute": 100,
    }
    assert not_needed(environ) == [
        "PYLON_MAX_CONCURRENT is not needed: source-pylon paces its requests at Pylon's documented limits by itself"
    ]


def test_seed_001_env_turns_lookback_days_into_the_first_syncs_start(clean_env):
    (clean_env / ".env").write_text(SEED_001)
    environ = environment()
    config = config_from_env("source-planhat", environ)
    start = datetime.strptime(config.pop("start_date"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - timedelta(days=7) - start) < timedelta(minutes=5)
    assert config == {"api_token": "planhat-token"}
    assert config_from_env("destination-dust", environ)["space_id"] == "space-1"
    assert [line.split(":")[0] for line in not_needed(environ)] == ["THREADS_NUMBER is not needed"]


def test_the_shell_wins_over_the_file_and_a_named_file_must_exist(clean_env, monkeypatch):
    (clean_env / "other.env").write_text(SEED_000)
    monkeypatch.setenv("PYLON_START_DATE", "2025-06-01")
    assert config_from_env("source-pylon", environment("other.env"))["start_date"] == "2025-06-01"
    with pytest.raises(ConfigMissing, match="no such file"):
        environment("missing.env")


def test_the_runner_reads_dot_env_from_the_working_directory(clean_env):
    """`python -m flows run` in a folder holding the seed's .env: the missing variable it names is the
    real one (DUST_API_KEY here), not one the .env already sets."""
    (clean_env / ".env").write_text(SEED_000.replace("DUST_API_KEY=dust-key\n", ""))
    done = subprocess.run(
        [sys.executable, "-m", "flows", "run", "pylon-to-dust"],
        cwd=clean_env,
        env={**os.environ, "PYTHONPATH": str(INTEGRATION)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "set DUST_API_KEY" in done.stderr and "PYLON_API_KEY" not in done.stderr.split("set ", 1)[1]
