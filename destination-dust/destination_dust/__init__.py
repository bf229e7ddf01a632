"""Airbyte destination for Dust: records as readable documents (or table rows), paced at Dust's limit."""

from .destination import DestinationDust

__all__ = ["DestinationDust"]
