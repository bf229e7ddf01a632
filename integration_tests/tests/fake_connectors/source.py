"""A scripted source for the runner's own tests: emits what FAKE_SOURCE_SCRIPT lists, then exits.

"EXIT1" exits with 1; "SLEEP s" waits s seconds (a source pacing under a rate limit).
"""

import json
import os
import sys
import time

for line in json.loads(os.environ["FAKE_SOURCE_SCRIPT"]):
    if line == "EXIT1":
        sys.exit(1)
    if isinstance(line, str) and line.startswith("SLEEP "):
        time.sleep(float(line.split()[1]))
        continue
    print(line if isinstance(line, str) else json.dumps(line), flush=True)
