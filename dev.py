#!/usr/bin/env python3
"""One entry point for developers and CI: `python3 dev.py test` and `python3 dev.py demo`.

Needs only Python 3.10+ and the package registries. It creates `.venv`, installs every
package of the monorepo in editable mode with the dev tools, and reinstalls only when a
`pyproject.toml` or `requirements-dev.txt` changed, so the second run starts at once.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
# integration_tests holds the emulators and the pytest fixtures every other package uses.
TESTKIT = ROOT / "integration_tests"
# pytest's exit code when it collected nothing: a package without tests is a mistake, not a pass.
NO_TESTS_COLLECTED = 5


def packages() -> list[Path]:
    """Every folder with a pyproject.toml is a package; the testkit is installed first."""
    found = sorted(p.parent for p in ROOT.glob("*/pyproject.toml"))
    return [TESTKIT] + [p for p in found if p != TESTKIT]


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_fingerprint() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in [DEV_REQUIREMENTS] + [p / "pyproject.toml" for p in packages()]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def bootstrap() -> Path:
    if sys.version_info < (3, 10):  # noqa: UP036 -- dev.py runs under whatever python3 the machine has
        sys.exit(f"dev.py needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    python = venv_python()
    if not python.exists():
        print(f"creating {VENV.relative_to(ROOT)}", flush=True)
        venv.create(VENV, with_pip=True)
    fingerprint = install_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return python
    print("installing the packages and dev tools (only when a pyproject changed)", flush=True)
    editable = [arg for pkg in packages() for arg in ("-e", str(pkg))]
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", DEV_REQUIREMENTS, *editable])
    STAMP.write_text(fingerprint)
    return python


def run(cmd: list, cwd: Path = ROOT, check: bool = True) -> int:
    code = subprocess.call([str(c) for c in cmd], cwd=cwd)
    if check and code != 0:
        sys.exit(f"failed ({code}): {' '.join(str(c) for c in cmd)}")
    return code


def docker_engine_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    return probe.returncode == 0


def test(pytest_args: list[str]) -> None:
    python = bootstrap()
    started = time.monotonic()
    run([python, "-m", "ruff", "check", "."])
    run([python, "-m", "ruff", "format", "--check", "."])

    marker = []
    if not docker_engine_reachable():
        # The CDK's image tests fail (rather than skip) when the docker CLI has no engine behind it.
        print("no Docker engine reachable: deselecting image_tests", flush=True)
        marker = ["-m", "not image_tests"]

    failures = []
    for pkg in packages():
        name = pkg.relative_to(ROOT)
        print(f"\n=== {name} ===", flush=True)
        code = run([python, "-m", "pytest", *marker, *pytest_args], cwd=pkg, check=False)
        if code == NO_TESTS_COLLECTED:
            failures.append(f"{name}: no tests collected (every package must test itself)")
        elif code != 0:
            failures.append(f"{name}: pytest exited {code}")

    elapsed = time.monotonic() - started
    if failures:
        sys.exit(f"\nFAILED after {elapsed:.0f}s:\n  " + "\n  ".join(failures))
    print(f"\nall packages passed in {elapsed:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create .venv and install every package with the dev tools")
    demo_cmd = sub.add_parser("demo", help="run every flow on the local emulators, twice, and print a summary")
    demo_cmd.add_argument("--database-url", help="write there instead of an embedded Postgres (never DATABASE_URL)")
    test_cmd = sub.add_parser("test", help="ruff (lint + format check) and every package's tests")
    test_cmd.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to each pytest run")
    args = parser.parse_args()

    if args.command == "setup":
        bootstrap()
    elif args.command == "test":
        test(args.pytest_args)
    elif args.command == "demo":
        extra = ["--database-url", args.database_url] if args.database_url else []
        sys.exit(run([bootstrap(), "-m", "flows", "demo", *extra], cwd=TESTKIT, check=False))


if __name__ == "__main__":
    main()
