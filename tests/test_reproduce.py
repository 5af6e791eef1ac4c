"""handvae reproduce's rows: an interrupted row resumes from its checkpoint, and rows record how they were selected."""

from __future__ import annotations

import json

from conftest import tiny_overrides
from handvae import checkpoint as ck
from handvae.experiments.reproduce import train_and_evaluate


def test_an_interrupted_row_resumes_and_sums_its_training_time(tiny_cache, tmp_path):
    run = tmp_path / "s1"

    def row(steps: int) -> dict:
        over = tiny_overrides(tiny_cache, run, **{"model.strategy": "S1", "trainer.max_steps": steps})
        return train_and_evaluate("S1 (R2P)", None, over, run, tiny_cache)

    first = row(3)
    assert first["val_split"] == "holdout" and first["val_holdout"] == 16  # selection never on the test split
    assert first["train_seconds"] > 0
    # An interruption after step 3 of a longer row: no evaluation yet, a checkpoint and a log on disk.
    (run / "eval" / "metrics.json").unlink()
    with open(run / "log.jsonl", "a") as fh:
        fh.write(json.dumps({"step": 3, "kind": "marker"}) + "\n")
    second = row(5)
    assert ck.read_checkpoint(run / "checkpoints" / "last.safetensors")[1]["state"]["step"] == 5
    assert '"marker"' in (run / "log.jsonl").read_text()  # resumed: a restarted run starts a fresh log
    assert second["train_seconds"] > first["train_seconds"]  # the trainer's time, summed over the resume
    assert (run / "eval" / "metrics.json").is_file() and second["mean_epe_mm"] > 0
