"""Reports: Markdown tables carry the numbers and protocol; plots are real PNGs."""

import numpy as np
from PIL import Image

from handvae.eval.metrics import Protocol, evaluate
from handvae.eval.report import markdown_report, plot_pck, plot_per_joint


def _results():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(6, 21, 3)) * 40
    a = evaluate(gt + rng.normal(size=gt.shape) * 3, gt, protocol=Protocol(scale="none"))
    b = evaluate(gt + rng.normal(size=gt.shape) * 9, gt, protocol=Protocol(scale="none"))
    return {"A": a, "B": b}


def test_markdown_has_rows_numbers_and_protocol():
    res = _results()
    md = markdown_report(res, title="T")
    assert f"| A | 6 | {res['A'].mean_epe_mm:.2f} |" in md
    assert f"{res['B'].auc_20_50:.3f}" in md
    assert "scale: none (prediction in mm)" in md and "middle MCP" in md
    assert md.count("\n| ") >= 2 + 21


def test_plots_are_pngs(tmp_path):
    res = _results()
    plot_pck(res, tmp_path / "pck.png")
    plot_per_joint(res["A"], tmp_path / "joints.png")
    for name in ("pck.png", "joints.png"):
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joints.png", "pck.png"]


def test_markdown_puts_pa_epe_beside_the_headline():
    res = _results()
    assert "PA-EPE" not in markdown_report(res)
    gt = np.random.default_rng(1).normal(size=(6, 21, 3)) * 40
    res["A"].pa = evaluate(gt * 0.9 + 5.0, gt, protocol=Protocol(scale="procrustes"))  # 0 mm once aligned
    md = markdown_report(res)
    assert "| mean EPE (mm) | PA-EPE (mm) | median EPE (mm) |" in md
    assert f"| A | 6 | {res['A'].mean_epe_mm:.2f} | {res['A'].pa.mean_epe_mm:.2f} | " in md
    assert f"| B | 6 | {res['B'].mean_epe_mm:.2f} | - | " in md and "Procrustes alignment" in md
    assert res["A"].pa_epe_mm < 1e-6 and res["B"].pa_epe_mm is None
    assert "PA-EPE" in res["A"].table() and "PA-EPE" not in res["B"].table()
