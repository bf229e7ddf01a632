"""Reading a Planhat list: offset paging that loses nothing, and newest-first incremental reads.

Lists are bare arrays with no total or cursor (reference), so:
- the offset advances by the records actually received and paging stops on an EMPTY page, never on a
  short one: a server that silently caps `limit` would otherwise end the read after page one;
- full reads sort on `_id` (Mongo ObjectIds, creation order) so records created during the read land at
  the end instead of shifting the pages;
- incremental reads sort on `-updatedAt` and stop once past the cursor, but only after making sure the
  server really sorted (see `SortCheck`); otherwise they read everything and filter.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .client import PlanhatClient
from .models import CURSOR_FIELD


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def pages(client: PlanhatClient, path: str, params: dict[str, Any], page_size: int) -> Iterator[list[dict]]:
    offset = 0
    while True:
        page = client.get(path, {**params, "limit": page_size, "offset": offset})
        if not isinstance(page, list):
            raise AirbyteTracedException(
                message=f"Planhat answered GET {path} with something other than a list.",
                internal_message=f"GET {path} offset={offset}: {str(page)[:300]}",
                failure_type=FailureType.system_error,
            )
        if not page:
            return
        yield page
        offset += len(page)


def read_all(client: PlanhatClient, path: str, page_size: int, **params: Any) -> Iterator[dict]:
    """Every record, in `_id` order, each once."""
    seen: set[str] = set()
    for page in pages(client, path, {"sort": "_id", **params}, page_size):
        for record in page:
            key = record.get("_id")
            if key in seen:
                continue
            seen.add(key)
            yield record


class SortCheck:
    """Whether the server honours `sort=-updatedAt` on each path, decided once per path and sync.

    A list that only looks newest-first is not proof: a server ignoring `sort` may serve a short page in
    an order that happens to descend. Before stopping early, one extra call asks for the OLDEST record
    (`sort=updatedAt&limit=1`): a server that sorts answers with another record than the newest, no newer
    than anything read; a server that ignores `sort` answers with its natural first record again.
    """

    def __init__(self, client: PlanhatClient) -> None:
        self.client = client
        self._verdicts: dict[str, bool] = {}

    def honoured(self, path: str, newest: dict, oldest_seen: datetime) -> bool:
        if path not in self._verdicts:
            probe = self.client.get(path, {"sort": CURSOR_FIELD, "limit": 1, "offset": 0})
            first = probe[0] if isinstance(probe, list) and probe else None
            probe_time = parse_time(first.get(CURSOR_FIELD)) if first else None
            self._verdicts[path] = bool(
                first and first.get("_id") != newest.get("_id") and probe_time is not None and probe_time <= oldest_seen
            )
        return self._verdicts[path]


def read_updated_since(
    client: PlanhatClient,
    sort_check: SortCheck,
    path: str,
    page_size: int,
    since: datetime | None,
) -> Iterator[dict]:
    """Records with updatedAt >= `since` (all when None), newest first when the server sorts, each once.

    Records without a parseable updatedAt are always emitted: they cannot be proved old.
    """
    seen: set[str] = set()
    newest: dict | None = None
    previous: datetime | None = None
    descending = True
    for page in pages(client, path, {"sort": f"-{CURSOR_FIELD}"}, page_size):
        newest = newest or page[0]
        passed_cursor = False
        for record in page:
            updated = parse_time(record.get(CURSOR_FIELD))
            if updated is not None:
                if previous is not None and updated > previous:
                    descending = False  # the server did not sort: read everything
                previous = updated
            if since is not None and updated is not None and updated < since:
                passed_cursor = True
                continue
            key = record.get("_id")
            if key in seen:
                continue
            seen.add(key)
            yield record
        if passed_cursor and descending and previous is not None and sort_check.honoured(path, newest, previous):
            return
