from .source import SourcePylon

__all__ = ["SourcePylon"]
