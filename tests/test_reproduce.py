"""handvae reproduce's rows: an interrupted row resumes from its checkpoint, and rows record how they were selected."""

from __future__ import annotations

import json

import pytest

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


def test_a_weak_run_is_neither_reused_nor_resumed_with_other_batches(tiny_cache, tmp_path):
    import pytest

    from handvae.errors import UserError

    run = tmp_path / "semi"

    def row(steps: int, batches: str) -> dict:
        over = tiny_overrides(tiny_cache, run, **{"model.strategy": "S1", "trainer.max_steps": steps,
                                                  "data.labelled_fraction": 0.25, "data.weak_batches": batches})
        return train_and_evaluate("semi", None, over, run, tiny_cache)

    row(3, "mixed")  # 80 training samples, the first 20 labelled
    with pytest.raises(UserError, match=r"trained with data\.weak_batches=mixed, now paired"):
        row(3, "paired")  # the finished run is not reused as if it had drawn paired batches
    (run / "eval" / "metrics.json").unlink()
    with pytest.raises(UserError, match=r"last\.safetensors: trained with data\.weak_batches=mixed, now paired"):
        row(5, "paired")  # nor resumed with them
    assert "weak_batches: mixed" in (run / "config.yaml").read_text()  # refused before the folder is rewritten
    assert row(5, "mixed")["mean_epe_mm"] > 0  # with its own batches it resumes


def test_the_labelled_part_alone_is_exactly_the_semi_supervised_runs_labelled_samples(tiny_cache, tmp_path,
                                                                                        monkeypatch):
    from pathlib import Path

    from handvae.config import load_config
    from handvae.data.batches import build_loader
    from handvae.experiments import reproduce as rp
    from handvae.schema import Config

    calls = []
    monkeypatch.setattr(rp, "train_and_evaluate", lambda name, cfg_file, over, run_dir, cache: calls.append(
        (name, cfg_file, over)) or {"name": name})
    configs = Path(rp.__file__).resolve().parents[1] / "configs" / "cpu"
    settings = rp.ReproduceSettings(out=tmp_path, configs=configs, weak=(0.25,), weak_steps=3,
                                    overrides=("data.val_holdout=16", "data.crop_size=32"))
    rp._weak_runs(settings, configs, tiny_cache, {"weak": []}, 0.0)
    loaders = {name.split()[0]: build_loader(load_config(Config, cfg_file, [f"data.cache={tiny_cache}", *over]).data,
                                             "train", 4, modalities="RP")
               for name, cfg_file, over in calls}
    assert loaders["semi"].n_labelled == loaders["alone"].n == 20  # 25% of the 96 - 16 samples training may use
    assert loaders["semi"].paired and loaders["semi"].indices(0).view(-1, 8)[:, :4].reshape(-1).tolist() == (
        loaders["alone"].indices(0)[: len(loaders["semi"]) * 4].tolist())  # in the alone run's order


@pytest.mark.parametrize(("extra", "want"), [([], 7), (["--weak-steps", "3"], 3)])
def test_weak_runs_take_table_1s_steps_unless_told(monkeypatch, tmp_path, extra, want):
    """At 400 steps every weak-supervision run stayed at the floor: ``--weak-steps`` follows ``--steps``."""
    from handvae.cli import main
    from handvae.experiments import reproduce as rp

    seen = []
    monkeypatch.setattr(rp, "reproduce", lambda settings, preset: seen.append(settings))
    assert main(["reproduce", "--out", str(tmp_path), "--steps", "7", *extra]) == 0
    assert (seen[0].steps, seen[0].weak_steps) == (7, want)
