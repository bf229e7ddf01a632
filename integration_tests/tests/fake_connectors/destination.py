"""A destination for the runner's own tests: echoes STATE after the records before it, or fails on cue.

FAKE_DEST_FAIL_AFTER=N makes it report an error and exit after N records.
"""

import json
import os
import sys

fail_after = int(os.environ.get("FAKE_DEST_FAIL_AFTER", "-1"))
seen = 0
for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "RECORD":
        seen += 1
        if seen == fail_after:
            error = {"message": "the warehouse is full", "failure_type": "config_error"}
            print(json.dumps({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0, "error": error}}))
            sys.exit(1)
    elif message["type"] == "STATE":
        print(json.dumps(message), flush=True)
