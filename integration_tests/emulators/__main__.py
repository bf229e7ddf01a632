"""`python -m emulators <name> [--port N]`: serve one emulator until interrupted.

<name> is a module of this package exposing `EMULATOR` (e.g. `pylon`), or `module:Class`.
The first line on stdout is `listening on <url>`, so a parent process can read the port.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from .server import Emulator, EmulatorServer


def load(name: str) -> type[Emulator]:
    module_name, _, attr = name.partition(":")
    if not attr:
        module_name, attr = f"emulators.{module_name}", "EMULATOR"
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"no emulator called {name!r}: {exc}") from exc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="pylon, planhat, dust, or module:Class")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 inside a container")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=int, default=50, help="how many main records to generate")
    parser.add_argument("--time-scale", type=float, default=1.0, help="60 makes a rate-limit minute last 1 s")
    args = parser.parse_args(argv)

    emulator = load(args.name)(seed=args.seed, size=args.size)
    server = EmulatorServer(emulator, host=args.host, port=args.port, time_scale=args.time_scale)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # docker stop -> clean exit
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
