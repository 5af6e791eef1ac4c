"""``handvae metrics`` on files the test writes, in every format and order, and on bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from handvae.cli import main
from handvae.skeleton import reorder


def _data(n=4, seed=0):
    rng = np.random.default_rng(seed)
    gt = rng.normal(size=(n, 21, 3)) * 40 + [0, 0, 500]
    pred = gt.copy()
    pred[:, [j for j in range(21) if j != 12], 2] += 10.0  # 10 mm off everywhere but the root
    return pred, gt


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_npy_in_mm(tmp_path, capsys):
    pred, gt = _data()
    np.save(tmp_path / "pred.npy", pred)
    np.save(tmp_path / "gt.npy", gt)
    out_json = tmp_path / "res.json"
    code, out, _ = _run(capsys, ["metrics", str(tmp_path / "pred.npy"), str(tmp_path / "gt.npy"),
                                 "--scale", "none", "--json", str(out_json)])
    assert code == 0
    res = json.loads(out_json.read_text())
    assert res["mean_epe_mm"] == pytest.approx(200 / 21)
    assert res["protocol"]["scale"] == "none" and res["protocol"]["root"] == "mcp"
    assert "mean EPE" in out and "protocol:" in out


def test_orders_and_formats_agree(tmp_path, capsys):
    pred, gt = _data()
    vis = np.ones((4, 21), bool)
    vis[0, 5] = False
    np.savez(tmp_path / "gt.npz", pose=gt, vis=vis)
    (tmp_path / "pred.json").write_text(json.dumps({"pose": reorder(pred, "rhd", "snap").tolist()}))
    code, _, _ = _run(capsys, ["metrics", str(tmp_path / "pred.json"), str(tmp_path / "gt.npz"), "--pred-order",
                               "snap", "--scale", "none", "--json", str(tmp_path / "r.json")])
    assert code == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["per_joint_count"][5] == 3
    assert res["mean_epe_mm"] == pytest.approx(200 / 21)


def test_stb_order_converts_palm_to_wrist(tmp_path, capsys):
    _, gt = _data()
    # An STB-order ground truth with a palm; the matching RHD prediction has the wrist it implies.
    gt_stb = reorder(gt, "rhd", "stb")
    pred = gt.copy()
    pred[:, 0] = gt[:, 16] + 2 * (gt[:, 0] - gt[:, 16])
    np.save(tmp_path / "gt.npy", gt_stb)
    np.save(tmp_path / "pred.npy", pred)
    code, _, _ = _run(capsys, ["metrics", str(tmp_path / "pred.npy"), str(tmp_path / "gt.npy"), "--gt-order", "stb",
                               "--scale", "none", "--json", str(tmp_path / "r.json")])
    assert code == 0
    assert json.loads((tmp_path / "r.json").read_text())["mean_epe_mm"] == pytest.approx(0.0, abs=1e-9)


def test_normalised_prediction_with_paper_protocol(tmp_path, capsys):
    _, gt = _data()
    bone = np.linalg.norm(gt[:, 12] - gt[:, 11], axis=-1)[:, None, None]
    np.save(tmp_path / "pred.npy", (gt - gt[:, 12:13]) / bone)
    np.save(tmp_path / "gt.npy", gt)
    code, _, _ = _run(capsys, ["metrics", str(tmp_path / "pred.npy"), str(tmp_path / "gt.npy"),
                               "--json", str(tmp_path / "r.json")])
    assert code == 0
    assert json.loads((tmp_path / "r.json").read_text())["mean_epe_mm"] == pytest.approx(0.0, abs=1e-9)


def _bad_cases(tmp_path):
    pred, gt = _data()
    np.save(tmp_path / "gt.npy", gt)
    np.save(tmp_path / "short.npy", pred[:, :20])
    nan = pred.copy()
    nan[2, 3, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "pred.npy", pred)
    np.save(tmp_path / "three.npy", pred[:3])
    (tmp_path / "pred.txt").write_text("1 2 3")
    g = str(tmp_path / "gt.npy")
    return [
        ([str(tmp_path / "missing.npy"), g], "missing.npy", "no such file"),
        ([str(tmp_path / "short.npy"), g], "short.npy", "(N, 21, 3)"),
        ([str(tmp_path / "nan.npy"), g], "nan.npy", "NaN"),
        ([str(tmp_path / "pred.npy"), g, "--pred-order", "coco"], "pred.npy", "rhd, snap, stb"),
        ([str(tmp_path / "three.npy"), g], "three.npy", "expected equal"),
        ([str(tmp_path / "pred.txt"), g], "pred.txt", ".npy, .npz or .json"),
        ([str(tmp_path / "pred.npy"), g, "--scale", "gt_bone"], "pred.npy", "look like mm"),
    ]


def test_bad_input_one_line_exit_2(tmp_path, capsys):
    for argv, name, expected in _bad_cases(tmp_path):
        code, _, err = _run(capsys, ["metrics", *argv, "--scale", "none"] if "--scale" not in argv else
                            ["metrics", *argv])
        assert code == 2, argv
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert name in lines[0] and expected in lines[0], lines[0]


def test_entry_point_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "handvae", "metrics", str(tmp_path / "nope.npy"),
                           str(tmp_path / "gt.npy")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "nope.npy" in proc.stderr
