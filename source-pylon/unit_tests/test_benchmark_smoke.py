"""The backfill benchmark (integration_tests/benchmarks) at a small size: it runs, and its request targets hold."""

from __future__ import annotations

import importlib.util

from .conftest import CONNECTOR_ROOT

BENCHMARK = CONNECTOR_ROOT.parent / "integration_tests" / "benchmarks" / "source_pylon_backfill.py"


def test_backfill_benchmark_smoke(capsys):
    spec = importlib.util.spec_from_file_location("source_pylon_backfill", BENCHMARK)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    # At 40 issues the fixed cost of one search window dominates the floor, so only requests are held tight.
    code = benchmark.main(["--size", "40", "--messages", "2", "--time-scale", "300", "--wall-target", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all targets met" in out
