"""The Planhat emulator: every model of reference/planhat-api.md over real HTTP (see api.py)."""

from .api import PlanhatEmulator

EMULATOR = PlanhatEmulator

__all__ = ["EMULATOR", "PlanhatEmulator"]
