"""The streams: one class for every Planhat model (driven by models.MODELS), and company_documents."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams import CheckpointMixin, Stream

from . import documents
from .client import NotFound, PermissionDenied, PlanhatClient
from .config import PlanhatConfig
from .models import BY_STREAM, CURSOR_FIELD, Model
from .paging import SortCheck, parse_time, read_all, read_updated_since

# reference: a user reference is an id string on GET-by-id but {_id, nickName} on lists. The schema declares
# the object (a string|object union is a type no orchestrator can give a column), so a bare id is wrapped.
USER_REFERENCES = {"companies": ("owner", "coOwner")}


def with_user_objects(stream: str, record: Mapping[str, Any]) -> Mapping[str, Any]:
    bare = [key for key in USER_REFERENCES.get(stream, ()) if isinstance(record.get(key), str)]
    if not bare:
        return record
    return {**record, **{key: {"_id": record[key]} for key in bare}}


@cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("schemas", f"{name}.json").read_text())


@dataclass
class ReadContext:
    """What every stream of one sync shares: the config, the paced client, what is known of the server."""

    config: PlanhatConfig
    client: PlanhatClient
    sort_check: SortCheck = field(init=False)

    def __post_init__(self) -> None:
        self.sort_check = SortCheck(self.client)

    def since(self, cursor: datetime | None) -> datetime | None:
        """Where an incremental read starts: the cursor minus the lookback, never before start_date."""
        candidates = [c for c in (self.config.start_date, cursor and cursor - self.config.lookback) if c]
        return max(candidates) if candidates else None


def skip_message(stream: str, denied: PermissionDenied, model: str) -> str:
    return (
        f"Skipping stream '{stream}': the Planhat service account has no read permission on {model} "
        f"({denied}). Grant it read access to {model} to sync this stream."
    )


class Cursor:
    """The newest updatedAt seen, kept as the API wrote it."""

    def __init__(self, value: str | None = None) -> None:
        self.value = value
        self.moment = parse_time(value)

    def observe(self, record: Mapping[str, Any]) -> datetime | None:
        """Moves the cursor past `record` if it is newer; returns the record's parsed updatedAt."""
        raw = record.get(CURSOR_FIELD)
        moment = parse_time(raw)
        if moment is not None and (self.moment is None or moment > self.moment):
            self.value, self.moment = raw, moment
        return moment


class RecentCursor(Cursor):
    """A cursor that also remembers which records it already handed over near its value.

    An incremental read starts at cursor - lookback (and at the cursor itself on ties), so it sees again
    records the previous sync handled. For company_documents that would re-emit their companies on every
    sync; remembering (_id, updatedAt) of the records inside the lookback window tells them apart from
    records that really changed, at the cost of a state the size of that window.
    """

    def __init__(self, lookback: timedelta, value: str | None = None, recent: Mapping[str, str] | None = None) -> None:
        super().__init__(value)
        self.lookback = lookback
        self.previous = dict(recent or {})
        self._recent = {key: (raw, parse_time(raw)) for key, raw in self.previous.items()}  # _id -> (raw, parsed)
        self._window: dict[str, str] | None = None

    def is_new(self, record: Mapping[str, Any]) -> bool:
        return self.previous.get(record.get("_id")) != record.get(CURSOR_FIELD)

    def observe(self, record: Mapping[str, Any]) -> datetime | None:
        moment = super().observe(record)
        key, raw = record.get("_id"), record.get(CURSOR_FIELD)
        if isinstance(key, str) and isinstance(raw, str):
            self._recent[key] = (raw, moment)
        self._window = None
        return moment

    def window(self) -> dict[str, str]:
        """The records within the lookback of the cursor (those without a parseable time too).

        The CDK reads the state after every record, so this must not rescan a whole read each time: the
        answer is kept until the next change, and what falls out of the window is dropped for good (the
        cursor only moves forward, so it can never come back in).
        """
        if self.moment is None:
            return {}
        if self._window is None:
            start = self.moment - self.lookback
            self._recent = {key: kept for key, kept in self._recent.items() if kept[1] is None or kept[1] >= start}
            self._window = {key: raw for key, (raw, _) in self._recent.items()}
        return self._window


class ModelStream(Stream):
    """A Planhat model read in full on every sync, in `_id` order."""

    primary_key = "_id"

    def __init__(self, model: Model, context: ReadContext) -> None:
        self.model = model
        self.context = context

    @property
    def name(self) -> str:
        return self.model.stream

    def get_json_schema(self) -> Mapping[str, Any]:
        return load_schema(self.name)

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        try:
            for record in self._records(sync_mode):
                yield with_user_objects(self.name, record)
        except PermissionDenied as denied:
            self.logger.warning(skip_message(self.name, denied, self.model.path.strip("/")))

    def _records(self, sync_mode: SyncMode) -> Iterator[Mapping[str, Any]]:
        ctx = self.context
        yield from read_all(ctx.client, self.model.path, ctx.config.page_size(self.name))


class IncrementalModelStream(ModelStream, CheckpointMixin):
    """A model read newest-first on updatedAt, from the saved cursor minus the lookback."""

    cursor_field = CURSOR_FIELD
    source_defined_cursor = True

    def __init__(self, model: Model, context: ReadContext) -> None:
        super().__init__(model, context)
        self._cursor = Cursor()

    @property
    def state(self) -> MutableMapping[str, Any]:
        return {CURSOR_FIELD: self._cursor.value} if self._cursor.value else {}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        """Any shape is taken (inputs.py hands over objects only): what is unusable is said and dropped."""
        value = value or {}
        raw = value.get(CURSOR_FIELD)
        if parse_time(raw) is None:
            if value:
                found = f"its updatedAt {str(raw)[:40]!r} is not a time" if raw is not None else "it has no updatedAt"
                self.logger.warning(f"Ignoring the state of stream '{self.name}' ({found}); it reads from start_date.")
            raw = None
        self._cursor = Cursor(raw)

    def _records(self, sync_mode: SyncMode) -> Iterator[Mapping[str, Any]]:
        ctx = self.context
        size = ctx.config.page_size(self.name)
        if sync_mode == SyncMode.incremental:
            records = read_updated_since(
                ctx.client, ctx.sort_check, self.model.path, size, ctx.since(self._cursor.moment)
            )
        else:
            records = read_all(ctx.client, self.model.path, size)
        # The cursor moves only as records are handed over; the CDK emits the state after the last one, so
        # a read that fails half-way (newest first!) saves nothing and the next sync starts where this did.
        for record in records:
            self._cursor.observe(record)
            yield record


def model_stream(model: Model, context: ReadContext) -> ModelStream:
    return (IncrementalModelStream if model.incremental else ModelStream)(model, context)


class CompanyDocumentsStream(Stream, CheckpointMixin):
    """One self-contained record per company (see documents.py), re-emitted only when it or a child changed.

    Full read: every related model is read once in `_id` order and grouped by company, which costs the
    fewest calls there are. Incremental read: the companies and each related model are read newest-first
    past their own cursor (a page or two each); the companies they name are the changed set, and only
    their related records are fetched, with `companyId=<comma list>` batched under the URL budget.

    A document built while the token could not read a model (a 403: its section left out) is remembered
    in the state as incomplete; the first sync that reads that model again rebuilds it, changed or not, so
    a permission restored makes every document whole again.
    """

    name = "company_documents"
    primary_key = "_id"
    cursor_field = CURSOR_FIELD
    source_defined_cursor = True

    def __init__(self, context: ReadContext) -> None:
        self.context = context
        self._cursors: dict[str, RecentCursor] = {}
        self._warned: set[str] = set()  # the models this read could not read (403)
        self._incomplete: dict[str, list[str]] = {}  # company -> models its document was last built without

    @property
    def state(self) -> MutableMapping[str, Any]:
        """{"cursors": {model: newest updatedAt}, "recent": {model: {_id: updatedAt} inside the lookback},
        "incomplete": {company _id: [models its document lacks]}} (the last only when there are some)."""
        cursors = {model: c.value for model, c in self._cursors.items() if c.value}
        if not cursors:
            return {}
        recent = {model: self._cursors[model].window() for model in cursors}
        state = {"cursors": cursors, "recent": recent}
        if self._incomplete:
            state["incomplete"] = dict(self._incomplete)
        return state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        """Our own shape, else a flat {"updatedAt"} (a generic cursor state: every model read up to it). What is
        unusable is said and dropped; a model left without a cursor is scanned from start_date."""
        value = value or {}
        lookback = self.context.config.lookback
        cursors, recent = value.get("cursors"), value.get("recent")
        if cursors is None and parse_time(value.get(CURSOR_FIELD)):
            cursors = {model: value[CURSOR_FIELD] for model in ("companies", *documents.RELATED)}
            self.logger.info(f"Migrated the state of stream '{self.name}' from one updatedAt to a cursor per model.")
        problems: list[str] = []
        if cursors is not None and not isinstance(cursors, Mapping):
            problems.append("`cursors` is not an object")
        if recent is not None and not isinstance(recent, Mapping):
            problems.append("`recent` is not an object")
        if value and cursors is None:
            problems.append("it has neither `cursors` nor an updatedAt")
        cursors = cursors if isinstance(cursors, Mapping) else {}
        recent = recent if isinstance(recent, Mapping) else {}
        self._cursors = {}
        incomplete = value.get("incomplete") or {}
        if not isinstance(incomplete, Mapping):
            problems.append("`incomplete` is not an object")
            incomplete = {}
        self._incomplete = {
            company: [m for m in models if isinstance(m, str)]
            for company, models in incomplete.items()
            if isinstance(company, str) and isinstance(models, list)
        }
        for model, raw in cursors.items():
            if model not in ("companies", *documents.RELATED) or parse_time(raw) is None:
                problems.append(f"the cursor of {model!s:.40} is not a time of a model documents are built from")
                continue
            seen = recent.get(model)
            if seen is not None and not isinstance(seen, Mapping):
                problems.append(f"the `recent` of {model} is not an object")
            pairs = seen.items() if isinstance(seen, Mapping) else ()
            self._cursors[model] = RecentCursor(
                lookback, raw, {k: v for k, v in pairs if isinstance(k, str) and isinstance(v, str)}
            )
        if problems:
            self.logger.warning(
                f"Ignoring part of the state of stream '{self.name}' ({'; '.join(problems[:5])}); what it covered is "
                "read from start_date."
            )

    def get_json_schema(self) -> Mapping[str, Any]:
        return load_schema(self.name)

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        try:
            users = {u["_id"]: u for u in self._optional("users", lambda: list(self._read_all("users")), [])}
            if sync_mode == SyncMode.incremental and self._cursors:
                yield from self._changed_documents(users)
            elif sync_mode == SyncMode.incremental and self.context.config.start_date:
                yield from self._documents_changed_since(self.context.config.start_date, users)
            else:
                yield from self._all_documents(users)
        except PermissionDenied as denied:
            self.logger.warning(skip_message(self.name, denied, "companies"))

    # -- reading -----------------------------------------------------------------------------

    def _cursor(self, stream: str) -> RecentCursor:
        if stream not in self._cursors:
            self._cursors[stream] = RecentCursor(self.context.config.lookback)
        return self._cursors[stream]

    def _read_all(self, stream: str, **params: Any) -> Iterator[dict]:
        ctx = self.context
        cursor = self._cursor(stream) if stream != "users" else None
        for record in read_all(ctx.client, BY_STREAM[stream].path, ctx.config.page_size(stream), **params):
            if cursor is not None:
                cursor.observe(record)
            yield record

    def _optional(self, stream: str, read, empty):
        """A related model the token may not read leaves its section empty, with one warning per sync."""
        try:
            return read()
        except PermissionDenied as denied:
            if stream not in self._warned:
                self._warned.add(stream)
                self.logger.warning(
                    f"Stream '{self.name}': the Planhat service account has no read permission on {stream} "
                    f"({denied}); documents are built without {stream}."
                )
            return empty

    def _all_documents(self, users: dict[str, dict]) -> Iterator[dict]:
        related = {
            stream: self._optional(stream, lambda s=stream: group_by_company(s, self._read_all(s)), {})
            for stream in documents.RELATED
        }
        for company in self._read_all("companies"):
            children = {stream: related[stream].get(company["_id"], []) for stream in documents.RELATED}
            yield self._build(company, children, users)

    def _documents_changed_since(self, start: datetime, users: dict[str, dict]) -> Iterator[dict]:
        """A first incremental sync with start_date: the full read's few calls, but only the documents of which
        some part was updated since start_date, as `companies` skips the companies updated before it (issue 12:
        every company was sent). The cursors still move to the newest record seen, skipped or not."""
        for document in self._all_documents(users):
            if documents.updated_before(document, start):
                self._incomplete.pop(document["_id"], None)  # not sent: nothing of it to make whole later
                continue
            yield document

    def _changed_documents(self, users: dict[str, dict]) -> Iterator[dict]:
        ctx = self.context
        companies: dict[str, dict] = {}
        changed: set[str] = set()
        for stream in ("companies", *documents.RELATED):

            def scan(stream: str = stream) -> None:
                model = BY_STREAM[stream]
                cursor = self._cursor(stream)
                since = ctx.since(cursor.moment)
                for record in read_updated_since(
                    ctx.client, ctx.sort_check, model.path, ctx.config.page_size(stream), since
                ):
                    is_new = cursor.is_new(record)
                    cursor.observe(record)
                    if not is_new:  # handed over by the previous sync, seen again through the lookback
                        continue
                    if stream == "companies":
                        companies[record["_id"]] = record
                        changed.add(record["_id"])
                    else:
                        changed.update(company_ids(stream, record))

            if stream == "companies":
                scan()
            else:
                self._optional(stream, scan, None)

        # Documents built without a model this read could read again: rebuilt, whether or not they changed.
        changed.update(c for c, models in self._incomplete.items() if set(models) - self._warned)
        for company_id in sorted(changed - companies.keys()):
            try:
                companies[company_id] = ctx.client.get(f"{BY_STREAM['companies'].path}/{company_id}")
            except NotFound:  # deleted since its child changed: nothing to index
                self._incomplete.pop(company_id, None)
                continue

        ordered = sorted(companies)
        for batch in id_batches(ordered):
            related = {
                stream: self._optional(
                    stream,
                    lambda s=stream, b=batch: group_by_company(s, self._read_all(s, companyId=",".join(b)), set(b)),
                    {},
                )
                for stream in documents.RELATED
            }
            for company_id in batch:
                children = {stream: related[stream].get(company_id, []) for stream in documents.RELATED}
                yield self._build(companies[company_id], children, users)

    def _build(self, company: dict, children: dict[str, list[dict]], users: dict[str, dict]) -> dict:
        missing = sorted(self._warned)  # users or related models this read was refused
        if missing:
            self._incomplete[company["_id"]] = missing
        else:
            self._incomplete.pop(company["_id"], None)
        return documents.build(company, children, users)


# reference: keep a joined companyId query under ~2,000 characters.
COMPANY_ID_QUERY_BUDGET = 1800


def id_batches(ids: list[str], budget: int = COMPANY_ID_QUERY_BUDGET) -> Iterator[list[str]]:
    batch: list[str] = []
    used = 0
    for company_id in ids:
        cost = len(company_id) + 3  # an encoded comma is "%2C"
        if batch and used + cost > budget:
            yield batch
            batch, used = [], 0
        batch.append(company_id)
        used += cost
    if batch:
        yield batch


def company_ids(stream: str, record: Mapping[str, Any]) -> list[str]:
    key = BY_STREAM[stream].company_key
    value = record.get(key) if key else None
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) else []


def group_by_company(stream: str, records: Iterable[dict], only: set[str] | None = None) -> dict[str, list[dict]]:
    """Records by company id; `only` also drops what a server that ignores the companyId filter sends."""
    grouped: dict[str, list[dict]] = {}
    for record in records:
        for company_id in company_ids(stream, record):
            if only is None or company_id in only:
                grouped.setdefault(company_id, []).append(record)
    return grouped
