"""end_date (seed 000's PYLON_END_DATE): an upper bound on the issues a sync reads, through real `main.py read`s.

Before it existed the runner mapped PYLON_END_DATE to a field the config ignored, and the sync read past it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_pylon.config import PylonConfig
from source_pylon.dates import parse_time

from .conftest import Read, catalog, make_config

ISSUE_FAMILY = ("issues", "issue_messages", "issue_threads", "issue_documents")


def read(tmp_path, server, config, state=None, streams=ISSUE_FAMILY) -> Read:
    server.log.clear()
    server.limiter.reset()  # syncs are hours apart: the previous sync's window has rolled over
    tmp_path.mkdir(parents=True, exist_ok=True)
    reader = Read(tmp_path, config, catalog(*streams), state=state)
    assert reader.wait() == 0, [m for _, m in reader.of_type("TRACE")]
    return reader


def records(reader: Read, stream: str) -> list[dict]:
    return [m["record"]["data"] for _, m in reader.of_type("RECORD") if m["record"]["stream"] == stream]


def final_states(reader: Read) -> list[dict]:
    last = {}
    for _, message in reader.of_type("STATE"):
        last[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
    return list(last.values())


def search_bounds(server) -> list[tuple[datetime | None, datetime | None]]:
    """(after, before) of every issue search; before is None for an open-ended one."""
    bounds = []
    for entry in server.log.entries(family="issues_search"):
        tree = entry.json()["filter"]
        parts = tree["subfilters"] if tree["operator"] == "and" else [tree]
        values = {p["operator"]: parse_time(p["value"]) for p in parts}
        bounds.append((values.get("time_is_after"), values.get("time_is_before")))
    return bounds


def test_no_issue_updated_after_end_date_is_read_by_any_issue_stream(pylon, tmp_path):
    """A sync that reads past end_date is what PYLON_END_DATE users got: the whole history, silently."""
    server = pylon(size=40)
    issues = server.emulator.data.issues
    end = parse_time(sorted(i["updated_at"] for i in issues)[20])  # half the issues are newer
    config = make_config(server, end_date=end.strftime("%Y-%m-%dT%H:%M:%SZ"))
    expected = {i["id"] for i in issues if parse_time(i["updated_at"]) <= end}
    assert 0 < len(expected) < len(issues)

    first = read(tmp_path / "first", server, config)

    assert {r["id"] for r in records(first, "issues")} == expected
    assert {r["id"] for r in records(first, "issue_documents")} == expected
    assert all(parse_time(r["updated_at"]) <= end for r in records(first, "issue_documents"))
    assert {r["issue_id"] for r in records(first, "issue_messages")} <= expected
    messages_of_newer = {
        m["id"] for i in issues if i["id"] not in expected for m in server.emulator.data.messages[i["id"]]
    }
    assert messages_of_newer and not messages_of_newer & {r["id"] for r in records(first, "issue_messages")}
    # No search reaches past end_date (by more than the one-second widening), none is open-ended.
    assert all(before is not None and before <= end + timedelta(seconds=1) for _, before in search_bounds(server))
    fetched = {e.path.split("/")[2] for e in server.log.entries(family="issue_messages")}
    assert fetched <= expected  # no child is fetched for an issue past the bound
    for state in final_states(first):
        assert parse_time(state["stream"]["stream_state"]["updated_at"]) == end

    # An issue updated now, after end_date, stays out of the next sync too; the sync searches one window.
    server.emulator.update_issue(sorted(expected)[0], state="on_hold")
    second = read(tmp_path / "second", server, config, state=final_states(first))
    assert not any(records(second, stream) for stream in ISSUE_FAMILY)
    assert len(search_bounds(server)) == 1


def test_a_plain_end_date_includes_that_whole_day(pylon, tmp_path):
    """PYLON_END_DATE=2024-12-31 means "through the 31st": the issues of that day are read, the next day's not."""
    server = pylon(size=40)
    issues = sorted(server.emulator.data.issues, key=lambda i: i["updated_at"])
    day = issues[20]["updated_at"][:10]
    config = make_config(server, end_date=day)
    expected = {i["id"] for i in issues if i["updated_at"][:10] <= day}

    got = {r["id"] for r in records(read(tmp_path, server, config, streams=("issues",)), "issues")}

    assert got == expected and issues[20]["id"] in got
    assert PylonConfig.parse(config).end == parse_time(f"{day}T23:59:59.999999Z")


def test_end_date_must_be_a_date_after_start_date():
    base = {"api_token": "t", "start_date": "2024-06-01"}
    for bad, phrase in (
        ("2024-05-31", "end_date must be after start_date"),
        ("2024-06-01T00:00:00Z", "end_date must be after start_date"),
        ("2024-02-30", "end_date"),
        ("31/12/2024", "end_date"),
    ):
        with pytest.raises(AirbyteTracedException) as raised:
            PylonConfig.parse({**base, "end_date": bad})
        assert raised.value.failure_type == FailureType.config_error and phrase in raised.value.message, bad
    assert PylonConfig.parse({**base, "end_date": "2024-06-01"}).end > PylonConfig.parse(base).start
