"""One run of a named flow: discover, build the catalog, resume from the saved state, save what commits."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .catalog import configured_catalog
from .connections import Flow, connector
from .pipeline import TEMP_PREFIX, Connector, SyncResult, messages_of, run_sync, write_private


class StateStore:
    """The committed state of one connection, its generation counter and the generation of a refresh that
    has not completed yet, in one JSON file.

    Written atomically (temp file + rename), so a crash mid-write leaves the previous state, never half a file.
    """

    def __init__(self, directory: str | Path, flow: str) -> None:
        self.path = Path(directory) / f"{flow}.json"

    def load(self) -> dict:
        if not self.path.exists():
            return {"generation": 0, "state": [], "refresh": None}
        return {"refresh": None, **json.loads(self.path.read_text())}

    def save(self, generation: int, state: list[dict], refresh: int | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"generation": generation, "state": state, "refresh": refresh}))
        os.replace(tmp, self.path)


def discover(connector_name: str, config: dict) -> dict:
    # The config goes in a private folder of this run's own, never the state directory: flows that share one
    # (docker-compose's volume) discover at the same moment, and a shared file name is read after another
    # flow unlinked it.
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as tmp:
        path = write_private(Path(tmp), "discover-config.json", config)
        messages = messages_of(connector(connector_name), "discover", "--config", str(path))
    return next(m["catalog"] for m in messages if m.get("type") == "CATALOG")


@functools.cache  # a connector's spec does not change while this process runs
def destination_modes(connector_name: str) -> frozenset[str]:
    spec = next(m["spec"] for m in messages_of(connector(connector_name), "spec") if m.get("type") == "SPEC")
    return frozenset(spec.get("supported_destination_sync_modes") or ["append", "overwrite", "append_dedup"])


def run_flow(
    flow: Flow,
    source_config: dict,
    destination_config: dict,
    store: StateStore,
    streams: list[str] | None = None,
    progress: Callable[[SyncResult], None] | None = None,
    source: Connector | None = None,
    destination: Connector | None = None,
    verbose: bool = False,
    refresh: bool = False,
) -> SyncResult:
    """`source`/`destination` replace the flow's own commands (tests wrap them to kill them mid-sync).

    `refresh`: forget the state and replace the destination's data, as Airbyte's "refresh" does: a new
    generation whose minimum is itself, so once each stream completed, what that read did not write goes.
    A refresh that fails or is interrupted is resumed by the next run, under the same generation, until it
    completes (a retry must never prune what the first attempt wrote).
    """
    saved = store.load()
    if refresh:
        saved = {**saved, "state": [], "refresh": saved["generation"] + 1}
    pending = saved["refresh"]
    generation = pending or saved["generation"] + 1
    discovered = discover(flow.source, source_config)
    catalog = configured_catalog(
        discovered,
        list(streams or flow.streams),
        destination_modes(flow.destination),
        generation=generation,
        refresh=pending is not None,
    )
    store.save(generation, saved["state"], pending)  # a generation is spent even if this run fails
    result = run_sync(
        source or connector(flow.source),
        destination or connector(flow.destination),
        source_config,
        destination_config,
        catalog,
        state=saved["state"],
        on_state=lambda state: store.save(generation, state, pending),
        progress=progress,
        verbose=verbose,
    )
    store.save(generation, result.state)  # completed: a refresh is over
    return result
