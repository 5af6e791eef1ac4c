"""benchmarks/bench_train.py runs end to end on its own tiny synthetic set (the S4 / S1 figure of docs/RESULTS.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def test_bench_train_runs_on_its_own_tiny_set(capsys):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"
    spec = importlib.util.spec_from_file_location("bench_train", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--samples", "40", "--batch", "4", "--steps", "1", "--rounds", "2", "--warmup", "0"])
    out = capsys.readouterr().out
    assert "S1:" in out and "S4:" in out and "S4 / S1 throughput:" in out
