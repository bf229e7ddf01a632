"""`python3 dev.py demo`, the README's first command, as a newcomer with seed 003's `.env` exported runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

INTEGRATION = Path(__file__).resolve().parents[1]


def test_the_demo_never_writes_into_database_url_and_shows_a_believable_sla_mix():
    """Seed 003's DATABASE_URL is the production Neon database: the demo used to write fake issues there."""
    production = "postgresql://neon:s3cret@127.0.0.1:5999/production"  # nothing listens: a write would fail
    done = subprocess.run(
        [sys.executable, "-m", "flows", "demo"],
        cwd=INTEGRATION,
        env={**os.environ, "DATABASE_URL": production},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "DATABASE_URL is set but not used" in out and "Postgres: an embedded server" in out
    assert "s3cret" not in out + done.stderr
    mix = dict(re.findall(r"(ok|at_risk|breached) (\d+)", out.split("SLA of open issues", 1)[1].splitlines()[0]))
    # (on a weekend or holiday no business hour passes: then nothing is at risk either)
    assert int(mix.get("ok", 0)) + int(mix.get("at_risk", 0)) >= 1, f"every open issue breached: {mix}"
