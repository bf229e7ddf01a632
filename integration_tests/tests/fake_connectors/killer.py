"""Runs a real connector and SIGKILLs it after N lines, like a container killed mid-sync.

python killer.py stdin N command...    # after feeding it N input lines (a destination)
python killer.py stdout N command...   # after it printed N output lines (a source)
"""

import signal
import subprocess
import sys
import threading

side, limit, command = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
child = subprocess.Popen(
    command,
    stdin=subprocess.PIPE if side == "stdin" else subprocess.DEVNULL,
    stdout=subprocess.PIPE if side == "stdout" else sys.stdout.buffer,
)


def count_and_kill(lines, forward):
    for seen, line in enumerate(lines, 1):
        try:
            forward(line)
        except BrokenPipeError:
            return
        if seen >= limit:
            child.send_signal(signal.SIGKILL)
            return
    if side == "stdin":  # input ended before the limit: pass the end on, or the child waits for more forever
        try:
            child.stdin.close()
        except BrokenPipeError:
            pass


if side == "stdin":

    def feed(line):
        child.stdin.write(line)
        child.stdin.flush()

    worker = threading.Thread(target=count_and_kill, args=(sys.stdin.buffer, feed), daemon=True)
else:

    def show(line):
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()

    worker = threading.Thread(target=count_and_kill, args=(child.stdout, show), daemon=True)
worker.start()
code = child.wait()
if side == "stdin" and code == 0:
    sys.exit(0)
sys.exit(137 if code < 0 else code)
