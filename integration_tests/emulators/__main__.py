"""`python -m emulators <name> [--port N]`: serve one emulator until interrupted.

<name> is a module of this package exposing `EMULATOR` (e.g. `pylon`), or `module:Class`.
The first line on stdout is `listening on <url>`, so a parent process can read the port.

`python -m emulators all` serves Pylon, Planhat and Dust together and prints the `export` lines that point
the runner (`python -m flows run …`) at them: base URLs, the tokens they accept, Dust's ids.
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


# Pylon's 20 searches/min would make a first sync take minutes: `all` runs its minute this many times faster
# and tells source-pylon so (PYLON_RATE_LIMIT_WINDOW_SECONDS).
ALL_PYLON_TIME_SCALE = 60.0


def serve_all(host: str, seed: int, size: int) -> None:
    from .dust import EMULATOR as Dust
    from .dust.api import API_KEY, DATA_SOURCE_ID, SPACE_ID, WORKSPACE_ID
    from .planhat import EMULATOR as Planhat
    from .pylon import EMULATOR as Pylon
    from .pylon.api import TOKEN

    pylon = EmulatorServer(Pylon(seed=seed, size=size), host=host, time_scale=ALL_PYLON_TIME_SCALE).start()
    planhat = EmulatorServer(Planhat(seed=seed, size=size), host=host).start()
    dust = EmulatorServer(Dust(seed=seed, size=size), host=host).start()
    exports = {
        "PYLON_API_KEY": TOKEN,
        "PYLON_BASE_URL": pylon.url,
        "PYLON_START_DATE": pylon.emulator.landmarks()["epoch"],
        "PYLON_RATE_LIMIT_WINDOW_SECONDS": f"{60 / ALL_PYLON_TIME_SCALE:g}",
        "PLANHAT_API_TOKEN": Planhat.TOKEN,
        "PLANHAT_BASE_URL": planhat.url,
        "DUST_API_KEY": API_KEY,
        "DUST_BASE_URL": dust.url,
        "DUST_WORKSPACE_ID": WORKSPACE_ID,
        "DUST_SPACE_ID": SPACE_ID,
        "DUST_DATASOURCE_ID": DATA_SOURCE_ID,
    }
    print("# the three emulators are up; paste these, then e.g. `python -m flows run pylon-to-dust`")
    for name, value in exports.items():
        print(f"export {name}={value}")
    print("# Ctrl-C stops them (their data lives in memory only)", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        for server in (pylon, planhat, dust):
            server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="pylon, planhat, dust, all (the three at once), or module:Class")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 inside a container")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=int, default=50, help="how many main records to generate")
    parser.add_argument("--time-scale", type=float, default=1.0, help="60 makes a rate-limit minute last 1 s")
    args = parser.parse_args(argv)

    if args.name == "all":
        return serve_all(args.host, args.seed, args.size)
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
