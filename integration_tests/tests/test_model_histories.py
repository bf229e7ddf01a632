"""Random histories of API changes and syncs, each sync checked against a model of what the destination must hold.

One Hypothesis `RuleBasedStateMachine` per flow (Pylon → Postgres, Pylon → Dust, Planhat → Dust) drives the
real connector processes (flows.runs.run_flow, or one Airbyte attempt through flows.pipeline.run_sync)
against the emulators and a real Postgres. The model is simple: what the emulators hold is the truth, and
the destination must hold exactly the part of it that the syncs so far had to bring (`scope`: the records
updated since start_date at the last first sync or refresh, plus everything changed since).

Rules: API changes (the machines' `change_*`/`add_*`/`delete_*` rules) and syncs: incremental, a truncate
refresh, a sync killed at a random line and resumed, an attempt killed then retried under the same
generation, a second complete sync under the same generation, a fault storm then a rerun, a permission
revoked for one sync, start_date changed, streams added later (pylon-to-postgres), a refresh from a start_date
347 days before the first issue (Pylon).

After every successful sync the destination is compared with the model, then a quiet rerun must change
nothing (rows equal; for Dust no upsert). After a failed one, nothing current may be gone. Pylon's syncs are
also checked for what they cost: no run searches more than one empty 30-day window per issue stream before
the first issue.

A check that fails because of a connector defect that is known and not fixed yet is listed in KNOWN_BUGS:
the machines note it (and keep exploring) and a named regression test replays the shortest history found,
marked xfail(strict=True), so the fix makes it fail until the entry is removed.

Budget: the default profile is derandomized and small (`PROFILES["ci"]`). The soak profile, random seeds
and long histories, prints what it ran:

    MODEL_HISTORIES_PROFILE=soak python -m pytest -q -s tests/test_model_histories.py -k history

(MODEL_HISTORIES_EXAMPLES and MODEL_HISTORIES_STEPS size it: histories per flow, steps per history;
MODEL_HISTORIES_VERBOSE=1 prints every step.) Not modelled: threads, contacts, teams, Dust tables (no flow
here writes one), deleting Planhat records, choosing an issue's updated_at (the emulator stamps "now"; the
seeded issues on 30-day window bounds and shared seconds move off them at their first change).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import Counter
from datetime import timedelta, timezone

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition

from emulators.fakedata import FakeData
from emulators.pylon.shapes import field_value, person_ref
from flows.connections import FLOWS
from flows.pipeline import SyncFailed

from .histories_kit import History, count_history, epoch_ms, iso, parse_iso, plain, play, squash, step

pytestmark = pytest.mark.slow

# check -> why it fails today. The machines note these and go on; the regression tests below fail on them.
KNOWN_BUGS: dict[str, str] = {}

PYLON_STATES = ["new", "waiting_on_you", "waiting_on_customer", "on_hold", "closed"]
PYLON_TAGS = ["billing", "urgent", "bug", "feature-request", "vip", "escalated"]
PRIORITIES = ["urgent", "high", "medium", "low"]
PLANHAT_PHASES = ["Onboarding", "Adoption", "Expansion", "Renewal", "At risk"]
PLANHAT_STATUSES = ["customer", "prospect", "canceled"]
PLANHAT_RELATED = ["conversations", "endusers", "nps", "projects", "assets"]
# A related record's field a change rewrites, and the fields its document section must show.
PLANHAT_EDITS = {
    "conversations": "subject",
    "endusers": "position",
    "nps": "comment",
    "projects": "name",
    "assets": "name",
}
PLANHAT_SHOWN = {
    "conversations": ("subject",),
    "endusers": ("email", "position"),
    "nps": ("comment",),
    "projects": ("name",),
    "assets": ("name", "serialNumber"),
}
picks = st.integers(min_value=0, max_value=10_000)  # an index into whatever list is current (shrinks to the first)
lines = st.integers(min_value=1, max_value=60)  # where a killed connector dies: after that many lines


class Problems(list):
    def add(self, check: str, detail: str) -> None:
        self.append((check, detail))


class FlowHistory(RuleBasedStateMachine):
    """What every flow shares: the sync rules, the model's bookkeeping, checks and quiet reruns."""

    FLOW = ""
    PREFIX = ""  # document ids of this flow in Dust
    FAULT_FAMILIES: tuple[tuple[str, str], ...] = ()  # (which emulator, route family) a fault storm may hit

    def __init__(self, pg_server_url: str | None = None, strict: bool = False) -> None:
        super().__init__()
        self.strict = strict  # regression tests: a known bug fails the check too
        self.h = History(self.FLOW, pg_server_url)
        self.scope: dict[str, set[str]] = {}  # stream -> ids the destination must hold (issues or companies)
        self.dirty: set[str] = set()  # changed since the last successful sync: the next one must bring them
        self.hand_deleted: set[str] = set()  # documents deleted in Dust by hand, not re-sent since
        self.start: str | None = None  # start_date in force (None: from the beginning)
        self.started = False
        self.changes = 0  # API changes so far
        self.known = Counter()
        self.counter = 0
        self.history_started = time.monotonic()
        self.syncs = 0
        self.steps = 0
        self.in_step = False  # see histories_kit.step
        self.recent_steps: list[str] = []

    def teardown(self) -> None:
        """A history ends with a sync, so that the changes of its last steps are checked too (unless it
        already failed: Hypothesis calls teardown on the way out of a failing step)."""
        try:
            if self.started and sys.exc_info()[0] is None:
                self.sync_and_check()
        finally:
            self.h.close()
            count_history(self.FLOW, self.steps, self.syncs)

    # -- what subclasses say about their flow ------------------------------------------------

    def scope_from_start(self) -> set[str]:
        raise NotImplementedError

    def start_for(self, choice: str) -> str | None:
        """Between two seeded records' times (never on one: bounds are a tie-breaking question of their own)."""
        if choice == "beginning":
            return None
        k = len(self.seed_times) // 2 if choice == "median" else (3 * len(self.seed_times)) // 4
        lo, hi = self.seed_times[k - 1], self.seed_times[k]
        return iso(lo + (hi - lo) / 2)

    def destination_problems(self, resent: set[str]) -> Problems:
        raise NotImplementedError

    def snapshot(self):
        """Everything a quiet rerun must leave as it is."""
        raise NotImplementedError

    def lost(self, before) -> list[str]:
        """What the destination held before a failed sync, still current, and is gone now."""
        raise NotImplementedError

    def touch_something(self) -> None:
        """One small API change (between two passes of one generation)."""
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------------

    def changed(self, record_id: str) -> None:
        """An API change to this issue or company: the next successful sync must bring it."""
        self.dirty.add(record_id)
        self.changes += 1

    def marker(self, what: str) -> str:
        self.counter += 1
        return f"{what} {self.counter} {uuid.uuid4().hex[:6]}"

    def expect(self, problems: Problems, when: str) -> None:
        failing = []
        for check, detail in problems:
            if check in KNOWN_BUGS and not self.strict:
                self.known[check] += 1
                event(f"known bug: {check}")
                continue
            failing.append(f"[{check}] {detail}")
        assert not failing, f"{self.FLOW}, {when}:\n  " + "\n  ".join(failing[:12])

    def pending_refresh(self) -> bool:
        return self.h.store.load()["refresh"] is not None

    def _succeeded(self, refresh: bool, quiet: bool = True) -> None:
        """The model after a successful sync, its check, then a quiet rerun and its check."""
        self.syncs += 1
        resent = set(self.dirty)
        for stream in self.h.streams:
            if refresh or stream not in self.scope:
                self.scope[stream] = self.scope_from_start() | self.dirty
                resent |= self.scope[stream]
            else:
                self.scope[stream] |= self.dirty
        self.hand_deleted -= resent
        self.dirty.clear()
        self.started = True
        self.expect(self.destination_problems(resent), "after a sync")
        if quiet:
            self.quiet_rerun()

    def quiet_rerun(self) -> None:
        before = self.snapshot()
        self.h.sync()
        self.syncs += 1
        after = self.snapshot()
        problems = Problems()
        if after != before:
            problems.add("quiet-rerun", f"a sync with no API change changed the destination: {diff(before, after)}")
        self.expect(problems, "after a quiet rerun")
        self.expect(self.destination_problems(set()), "after a quiet rerun")

    def _failed(self, before) -> None:
        self.syncs += 1
        gone = self.lost(before)
        problems = Problems()
        if gone:
            problems.add("failed-sync-lost-data", f"a failed sync removed current data: {gone[:5]}")
        self.expect(problems, "after a failed sync")

    def sync_and_check(self, refresh: bool = False, quiet: bool = True, may_fail: bool = False, **connectors) -> bool:
        """run_flow once (a pending refresh is resumed: then it is a refresh too); True if it succeeded."""
        as_refresh = refresh or self.pending_refresh()
        before = self.snapshot()
        try:
            self.h.sync(refresh=refresh, **connectors)
        except SyncFailed:
            if not may_fail:
                raise
            self._failed(before)
            return False
        self._succeeded(as_refresh, quiet=quiet)
        return True

    # -- the syncs ------------------------------------------------------------------------------

    def first_sync(self, start: str) -> None:
        self.start = self.start_for(start)
        self.h.set_start_date(self.start)
        self.sync_and_check()

    @precondition(lambda self: self.started)
    @step()
    def incremental_sync(self) -> None:
        self.sync_and_check()

    @precondition(lambda self: self.started)
    @step()
    def truncate_refresh(self) -> None:
        """--reset: a new generation whose minimum is itself; what the refresh did not bring goes."""
        self.sync_and_check(refresh=True)

    @precondition(lambda self: self.started)
    @step(side=st.sampled_from(["source", "destination"]), after=lines, refresh=st.booleans())
    def killed_then_resumed(self, side: str, after: int, refresh: bool) -> None:
        """SIGKILL at a random line, then the next run resumes from the states the destination committed."""
        killer = self.h.killer(side, after)
        if self.sync_and_check(refresh=refresh, may_fail=True, **{side: killer}):
            return
        self.sync_and_check()

    @precondition(lambda self: self.started)
    @step(side=st.sampled_from(["source", "destination"]), after=lines, refresh=st.booleans())
    def attempt_killed_then_retried_same_generation(self, side: str, after: int, refresh: bool) -> None:
        """Airbyte's retry: attempt 2 runs under attempt 1's generation, from the states attempt 1 committed."""
        saved = self.h.store.load()
        generation = saved["generation"] + 1
        state = [] if refresh else saved["state"]
        before = self.snapshot()
        try:
            self.h.attempt(generation, refresh, state, **{side: self.h.killer(side, after)})
        except SyncFailed:
            self._failed(before)
        else:
            self._succeeded(refresh)
            return
        self.h.attempt(generation, refresh, self.h.store.load()["state"])
        self._succeeded(refresh)

    @precondition(lambda self: self.started)
    @step(as_refresh=st.booleans(), change_between=st.booleans())
    def second_sync_same_generation(self, as_refresh: bool, change_between: bool) -> None:
        """Two complete syncs under one generation (PyAirbyte sends generation = minimum = 1 every time):
        what the first wrote is current for the second, which must not prune it."""
        saved = self.h.store.load()
        generation = saved["generation"] + 1
        self.h.attempt(generation, as_refresh, [] if as_refresh else saved["state"])
        self._succeeded(as_refresh, quiet=False)
        if change_between:
            self.touch_something()
        self.h.attempt(generation, as_refresh, self.h.store.load()["state"])
        self._succeeded(False)

    @precondition(lambda self: self.started)
    @step(data=st.data(), calls_before=st.integers(min_value=0, max_value=6), refresh=st.booleans())
    def fault_storm_then_rerun(self, data, calls_before: int, refresh: bool) -> None:
        """Transient faults (absorbed by retries) then one the clients must not retry, after a few good
        calls: the sync fails part-way (or ends first); the rerun must end as if nothing had happened."""
        which, family = data.draw(st.sampled_from(self.FAULT_FAMILIES), label="family")
        server = getattr(self.h, which)
        transient = data.draw(st.sampled_from(["reset", "truncated", "malformed"] if which != "dust" else ["reset"]))
        if calls_before:
            server.faults.add("slow", family=family, times=calls_before, delay=0)  # a real answer, counted
        server.faults.add("status", family=family, times=1, status=503)
        server.faults.add(transient, family=family, times=1)
        server.faults.add("status", family=family, times=1, status=400)
        try:
            self.sync_and_check(refresh=refresh, may_fail=True, quiet=False)
        finally:
            server.faults.clear()
        self.sync_and_check()

    @precondition(lambda self: self.started)
    @step(choice=st.sampled_from(["beginning", "median", "late"]))
    def change_start_date(self, choice: str) -> None:
        """Takes effect from the next sync: an incremental one goes on from its cursor, a refresh from here."""
        self.start = self.start_for(choice)
        self.h.set_start_date(self.start)

    # -- Dust ---------------------------------------------------------------------------------

    def dust_snapshot(self):
        return {"documents": self.h.documents(), "upserts": self.h.upserts()}

    def dust_lost(self, before) -> list[str]:
        after = self.h.documents()
        return sorted(set(before["documents"]) - set(after) - {self.PREFIX + i for i in self.hand_deleted})

    def dust_presence(self, problems: Problems, stream: str) -> tuple[dict[str, dict], set[str]]:
        """Documents of this flow by record id; the ids whose content is to be compared."""
        docs = {i[len(self.PREFIX) :]: d for i, d in self.h.documents().items() if i.startswith(self.PREFIX)}
        scope = self.scope.get(stream, set())
        missing = scope - self.hand_deleted - set(docs)
        if missing:
            problems.add("document-missing", f"{len(missing)} records without their document: {sorted(missing)[:5]}")
        return docs, set(docs) & scope

    @precondition(lambda self: self.started and self.h.dust is not None)
    @step(pick=picks)
    def delete_document_by_hand(self, pick: int) -> None:
        """Someone deletes a document in Dust. Only a change of its record (or a refresh) brings it back."""
        present = sorted(i for i in self.h.documents() if i.startswith(self.PREFIX))
        if not present:
            return
        document_id = present[pick % len(present)]
        self.h.delete_document(document_id)
        self.hand_deleted.add(document_id[len(self.PREFIX) :])


def diff(before, after) -> str:
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        return "; ".join(f"{k}: {diff(before.get(k), after.get(k))}" for k in keys[:4])
    return f"{str(before)[:300]} -> {str(after)[:300]}"


# -- Pylon --------------------------------------------------------------------------------------


class PylonHistory(FlowHistory):
    """The Pylon API changes both Pylon flows share."""

    ISSUE_STREAMS = ("issues", "issue_messages", "issue_documents")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seed_times = sorted({parse_iso(i["updated_at"]) for i in self.h.pylon_issues().values()})
        self.searches_seen = 0  # issue searches already checked by window_problems

    def _succeeded(self, refresh: bool, quiet: bool = True) -> None:
        self.expect(self.window_problems(), "after a sync")
        super()._succeeded(refresh, quiet)

    def window_problems(self) -> Problems:
        """Issue 12's defect 4: the window searches of each run since the last check that ended before the first
        issue updated since start_date. The source's windows start near that issue: at most one empty window
        per issue stream (each starts from its own cursor; the soak found `issues` and `issue_messages` one
        window apart after a kill). Probes (limit 1) are not windows."""
        self.searches_seen, runs = self.h.pylon_search_runs(self.searches_seen)
        start = parse_iso(self.start)
        times = [parse_iso(i["updated_at"]) for i in self.h.pylon_issues().values()]
        first = min((t for t in times if t and (not start or t >= start)), default=None)
        allowed = max(1, len(set(self.ISSUE_STREAMS) & set(self.h.streams)))
        problems = Problems()
        for searches in runs if first else []:
            empty = []
            for body in searches:
                bounds = {f.get("operator"): f.get("value") for f in body.get("filter", {}).get("subfilters", [])}
                before = parse_iso(bounds.get("time_is_before"))
                if body.get("limit") != 1 and before is not None and before < first:
                    empty.append(bounds.get("time_is_after"))
            if len(empty) > allowed:
                problems.add(
                    "empty-windows",
                    f"{len(empty)} windows searched before the first issue ({iso(first)}) by {allowed} issue "
                    f"streams: {empty}",
                )
        return problems

    @precondition(lambda self: self.started)
    @step()
    def refresh_from_long_before_the_first_issue(self) -> None:
        """start_date 347 days before the first issue (issue 12's figure), then a refresh reads from there."""
        self.start = iso(self.seed_times[0] - timedelta(days=347))
        self.h.set_start_date(self.start)
        self.sync_and_check(refresh=True)

    @property
    def emulator(self):
        return self.h.pylon.emulator

    def scope_from_start(self) -> set[str]:
        start = parse_iso(self.start)
        return {i for i, issue in self.h.pylon_issues().items() if not start or parse_iso(issue["updated_at"]) >= start}

    def issue_id(self, pick: int) -> str:
        ids = sorted(self.h.pylon_issues())
        return ids[pick % len(ids)]

    def touch_something(self) -> None:
        self.add_message(0, "contact")

    @step(pick=picks, word=st.sampled_from(["Refund", "Login", "Export", "Invoice"]))
    def retitle_issue(self, pick: int, word: str) -> None:
        issue_id = self.issue_id(pick)
        self.emulator.update_issue(issue_id, title=self.marker(f"{word} fails"))
        self.changed(issue_id)

    @step(pick=picks, state=st.sampled_from(PYLON_STATES))
    def change_issue_state(self, pick: int, state: str) -> None:
        """Close (resolution time set), reopen, put on hold..."""
        issue_id = self.issue_id(pick)
        self.emulator.update_issue(issue_id, state=state)
        self.changed(issue_id)

    @step(pick=picks, author=st.sampled_from(["contact", "user", "internal"]))
    def add_message(self, pick: int, author: str) -> None:
        """A customer message, a team reply (the first one sets the first response) or an internal note."""
        issue_id = self.issue_id(pick)
        text = self.marker(f"{author} says")
        issue = self.h.pylon_issues()[issue_id]
        users = self.h.pylon_list("users")
        assignee = (issue.get("assignee") or {}).get("id")
        if author == "internal":
            self._internal_note(issue_id, text, users.get(assignee) or next(iter(users.values())))
        else:
            if author == "user" and assignee and assignee not in users:
                author = "contact"  # the assignee was deactivated: the emulator has no one to write as
            self.emulator.add_message(issue_id, text=text, author=author)
        self.changed(issue_id)

    def _internal_note(self, issue_id: str, text: str, user: dict) -> None:
        emulator = self.emulator
        with emulator.lock:
            issue = next(i for i in emulator.data.issues if i["id"] == issue_id)
            stamp = FakeData.iso(emulator._tick())
            note = {
                "id": str(uuid.uuid4()),
                "timestamp": stamp,
                "message_html": f"<p>{text}</p>",
                "is_private": True,
                "source": issue["source"],
                "thread_id": None,
                "file_urls": [],
                "author": {
                    "name": user["name"],
                    "avatar_url": user["avatar_url"],
                    "contact": None,
                    "user": person_ref(user),
                },
                "email_info": None,
                "_created_at": stamp,
            }
            emulator.data.messages[issue_id] = [*emulator.data.messages[issue_id], note]
            issue["updated_at"] = stamp  # an internal note is activity, not a response to the customer

    @step()
    def add_blank_issue(self) -> None:
        """No account, no assignee, no message. (Also the one cheap rule without arguments: Hypothesis's first,
        simplest history repeats it rather than a sync.)"""
        self.changed(self.emulator.add_issue(body_html=f"<p>{self.marker('new issue')}</p>")["id"])

    @step(account=picks, user=picks)
    def add_issue(self, account: int, user: int) -> None:
        accounts = sorted(self.h.pylon_list("accounts"))
        users = self.h.pylon_list("users")
        assignee = users[sorted(users)[user % len(users)]]
        created = self.emulator.add_issue(
            body_html=f"<p>{self.marker('new issue')}</p>",
            account={"id": accounts[account % len(accounts)]},
            assignee=person_ref(assignee),
        )
        self.changed(created["id"])

    @step(pick=picks, tags=st.lists(st.sampled_from(PYLON_TAGS), max_size=3, unique=True))
    def retag_issue(self, pick: int, tags: list[str]) -> None:
        issue_id = self.issue_id(pick)
        self.emulator.update_issue(issue_id, tags=tags)
        self.changed(issue_id)

    @step(pick=picks, priority=st.sampled_from(PRIORITIES))
    def set_priority(self, pick: int, priority: str) -> None:
        """A custom field edit."""
        issue_id = self.issue_id(pick)
        fields = dict(self.h.pylon_issues()[issue_id].get("custom_fields") or {})
        fields["priority"] = field_value("priority", "select", priority)
        self.emulator.update_issue(issue_id, custom_fields=fields)
        self.changed(issue_id)

    @step(pick=picks, user=picks)
    def reassign_issue(self, pick: int, user: int) -> None:
        issue_id = self.issue_id(pick)
        users = self.h.pylon_list("users")
        self.emulator.update_issue(issue_id, assignee=person_ref(users[sorted(users)[user % len(users)]]))
        self.changed(issue_id)

    @step(pick=picks, account=picks)
    def move_issue_to_account(self, pick: int, account: int) -> None:
        issue_id = self.issue_id(pick)
        accounts = sorted(self.h.pylon_list("accounts"))
        self.emulator.update_issue(issue_id, account={"id": accounts[account % len(accounts)]})
        self.changed(issue_id)

    @precondition(lambda self: len(self.emulator.data.accounts) > 1)
    @step(account=picks)
    def delete_account(self, account: int) -> None:
        """The account goes from /accounts; issues keep pointing at it (the dashboard keeps the attribution)."""
        with self.emulator.lock:
            accounts = self.emulator.data.accounts
            gone = sorted(a["id"] for a in accounts)[account % len(accounts)]
            self.emulator.data.accounts = [a for a in accounts if a["id"] != gone]

    @precondition(lambda self: len(self.emulator.data.users) > 2)
    @step(user=picks)
    def deactivate_user(self, user: int) -> None:
        """The user goes from /users; issues keep their assignee."""
        with self.emulator.lock:
            users = self.emulator.data.users
            gone = sorted(u["id"] for u in users)[user % len(users)]
            self.emulator.data.users = [u for u in users if u["id"] != gone]

    @precondition(lambda self: self.started)
    @step()
    def sync_with_a_permission_revoked(self) -> None:
        """A token that lost access to messages: the sync must fail (never succeed without the messages),
        and remove nothing; once access is back the next sync catches up."""
        family = "issue_messages" if {"issue_messages", "issue_documents"} & set(self.h.streams) else "users"
        if family == "issue_messages":
            self.touch_something()  # messages are fetched only for changed issues: one must need them
        self.emulator.forbidden = {family}
        try:
            succeeded = self.sync_and_check(may_fail=True, quiet=False)
        finally:
            self.emulator.forbidden = set()
        problems = Problems()
        if succeeded:
            problems.add("403-not-failed", f"a sync succeeded without permission on {family}")
        self.expect(problems, "after a 403")


class PylonToPostgres(PylonHistory):
    FLOW = "pylon-to-postgres"
    FAULT_FAMILIES = (
        ("pylon", "issues_search"),
        ("pylon", "issue_messages"),
        ("pylon", "accounts"),
        ("pylon", "users"),
    )
    SUBSETS = {
        "all": list(FLOWS["pylon-to-postgres"].streams),
        "no-lists": ["issues", "issue_messages"],  # accounts and users added later: placeholders first
        "no-messages": ["issues", "accounts", "users"],  # messages added later: read from start_date
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ever = {"accounts": set(self.h.pylon_list("accounts")), "users": set(self.h.pylon_list("users"))}

    @initialize(start=st.sampled_from(["beginning", "median"]), streams=st.sampled_from(sorted(SUBSETS)))
    def first(self, start: str, streams: str) -> None:
        self.h.streams = list(self.SUBSETS[streams])
        self.first_sync(start)

    @precondition(lambda self: self.started and len(self.h.streams) < 4)
    @step()
    def add_the_other_streams(self) -> None:
        """A stream added to the connection later: read from start_date, the others go on from their cursors."""
        self.h.streams = list(self.SUBSETS["all"])
        self.sync_and_check()

    def snapshot(self):
        return self.h.rows()

    def lost(self, before) -> list[str]:
        after = self.h.rows()
        issues = self.h.pylon_issues()
        gone = [f"issue {i}" for i in set(before["issues"]) - set(after["issues"]) if i in issues]
        return gone + [f"message {m}" for m in set(before["messages"]) - set(after["messages"])]

    def destination_problems(self, resent: set[str]) -> Problems:
        problems = Problems()
        rows = self.h.rows()
        issues = self.h.pylon_issues()
        scope_issues = self.scope.get("issues", set())
        got = set(rows["issues"])
        if got != scope_issues:
            problems.add(
                "issue-rows",
                f"missing {sorted(scope_issues - got)[:5]}, unexpected {sorted(got - scope_issues)[:5]}",
            )
        for issue_id in got & scope_issues:
            self.issue_row_problems(problems, rows["issues"][issue_id], issues[issue_id], rows)
        self.message_problems(problems, rows, issues)
        for table, ref in (("accounts", "account_id"), ("users", "assignee_id")):
            self.parent_problems(problems, rows, table, ref)
        self.business_hours_problems(problems)
        self.sync_log_problems(problems, rows)
        return problems

    def issue_row_problems(self, problems: Problems, row: dict, issue: dict, rows) -> None:
        priority = ((issue.get("custom_fields") or {}).get("priority") or {}).get("value")
        expected = {
            "title": issue["title"],
            "state": issue["state"],
            "updated_at": parse_iso(issue["updated_at"]),
            "account_id": (issue.get("account") or {}).get("id"),
            "assignee_id": (issue.get("assignee") or {}).get("id"),
            "tags": sorted(issue.get("tags") or []),
            "priority": priority,
            "closed_at": parse_iso(issue["resolution_time"]) if issue["state"] == "closed" else None,
        }
        actual = dict(row, tags=sorted(row["tags"] or []))
        for ts in ("updated_at", "closed_at"):
            if actual[ts] is not None:
                actual[ts] = actual[ts].replace(tzinfo=timezone.utc)
        wrong = {k: (actual.get(k), v) for k, v in expected.items() if actual.get(k) != v}
        if wrong:
            problems.add("issue-fields", f"issue {issue['id']}: (row, API) {wrong}")
        first = parse_iso(issue.get("first_response_time"))
        if first is None and "issue_messages" in self.scope:
            team = [
                parse_iso(m["timestamp"])
                for m in self.h.pylon_messages(issue["id"])
                if (m.get("author") or {}).get("user") and m["id"] in rows["messages"]
            ]
            first = min(team, default=None)
        got = row["first_response_at"].replace(tzinfo=timezone.utc) if row["first_response_at"] else None
        if got != first:
            problems.add("first-response", f"issue {issue['id']}: first_response_at {got}, expected {first}")

    def message_problems(self, problems: Problems, rows, issues) -> None:
        in_messages = self.scope.get("issue_messages", set())
        landed = in_messages & set(rows["issues"])
        expected = {m["id"]: (i, m) for i in landed if i in issues for m in self.h.pylon_messages(i)}
        waiting = {m["id"] for i in in_messages - set(rows["issues"]) if i in issues for m in self.h.pylon_messages(i)}
        got = set(rows["messages"])
        if got != set(expected):
            problems.add(
                "message-rows",
                f"missing {sorted(set(expected) - got)[:5]}, unexpected {sorted(got - set(expected))[:5]}",
            )
        for message_id in got & set(expected):
            issue_id, message = expected[message_id]
            row = rows["messages"][message_id]
            if row["issue_id"] != issue_id or bool(row["is_private"]) != bool(message.get("is_private")):
                problems.add("message-fields", f"message {message_id}: {row['issue_id']}/{row['is_private']}")
        pending = {r[0] for r in self.h.query('SELECT id FROM "_support_pending_messages"')}
        if pending != waiting:
            problems.add("pending-messages", f"waiting {sorted(pending)[:5]}, expected {sorted(waiting)[:5]}")

    def parent_problems(self, problems: Problems, rows, table: str, ref: str) -> None:
        """Every parent an issue row points at exists; with the list synced: the list, plus what issues still
        point at (a deleted account, a deactivated user), and nothing else."""
        listed = self.h.pylon_list(table)
        referenced = {r[ref] for r in rows["issues"].values() if r[ref]}
        got = set(rows[table])
        self.ever[table] |= set(listed) | referenced
        if referenced - got:
            problems.add("foreign-keys", f"{table} missing for issues: {sorted(referenced - got)[:5]}")
        if table in self.h.streams:
            expected = set(listed) | referenced
            if got != expected:
                problems.add(
                    f"{table}-rows",
                    f"missing {sorted(expected - got)[:5]}, unexpected {sorted(got - expected)[:5]}",
                )
            wrong = [i for i in got & set(listed) if rows[table][i]["name"] != listed[i]["name"]]
            if wrong:
                problems.add(f"{table}-names", f"{table} whose name is not the API's: {wrong[:5]}")
        elif got - self.ever[table]:
            problems.add(f"{table}-rows", f"unknown {table}: {sorted(got - self.ever[table])[:5]}")

    def business_hours_problems(self, problems: Problems) -> None:
        wrong = self.h.query(
            """SELECT id FROM issues WHERE
               abs(coalesce(first_response_hours, -1)
                   - coalesce(business_hours_between(created_at, first_response_at), -1)) > 1e-6
               OR abs(coalesce(resolution_hours, -1)
                   - coalesce(CASE WHEN closed_at IS NOT NULL THEN business_hours_between(created_at, closed_at) END, -1)) > 1e-6"""
        )
        if wrong:
            problems.add("business-hours", f"hours not those of their timestamps: {[w[0] for w in wrong][:5]}")

    def sync_log_problems(self, problems: Problems, rows) -> None:
        latest = self.h.query(
            "SELECT status, last_issue_updated_at, errors FROM sync_log ORDER BY started_at DESC LIMIT 1"
        )
        if not latest or latest[0][0] != "completed":
            problems.add("sync-log", f"latest sync_log row: {latest}")
            return
        watermark = latest[0][1] and latest[0][1].replace(tzinfo=timezone.utc)
        newest = max((r["updated_at"].replace(tzinfo=timezone.utc) for r in rows["issues"].values()), default=None)
        if watermark != newest:  # the newest issue the dashboard holds, whatever attempt wrote it
            problems.add("sync-log-watermark", f"watermark {watermark}, newest issue written {newest}")


class PylonToDust(PylonHistory):
    FLOW = "pylon-to-dust"
    PREFIX = "pylon-issue-"
    FAULT_FAMILIES = (
        ("pylon", "issues_search"),
        ("pylon", "issue_messages"),
        ("pylon", "accounts"),
        ("dust", "upserts"),
    )

    @initialize(start=st.sampled_from(["beginning", "median"]))
    def first(self, start: str) -> None:
        self.first_sync(start)

    def snapshot(self):
        return self.dust_snapshot()

    def lost(self, before) -> list[str]:
        return self.dust_lost(before)

    def destination_problems(self, resent: set[str]) -> Problems:
        problems = Problems()
        docs, compare = self.dust_presence(problems, "issue_documents")
        extra = set(docs) - self.scope.get("issue_documents", set())
        if extra:
            problems.add("document-extra", f"documents of issues no sync had to bring: {sorted(extra)[:5]}")
        issues = self.h.pylon_issues()
        accounts = self.h.pylon_list("accounts")
        for issue_id in sorted(compare):
            issue, doc = issues[issue_id], docs[issue_id]
            if doc["timestamp"] != epoch_ms(issue["updated_at"]) or not doc["title"].startswith(
                f"Pylon Issue {issue['number']}: {issue['title'] or ''}"
            ):
                problems.add("document-stale", f"issue {issue_id}: {doc['title']!r} @ {doc['timestamp']}")
            text = squash(doc["text"])
            missing = [m["id"] for m in self.h.pylon_messages(issue_id) if plain(m["message_html"]) not in text]
            if missing:
                problems.add("document-messages", f"issue {issue_id}: messages not in its text: {missing[:3]}")
            priority = ((issue.get("custom_fields") or {}).get("priority") or {}).get("value")
            expected = {f"state:{issue['state']}", f"type:{issue['type'].lower()}"}
            expected |= {f"tag:{t}" for t in issue.get("tags") or []}
            expected |= {f"priority:{priority}"} if priority else set()
            account = accounts.get((issue.get("account") or {}).get("id"))
            expected |= {f"account:{account['name']}"} if account else set()
            shown = {t for t in doc["tags"] if t.split(":")[0] in ("state", "type", "tag", "priority", "account")}
            if not account:
                shown = {t for t in shown if not t.startswith("account:")}
            if shown != expected:
                problems.add("document-tags", f"issue {issue_id}: tags {sorted(shown)}, expected {sorted(expected)}")
        return problems


# -- Planhat ------------------------------------------------------------------------------------


class PlanhatToDust(FlowHistory):
    FLOW = "planhat-to-dust"
    PREFIX = "planhat-company-"
    FAULT_FAMILIES = (("planhat", "companies"), ("planhat", "conversations"), ("planhat", "nps"), ("dust", "upserts"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seed_times = sorted({parse_iso(self.h.planhat_newest(c)) for c in self.h.planhat_companies()})
        self.degraded: dict[str, set[str]] = {}  # company -> related models its document was last built without

    @property
    def emulator(self):
        return self.h.planhat.emulator

    @initialize(start=st.sampled_from(["beginning", "median"]))
    def first(self, start: str) -> None:
        self.first_sync(start)

    def scope_from_start(self) -> set[str]:
        start = parse_iso(self.start)
        return {c for c in self.h.planhat_companies() if not start or parse_iso(self.h.planhat_newest(c)) >= start}

    def company_id(self, pick: int) -> str:
        ids = sorted(self.h.planhat_companies())
        return ids[pick % len(ids)]

    def touch_something(self) -> None:
        self.add_related("conversations", 0)

    def snapshot(self):
        return self.dust_snapshot()

    def lost(self, before) -> list[str]:
        return self.dust_lost(before)

    # -- API changes --------------------------------------------------------------------------

    @step(pick=picks, phase=st.sampled_from(PLANHAT_PHASES), status=st.sampled_from(PLANHAT_STATUSES))
    def update_company(self, pick: int, phase: str, status: str) -> None:
        company_id = self.company_id(pick)
        self.emulator.update("companies", company_id, phase=phase, status=status, h=1 + pick % 10)
        self.changed(company_id)

    @step()
    def add_company(self) -> None:
        self.changed(self.emulator.add("companies", name=self.marker("Company"))["_id"])

    @step(model=st.sampled_from(PLANHAT_RELATED), pick=picks)
    def add_related(self, model: str, pick: int) -> None:
        """A new conversation, enduser, NPS response, project or asset of one company."""
        company_id = self.company_id(pick)
        self.emulator.add(model, company_id, **{PLANHAT_EDITS[model]: self.marker(model)})
        self.changed(company_id)

    @step(model=st.sampled_from(PLANHAT_RELATED), pick=picks)
    def change_related(self, model: str, pick: int) -> None:
        with self.emulator.lock:
            records = sorted(self.emulator.data.models[model], key=lambda r: r["_id"])
            if not records:
                return
            record = records[pick % len(records)]
        self.emulator.update(model, record["_id"], **{PLANHAT_EDITS[model]: self.marker(model)})
        self.changed(record.get("cId" if model == "nps" else "companyId"))

    @precondition(lambda self: self.started)
    @step(model=st.sampled_from(["conversations", "nps", "assets"]))
    def sync_with_a_permission_revoked(self, model: str) -> None:
        """A service account without read access to one related model: the sync succeeds (a warning), and
        documents re-sent meanwhile lack that section; once access is back, documents must be whole again."""
        before = self.h.documents()
        self.emulator.configure(forbidden={model})
        try:
            self.sync_and_check(quiet=False)
        finally:
            self.emulator.configure(forbidden=set())
        for document_id, doc in self.h.documents().items():
            if document_id.startswith(self.PREFIX) and doc["upserts"] != before.get(document_id, {}).get("upserts"):
                self.degraded.setdefault(document_id[len(self.PREFIX) :], set()).add(model)

    # -- the model ----------------------------------------------------------------------------

    def _succeeded(self, refresh: bool, quiet: bool = True) -> None:
        forbidden = set(self.emulator.forbidden)
        if not forbidden:  # documents re-sent now are whole; the checks below say if the others are
            self.degraded = {c: m for c, m in self.degraded.items() if c not in self.dirty and not refresh}
        super()._succeeded(refresh, quiet)

    def destination_problems(self, resent: set[str]) -> Problems:
        problems = Problems()
        docs, compare = self.dust_presence(problems, "company_documents")
        scope = self.scope.get("company_documents", set())
        start = parse_iso(self.start)
        for company_id in sorted(set(docs) - scope):
            newest = self.h.planhat_newest(company_id)
            if start and parse_iso(newest) < start:
                problems.add(
                    "planhat-start-date",
                    f"company {company_id}: a document though it and its related records were last updated "
                    f"{newest}, before start_date {self.start}",
                )
                scope.add(company_id)  # what the destination now holds, for the rest of the history
                compare.add(company_id)
            else:
                problems.add("document-extra", f"company {company_id}: a document no sync had to bring")
        companies = self.h.planhat_companies()
        forbidden = set(self.emulator.forbidden)
        for company_id in sorted(compare):
            company, doc = companies[company_id], docs[company_id]
            skip = frozenset(forbidden | self.degraded.get(company_id, set()))
            check = "document-after-permission-restored" if skip - forbidden else "document-stale"
            # A document rebuilt now (a degraded one must be) is built without what is forbidden now.
            newest = self.h.planhat_newest(company_id, skip=frozenset(forbidden))
            if doc["title"] != company["name"]:
                problems.add("document-stale", f"company {company_id}: title {doc['title']!r}")
            if skip and not (skip - forbidden):
                continue  # built while the section's model was forbidden: nothing more to compare
            if doc["timestamp"] != epoch_ms(newest):
                problems.add(check, f"company {company_id}: timestamp {doc['timestamp']}, newest part {newest}")
            text = squash(doc["text"])
            for model, records in self.h.planhat_children(company_id).items():
                for record in records if model not in forbidden else ():
                    absent = [f for f in PLANHAT_SHOWN[model] if record.get(f) and squash(str(record[f])) not in text]
                    if absent:
                        problems.add(check, f"company {company_id}: {model} {record['_id']} {absent} not in its text")
            expected = {f"status:{company['status']}", f"health:{company['h']}", f"phase:{company['phase']}"}
            shown = {t for t in doc["tags"] if t.split(":")[0] in ("status", "health", "phase")}
            if shown != expected:
                problems.add(
                    "document-tags", f"company {company_id}: tags {sorted(shown)}, expected {sorted(expected)}"
                )
        return problems


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("machine", [PylonToPostgres, PylonToDust, PlanhatToDust], ids=lambda m: m.FLOW)
def test_history(machine, pg_server_url):
    play(machine.FLOW, lambda: machine(pg_server_url))


# -- the histories that found a defect, replayed as they were shrunk (strict: a known bug fails them) ---------


def replay(machine, pg_server_url: str, steps: list[tuple[str, dict]]) -> None:
    history = machine(pg_server_url, strict=True)
    try:
        for name, arguments in steps:
            getattr(history, name)(**arguments)
    finally:
        history.teardown()


def test_planhat_first_sync_with_a_start_date_sends_only_what_changed_since(pg_server_url):
    """Issue 12's defect 2 (company_documents ignored start_date on a first sync), found by the planhat-to-dust
    machine at step 1 of its second history (check `planhat-start-date`); fixed in ac3c15a."""
    replay(PlanhatToDust, pg_server_url, [("first", {"start": "median"})])


def test_planhat_documents_built_without_a_forbidden_model_are_rebuilt_once_it_is_readable(pg_server_url):
    """Found by the planhat-to-dust machine (step 5 of its first history, once Planhat's quota ran scaled): a
    company changed while conversations answered 403 got a document without them, and no later sync rebuilt
    it, as nothing of it changed again (check `document-after-permission-restored`)."""
    replay(
        PlanhatToDust,
        pg_server_url,
        [
            ("first", {"start": "beginning"}),
            ("change_related", {"model": "endusers", "pick": 0}),
            ("sync_with_a_permission_revoked", {"model": "conversations"}),
            ("incremental_sync", {}),
        ],
    )


def test_pylon_windows_start_near_the_first_issue_after_a_long_empty_start(pg_server_url):
    """Issue 12's defect 4, found by the pylon-to-postgres machine with source-pylon at 8a9e1b5^ at step 3 of its
    first history and shrunk to these two (check `empty-windows`: 11 windows searched before the first issue)."""
    replay(
        PylonToPostgres,
        pg_server_url,
        [("first", {"start": "beginning", "streams": "all"}), ("refresh_from_long_before_the_first_issue", {})],
    )


def test_pylon_a_deleted_account_keeps_its_issues_attributed(pg_server_url):
    """The placeholder case (issue 12's defect 1, fixed under issue 15): accounts is a refreshed list, so the sync
    after an account left it prunes the account; one that issues still point to must stay, or their account_id
    goes NULL (check `issue-fields`). With that rule taken out of today's destination, the pylon-to-postgres soak
    found it at step 6 of its 3rd history (84 steps) and shrank it to 6; these 3 fail there too."""
    replay(
        PylonToPostgres,
        pg_server_url,
        [
            ("first", {"start": "beginning", "streams": "all"}),
            ("delete_account", {"account": 0}),
            ("incremental_sync", {}),
        ],
    )
