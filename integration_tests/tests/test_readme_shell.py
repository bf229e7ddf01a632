"""The README's shell sections, run exactly as written: the raw `read | write` pipeline with its catalog and
state helpers, and `python -m emulators all`. A README command no test runs is a command that will break."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from emulators.dust import EMULATOR as DustEmulator
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID
from emulators.pylon import EMULATOR as PylonEmulator
from emulators.pylon.api import TOKEN as PYLON_TOKEN

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
TIME_SCALE = 60


def readme_block(after_heading_text: str) -> str:
    """The first ```bash block after the paragraph that contains `after_heading_text`."""
    text = README.read_text()
    start = text.index(after_heading_text)
    match = re.search(r"```bash\n(.*?)```", text[start:], re.DOTALL)
    assert match, f"no bash block after {after_heading_text!r}"
    return match.group(1)


def shell_env() -> dict[str, str]:
    # `python` is the venv's, as after `source .venv/bin/activate`
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


@pytest.fixture
def workdir(tmp_path, serve_emulator):
    pylon = serve_emulator(PylonEmulator(seed=9, size=10, messages_per_issue=2), time_scale=TIME_SCALE)
    dust = serve_emulator(DustEmulator())
    for connector in ("source-pylon", "destination-dust"):
        (tmp_path / connector).symlink_to(REPO / connector)
    pylon_config = {
        "api_token": PYLON_TOKEN,
        "base_url": pylon.url,
        "start_date": pylon.emulator.landmarks()["epoch"],
        "rate_limit_window_seconds": 60 / TIME_SCALE,
    }
    (tmp_path / "pylon.json").write_text(json.dumps(pylon_config))
    dust_config = {
        "api_key": API_KEY,
        "workspace_id": WORKSPACE_ID,
        "space_id": SPACE_ID,
        "data_source_id": DATA_SOURCE_ID,
        "base_url": dust.url,
    }
    (tmp_path / "dust.json").write_text(json.dumps(dust_config))
    return tmp_path, pylon, dust


def run_block(block: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", block], cwd=cwd, env=shell_env(), capture_output=True, text=True, timeout=300)


def test_the_raw_pipeline_as_the_readme_writes_it(workdir):
    """First run lands every issue and saves a state the source takes back; the second run (nothing new)
    upserts nothing; a wrong token makes the whole pipeline fail (it exited 0 before: PIPESTATUS 1 0)."""
    cwd, pylon, dust = workdir
    block = readme_block("Without the runner")

    first = run_block(block, cwd)
    assert first.returncode == 0, first.stderr[-3000:]
    documents = [d for d in dust.emulator.documents() if d.startswith("pylon-issue-")]
    assert len(documents) == 10
    saved = json.loads((cwd / "state.json").read_text())
    assert [s["stream"]["stream_descriptor"]["name"] for s in saved] == ["issue_documents"]
    upserts = dust.log.count(family="upserts")

    second = run_block(block, cwd)
    assert second.returncode == 0, second.stderr[-3000:]
    assert dust.log.count(family="upserts") == upserts, "an unchanged rerun from state.json must not upsert"
    saved = json.loads((cwd / "state.json").read_text())

    pylon_config = json.loads((cwd / "pylon.json").read_text())
    (cwd / "pylon.json").write_text(json.dumps({**pylon_config, "api_token": "wrong"}))
    failed = run_block(block, cwd)
    assert failed.returncode != 0
    assert json.loads((cwd / "state.json").read_text()) == saved, "a failed run must keep the committed state"


def test_emulators_all_prints_variables_that_work(tmp_path):
    """The emulators' README and the root README send newcomers here: every printed variable must be right."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulators", "all", "--size", "5"],
        cwd=REPO / "integration_tests",
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        exports = {}
        for line in proc.stdout:
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                exports[name] = value
            elif exports:
                break
        assert {"PYLON_BASE_URL", "PLANHAT_BASE_URL", "DUST_BASE_URL", "DUST_SPACE_ID"} <= set(exports)
        me = requests.get(
            exports["PYLON_BASE_URL"] + "/me", headers={"Authorization": f"Bearer {exports['PYLON_API_KEY']}"}
        )
        assert me.status_code == 200
        users = requests.get(
            exports["PLANHAT_BASE_URL"] + "/users",
            headers={"Authorization": f"Bearer {exports['PLANHAT_API_TOKEN']}"},
        )
        assert users.status_code == 200
        sources = requests.get(
            f"{exports['DUST_BASE_URL']}/api/v1/w/{exports['DUST_WORKSPACE_ID']}/spaces/{exports['DUST_SPACE_ID']}"
            f"/data_sources/{exports['DUST_DATASOURCE_ID']}/documents",
            headers={"Authorization": f"Bearer {exports['DUST_API_KEY']}"},
        )
        assert sources.status_code == 200, sources.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
