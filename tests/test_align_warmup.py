"""S3's alignment warm-up: lambda' ramps linearly from 0 over align_warmup_steps; 0 keeps the paper's constant."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import tiny_overrides
from handvae.config import load_config
from handvae.models.criterion import ALIGN_TERM, Criterion
from handvae.models.strategy import compile_strategy
from handvae.schema import Config
from handvae.train.trainer import Trainer


def test_the_align_weight_is_lambda_align_times_the_scale():
    cfg = load_config(Config, None, ["model.strategy=S3", "loss.lambda_align=2.0"])
    crit = Criterion(compile_strategy("S3", cfg.model.alignment), cfg.loss)
    assert crit.weights(1e-3)[ALIGN_TERM] == 2.0  # no warm-up: the constant of Eq. 3
    crit.align_scale = 0.25
    w = crit.weights(1e-3)
    assert w[ALIGN_TERM] == 0.5 and w["R:pose"] == cfg.loss.lambda_pose  # only the alignment term moves
    terms = {ALIGN_TERM: torch.tensor(3.0), "R:pose": torch.tensor(1.0)}
    assert float(crit.total(terms, 1e-3)) == pytest.approx(0.5 * 3.0 + cfg.loss.lambda_pose)


@pytest.mark.parametrize(("warmup", "want"), [(4, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]), (0, None)])
def test_the_trainer_ramps_it_by_step(tiny_cache, tmp_path, warmup, want):
    over = tiny_overrides(tiny_cache, tmp_path / "s3", **{"model.strategy": "S3", "trainer.max_steps": 6,
                                                          "trainer.align_warmup_steps": warmup})
    Trainer(load_config(Config, None, over)).fit(progress=False)
    logged = [json.loads(line) for line in (tmp_path / "s3" / "log.jsonl").read_text().splitlines()]
    scales = [r.get("align_scale") for r in logged if r["kind"] == "train"]
    # the scale of step k (logged as step k + 1) is min(1, k / warmup); without a warm-up nothing is logged
    assert scales == (want if want else [None] * 6)
