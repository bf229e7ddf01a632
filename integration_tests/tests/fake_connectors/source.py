"""A scripted source for the runner's own tests: emits what FAKE_SOURCE_SCRIPT lists, then exits."""

import json
import os
import sys

for line in json.loads(os.environ["FAKE_SOURCE_SCRIPT"]):
    if line == "EXIT1":
        sys.exit(1)
    print(line if isinstance(line, str) else json.dumps(line), flush=True)
