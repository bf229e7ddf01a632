"""The Dust public API (reference/dust-api.md) as a stateful fake: documents, tables, rows, limits.

`DustEmulator` keeps one workspace with one space holding a writable data source and a data
source managed by a Dust connector; every validation the reference lists answers with Dust's
status and error type, upserts share the 120/min sliding window, and each upsert takes a
configurable time, longer for big documents. Tests inspect the stored data in-process
(`emulator.documents()`, `emulator.rows()`) or over HTTP under `/_emulator/dust/`.
"""

from .api import DustEmulator, StoredDocument

EMULATOR = DustEmulator

__all__ = ["EMULATOR", "DustEmulator", "StoredDocument"]
