"""Airbyte source for Planhat."""

from .source import SourcePlanhat

__all__ = ["SourcePlanhat"]
