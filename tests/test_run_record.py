"""benchmarks/run_record.py: a run folder's validation history, best step and evaluations, collected."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import load_script

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _module():
    sys.path.insert(0, str(BENCH))
    return load_script("benchmarks/run_record.py")


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "myrun"
    (run / "eval_test").mkdir(parents=True)
    lines = [{"step": 50, "kind": "train", "loss": 3.0},
             {"step": 100, "kind": "val", "train_seconds": 60.0, "samples": 3200.0, "mean_epe_mm": 30.0,
              "auc_20_50": 0.4},
             {"step": 200, "kind": "val", "train_seconds": 120.0, "samples": 6400.0, "mean_epe_mm": 25.0},
             {"step": 300, "kind": "val", "train_seconds": 180.0, "samples": 9600.0, "mean_epe_mm": 26.0}]
    (run / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    (run / "env.json").write_text(json.dumps({"git_commit": "abc", "argv": ["main.py", "train", "cpu/s4"]}))
    m = {"mean_epe_mm": 24.5, "pck_curve": [0.1, 0.2], "per_joint_mean_mm": [1.0] * 21,
         "pa": {"mean_epe_mm": 15.0, "pck_curve": [0.3]}}
    scores = {"myrun": m, "mean pose (baseline)": {"mean_epe_mm": 53.0}}
    (run / "eval_test" / "metrics.json").write_text(json.dumps(scores))
    return run


def test_record_keeps_validation_history_best_step_and_scores(tmp_path):
    rec = _module().record("10k", _run(tmp_path))
    assert [h["step"] for h in rec["history"]] == [100, 200, 300]  # training lines left out
    assert rec["history"][0] == {"step": 100, "train_seconds": 60.0, "samples": 3200.0, "mean_epe_mm": 30.0}
    assert rec["best_val"] == {"step": 200, "mean_epe_mm": 25.0}  # the minimum, not the last
    assert rec["argv"] == ["train", "cpu/s4"] and rec["commit"] == "abc" and rec["arm"] == "10k"
    assert rec["test"]["model"] == {"mean_epe_mm": 24.5, "pa": {"mean_epe_mm": 15.0}}  # curves dropped
    assert rec["test"]["baselines"] == {"mean pose (baseline)": {"mean_epe_mm": 53.0}}
    assert "realdev" not in rec and "test_tta" not in rec  # not evaluated there


def test_record_keeps_the_test_time_roll_scores_apart(tmp_path):
    run = _run(tmp_path)
    (run / "eval_realdev_tta").mkdir()
    (run / "eval_realdev_tta" / "metrics.json").write_text(json.dumps({"myrun": {"mean_epe_mm": 28.0}}))
    rec = _module().record("gpu", run)
    assert rec["realdev_tta"] == {"model": {"mean_epe_mm": 28.0}, "baselines": {}}
    assert rec["test"]["model"]["mean_epe_mm"] == 24.5 and "realdev" not in rec  # each folder under its own key


def test_main_writes_json_and_png_and_names_bad_folders(tmp_path, capsys, monkeypatch):
    mod = _module()
    run = _run(tmp_path)
    out = tmp_path / "rec.json"
    argv = ["run_record", "--run", f"a={run}", "--json", str(out), "--png", str(tmp_path / "c.png")]
    monkeypatch.setattr(sys, "argv", argv)
    mod.main()
    assert json.loads(out.read_text())[0]["best_val"]["step"] == 200
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert "best val 25.00 mm at 200, test 24.50 mm" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"no log\.jsonl"):
        mod.record("x", tmp_path / "nothing")
    monkeypatch.setattr(sys, "argv", ["run_record", "--run", str(run), "--json", str(out)])
    with pytest.raises(SystemExit, match="expected LABEL=RUN_DIR"):
        mod.main()
