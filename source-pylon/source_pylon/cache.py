"""The per-sync cache: one issue-search pass, one message fetch per changed issue, one fetch per lookup list.

Streams of the issue family (issues, issue_messages, issue_threads, issue_documents) read issues
through it, so selecting several of them costs no extra search; issue_messages and issue_documents
share message fetches; issue_documents joins accounts/contacts/users/teams fetched once (and shared
with those streams when selected). Records live in a temporary SQLite file, not in memory, so a
backfill of 100k issues and millions of messages stays small; the file is deleted when the read ends.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from .client import NotFound, PylonClient
from .dates import rfc3339, sortable, try_parse

logger = logging.getLogger("airbyte")

SEARCH_FAMILY = "issues_search"
MESSAGES_FAMILY = "issue_messages"
# time_is_after / time_is_before are exclusive (Pylon docs): widen each window by this much on both
# sides so a record exactly on a bound is found; the overlap is removed by deduplicating on id.
BOUND_OVERLAP = timedelta(seconds=1)
# The last window has no upper bound: an issue updated while we read, or stamped by a Pylon clock ahead
# of ours, is read now rather than next sync (and never lost: the cursor only moves to what we saw).
OPEN_END = datetime(9999, 1, 1, tzinfo=timezone.utc)
MAX_WINDOW = timedelta(days=30)  # Pylon docs: one public client caps search windows at 30 days; free in steady state
# A first sync from a start date years back (the default predates Pylon) spent one search per empty 30-day
# window, at 20 searches a minute: ~4 minutes before the first issue. Spans of up to a year are probed first
# with a one-result search, and the empty ones are skipped. The first span that holds an issue is then
# halved while the half a probe may cut away is longer than a window, so each empty probe saves a search:
# at most 3 more probes (365 → 182 → 91 → 45 days), and at most one empty window before the first issue,
# where the span alone left up to 11 (issue 12). The last span, shorter than a year, is probed too: an
# incremental sync whose cursor is months old, or a first sync whose issues all sit in its last months,
# otherwise searched every empty window of it (9 found by the model histories). A sync that starts less than
# two windows back (a daily incremental) probes nothing.
PROBE_SPAN = timedelta(days=365)
NARROW_WHILE_OVER = 2 * MAX_WINDOW

SCHEMA = """
CREATE TABLE issues (id TEXT PRIMARY KEY, updated TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX issues_by_updated ON issues (updated, id);
CREATE TABLE messages (issue_id TEXT PRIMARY KEY, version TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE lookups (kind TEXT NOT NULL, id TEXT NOT NULL, position INTEGER NOT NULL, body TEXT NOT NULL,
                      PRIMARY KEY (kind, id));
"""


def issue_version(issue: dict[str, Any]) -> str:
    """The sortable time an issue is filed under: updated_at, else created_at (no field is required)."""
    moment = try_parse(issue.get("updated_at")) or try_parse(issue.get("created_at"))
    return sortable(moment) if moment else ""


class SyncCache:
    def __init__(self, client: PylonClient, now: datetime, end: datetime | None = None) -> None:
        self.client = client
        self.now = now  # when the sync started: where the last window starts being open-ended
        # end_date, else now: probes stop there (an issue updated after end_date is never read)
        self.stop = min(now, end) if end else now
        self._covered: list[tuple[datetime, datetime]] = []  # searched windows, merged
        self._lookups_done: set[str] = set()
        self._first_active: dict[datetime, datetime] = {}
        self._lock = threading.RLock()
        self._path: str | None = None
        self._db: sqlite3.Connection | None = None

    # -- storage -----------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            handle, self._path = tempfile.mkstemp(prefix="source-pylon-", suffix=".sqlite")
            os.close(handle)
            self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode = OFF")
            self._db.execute("PRAGMA synchronous = OFF")
            self._db.executescript(SCHEMA)
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._path and os.path.exists(self._path):
                os.remove(self._path)
            self._path = None

    # -- issues ------------------------------------------------------------------------------

    def issues(self, start: datetime, end: datetime | None, stream: str) -> Iterator[dict[str, Any]]:
        """Every issue with updated_at in [start, end] (end None: no bound), oldest first.

        Only the parts of the window that no stream of this sync searched yet are searched.
        """
        end = end or OPEN_END
        with self._lock:
            for gap_start, gap_end in self._gaps(start, end):
                self._search(gap_start, gap_end, stream)
            rows = self.db.execute(
                "SELECT body FROM issues WHERE updated >= ? AND updated <= ? ORDER BY updated, id",
                (sortable(start), sortable(end)),
            ).fetchall()
        for (body,) in rows:
            yield json.loads(body)

    def first_active(self, start: datetime, stream: str) -> datetime:
        """Where the issue windows from `start` begin: at most two windows before the first issue updated since.

        Spans of up to a year are probed with a one-result search until one holds an issue; its empty
        beginning is then cut away by halving (the issue a probe returns also bounds the first one from
        above). Each probe that comes back empty counts as searched. A start less than two windows back
        probes nothing; if every span is empty, the windows start at `stop` (one open-ended search).
        """
        with self._lock:
            if start not in self._first_active:
                lo = start
                first: datetime | None = None
                while self.stop - lo > NARROW_WHILE_OVER and first is None:
                    span_end = min(lo + PROBE_SPAN, self.stop)
                    first = self._probe(lo, span_end, stream)
                    if first is None:
                        lo = span_end
                while first is not None and first - lo > NARROW_WHILE_OVER:
                    middle = lo + (first - lo) / 2
                    found = self._probe(lo, middle, stream)
                    if found is None:
                        lo = middle
                    else:
                        first = min(first, found)
                if lo > start:
                    logger.info(f"No issue was updated between {rfc3339(start)} and {rfc3339(lo)}: reading from there.")
                self._first_active[start] = lo
            return self._first_active[start]

    def _probe(self, start: datetime, end: datetime, stream: str) -> datetime | None:
        """When an issue of [start, end] was updated (any one: the order is undocumented), or None if none was.

        An empty answer marks the span searched."""
        probe = {"filter": self._filter(start, end), "limit": 1}
        found = self.client.request("POST", "/issues/search", SEARCH_FAMILY, stream, json=probe).get("data")
        issue = next((i for i in found if isinstance(i, dict)), None) if isinstance(found, list) else None
        if issue is None:
            self._cover(start, end)
            return None
        # An issue filed under no time still proves the span holds one; its end bounds the first issue.
        return min(try_parse(issue.get("updated_at")) or end, end + BOUND_OVERLAP)

    def _gaps(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        gaps, cursor = [], start
        for lo, hi in self._covered:
            if hi < cursor or lo > end:
                continue
            if lo > cursor:
                gaps.append((cursor, lo))
            cursor = max(cursor, hi)
        if cursor < end:
            gaps.append((cursor, end))
        return gaps

    def _cover(self, start: datetime, end: datetime) -> None:
        merged: list[tuple[datetime, datetime]] = []
        for lo, hi in sorted([*self._covered, (start, end)]):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self._covered = merged

    @staticmethod
    def _filter(start: datetime, end: datetime) -> dict[str, Any]:
        """Issues updated in [start, end], the exclusive bounds widened (see BOUND_OVERLAP)."""
        after = {"field": "updated_at", "operator": "time_is_after", "value": rfc3339(start - BOUND_OVERLAP)}
        if end >= OPEN_END:
            return after
        before = {"field": "updated_at", "operator": "time_is_before", "value": rfc3339(end + BOUND_OVERLAP)}
        return {"operator": "and", "subfilters": [after, before]}

    def _search(self, start: datetime, end: datetime, stream: str) -> None:
        search = {"filter": self._filter(start, end)}
        for page in self.client.pages("POST", "/issues/search", SEARCH_FAMILY, stream, body=search):
            rows = [(issue["id"], issue_version(issue), json.dumps(issue)) for issue in page if issue.get("id")]
            # An issue updated while we page shows up twice: keep the newest version.
            self.db.executemany(
                "INSERT INTO issues (id, updated, body) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "updated = excluded.updated, body = excluded.body WHERE excluded.updated >= issues.updated",
                rows,
            )
        self._cover(start, end)

    # -- messages ----------------------------------------------------------------------------

    def messages(self, issue: dict[str, Any], stream: str) -> list[dict[str, Any]]:
        """The issue's messages in API order, fetched at most once per issue version per sync."""
        issue_id, version = issue["id"], issue_version(issue)
        with self._lock:
            row = self.db.execute("SELECT version, body FROM messages WHERE issue_id = ?", (issue_id,)).fetchone()
            if row and row[0] == version:
                return json.loads(row[1])
            try:
                messages = list(self.client.records("GET", f"/issues/{issue_id}/messages", MESSAGES_FAMILY, stream))
            except NotFound:
                logger.warning(f"Issue {issue_id} disappeared during the sync (404 on its messages); skipping it.")
                messages = []
            self.db.execute(
                "INSERT OR REPLACE INTO messages (issue_id, version, body) VALUES (?, ?, ?)",
                (issue_id, version, json.dumps(messages)),
            )
            return messages

    # -- lookup lists ------------------------------------------------------------------------

    def lookup_records(self, kind: str, path: str, family: str, stream: str) -> Iterator[dict[str, Any]]:
        """Every record of a lookup list, fetching it on first use."""
        with self._lock:
            self._ensure_lookup(kind, path, family, stream)
            rows = self.db.execute("SELECT body FROM lookups WHERE kind = ? ORDER BY position", (kind,)).fetchall()
        for (body,) in rows:
            yield json.loads(body)

    def lookup(self, kind: str, record_id: str | None, path: str, family: str, stream: str) -> dict[str, Any] | None:
        if not record_id:
            return None
        with self._lock:
            self._ensure_lookup(kind, path, family, stream)
            row = self.db.execute("SELECT body FROM lookups WHERE kind = ? AND id = ?", (kind, record_id)).fetchone()
        return json.loads(row[0]) if row else None

    def _ensure_lookup(self, kind: str, path: str, family: str, stream: str) -> None:
        if kind in self._lookups_done:
            return
        position = 0
        for page in self.client.pages("GET", path, family, stream):
            rows = []
            for record in page:
                rows.append((kind, str(record.get("id") or f"#{position}"), position, json.dumps(record)))
                position += 1
            self.db.executemany("INSERT OR REPLACE INTO lookups (kind, id, position, body) VALUES (?, ?, ?, ?)", rows)
        self._lookups_done.add(kind)
