"""Runs a real connector and SIGKILLs it after it has been fed N input lines, like a crashed container.

python killer.py N command...
"""

import signal
import subprocess
import sys
import threading

limit = int(sys.argv[1])
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=sys.stdout.buffer)


def feed():
    for fed, line in enumerate(sys.stdin.buffer, 1):
        try:
            child.stdin.write(line)
            child.stdin.flush()
        except BrokenPipeError:
            return
        if fed >= limit:
            child.send_signal(signal.SIGKILL)
            return
    child.stdin.close()


threading.Thread(target=feed, daemon=True).start()
sys.exit(child.wait() and 137)
