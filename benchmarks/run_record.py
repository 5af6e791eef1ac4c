"""Collect finished training runs into one record (JSON) and one curve figure (PNG).

For each ``LABEL=RUN_DIR``: the command and commit that trained it (``env.json``), its validation
history (``log.jsonl``: step, training minutes with validation and pauses excluded, samples seen,
mean EPE), and the scores that ``handvae evaluate`` wrote under ``RUN_DIR/eval_test`` and
``RUN_DIR/eval_realdev`` (model and baselines), and with test-time rolls (``--tta-deg``) under
``RUN_DIR/eval_test_tta`` and ``RUN_DIR/eval_realdev_tta``, when present. The figure is validation EPE against
training minutes and against samples seen, one line per run (as ``time_to_accuracy.py`` draws arms).

    PYTHONPATH=src python benchmarks/run_record.py --run 10k=~/.cache/handvae/runs/s4_cos2h \
        --run 50k=~/.cache/handvae/runs/s4_cos2h_50k --json docs/s4_2h_size.json --png docs/curve.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from time_to_accuracy import plot

EVALS = {"test": "eval_test", "realdev": "eval_realdev", "test_tta": "eval_test_tta", "realdev_tta": "eval_realdev_tta"}


def _short(m: dict) -> dict:
    """Scores without the curves and per-joint lists (``pck_*``, ``per_joint_*``), at every level."""
    return {k: _short(v) if isinstance(v, dict) else v for k, v in m.items()
            if not k.startswith(("pck", "per_joint"))}


def _scores(metrics_path: Path, run_name: str) -> dict | None:
    """The run's entry of an evaluate ``metrics.json`` (curves dropped), with the baselines beside it."""
    if not metrics_path.is_file():
        return None
    res = json.loads(metrics_path.read_text())
    if run_name not in res:
        raise SystemExit(f"{metrics_path}: no entry for run {run_name!r} (has {sorted(res)})")
    short = {name: _short(m) for name, m in res.items()}
    return {"model": short.pop(run_name), "baselines": short}


def record(label: str, run_dir: Path) -> dict:
    """One run's record: command, commit, validation history, best validation, evaluations."""
    log = run_dir / "log.jsonl"
    if not log.is_file():
        raise SystemExit(f"{run_dir}: no log.jsonl (not a training run folder)")
    history = [e for e in map(json.loads, log.read_text().splitlines()) if e.get("kind") == "val"]
    if not history:
        raise SystemExit(f"{log}: no validation entries yet")
    env = json.loads((run_dir / "env.json").read_text()) if (run_dir / "env.json").is_file() else {}
    best = min(history, key=lambda e: e["mean_epe_mm"])
    rec = {
        "arm": label,
        "run": str(run_dir).replace(str(Path.home()), "~"),
        "argv": env.get("argv", [])[1:],
        "commit": env.get("git_commit"),
        "history": [{k: e[k] for k in ("step", "train_seconds", "samples", "mean_epe_mm")} for e in history],
        "best_val": {"step": best["step"], "mean_epe_mm": best["mean_epe_mm"]},
    }
    for key, folder in EVALS.items():
        scores = _scores(run_dir / folder / "metrics.json", run_dir.name)
        if scores is not None:
            rec[key] = scores
    return rec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, metavar="LABEL=RUN_DIR", help="a run (repeatable)")
    p.add_argument("--json", required=True, type=Path, help="record to write")
    p.add_argument("--png", type=Path, help="curve figure to write")
    args = p.parse_args()
    recs = []
    for item in args.run:
        label, sep, folder = item.partition("=")
        if not sep:
            raise SystemExit(f"--run {item!r}: expected LABEL=RUN_DIR")
        recs.append(record(label, Path(folder).expanduser()))
    from handvae.files import atomic_write_text

    atomic_write_text(args.json, json.dumps(recs, indent=1) + "\n")
    if args.png:
        plot(recs, args.png)
    for r in recs:
        test = r.get("test", {}).get("model", {}).get("mean_epe_mm")
        print(f"{r['arm']}: {r['history'][-1]['step']} steps, {r['history'][-1]['train_seconds'] / 60:.1f} min, "
              f"best val {r['best_val']['mean_epe_mm']:.2f} mm at {r['best_val']['step']}"
              + ("" if test is None else f", test {test:.2f} mm"))


if __name__ == "__main__":
    main()
