"""The three flows end to end: real connector processes, the emulators over HTTP, a real Postgres.

Each run is what a user's shell pipeline or Airbyte does: discover, then `source read | destination write`
as two processes, with the committed state passed back on the next run.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import psycopg
import pytest

from emulators.dust import EMULATOR as DustEmulator
from emulators.dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID
from emulators.planhat import EMULATOR as PlanhatEmulator
from emulators.pylon import EMULATOR as PylonEmulator
from emulators.pylon.api import TOKEN as PYLON_TOKEN
from flows.connections import FLOWS
from flows.pipeline import Connector, SyncFailed
from flows.runs import StateStore, run_flow
from testkit.postgres import isolated_database

pytestmark = pytest.mark.slow

TIME_SCALE = 60  # Pylon's 20/min limits would make each run take minutes
KILLER = Path(__file__).parent / "fake_connectors" / "killer.py"


class Stack:
    """Emulators + database + saved state for one connection's history of runs."""

    def __init__(self, serve_emulator, pg_url: str, state_dir: Path, issues: int = 12, companies: int = 6):
        self.pylon = serve_emulator(PylonEmulator(seed=3, size=issues, messages_per_issue=3), time_scale=TIME_SCALE)
        self.planhat = serve_emulator(PlanhatEmulator(seed=3, size=companies))
        self.dust = serve_emulator(DustEmulator())
        self.pg_url = pg_url
        self.state_dir = state_dir
        self.configs = {
            "source-pylon": {
                "api_token": PYLON_TOKEN,
                "base_url": self.pylon.url,
                # the emulator's history starts here: no need to walk empty 30-day windows since 2020
                "start_date": self.pylon.emulator.landmarks()["epoch"],
                "rate_limit_window_seconds": 60 / TIME_SCALE,
            },
            "source-planhat": {"api_token": PlanhatEmulator.TOKEN, "region": "custom", "base_url": self.planhat.url},
            "destination-dust": {
                "api_key": API_KEY,
                "workspace_id": WORKSPACE_ID,
                "space_id": SPACE_ID,
                "data_source_id": DATA_SOURCE_ID,
                "base_url": self.dust.url,
            },
            "destination-postgres-support": {"database_url": pg_url},
        }

    def run(self, flow_name: str):
        flow = FLOWS[flow_name]
        store = StateStore(self.state_dir, flow.name)
        return run_flow(flow, self.configs[flow.source], self.configs[flow.destination], store)

    def upserts(self) -> int:
        return self.dust.log.count(family="upserts")

    def documents(self) -> dict[str, tuple]:
        """Every document, without the generation it was written under (which sync, not what)."""
        return {
            i: (
                d.title,
                d.text,
                tuple(sorted(t for t in d.tags if not t.startswith("airbyte_generation:"))),
                d.timestamp,
            )
            for i, d in self.dust.emulator.documents().items()
        }

    def rows(self) -> dict[str, list[tuple]]:
        """Every dashboard row, without the sync's stamps (synced_at, _airbyte_generation_id: when, not what)."""
        tables = {}
        with psycopg.connect(self.pg_url) as conn:
            for table in ("issues", "accounts", "users", "messages"):
                cur = conn.execute(f'SELECT * FROM "{table}" ORDER BY id')  # noqa: S608 - fixed names
                keep = [
                    i for i, c in enumerate(cur.description) if c.name not in ("synced_at", "_airbyte_generation_id")
                ]
                tables[table] = [tuple(row[i] for i in keep) for row in cur]
        return tables


@pytest.fixture
def stack(serve_emulator, pg_url, tmp_path):
    return Stack(serve_emulator, pg_url, tmp_path / "state")


def test_pylon_to_dust_lands_every_issue_then_resends_only_what_changed(stack):
    """The core promise of the Pylon→Dust flow: complete on the first run, zero upserts when nothing
    changed (Dust's 120/min budget is shared by the whole workspace), exactly one upsert for one change."""
    first = stack.run("pylon-to-dust")
    assert first.records["issue_documents"] == 12
    documents = stack.documents()
    assert len([d for d in documents if d.startswith("pylon-issue-")]) == 12
    assert stack.upserts() == 12
    issue = stack.pylon.emulator.data.issues[0]
    title, text, tags, _ = documents[f"pylon-issue-{issue['id']}"]
    assert title.startswith(f"Pylon Issue {issue['number']}: ") and f"state:{issue['state']}" in tags
    assert "## Metadata" in text and "<p>" not in text

    stack.run("pylon-to-dust")
    assert stack.upserts() == 12, "an unchanged re-sync must not upsert"
    assert stack.documents() == documents

    issue_id = stack.pylon.emulator.data.issues[4]["id"]
    stack.pylon.emulator.add_message(issue_id, text="Any news on this one?", author="contact")
    stack.run("pylon-to-dust")
    assert stack.upserts() == 13
    changed = {i for i, d in stack.documents().items() if documents.get(i) != d}
    assert changed == {f"pylon-issue-{issue_id}"}
    assert "Any news on this one?" in stack.dust.emulator.documents()[f"pylon-issue-{issue_id}"].text


def test_planhat_to_dust_resends_only_the_company_whose_conversation_changed(stack):
    """A company document must follow its related records: a new conversation re-sends that company only."""
    stack.run("planhat-to-dust")
    documents = stack.documents()
    assert len([d for d in documents if d.startswith("planhat-company-")]) == 6
    company = stack.planhat.emulator.data.models["companies"][0]
    title, text, tags, _ = documents[f"planhat-company-{company['_id']}"]
    assert title == company["name"], "the document must be titled by the company, not its id"
    assert f"health:{company['h']}" in tags and f"status:{company['status']}" in tags
    assert any(t.startswith("owner:") for t in tags) and "## Conversations" in text
    upserts = stack.upserts()

    stack.run("planhat-to-dust")
    assert stack.upserts() == upserts

    company = stack.planhat.emulator.data.models["companies"][2]
    stack.planhat.emulator.add("conversations", company["_id"], subject="Renewal call notes")
    stack.run("planhat-to-dust")
    assert stack.upserts() == upserts + 1
    changed = {i for i, d in stack.documents().items() if documents.get(i) != d}
    assert len(changed) == 1 and "Renewal call notes" in stack.dust.emulator.documents()[changed.pop()].text


def test_pylon_to_postgres_lands_the_dashboard_then_changes_only_the_changed_issue(stack):
    """The dashboard reads these rows: the second run must not churn them, and one changed issue must
    change exactly that issue (and add exactly its new message)."""
    stack.run("pylon-to-postgres")
    rows = stack.rows()
    assert len(rows["issues"]) == 12 and len(rows["messages"]) == 36
    stack.run("pylon-to-postgres")
    assert stack.rows() == rows

    issue_id = rows["issues"][5][0]
    stack.pylon.emulator.update_issue(issue_id, title="Renamed by the customer")
    stack.pylon.emulator.add_message(issue_id, text="Thanks!", author="contact")
    stack.run("pylon-to-postgres")
    after = stack.rows()
    changed = [a for a, b in zip(after["issues"], rows["issues"], strict=True) if a != b]
    assert [row[0] for row in changed] == [issue_id]
    assert len(after["messages"]) == 37


def test_a_wrong_token_fails_the_flow_with_the_sources_own_message(stack):
    """A user must learn from the runner what to fix, not read a stack trace."""
    stack.configs["source-pylon"]["api_token"] = "wrong"
    with pytest.raises(SyncFailed) as failure:
        stack.run("pylon-to-dust")
    message = str(failure.value).lower()
    assert "source-pylon" in message and ("token" in message or "401" in message)


@pytest.mark.parametrize(
    "flow_name, side, seed",
    [
        ("pylon-to-dust", "destination", 1),
        ("pylon-to-dust", "source", 2),
        ("pylon-to-postgres", "destination", 3),
        ("pylon-to-postgres", "source", 4),
    ],
)
def test_a_killed_connector_then_a_resumed_sync_ends_like_one_clean_run(
    serve_emulator, pg_server_url, tmp_path, flow_name, side, seed
):
    """Crash safety: a source or destination SIGKILLed at a random point, then a rerun from the saved state,
    must end with the same documents and rows as one uninterrupted sync: nothing lost, nothing duplicated."""
    flow = FLOWS[flow_name]
    with isolated_database(pg_server_url) as clean_db, isolated_database(pg_server_url) as crashed_db:
        clean = Stack(serve_emulator, clean_db, tmp_path / "clean")
        clean.run(flow_name)

        crashed = Stack(serve_emulator, crashed_db, tmp_path / "crashed")
        name = flow.destination if side == "destination" else flow.source
        real_command = (sys.executable, str(flow_dir(name) / "main.py"))
        kill_after = random.Random(seed).randint(3, 12)  # lines the connector reads or writes before the kill
        killer = Connector(
            name,
            (
                sys.executable,
                str(KILLER),
                "stdin" if side == "destination" else "stdout",
                str(kill_after),
                *real_command,
            ),
        )
        store = StateStore(crashed.state_dir, flow.name)
        with pytest.raises(SyncFailed, match=name):
            run_flow(flow, crashed.configs[flow.source], crashed.configs[flow.destination], store, **{side: killer})
        crashed.run(flow_name)

        if flow.destination == "destination-dust":
            assert crashed.documents() == clean.documents()
        else:
            assert crashed.rows() == clean.rows()


def test_a_permission_lost_mid_sync_fails_the_flow_instead_of_skipping_data(stack):
    """Never a "successful" sync with missing data: without access to messages, documents would lack
    their conversations, so the flow must fail and say which permission is missing."""
    stack.pylon.emulator.forbidden = {"issue_messages"}
    with pytest.raises(SyncFailed) as failure:
        stack.run("pylon-to-dust")
    assert "403" in str(failure.value) and "messages" in str(failure.value)
    assert stack.upserts() == 0


def flow_dir(name: str) -> Path:
    return Path(__file__).resolve().parents[2] / name


def test_a_hostile_pylon_and_dust_still_give_the_clean_result(serve_emulator, pg_url, tmp_path):
    """429 bursts, 5xx, resets, malformed and truncated bodies on both sides must cost retries, never data:
    the sync ends with exactly the documents of a run against well-behaved APIs."""
    clean = Stack(serve_emulator, pg_url, tmp_path / "clean", issues=8)
    clean.run("pylon-to-dust")

    hostile = Stack(serve_emulator, pg_url, tmp_path / "hostile", issues=8)
    pylon, dust = hostile.pylon.faults, hostile.dust.faults
    pylon.add("status", family="issues_search", times=1, status=503)
    pylon.add("status", family="issue_messages", times=1, status=429)
    pylon.add("malformed", family="issue_messages", times=1)
    pylon.add("reset", family="users", times=1)
    pylon.add("truncated", family="accounts", times=1)
    dust.add("status", family="upserts", times=2, status=502)
    dust.add("status", family="upserts", times=1, status=429)
    dust.add("reset", family="upserts", times=1)

    result = hostile.run("pylon-to-dust")
    assert result.records["issue_documents"] == 8
    assert hostile.documents() == clean.documents()
    assert not pylon.active() and not dust.active(), "every armed fault must fire, or this test proves nothing"
