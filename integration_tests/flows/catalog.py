"""A configured catalog from `discover`: every stream (or the ones named) in the best mode it supports."""

from __future__ import annotations


def configured_catalog(
    discovered: dict,
    streams: list[str] | None = None,
    destination_modes: set[str] | frozenset[str] | None = None,
    generation: int = 1,
    refresh: bool = False,
) -> dict:
    """Incremental + dedup where the stream allows it, else full refresh + overwrite.

    `generation` counts syncs of the connection: overwrite streams get minimum_generation_id equal to
    it (the destination replaces their data once the stream completes); the others keep old data, unless
    this is a `refresh`, which replaces every stream's data the same way.
    """
    by_name = {stream["name"]: stream for stream in discovered["streams"]}
    unknown = sorted(set(streams or []) - set(by_name))
    if unknown:
        raise ValueError(f"unknown stream(s) {', '.join(unknown)}; the source offers {', '.join(sorted(by_name))}")
    modes = destination_modes or {"append", "append_dedup", "overwrite"}

    configured = []
    for name in streams or sorted(by_name):
        stream = by_name[name]
        key = stream.get("source_defined_primary_key") or []
        if "incremental" in stream.get("supported_sync_modes", []):
            sync_mode = "incremental"
            destination_mode = "append_dedup" if key and "append_dedup" in modes else "append"
        else:
            sync_mode = "full_refresh"
            destination_mode = "overwrite" if "overwrite" in modes else "append"
        configured.append(
            {
                "stream": stream,
                "sync_mode": sync_mode,
                "destination_sync_mode": destination_mode,
                "cursor_field": stream.get("default_cursor_field") or [],
                "primary_key": key,
                "generation_id": generation,
                "minimum_generation_id": generation if refresh or destination_mode == "overwrite" else 0,
                "sync_id": generation,
            }
        )
    return {"streams": configured}
