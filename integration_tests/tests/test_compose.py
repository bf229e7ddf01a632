"""Static checks of docker-compose.yml: there is no Docker engine on CI machines, so this is what
guards `docker compose up` from a typo until one runs it."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_every_build_context_has_its_dockerfile():
    """A missing context or Dockerfile fails `docker compose build` for every user."""
    services = compose()["services"]
    built = {name: svc["build"] for name, svc in services.items() if "build" in svc}
    assert built, "no service is built from this repository"
    for name, build in built.items():
        context = build if isinstance(build, str) else build["context"]
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (REPO / context / dockerfile).is_file(), f"{name}: {context}/{dockerfile} does not exist"


def test_emulator_services_name_emulators_that_exist():
    """An emulator service whose name does not resolve would exit at once in the demo stack."""
    for name, svc in compose()["services"].items():
        if not name.endswith("-emulator"):
            continue
        emulator = svc["command"][0]
        module = importlib.import_module(f"emulators.{emulator}")
        assert hasattr(module, "EMULATOR"), f"{name}: emulators.{emulator} has no EMULATOR"
        assert "0.0.0.0" in svc["command"], f"{name} must listen on all interfaces inside its container"
