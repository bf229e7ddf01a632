"""The backfill benchmark (integration_tests/benchmarks) at a small size: it runs, and its request targets hold."""

from __future__ import annotations

import importlib.util
import logging

from .conftest import CONNECTOR_ROOT

BENCHMARK = CONNECTOR_ROOT.parent / "integration_tests" / "benchmarks" / "source_pylon_backfill.py"


def test_backfill_benchmark_smoke(capsys):
    spec = importlib.util.spec_from_file_location("source_pylon_backfill", BENCHMARK)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    # The benchmark points every root StreamHandler at its log file, pytest's capture handlers included,
    # which then fail at teardown: give them their streams back.
    streams = [(h, h.stream) for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    try:
        # At 40 issues the fixed cost of one search window dominates the floor, so only requests are held tight.
        code = benchmark.main(["--size", "40", "--messages", "2", "--time-scale", "300", "--wall-target", "5"])
    finally:
        for handler, stream in streams:
            handler.setStream(stream)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "verdict: PASS" in out
