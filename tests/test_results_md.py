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
            "settings": {"train": 10, "test": 5, "seed": 0, "image_size": 96, "steps": 3, "weak_steps": 2,
                     "overrides": ["data.augment=false"]},
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
    assert "overrides on every run: `data.augment=false`" in text
    assert (out.parent / "results_pck.png").stat().st_size > 0 and (out.parent / "results_weak.png").is_file()


def test_render_lists_the_parts_of_an_assembled_results_file(tmp_path):
    results = _results([40.0, 36.0, 34.0, 30.0])
    results["parts"] = ["rows A from run X", "rows B from run Y"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    out = tmp_path / "RESULTS.md"
    assert main([str(path), "--out", str(out)]) == 0
    text = out.read_text()
    assert "- part: rows A from run X\n- part: rows B from run Y\n" in text


def test_render_says_when_the_ordering_fails(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_results([40.0, 36.0, 29.0, 30.0])))
    out = tmp_path / "RESULTS.md"
    main([str(path), "--out", str(out)])
    assert "does not hold here" in out.read_text()
    path.write_text(json.dumps(_results([40.0, 36.0, 34.0, 42.0])))
    main([str(path), "--out", str(out)])
    assert "S4 vs S1: 5.0% higher mean EPE" in out.read_text()  # 42 / 40 - 1


def test_render_seed_spread_and_the_quarter_labels_verdict(tmp_path):
    results = _results([40.0, 36.0, 34.0, 30.0])
    s1, s4 = results["table1"][0], results["table1"][3]
    results["seeds"] = [{"name": s1["name"], "seeds": [0, 1, 2], "runs": [s1, _row("a", 42.0), _row("b", 44.0)]},
                        {"name": s4["name"], "seeds": [0, 1, 2], "runs": [s4, _row("c", 31.0), _row("d", 29.0)]}]
    results["weak"].append({"fraction": 0.25, "semi": _row("semi", 39.0), "alone": _row("alone", 45.0)})
    results["cloud_weight"] = [_row("S4 (RC2CHP, PoE), lambda_cloud 0.01", 28.5)]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    out = tmp_path / "RESULTS.md"
    main([str(path), "--out", str(out)])
    text = out.read_text()
    # S1: 40, 42, 44 -> mean 42, sample std 2; S4: 30, 31, 29 -> mean 30, std 1; 1 - 30/42 = 28.6%
    assert "| S1 (R2P) | 40.00 | 42.00 | 44.00 | 42.00 | 2.00 |" in text
    assert "| S4 (RC2CHP, PoE) | 30.00 | 31.00 | 29.00 | 30.00 | 1.00 |" in text
    assert "S4 vs S1 over the seeds: +28.6% lower mean EPE" in text
    assert "| S4 (RC2CHP, PoE), lambda_cloud 0.01 | 28.50 | 27.50 | 0.500 | 12 |" in text
    assert "semi-supervised RC2CHP (39.00 mm, 2 steps) beats fully supervised S1 (40.00 mm, 3 steps)" in text


def test_render_states_how_checkpoints_were_chosen(tmp_path):
    results = _results([40.0, 36.0, 34.0, 30.0])
    path, out = tmp_path / "results.json", tmp_path / "RESULTS.md"
    path.write_text(json.dumps(results))
    main([str(path), "--out", str(out)])
    assert "model selection: not recorded" in out.read_text()  # rows written before they carried it
    for i, row in enumerate(results["table1"]):
        row.update(val_split="holdout", val_holdout=500, commit="0123456789" * 4 + ("+dirty" if i else ""))
    path.write_text(json.dumps(results))
    main([str(path), "--out", str(out)])
    text = out.read_text()
    assert "validation EPE on the last 500 samples of the training split, held out from training;" in text
    assert "- runs trained at `0123456`, `0123456+dirty` (each run's env.json" in text
    assert "per weak-supervision run" in text  # the fixture has weak rows; without them the line leaves it out
    assert "rows run" not in text
    results["settings"]["only"] = ["S1", "S4"]
    path.write_text(json.dumps(results))
    main([str(path), "--out", str(out)])
    assert "- rows run: `--only S1 S4` (the others were not run)" in out.read_text()
    results["table1"][0].update(val_split="test", val_holdout=None)  # one run selected on test: said, not hidden
    path.write_text(json.dumps(results))
    main([str(path), "--out", str(out)])
    assert "held out from training / the `test` split;" in out.read_text()
