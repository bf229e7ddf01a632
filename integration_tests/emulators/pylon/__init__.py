"""The Pylon API emulator: `emulators.pylon.EMULATOR` is what `python -m emulators pylon` serves.

data.py generates the workspace, api.py serves it, paging.py and search.py hold the API's
pagination and filter rules, catalog.py the fixed vocabularies.
"""

from .api import PylonEmulator

EMULATOR = PylonEmulator

__all__ = ["EMULATOR", "PylonEmulator"]
