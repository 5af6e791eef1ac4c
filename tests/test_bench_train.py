"""benchmarks/bench_train.py runs end to end on its own tiny synthetic set (the S4 / S1 figure of docs/RESULTS.md)."""

from __future__ import annotations

from conftest import load_script


def _bench_train():
    return load_script("benchmarks/bench_train.py")


def test_bench_train_runs_on_its_own_tiny_set(capsys):
    _bench_train().main(["--samples", "40", "--batch", "4", "--steps", "1", "--rounds", "2", "--warmup", "0"])
    out = capsys.readouterr().out
    assert "S1:" in out and "S4:" in out and "S4 / S1 throughput:" in out


def test_bench_train_compares_variants_in_one_run(capsys):
    module = _bench_train()
    module.main(["--samples", "40", "--batch", "4", "--steps", "1", "--rounds", "1", "--warmup", "0",
                 "--compare", "nchw=trainer.channels_last=false", "bf16=trainer.amp=bf16"])
    out = capsys.readouterr().out
    for line in ("S1 nchw:", "S4 bf16:", "S4 / S1 throughput nchw:", "S1 bf16 / S1 nchw:", "S4 bf16 / S4 nchw:"):
        assert line in out, out
    assert module.parse_variants([]) == {"": ()}
    assert module.parse_variants(["a=x=1,y=2"]) == {"a": ("x=1", "y=2")}
