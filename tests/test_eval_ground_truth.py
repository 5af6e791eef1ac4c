"""Ground truth through the evaluation path scores 0 mm: the mm mapping and scoring that predictions
take (viewpoint rotation, centroid, scale, mirroring, root, bone scale) lose nothing on the way."""

from __future__ import annotations

import numpy as np
import pytest

from handvae.data.cache import open_split
from handvae.eval.metrics import Protocol
from handvae.eval.scoring import score, to_mm


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("root, scale", [("mcp", "gt_bone"), ("wrist", "none"), ("palm", "procrustes")])
def test_cached_ground_truth_scores_zero(tiny_cache, split, root, scale):
    arrays = open_split(tiny_cache / split)
    index = np.arange(len(arrays["pose"]))
    mirrored = np.asarray(arrays["mirrored"]).astype(bool)
    assert mirrored.any() and not mirrored.all()  # both paths are exercised
    gt = np.asarray(arrays["xyz_mm"], np.float64)
    pred_mm = to_mm(np.asarray(arrays["pose"], np.float64), arrays, index)
    np.testing.assert_allclose(pred_mm, gt, atol=1e-2)  # float32 cache: within 0.01 mm
    res = score(pred_mm, gt, np.asarray(arrays["vis"]).astype(bool), Protocol(root=root, scale=scale))
    assert res.mean_epe_mm < 0.02


def test_a_pose_mirrored_the_wrong_way_does_not_score_zero(tiny_cache):
    """The check above can fail: ignoring the mirrored flag costs tens of mm on the mirrored samples."""
    arrays = open_split(tiny_cache / "train")
    mirrored = np.asarray(arrays["mirrored"]).astype(bool)
    index = np.flatnonzero(mirrored)
    wrong = {**{k: arrays[k] for k in ("R_vc", "centroid_mm", "scale_mm")}, "mirrored": ~mirrored}
    pred_mm = to_mm(np.asarray(arrays["pose"], np.float64)[index], wrong, index)
    gt = np.asarray(arrays["xyz_mm"], np.float64)[index]
    res = score(pred_mm, gt, np.asarray(arrays["vis"])[index].astype(bool), Protocol())
    assert res.mean_epe_mm > 5.0


@pytest.mark.parametrize("mirror", ["left", "none"])
def test_stb_ground_truth_scores_zero(tmp_path, mirror):
    """STB format (left hands, SK depth frame to colour frame, palm to wrist): its cache round-trips too."""
    from _data_fixtures import write_stb
    from handvae.data.prepare import PrepareConfig, prepare

    root = write_stb(tmp_path / "stb", seqs=("B2Counting",), n=2)
    out = prepare(PrepareConfig("stb", str(root), size=32, points=64, mirror=mirror), tmp_path / "c", progress=False)
    arrays = open_split(out)
    assert bool(np.asarray(arrays["mirrored"]).all()) == (mirror == "left")
    index = np.arange(len(arrays["pose"]))
    gt = np.asarray(arrays["xyz_mm"], np.float64)
    pred_mm = to_mm(np.asarray(arrays["pose"], np.float64), arrays, index)
    res = score(pred_mm, gt, np.asarray(arrays["vis"]).astype(bool), Protocol())
    assert res.mean_epe_mm < 0.02
