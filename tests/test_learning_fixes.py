"""What made learning slow, each fixed and checked: the hand's side, a held-out validation split,
per-ELBO decoding, decoder initial scales, the beta ramp in steps, the schedule and the time budget."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import tiny_overrides
from handvae.config import load_config
from handvae.data.batches import build_loader
from handvae.data.cache import open_split
from handvae.data.rhd import RHDReader
from handvae.errors import UserError
from handvae.models import build_criterion, build_model
from handvae.models.decoders import FoldingDecoder, PoseDecoder
from handvae.schema import Config
from handvae.train.schedule import cosine_lr
from handvae.train.trainer import Trainer


def _cfg(cache, out, **extra):
    return load_config(Config, None, tiny_overrides(cache, out, **extra))


# --- the hand's side --------------------------------------------------------------------------------
def test_prepare_mirrors_left_hands_by_default(tiny_cache):
    """Every cached sample is a right hand: exactly the reader's left hands carry the mirrored flag."""
    world = tiny_cache.parent / "rhd"
    for split in ("train", "test"):
        reader = RHDReader(str(world), split)
        sides = np.array([reader.read(i).side for i in range(len(reader))])
        mirrored = np.asarray(open_split(tiny_cache / split, ["mirrored"])["mirrored"]).astype(bool)
        np.testing.assert_array_equal(mirrored, sides == "left")
    assert 0 < mirrored.sum() < mirrored.size  # the fixture world has both sides


# --- validation held out from training -----------------------------------------------------------------
def test_validation_is_the_held_out_tail_of_the_training_split(tiny_cache, tmp_path):
    cfg = _cfg(tiny_cache, tmp_path / "r", **{"data.val_holdout": 16})
    train = build_loader(cfg.data, cfg.data.train_split, 16, train=True, modalities="R")
    val = build_loader(cfg.data, cfg.data.val_split, 16, train=False, modalities="R")
    seen_train = {int(i) for b in train for i in b["index"]}
    seen_val = [int(i) for b in val for i in b["index"]]
    assert seen_train == set(range(80)) and seen_val == list(range(80, 96))
    # the weak-supervision 'first N' still counts from the start of what training may use
    cfg.data.max_samples = 200
    assert build_loader(cfg.data, "train", 16, train=True, modalities="R").n == 80


def test_the_trainer_never_selects_on_the_test_split(tiny_cache, tmp_path):
    trainer = Trainer(_cfg(tiny_cache, tmp_path / "r", **{"trainer.max_steps": 1}))
    assert trainer.val_data.split_dir.name == "train" and trainer.val_data.start == 96 - 16
    images = np.asarray(open_split(tiny_cache / "train", ["image"])["image"])
    val_batch = next(iter(trainer.val_data))
    np.testing.assert_allclose(val_batch["R"][0].permute(1, 2, 0).numpy() * 255.0, images[80], atol=1e-3)


def test_a_holdout_too_large_names_the_key(tiny_cache, tmp_path):
    with pytest.raises(UserError, match=r"data\.val_holdout=60"):
        Trainer(_cfg(tiny_cache, tmp_path / "r", **{"data.val_holdout": 60}))


# --- each ELBO decoded alone --------------------------------------------------------------------------
def _encoder_grads(model, term) -> dict[str, bool]:
    model.zero_grad(set_to_none=True)
    term.backward(retain_graph=True)
    out = {}
    for name, mod in [*model.encoders.items(), *model.joint.items()]:
        out[name] = any(p.grad is not None and p.grad.abs().sum() > 0 for p in mod.parameters())
    return out


@pytest.mark.parametrize("strategy", ["S3", "S4"])
def test_each_loss_term_reaches_only_its_own_encoders(tiny_cache, tmp_path, strategy):
    """In training mode (BatchNorm on batch statistics) a term of ELBO ``e`` moves only e's encoders."""
    cfg = _cfg(tiny_cache, tmp_path / "r", **{"model.strategy": strategy})
    torch.manual_seed(0)
    model, criterion = build_model(cfg).train(), build_criterion(cfg)
    batch = next(iter(build_loader(cfg.data, "train", 8, modalities="RCHP")))
    terms = criterion(model(batch), batch, 1e-3)
    own = {"R": {"R"}, "C": {"C"}, "RC": {"RC"} if strategy == "S3" else {"R", "C"}}
    for name, value in terms.items():
        expected = {"R", "RC"} if name == "align:kl" else own[name.split(":")[0]]
        reached = {k for k, hit in _encoder_grads(model, value).items() if hit}
        assert reached == expected, f"{strategy} term {name} reaches {reached}, expected {expected}"


# --- decoders start at their targets' scale ---------------------------------------------------------------
def test_foldingnet_first_cloud_has_the_clouds_scale():
    """Hand-surface clouds have rms ~0.38 per coordinate about their centroid (normalised units);
    3 tanh of a unit-normal BatchNorm output would give ~1.9."""
    torch.manual_seed(0)
    dec = FoldingDecoder(64, n_points=144, width_mult=0.25).train()
    cloud = dec(0.5 * torch.randn(32, 64))
    rms = float((cloud - cloud.mean(dim=1, keepdim=True)).detach().pow(2).mean().sqrt())
    assert 0.2 < rms < 0.7


def test_pose_mlp_passes_the_latents_scale_through_its_relu_layers():
    """He initialisation keeps E[h^2] through ReLU layers (PyTorch's default loses ~2.4x per layer)."""
    torch.manual_seed(0)
    dec = PoseDecoder(64)
    z = torch.randn(4096, 64)
    h = z
    for layer in list(dec.net)[:-1]:
        h = layer(h)
    ratio = float((h.pow(2).mean().sqrt() / z.pow(2).mean().sqrt()).detach())
    assert 0.6 < ratio < 1.6


# --- schedules --------------------------------------------------------------------------------------------
def test_the_beta_ramp_is_given_in_steps_whatever_the_dataset_size(tiny_cache, tmp_path):
    a = Trainer(_cfg(tiny_cache, tmp_path / "a", **{"data.max_samples": 16, "trainer.beta_anneal_steps": 40}))
    b = Trainer(_cfg(tiny_cache, tmp_path / "b", **{"data.max_samples": 64, "trainer.beta_anneal_steps": 40}))
    assert a.steps_per_epoch != b.steps_per_epoch and a.anneal_steps == b.anneal_steps == 40


def test_cosine_lr_by_hand():
    assert cosine_lr(0, 1.0, 10, 110) == pytest.approx(0.1)
    assert cosine_lr(9, 1.0, 10, 110) == pytest.approx(1.0)
    assert cosine_lr(10, 1.0, 10, 110) == pytest.approx(1.0)
    assert cosine_lr(60, 1.0, 10, 110) == pytest.approx(0.5)
    assert cosine_lr(35, 1.0, 10, 110) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine_lr(110, 1.0, 10, 110) == pytest.approx(0.0, abs=1e-12)


def test_cosine_schedule_sets_the_lr_every_step(tiny_cache, tmp_path):
    cfg = _cfg(tiny_cache, tmp_path / "r", **{"model.strategy": "S1", "trainer.schedule": "cosine",
                                              "trainer.warmup_steps": 2, "trainer.max_steps": 6})
    trainer = Trainer(cfg)
    trainer.fit(progress=False)
    import json

    lrs = [json.loads(x)["lr"] for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines() if '"train"' in x]
    expected = [cosine_lr(s, 1e-3, 2, 6) for s in range(6)]
    assert lrs == pytest.approx(expected)


def test_a_time_budget_ends_the_run_with_a_validation(tiny_cache, tmp_path):
    cfg = _cfg(tiny_cache, tmp_path / "r", **{"model.strategy": "S1", "trainer.max_minutes": 1e-7,
                                              "trainer.max_steps": 50, "trainer.val_every": 100})
    summary = Trainer(cfg).fit(progress=False)
    assert summary["steps"] == 1
    (entry,) = summary["history"]
    assert entry["step"] == 1 and entry["samples"] == 16 and entry["train_seconds"] > 0


def test_the_logged_loss_is_the_weighted_sum_of_the_logged_terms(tiny_cache, tmp_path):
    """``loss = sum_k w_k term_k`` with the paper's weights: pose 1, heat 0.01, chamfer/emd lambda_cloud, kl beta."""
    import json

    cfg = _cfg(tiny_cache, tmp_path / "r", **{"model.strategy": "S4", "trainer.max_steps": 2,
                                              "loss.lambda_cloud": 0.5, "loss.lambda_heat": 0.01})
    Trainer(cfg).fit(progress=False)
    records = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines() if '"train"' in x]
    assert len(records) == 2
    weight = {"pose": 1.0, "heat": 0.01, "chamfer": 0.5, "emd": 0.5}
    for r in records:
        terms = {k: v for k, v in r.items() if ":" in k}
        assert {k.split(":")[1] for k in terms} == {"pose", "heat", "chamfer", "emd", "kl"}
        want = sum(v * (r["beta"] if k.endswith(":kl") else weight[k.split(":")[1]]) for k, v in terms.items())
        assert r["loss"] == pytest.approx(want, rel=1e-5)


def test_plateau_state_of_an_older_checkpoint_still_loads():
    """Checkpoints written before ``Plateau.stopped`` was removed carry it in their state."""
    from handvae.train.schedule import Plateau

    p = Plateau()
    p.load_state_dict({"patience": 3, "max_drops": 2, "min_delta": 0.0, "best": 41.5, "bad_evals": 1, "drops": 1,
                       "stopped": False})
    assert (p.patience, p.best, p.bad_evals, p.drops) == (3, 41.5, 1, 1) and not hasattr(p, "stopped")
