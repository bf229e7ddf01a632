"""The streams: the issue family (incremental, through the sync cache) and the list streams (one class, driven by endpoints.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams import CheckpointMixin, Stream

from .cache import MAX_WINDOW, SyncCache, issue_version
from .client import NotFound, PylonClient
from .config import PylonConfig
from .dates import parse_time, rfc3339, sortable, try_parse
from .documents import build_document, normalize_custom_fields, tag_names
from .endpoints import BY_NAME, LOOKUPS, Endpoint

logger = logging.getLogger("airbyte")

CHECKPOINT_EVERY = 500  # records; every state we emit is safe mid-window (issues are processed oldest first)
THREADS_FAMILY = "issue_threads"


def windows(start: datetime, now: datetime, end: datetime | None = None) -> list[dict[str, str | None]]:
    """[start, end] cut into windows of at most 30 days; without an end, [start, now] with the last one
    open-ended (end None), so issues updated during the sync are read too. Nothing to read past `end`: [].

    Bounds are shared, so a record exactly on one is read in both windows and deduplicated.
    """
    if end is not None and start > end:
        return []
    stop = min(now, end) if end else now
    out: list[dict[str, str | None]] = []
    lo = start
    while lo + MAX_WINDOW < stop:
        out.append({"start": sortable(lo), "end": sortable(lo + MAX_WINDOW)})
        lo += MAX_WINDOW
    out.append({"start": sortable(lo), "end": sortable(end) if end else None})
    return out


def normalize_issue(issue: Mapping[str, Any]) -> dict[str, Any]:
    record = dict(issue)
    record["tags"] = tag_names(issue.get("tags")) if issue.get("tags") is not None else None
    if issue.get("custom_fields") is not None:
        record["custom_fields"] = normalize_custom_fields(issue.get("custom_fields"))
    return record


class IssueFamilyStream(Stream, CheckpointMixin):
    """Reads the issues updated since this stream's own cursor, oldest first, and emits `records_for` each.

    State: `updated_at`, the newest issue version fully emitted (or the end of the last window read whole),
    and `recent`, the version of each issue emitted within the lookback window before it. The next sync searches from updated_at - lookback (so
    late-indexed issues are found) and skips issues whose version it already emitted, so children are
    fetched only for issues that changed. An issue counts only once all of its records are out, so
    any state the CDK checkpoints, even mid-window, is safe to resume from.
    """

    primary_key = "id"
    cursor_field = "updated_at"
    state_checkpoint_interval = CHECKPOINT_EVERY

    def __init__(self, config: PylonConfig, cache: SyncCache) -> None:
        self.config = config
        self.cache = cache
        self._cursor: str | None = None
        self._recent: dict[str, str] = {}
        self._state: dict[str, Any] | None = None

    @property
    def state(self) -> MutableMapping[str, Any]:
        if self._state is None:
            self._state = {"updated_at": self._cursor, "recent": dict(self._recent)} if self._cursor else {}
        return self._state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        """Any shape is taken (inputs.py hands over objects only): what is unusable is said and dropped."""
        value = value or {}
        # A state keyed by the declared cursor field (issue_updated_at) is what a generic tool would save.
        raw = value.get("updated_at", value.get(self.cursor_field))
        cursor = try_parse(raw)
        if cursor is None and value:
            found = f"its updated_at {str(raw)[:40]!r} is not a time" if raw is not None else "it has no updated_at"
            logger.warning(f"Ignoring the state of stream {self.name} ({found}); it reads from start_date.")
        self._cursor = sortable(cursor) if cursor else None
        recent = value.get("recent") if cursor else None
        if recent is not None and not isinstance(recent, Mapping):
            logger.warning(
                f"Ignoring the `recent` of stream {self.name}'s state (not an object): a few issues "
                "read again through the lookback are emitted again."
            )
        pairs = recent.items() if isinstance(recent, Mapping) else ()
        self._recent = {k: v for k, v in pairs if isinstance(k, str) and isinstance(v, str)}
        self._state = None

    def stream_slices(
        self, sync_mode: SyncMode, cursor_field: Any = None, stream_state: Mapping[str, Any] | None = None
    ) -> Iterable[Mapping[str, Any] | None]:
        start = self.config.start
        if sync_mode == SyncMode.incremental and self._cursor:
            start = max(start, parse_time(self._cursor) - self.config.lookback)
        else:
            self._recent = {}  # a full refresh re-emits everything; `recent` then only dedupes this sync
            self._state = None
        slices = windows(self.cache.first_active(start, self.name), self.cache.now, self.config.end)
        if not slices:
            logger.info(
                f"Stream {self.name} has read every issue up to end_date {self.config.end_date}: nothing to read."
            )
        return slices

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Any = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        window = stream_slice or {}
        start = parse_time(window.get("start") or rfc3339(self.config.start))
        end = parse_time(window["end"]) if window.get("end") else None
        for issue in self.cache.issues(start, end, self.name):
            version = issue_version(issue)
            if self._recent.get(issue["id"]) == version:
                continue  # this version was already emitted: in an earlier sync, or on a shared window bound
            yield from self.records_for(issue)
            self._recent[issue["id"]] = version
            self._advance(version)
        # The whole window is read: everything updated up to its end (the open one: up to the sync's start)
        # has been seen, so the cursor may move there even if the last issue is older. Without this a quiet
        # workspace would re-search every window since its last update on every sync.
        self._advance(sortable(min(end or self.cache.now, self.cache.now)))

    def _advance(self, version: str) -> None:
        if not self._cursor or version > self._cursor:
            self._cursor = version
            floor = sortable(parse_time(self._cursor) - self.config.lookback)
            self._recent = {k: v for k, v in self._recent.items() if v >= floor}
        self._state = None

    def records_for(self, issue: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        raise NotImplementedError


class Issues(IssueFamilyStream):
    name = "issues"

    def records_for(self, issue: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        yield normalize_issue(issue)


class IssueMessages(IssueFamilyStream):
    """Messages carry no issue_id in the API: each record is stamped with its issue's id and version."""

    name = "issue_messages"
    cursor_field = "issue_updated_at"

    def records_for(self, issue: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        for message in self.cache.messages(issue, self.name):
            yield {**message, "issue_id": issue["id"], "issue_updated_at": issue.get("updated_at")}


class IssueThreads(IssueFamilyStream):
    name = "issue_threads"
    cursor_field = "issue_updated_at"

    def records_for(self, issue: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        try:
            threads = list(
                self.cache.client.records("GET", f"/issues/{issue['id']}/threads", THREADS_FAMILY, self.name)
            )
        except NotFound:
            logger.warning(f"Issue {issue['id']} disappeared during the sync (404 on its threads); skipping it.")
            return
        for thread in threads:
            yield {**thread, "issue_id": issue["id"], "issue_updated_at": issue.get("updated_at")}


class IssueDocuments(IssueFamilyStream):
    name = "issue_documents"

    def records_for(self, issue: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        messages = self.cache.messages(issue, self.name)
        yield build_document(issue, messages, self._lookup)

    def _lookup(self, kind: str, record_id: str | None) -> Mapping[str, Any] | None:
        endpoint = BY_NAME[kind]
        return self.cache.lookup(kind, record_id, endpoint.path, endpoint.family, self.name)


class ListStream(Stream):
    """Any list endpoint of endpoints.py, read in full; fan-out endpoints read once per partition."""

    def __init__(self, endpoint: Endpoint, client: PylonClient, cache: SyncCache) -> None:
        self.endpoint = endpoint
        self.client = client
        self.cache = cache

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def primary_key(self) -> str:
        return self.endpoint.primary_key

    def stream_slices(
        self, sync_mode: SyncMode, cursor_field: Any = None, stream_state: Mapping[str, Any] | None = None
    ) -> Iterable[Mapping[str, Any] | None]:
        if self.endpoint.partitions:
            return [dict(params) for params in self.endpoint.partitions]
        if self.endpoint.parent:
            return self._parent_slices()
        return [{}]

    def _parent_slices(self) -> Iterator[Mapping[str, Any]]:
        parent = BY_NAME[self.endpoint.parent]
        for record in self.client.records("GET", parent.path, parent.family, self.name, params=dict(parent.params)):
            if record.get("id"):
                yield {self.endpoint.parent_key: record["id"]}

    def path_and_params(self, stream_slice: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        params = dict(self.endpoint.params)
        if self.endpoint.parent:
            return self.endpoint.path.format(**stream_slice), params
        return self.endpoint.path, {**params, **stream_slice}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Any = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        stream_slice = stream_slice or {}
        if self.endpoint.name in LOOKUPS:  # shared with issue_documents through the sync cache
            records = self.cache.lookup_records(self.name, self.endpoint.path, self.endpoint.family, self.name)
        else:
            records = self._fetch(*self.path_and_params(stream_slice))
        yield from self._stamp(records, stream_slice)

    def _fetch(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        try:
            yield from self.client.records("GET", path, self.endpoint.family, self.name, params=params or None)
        except NotFound:
            if not self.endpoint.parent:
                raise
            logger.warning(f"{path} disappeared during the sync (404); skipping it.")

    def _stamp(self, records: Iterable[dict[str, Any]], stream_slice: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        key = self.endpoint.parent_key
        for record in records:
            if key:
                record = {**record, key: stream_slice[key]}
            if record.get("custom_fields") is not None:  # accounts and contacts: same two forms as issues
                record = {**record, "custom_fields": normalize_custom_fields(record["custom_fields"])}
            yield record


class SurveyResponses(ListStream, CheckpointMixin):
    """Incremental on submitted_at, with a cursor per survey: a survey added later is read from start_date."""

    cursor_field = "submitted_at"

    def __init__(self, endpoint: Endpoint, client: PylonClient, cache: SyncCache, config: PylonConfig) -> None:
        super().__init__(endpoint, client, cache)
        self.config = config
        self._cursors: dict[str, str] = {}
        self._every_survey: str | None = None  # one cursor for all surveys, from a state without per-survey ones
        self._incremental = False

    @property
    def state(self) -> MutableMapping[str, Any]:
        return {"surveys": {sid: {"submitted_at": ts} for sid, ts in self._cursors.items()}} if self._cursors else {}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        """{"surveys": {id: {"submitted_at"}}}; a flat {"submitted_at"} (a generic cursor state) counts for every
        survey. What is unusable is said and dropped: those surveys read from start_date."""
        value = value or {}
        surveys = value.get("surveys")
        self._cursors = {}
        flat = try_parse(value.get("submitted_at"))
        self._every_survey = sortable(flat) if flat else None
        unusable: list[str] = []
        if isinstance(surveys, Mapping):
            for survey_id, entry in surveys.items():
                moment = try_parse(entry.get("submitted_at") if isinstance(entry, Mapping) else None)
                if moment:
                    self._cursors[str(survey_id)] = sortable(moment)
                else:
                    unusable.append(str(survey_id))
        elif value and not flat:
            unusable.append("every survey (no `surveys` object)")
        if unusable:
            logger.warning(
                f"Ignoring the state of stream {self.name} for {', '.join(unusable[:10])}: no readable "
                "submitted_at; they read from start_date."
            )

    def stream_slices(
        self, sync_mode: SyncMode, cursor_field: Any = None, stream_state: Mapping[str, Any] | None = None
    ) -> Iterable[Mapping[str, Any] | None]:
        self._incremental = sync_mode == SyncMode.incremental
        if not self._incremental:
            self._cursors, self._every_survey = {}, None
        return self._parent_slices()

    def path_and_params(self, stream_slice: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        path, params = super().path_and_params(stream_slice)
        cursor = self._cursors.get(stream_slice[self.endpoint.parent_key]) or self._every_survey
        start = max(self.config.start, parse_time(cursor) - self.config.lookback) if cursor else self.config.start
        # submitted_after is exclusive: step back a second, and dedupe what comes back twice.
        params["submitted_after"] = rfc3339(start - timedelta(seconds=1))
        return path, params

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Any = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        survey_id = (stream_slice or {})[self.endpoint.parent_key]
        seen: set[str] = set()
        newest = self._cursors.get(survey_id) or self._every_survey
        for record in super().read_records(sync_mode, cursor_field, stream_slice, stream_state):
            if record.get("id") in seen:
                continue
            seen.add(record.get("id"))
            yield record
            moment = try_parse(record.get("submitted_at"))
            if moment and (newest is None or sortable(moment) > newest):
                newest = sortable(moment)
        if newest:  # the responses of a survey are unordered: its cursor moves only once it is read whole
            self._cursors[survey_id] = newest
