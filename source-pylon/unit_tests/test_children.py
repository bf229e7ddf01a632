"""issue_messages, issue_threads, issue_documents: issue_id stamping, shared fetches, only changed issues, crash safety."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import AirbyteStateMessage

from .conftest import make_config


def test_messages_are_stamped_with_their_issue_and_paginated(pylon, sync):
    """Pylon's messages carry no issue_id: without the stamp they cannot be joined to their issue."""
    server = pylon(size=12, messages_per_issue=5)
    result = sync(server, "issue_messages", config=make_config(server, page_size=2))

    messages = result.records("issue_messages")
    expected = {(m["id"], issue_id) for issue_id, ms in server.emulator.data.messages.items() for m in ms}
    assert {(m["id"], m["issue_id"]) for m in messages} == expected
    assert len(messages) == len(expected) == 60
    issues = {i["id"]: i["updated_at"] for i in server.emulator.data.issues}
    assert all(m["issue_updated_at"] == issues[m["issue_id"]] for m in messages)
    # 5 messages at 2 per page: 3 pages per issue, each asked with the page's cursor.
    calls = server.log.entries(family="issue_messages")
    assert len(calls) == 12 * 3
    assert all(c.query["limit"] == "2" for c in calls)
    assert sum("cursor" in c.query for c in calls) == 12 * 2


def test_threads_are_stamped_with_their_issue(pylon, sync):
    server = pylon(size=20, messages_per_issue=6)
    result = sync(server, "issue_threads")
    threads = result.records("issue_threads")
    expected = {t["id"]: issue_id for issue_id, ts in server.emulator.data.threads.items() for t in ts}
    assert threads and {t["id"]: t["issue_id"] for t in threads} == expected
    assert result.requests["issue_threads"] == 20


def test_issue_family_together_costs_one_search_pass_and_one_message_fetch_per_issue(pylon, sync):
    """issues + issue_messages + issue_documents must share the sync's searches and message pages."""
    server = pylon(size=25, messages_per_issue=3)
    alone = sync(server, "issues")
    together = sync(server, "issues", "issue_messages", "issue_documents")

    assert together.requests["issues_search"] == alone.requests["issues_search"]
    assert together.requests["issue_messages"] == 25
    # Documents join each lookup list once, whatever the number of issues.
    assert all(together.requests[kind] == 1 for kind in ("accounts", "contacts", "users", "teams"))
    assert len(together.records("issue_documents")) == 25


def test_children_fetch_only_for_issues_that_changed(pylon, sync):
    """Re-fetching every issue's messages each sync costs an hour per 1,200 issues at Pylon's 20/min."""
    server = pylon(size=30, messages_per_issue=2)
    streams = ("issues", "issue_messages", "issue_threads", "issue_documents")
    first = sync(server, *streams)
    assert first.requests["issue_messages"] == 30

    issues = server.emulator.data.issues
    server.emulator.add_message(issues[4]["id"], text="Any news?")
    server.emulator.update_issue(issues[9]["id"], state="closed")
    second = sync(server, *streams, state=first.final_state())

    assert second.requests["issue_messages"] == 2
    assert second.requests["issue_threads"] == 2
    assert {m["issue_id"] for m in second.records("issue_messages")} == {issues[4]["id"], issues[9]["id"]}
    assert len([m for m in second.records("issue_messages") if m["issue_id"] == issues[4]["id"]]) == 3
    docs = {d["id"]: d for d in second.records("issue_documents")}
    assert set(docs) == {issues[4]["id"], issues[9]["id"]}
    assert "Any news?" in docs[issues[4]["id"]]["messages"][-1]["message_html"]

    third = sync(server, *streams, state=second.final_state())
    assert third.requests["issue_messages"] == 0 and not third.records("issue_documents")


def test_each_child_stream_keeps_its_own_cursor(pylon, sync):
    """A child stream added later must backfill from start_date, not inherit the issues stream's cursor."""
    server = pylon(size=15, messages_per_issue=1)
    first = sync(server, "issues")
    second = sync(server, "issues", "issue_messages", state=first.final_state())
    assert not second.records("issues")
    assert len(second.records("issue_messages")) == 15


@pytest.mark.parametrize("stream", ["issues", "issue_messages"])
def test_rerun_from_any_emitted_state_loses_nothing(pylon, sync, stream):
    """A crash right after any STATE message, then a rerun from it, must still deliver every record."""
    server = pylon(size=40, messages_per_issue=2)
    config = make_config(server)
    full = sync(server, stream, config=config)
    everything = {m["id"] for m in full.records(stream)}
    assert len(everything) == (40 if stream == "issues" else 80)

    ordered = full.output.records_and_state_messages
    state_positions = [i for i, m in enumerate(ordered) if m.state and m.state.stream.stream_state.__dict__]
    for position in state_positions[:: max(1, len(state_positions) // 6)]:
        before_crash = {m.record.data["id"] for m in ordered[:position] if m.record}
        state: AirbyteStateMessage = ordered[position].state
        rerun = sync(server, stream, state=[state], config=config)
        assert before_crash | {m["id"] for m in rerun.records(stream)} == everything
