#!/usr/bin/env python3
"""One entry point for developers and CI: `python3 dev.py test` and `python3 dev.py demo`.

Needs only Python 3.10+ and the package registries. It creates `.venv`, installs every
package of the monorepo in editable mode with the dev tools, and reinstalls only when a
`pyproject.toml` or `requirements-dev.txt` changed, so the second run starts at once.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import os
import signal
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
    # The testkit with its `test` extra (PyAirbyte, for integration_tests/tests/test_pyairbyte.py).
    editable = [arg for pkg in packages() for arg in ("-e", f"{pkg}[test]" if pkg == TESTKIT else str(pkg))]
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", DEV_REQUIREMENTS, *editable])
    STAMP.write_text(fingerprint)
    return python


def run(cmd: list, cwd: Path = ROOT, check: bool = True) -> int:
    code = subprocess.call([str(c) for c in cmd], cwd=cwd)
    if check and code != 0:
        sys.exit(f"failed ({code}): {' '.join(str(c) for c in cmd)}")
    return code


def load_engine():
    """integration_tests/testkit/engine.py on its own (standard library only): no package is installed yet."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("testkit_engine", TESTKIT / "testkit" / "engine.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_images(engine_module, engine) -> None:
    started = time.monotonic()
    print(f"building the images with {engine.describe()}", flush=True)
    engine_module.build_all(engine)
    print(f"images built in {time.monotonic() - started:.0f}s", flush=True)


def images() -> None:
    """`python3 dev.py images`: every image, unmodified, with Docker if a daemon answers, else podman."""
    engine_module = load_engine()
    engine = engine_module.connect()
    if engine is None:
        sys.exit("no Docker daemon answers and podman cannot be installed here (it needs Linux with apt)")
    build_images(engine_module, engine)


def image_engine(skip: bool):
    """Build the images and make an engine answer the tests (podman's Docker API on DOCKER_HOST when no Docker
    daemon does; stopped when dev.py exits). None: no engine to be had, the image tests are deselected."""
    engine_module = load_engine()
    engine = None if skip else engine_module.connect()
    if engine is None:
        # The CDK's image tests fail (rather than skip) when the docker CLI has no engine behind it.
        why = "--no-images" if skip else "no Docker engine reachable and podman cannot be installed here"
        print(f"{why}: deselecting image_tests", flush=True)
        return None
    build_images(engine_module, engine)
    atexit.register(engine.stop)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # CI's timeout: still stop the service
    engine.start_api()
    os.environ.update(engine.env)
    # The CDK's `docker run` of each connector then shares the host's network, where the emulators listen.
    os.environ["PATH"] = f"{engine_module.host_network_docker()}{os.pathsep}{os.environ['PATH']}"
    print(f"image tests on {engine.describe()} ({engine.env.get('DOCKER_HOST', 'its own daemon')})", flush=True)
    return engine_module


def image_args(engine_module, pkg: Path) -> list[str]:
    """A connector's standard suite runs its image as built above (not one the CDK would build from Airbyte's
    template), and its image `read` covers every stream (the CDK reads none unless told)."""
    image = engine_module.connector_image(pkg) if engine_module else None
    if not image:
        return []
    return [
        "-p",
        "airbyte_cdk.test.standard_tests.pytest_hooks",
        f"--connector-image={image}",
        "--read-from-streams=all",
    ]


def test(pytest_args: list[str], no_images: bool = False) -> None:
    python = bootstrap()
    started = time.monotonic()
    run([python, "-m", "ruff", "check", "."])
    run([python, "-m", "ruff", "format", "--check", "."])

    engine_module = image_engine(skip=no_images)
    marker = [] if engine_module else ["-m", "not image_tests"]

    failures = []
    for pkg in packages():
        name = pkg.relative_to(ROOT)
        print(f"\n=== {name} ===", flush=True)
        pytest_run = [*marker, *image_args(engine_module, pkg), *pytest_args]
        code = run([python, "-m", "pytest", *pytest_run], cwd=pkg, check=False)
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
    sub.add_parser("images", help="build the six images (Docker if a daemon answers, else podman)")
    test_cmd = sub.add_parser(
        "test",
        help="ruff (lint + format check), the images, and every package's tests",
        usage="%(prog)s [--no-images] [pytest arguments, passed to each pytest run]",
        allow_abbrev=False,
    )
    test_cmd.add_argument("--no-images", action="store_true", help="skip building the images and the image tests")
    # Everything else goes to pytest (an argparse.REMAINDER rejects a first argument such as `-k`).
    args, pytest_args = parser.parse_known_args()
    if pytest_args and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(pytest_args)}")

    if args.command == "setup":
        bootstrap()
    elif args.command == "test":
        test(pytest_args, no_images=args.no_images)
    elif args.command == "images":
        images()
    elif args.command == "demo":
        extra = ["--database-url", args.database_url] if args.database_url else []
        sys.exit(run([bootstrap(), "-m", "flows", "demo", *extra], cwd=TESTKIT, check=False))


if __name__ == "__main__":
    main()
