"""The weights shipped in the package: they reproduce their recorded outputs, stay within the release's size
budget, and each beats a fixed open hand on real photos (when ../shared/realdev is beside the repository)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from handvae.cli import main
from handvae.models.released import (
    DEFAULT_MODEL,
    REPRODUCE_TOLERANCE,
    load_released_file,
    package_released_dir,
    reference_input,
    released_models,
    released_probe_path,
)

SHIPPED = released_models(package_released_dir())


@pytest.mark.skipif(not SHIPPED, reason="no released weights shipped in src/handvae/released/ yet")
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_models_reproduce_their_recorded_outputs(name):
    model, cfg, meta = load_released_file(SHIPPED[name], verify=False)
    assert meta["name"] == name
    with torch.no_grad():
        got = model.predict_pose(reference_input(int(cfg.data.crop_size))).numpy()
    assert np.abs(got - np.asarray(meta["recorded_outputs"])).max() <= REPRODUCE_TOLERANCE


@pytest.mark.skipif(not SHIPPED, reason="no released weights shipped in src/handvae/released/ yet")
def test_the_default_model_is_a_shipped_s4_with_its_hand_probe():
    """Issue 15: handvae predict uses the released S4 (RC2CHP, product of experts) when no model is named."""
    _, cfg, meta = load_released_file(SHIPPED[DEFAULT_MODEL], verify=False)
    assert (cfg.model.strategy, cfg.model.alignment) == ("RC2CHP", "poe") and meta["name"] == DEFAULT_MODEL
    assert released_probe_path(DEFAULT_MODEL) is not None


def test_shipped_files_stay_within_the_release_budget():
    """The release issue's budget: the files shipped in released/ (models and hand probes) together at most 25 MB."""
    files = [f for f in package_released_dir().rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) <= 25e6, sorted((f.name, f.stat().st_size) for f in files)


REALDEV = Path(__file__).resolve().parents[1].parent / "shared" / "realdev"


def fixed_open_hand_pa_epe(gt_mm: np.ndarray) -> float:
    """PA-EPE (mm) of one constant open left hand (the synthetic world's default proportions, all
    joint angles 0) against every ground truth: the floor a model must beat."""
    from handvae.eval.metrics import Protocol, evaluate
    from handvae.synth.hand import HandProportions, forward_kinematics

    hand = forward_kinematics(HandProportions(), np.zeros((5, 4)), side="left").joints
    const = np.repeat(hand[None], len(gt_mm), axis=0)
    return evaluate(const, gt_mm, protocol=Protocol(scale="procrustes")).mean_epe_mm


@pytest.fixture(scope="module")
def realdev_cache(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("realdev")
    assert main(["prepare", "realdev", str(REALDEV), "--out", str(out), "--split", "test", "--size", "128"]) == 0
    return out


@pytest.mark.skipif(not SHIPPED or not (REALDEV / "annotations.npz").is_file(),
                    reason="needs shipped weights and the real development set beside the repository")
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_released_models_beat_a_fixed_open_hand_on_real_photos(realdev_cache, tmp_path, name):
    assert main(["evaluate", "--model", name, "--data", str(realdev_cache), "--out", str(tmp_path / "ev"),
                 "--no-baseline"]) == 0  # fmt: skip
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    pa = next(v["pa"]["mean_epe_mm"] for v in metrics.values())
    floor = fixed_open_hand_pa_epe(np.load(REALDEV / "annotations.npz")["xyz_mm"].astype(np.float64))
    assert 15.0 < floor < 40.0  # sanity of the floor itself (the set's README: 23.83 mm for its open hand)
    assert pa < floor - 2.0, (pa, floor)
