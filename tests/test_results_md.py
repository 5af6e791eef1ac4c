"""docs/RESULTS.md is generated from results.json: rows, the ordering verdict and the plots."""

from __future__ import annotations

import json

from handvae.experiments.results_md import main

PROTO = {"root": "mcp", "scale": "gt_bone", "visible_only": True}


def _row(name, epe, paper=None):
    return {"name": name, "run": "r", "mean_epe_mm": epe, "median_epe_mm": epe - 1, "auc_20_50": 0.5, "auc_0_50": 0.4,
            "pck_curve": [i / 19 for i in range(20)], "pck_thresholds_mm": [50 * i / 19 for i in range(20)],
            "protocol": PROTO, "baseline_mean_epe_mm": 50.0, "train_seconds": 12.0, "paper_rhd_mean_epe_mm": paper}


def _results(epes):
    names = ["S1 (R2P)", "S2 (R2HP)", "S3 (RC2CHP, KL)", "S4 (RC2CHP, PoE)"]
    return {"environment": {"git_commit": "abc", "handvae": "0.1.0", "torch": "2.13.0", "platform": "linux"},
            "plan": {"train": 10, "test": 5, "seed": 0, "image_size": 96, "steps": 3, "weak_steps": 2},
            "table1": [_row(n, e, 16.61) for n, e in zip(names, epes)],
            "weak": [{"fraction": 0.1, "semi": _row("semi", 30.0), "alone": _row("alone", 40.0)}]}


def test_render_reports_rows_gain_and_ordering(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_results([40.0, 36.0, 34.0, 30.0])))
    out = tmp_path / "docs" / "RESULTS.md"
    assert main([str(path), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| S4 (RC2CHP, PoE) | 30.00 | 29.00 | 0.500 | 50.00 | 12 | 16.61 |" in text
    assert "+25.0% lower mean EPE" in text and "holds here" in text  # 1 - 30/40
    assert "| 10% | 30.00 | 40.00 | -25.0% |" in text
    assert (out.parent / "results_pck.png").stat().st_size > 0 and (out.parent / "results_weak.png").is_file()


def test_render_says_when_the_ordering_fails(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_results([40.0, 36.0, 29.0, 30.0])))
    out = tmp_path / "RESULTS.md"
    main([str(path), "--out", str(out)])
    assert "does not hold here" in out.read_text()
