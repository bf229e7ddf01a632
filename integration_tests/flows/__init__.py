"""Run the suite's flows from a shell: `python -m flows run pylon-to-dust`."""
