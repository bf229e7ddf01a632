"""Airbyte's generation rule, the only place that decides what a sync may delete.

Every document and table row remembers the generation it was written under (`GENERATION_TAG`,
`GENERATION_COLUMN`). Stale means "of a generation lower than minimum_generation_id", nothing else
(reference/airbyte-protocol.md): Airbyte retries a failed attempt and resumes a refresh under the same
generation, and PyAirbyte sends generation_id = minimum_generation_id = 1 on every write, so what an
earlier attempt or sync wrote under the current generation is current data. A missing or unreadable
generation counts as 0, so data written before generations were kept is stale for any refresh.
Pruning happens only once the stream completed; that part is the writer's (it sees the statuses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GENERATION_TAG = "airbyte_generation"
# A leading underscore never comes out of tables.slug(), so no record field can take this column.
GENERATION_COLUMN = "_airbyte_generation_id"


def as_generation(value: Any) -> int:
    """A stored generation (tag text, JSON number); missing or unreadable → 0."""
    if value is None or isinstance(value, bool):
        return 0
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Generations:
    current: int | None  # generation_id: written into every document/row; null → none written
    minimum: int  # minimum_generation_id, null → 0
    overwrite: bool = False

    @classmethod
    def of(cls, configured: dict) -> Generations:
        mode = configured.get("destination_sync_mode")
        mode = getattr(mode, "value", mode)
        current = configured.get("generation_id")
        return cls(
            current=None if current is None else int(current),
            minimum=as_generation(configured.get("minimum_generation_id")),
            overwrite=mode == "overwrite",
        )

    @property
    def prunes(self) -> bool:
        """Whether, once the stream completed, anything of a lower generation is to be deleted.

        A catalog whose generation_id is below its minimum would have this sync delete what it just
        wrote: such a catalog prunes nothing (see `why_no_prune`).
        """
        return self.minimum > 0 and self.current is not None and self.current >= self.minimum

    def is_stale(self, stored: Any) -> bool:
        return self.prunes and as_generation(stored) < self.minimum

    def why_no_prune(self, stream: str) -> str | None:
        """The one log line an overwrite that deletes nothing deserves (None when there is nothing to say)."""
        if self.prunes:
            return None
        if self.minimum > 0:
            return (
                f"Stream {stream!r}: generation_id {self.current} is below minimum_generation_id {self.minimum}; "
                "nothing is deleted."
            )
        if self.overwrite:
            return (
                f"Stream {stream!r} is in overwrite mode with minimum_generation_id 0 or null: Airbyte asks "
                "for no deletion, so what earlier syncs wrote is kept."
            )
        return None
