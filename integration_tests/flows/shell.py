"""Helpers for raw shell pipelines (`source read | destination write`), the README's second way to run a flow.

Airbyte keeps a connection's catalog and state; a shell user needs the same two files. `catalog` turns
`discover` output into a configured catalog; `state` keeps what a destination echoes as the file a
source's `--state` takes: the newest STATE per stream, rewritten after each one (a kill keeps the last).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO

from .catalog import configured_catalog
from .pipeline import _parse, _show_log, merge_state


def catalog(stdin: IO[str], stdout: IO[str], streams: list[str] | None) -> int:
    discovered = None
    for line in stdin:
        message = _parse(line.encode())
        if message and message.get("type") == "CATALOG":
            discovered = message["catalog"]
        elif message and message.get("type") == "TRACE" and message["trace"].get("type") == "ERROR":
            print(f"error: discover failed: {message['trace']['error'].get('message')}", file=sys.stderr)
            return 1
    if discovered is None:
        print("error: no CATALOG message on stdin (pipe a source's `discover` output in)", file=sys.stderr)
        return 1
    try:
        stdout.write(json.dumps(configured_catalog(discovered, streams), indent=1) + "\n")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def state(stdin: IO[str], path: Path) -> int:
    """Merge the destination's STATE lines into `path`; show its logs; exit 1 if it reported an error."""
    saved = json.loads(path.read_text() or "[]") if path.exists() else []
    failed = False
    for line in stdin:
        message = _parse(line.encode())
        if message is None:
            continue
        kind = message.get("type")
        if kind == "STATE":
            saved = merge_state(saved, message["state"])
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(saved))
            os.replace(tmp, path)
        elif kind == "LOG":
            _show_log(sys.stderr, "destination", message["log"])
        elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
            print(f"error: {message['trace']['error'].get('message')}", file=sys.stderr)
            failed = True
    return 1 if failed else 0
