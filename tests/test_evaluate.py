"""``handvae evaluate`` on a tiny trained run: every file, numbers that recompute from the predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import _by_hand as by_hand
from handvae.cli import main
from handvae.data.cache import open_split
from handvae.eval.metrics import Protocol, evaluate
from handvae.models.load import load_model


def test_evaluate_writes_consistent_files(tiny_run, tiny_cache, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["evaluate", str(tiny_run), "--data", str(tiny_cache), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mean pose (baseline)" in printed and "protocol: root: middle MCP" in printed
    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "report.md", "pck.png", "per_joint_s4.png", "predictions_s4.npz"} <= names
    metrics = json.loads((out / "metrics.json").read_text())
    ours = metrics["s4"]
    assert ours["protocol"]["root"] == "mcp" and ours["protocol"]["scale"] == "gt_bone"
    for name in ("s4", "mean pose (baseline)"):  # PA-EPE beside the headline, for every row
        assert metrics[name]["pa"]["protocol"]["scale"] == "procrustes"
        assert f"PA-EPE {metrics[name]['pa']['mean_epe_mm']:7.2f} mm" in printed
    data = np.load(out / "predictions_s4.npz")
    assert data["pred_mm"].shape == (24, 21, 3) and data["gt_mm"].shape == (24, 21, 3)
    # the saved arrays are the test split's ground truth and the model's RGB predictions, mapped to mm by hand
    cached = open_split(tiny_cache / "test")
    np.testing.assert_array_equal(data["gt_mm"], cached["xyz_mm"])
    np.testing.assert_array_equal(data["vis"], cached["vis"])
    np.testing.assert_array_equal(data["index"], np.arange(24))
    model, _, _ = load_model(tiny_run)
    want_mm = by_hand.to_mm(by_hand.rgb_predictions(model, cached["image"]), cached)
    np.testing.assert_allclose(data["pred_mm"], want_mm, rtol=0, atol=1e-3)
    # the headline and the mean-pose baseline, scored by hand (middle-MCP root, visible joints only)
    assert ours["mean_epe_mm"] == pytest.approx(by_hand.mean_epe(want_mm, cached), rel=1e-5)
    mean_pose = np.asarray(open_split(tiny_cache / "train")["pose"], np.float64).mean(axis=0)
    baseline_mm = by_hand.to_mm(np.broadcast_to(mean_pose, (24, 21, 3)), cached)
    assert metrics["mean pose (baseline)"]["mean_epe_mm"] == pytest.approx(by_hand.mean_epe(baseline_mm, cached),
                                                                            rel=1e-5)
    # Recompute from the saved camera-frame mm predictions: the pinned protocol with the GT bone as scale
    # equals plain root-relative mm errors when the prediction already carries that scale.
    again = evaluate(data["pred_mm"], data["gt_mm"], data["vis"], Protocol(scale="none"))
    assert again.mean_epe_mm == pytest.approx(ours["mean_epe_mm"], rel=1e-5)
    assert again.auc_20_50 == pytest.approx(ours["auc_20_50"], abs=1e-6)
    aligned = evaluate(data["pred_mm"], data["gt_mm"], data["vis"], Protocol(scale="procrustes"))
    assert aligned.mean_epe_mm == pytest.approx(ours["pa"]["mean_epe_mm"], rel=1e-5)
    report = (out / "report.md").read_text()
    assert f"{ours['mean_epe_mm']:.2f}" in report and "Protocol:" in report
    with Image.open(out / "pck.png") as im:
        assert im.format == "PNG" and im.size[0] > 300


def test_evaluate_bad_inputs(tiny_run, tmp_path, capsys):
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"not a checkpoint")
    assert main(["evaluate", str(bad), "--data", str(tmp_path)]) == 2
    assert "weights.pth" in capsys.readouterr().err
    assert main(["evaluate", str(tiny_run), "--data", str(tmp_path / "nocache"), "--out", str(tmp_path / "o")]) == 2
    assert "nocache" in capsys.readouterr().err
