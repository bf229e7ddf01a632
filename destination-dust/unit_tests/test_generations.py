"""Airbyte's generations over a history of syncs: stale = of a generation below minimum_generation_id.

Each test plays syncs the way Airbyte or PyAirbyte sends them (retries and resumed refreshes keep the
generation; PyAirbyte sends generation_id = minimum_generation_id = 1 every time) and counts what reached
Dust: upserts, document deletes, row deletes.
"""

from __future__ import annotations

import pytest
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_dust.generations import GENERATION_COLUMN, Generations

from .conftest import catalog, complete, configured, logs, record, state, write, write_process


def ticket(i: int, **changes) -> dict:
    return {"id": i, "title": f"Ticket {i}", "status": "open", "updated_at": "2026-01-02T03:04:05Z", **changes}


def tickets(ids, **changes) -> list[dict]:
    return [record("tickets", ticket(i, **changes)) for i in ids]


def sync(ids, *, status: str | None = "COMPLETE", **changes) -> list[dict]:
    """The messages of one attempt: records, a state, and the source's stream status (None: killed)."""
    messages = [*tickets(ids, **changes), state("tickets", max(ids, default=0))]
    return [*messages, complete("tickets", status)] if status else messages


def refresh(generation, minimum, mode: str = "overwrite") -> dict:
    return catalog(configured("tickets", mode, generation_id=generation, minimum_generation_id=minimum))


def generation_of(document) -> str | None:
    found = [t.split(":", 1)[1] for t in document.tags if t.startswith("airbyte_generation:")]
    return found[0] if found else None


def deletes(dust) -> int:
    return dust.log.count(family="documents", method="DELETE")


def test_a_second_write_under_the_same_generation_keeps_everything(config, dust, emulator):
    """gen 5 / min 5, 60 documents then 10 (the issue's raw-CLI case): deleting "what this process did not
    write" removed 50 current documents. Same generation is current data: 60 remain, 0 deletes."""
    cat = refresh(5, 5)
    write(config, cat, sync(range(60)))
    assert len(emulator.documents()) == 60 and emulator.upserts_accepted == 60
    dust.log.clear()

    write(config, cat, sync(range(10)))
    assert sorted(emulator.documents()) == sorted(f"tickets-{i}" for i in range(60))
    assert deletes(dust) == 0 and dust.log.count(family="upserts") == 0
    assert {generation_of(d) for d in emulator.documents().values()} == {"5"}


def test_pyairbyte_writing_twice_makes_no_upsert_and_no_delete(tmp_path, config, dust, emulator):
    """PyAirbyte sends generation_id = minimum_generation_id = 1 on every write (seen: a second write of
    Planhat company_documents with nothing new deleted 25 documents). Through `main.py write`, as PyAirbyte
    runs it: the same records again, then nothing new; both must leave Dust untouched."""
    cat = refresh(1, 1)
    write_process(tmp_path, config, cat, sync(range(25)))
    assert len(emulator.documents()) == 25
    dust.log.clear()

    output = write_process(tmp_path, config, cat, sync(range(25)))
    assert dust.log.count(family="upserts") == 0 and deletes(dust) == 0
    assert len(emulator.documents()) == 25
    assert "0 upserts" in logs(output) and "0 deleted" in logs(output)

    write_process(tmp_path, config, cat, sync([]))  # an incremental read with nothing new
    assert dust.log.count(family="upserts") == 0 and deletes(dust) == 0
    assert len(emulator.documents()) == 25


def test_a_refresh_keeps_exactly_its_records_and_retags_the_unchanged_ones(config, dust, emulator):
    """A truncate refresh (gen 2 / min 2) that completed must end with exactly its 20 records: the 10 others
    deleted, the 17 unchanged ones re-sent once to carry generation 2 (or the prune would delete them),
    the 3 changed ones updated; a retry of that completed refresh then changes nothing."""
    write(config, refresh(1, 0, "append_dedup"), sync(range(30)))
    before = emulator.documents()
    dust.log.clear()

    messages = [*tickets(range(17)), *tickets(range(17, 20), status="closed"), complete("tickets")]
    write(config, refresh(2, 2, "append_dedup"), messages)
    after = emulator.documents()
    assert sorted(after) == sorted(f"tickets-{i}" for i in range(20))
    assert deletes(dust) == 10 and dust.log.count(family="upserts") == 20
    assert {generation_of(d) for d in after.values()} == {"2"}
    hashes = [t for t in after["tickets-3"].tags if t.startswith("content_hash:")]
    assert hashes == [t for t in before["tickets-3"].tags if t.startswith("content_hash:")]
    assert after["tickets-3"].text == before["tickets-3"].text and "Status: closed" in after["tickets-18"].text
    dust.log.clear()

    write(config, refresh(2, 2, "append_dedup"), messages)
    assert dust.log.count(family="upserts") == 0 and deletes(dust) == 0 and len(emulator.documents()) == 20


def test_a_killed_refresh_deletes_nothing_and_its_retry_keeps_both_attempts(tmp_path, config, dust, emulator):
    """A source killed mid-refresh ends stdin without COMPLETE: pruning then would empty the data source.
    Airbyte retries under the same generation from the last state; the retry must keep what the first
    attempt wrote (current data) and delete only what is of generation 1."""
    write(config, refresh(1, 1), sync(range(30)))
    dust.log.clear()

    output = write_process(tmp_path, config, refresh(2, 2), sync(range(10), status=None))
    assert len(emulator.documents()) == 30 and deletes(dust) == 0
    assert "never reported COMPLETE" in logs(output)
    assert sum(generation_of(d) == "2" for d in emulator.documents().values()) == 10
    dust.log.clear()

    write_process(tmp_path, config, refresh(2, 2), sync(range(5, 20)))  # resumes a little before its state
    assert sorted(emulator.documents()) == sorted(f"tickets-{i}" for i in range(20))
    assert dust.log.count(family="upserts") == 10  # 10..19 re-tagged; 5..9 already of generation 2
    assert deletes(dust) == 10


@pytest.mark.parametrize("generation, minimum", [(2, 0), (None, None)], ids=["minimum-0", "null-generations"])
def test_no_minimum_generation_deletes_nothing(config, dust, emulator, caplog, generation, minimum):
    """minimum_generation_id 0 or null means "keep old data", even in overwrite mode (PyAirbyte and older
    platforms send nulls): a completed sync of 10 records must leave the other 20 documents alone."""
    write(config, refresh(1, 1), sync(range(30)))
    dust.log.clear()

    write(config, refresh(generation, minimum), sync([*range(10), 99]))
    assert len(emulator.documents()) == 31 and deletes(dust) == 0
    assert "minimum_generation_id 0 or null" in caplog.text
    # A null generation writes no tag (it counts as 0 for a later refresh).
    assert generation_of(emulator.documents()["tickets-99"]) == (None if generation is None else "2")


def test_failed_refresh_deletes_nothing(config, dust, emulator):
    """A refresh whose stream the source called INCOMPLETE, whose source failed, or that failed itself
    must never leave the target emptier than before."""
    write(config, refresh(1, 1), sync(range(4)))
    dust.log.clear()
    write(config, refresh(2, 2), sync([0], status="INCOMPLETE"))
    failed = {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 1.0, "error": {"message": "boom"}}}
    write(config, refresh(2, 2), [*sync([0]), failed])
    with pytest.raises(AirbyteTracedException):
        write(config, refresh(2, 2), [*sync([0]), record("unknown", {"id": 1})])
    assert len(emulator.documents()) == 4 and deletes(dust) == 0


def test_table_rows_of_older_generations_go_only_after_complete(config, dust, emulator):
    """Tables under the same rule: no `truncate` ever (a retried attempt would wipe the first attempt's rows),
    each row carries its generation, older rows are deleted only once the stream completed."""
    cfg = {**config, "streams": [{"name": "accounts", "target": "table"}]}

    def accounts(ids, generation, minimum, status="COMPLETE"):
        cat = catalog(configured("accounts", "overwrite", generation_id=generation, minimum_generation_id=minimum))
        messages = [record("accounts", {"id": i, "name": f"Account {i}"}) for i in ids]
        write(cfg, cat, [*messages, *([complete("accounts", status)] if status else [])])
        return emulator.rows("airbyte_accounts")

    assert len(accounts(range(12), 1, 1)) == 12
    dust.log.clear()
    rows = accounts(range(5), 2, 2, status=None)  # killed
    assert sorted(rows, key=int) == [str(i) for i in range(12)]
    assert rows["0"][GENERATION_COLUMN] == 2 and rows["11"][GENERATION_COLUMN] == 1
    rows = accounts(range(5, 8), 2, 2)  # the retried attempt, same generation
    assert sorted(rows, key=int) == [str(i) for i in range(8)]
    assert dust.log.count(family="tables", method="DELETE") == 4
    assert accounts([0, 1], 2, 2) == rows  # a second sync under generation 2 keeps every row
    batches = [e.json() for e in dust.log.entries(family="tables", method="POST") if e.path.endswith("/rows")]
    assert batches and not any(b.get("truncate") for b in batches)
    assert dust.log.count(family="tables", method="DELETE") == 4


def test_the_generation_policy():
    """The one rule every deletion goes through: lower than the minimum is stale; nothing else is."""
    refresh_ = Generations.of({"generation_id": 3, "minimum_generation_id": 3})
    assert refresh_.prunes and refresh_.is_stale("2") and refresh_.is_stale(None) and not refresh_.is_stale(3)
    assert not refresh_.is_stale(4) and not refresh_.is_stale("3.0") and refresh_.is_stale("junk")
    for keep in ({"generation_id": 3, "minimum_generation_id": 0}, {"generation_id": None}, {}):
        assert not Generations.of(keep).prunes and not Generations.of(keep).is_stale(0)
    backwards = Generations.of({"generation_id": 2, "minimum_generation_id": 3})  # would delete what it writes
    assert not backwards.prunes and "below minimum_generation_id" in backwards.why_no_prune("t")
