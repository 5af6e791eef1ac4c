"""Time to accuracy: train study arms for a wall-clock budget, record validation EPE against time and samples.

Each arm is a config plus overrides (``ARMS`` below), trained on one prepared benchmark cache with
``trainer.max_minutes`` as the budget. The trainer validates on the samples held out from the
training split (``data.val_split: holdout``) and records, at every validation, the training time
(validation excluded), the samples seen and the EPE. An interrupted arm resumes from its last
checkpoint; a finished arm is skipped. Then:

- ``OUT/<arm>/curve.json``: the arm's history, config overrides and machine;
- ``OUT/time_to_accuracy.json``: every arm's curve and best validation EPE (with ``--test``, the
  test-split EPE of its best checkpoint, scored once at the end);
- ``OUT/curves.png``: validation EPE against training minutes and against samples seen.

    PYTHONPATH=src python benchmarks/time_to_accuracy.py --cache CACHE --out ~/.cache/handvae/study \
        --minutes 5 --arms s1 s1_aug
    PYTHONPATH=src python benchmarks/time_to_accuracy.py --cache CACHE --out DIR --plot-only

Never run it beside another heavy job: on a 2-core machine every time would lie.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "configs" / "cpu"

# name -> (config, overrides). Every arm also gets data.cache, out_dir, trainer.max_minutes and
# trainer.max_steps (large) from the command line; "{root}" in an override is the folder holding
# --cache (arms on other caches of the same benchmark: 320 px renders, other crop sizes). The arms
# were measured with 64 px crops (the presets' crop size at the time), so each names its crop size.
ARMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "s1_noaug": ("s1.yaml", ("data.crop_size=64", "data.augment=false",)),
    "s1": ("s1.yaml", ("data.crop_size=64",)),
    "s1_w32": ("s1.yaml", ("data.crop_size=64", "model.rgb_width=32",)),
    "s1_w64": ("s1.yaml", ("data.crop_size=64", "model.rgb_width=64",)),
    "s1_b64": ("s1.yaml", ("data.crop_size=64", "trainer.batch_size=64",)),
    "s1_lr3e-3": ("s1.yaml", ("data.crop_size=64", "trainer.lr=3e-3",)),
    "s1_cosine": ("s1.yaml", ("data.crop_size=64", "trainer.schedule=cosine", "trainer.warmup_steps=300")),
    "s1_rot30": ("s1.yaml", ("data.crop_size=64", "data.aug_rotate=0.5236",)),
    "s1_logvar0": ("s1.yaml", ("data.crop_size=64", "model.init_logvar=0",)),
    "s1_r320_c64": ("s1.yaml", ("data.crop_size=64", "data.cache={root}/cache320_64",)),
    "s1_r320_c128": ("s1.yaml", ("data.cache={root}/cache320_128", "data.crop_size=128")),
    "s1_c96": ("s1.yaml", ("data.cache={root}/cache128_96", "data.crop_size=96")),
    "s1_r320_c128_w32": ("s1.yaml", ("data.cache={root}/cache320_128", "data.crop_size=128", "model.rgb_width=32")),
    "s3_r320": ("s3.yaml", ("data.crop_size=64", "data.cache={root}/cache320_64",)),
    "s3_r320_logvar0": ("s3.yaml", ("data.crop_size=64", "data.cache={root}/cache320_64", "model.init_logvar=0")),
    "s3_r320_align0.01": ("s3.yaml", ("data.crop_size=64", "data.cache={root}/cache320_64", "loss.lambda_align=0.01")),
    "s4_r320": ("s4.yaml", ("data.crop_size=64", "data.cache={root}/cache320_64",)),
    "s4_r320_logvar0": ("s4.yaml", ("data.crop_size=64", "data.cache={root}/cache320_64", "model.init_logvar=0")),
    # the current CPU preset (128 px crops of 320 px renders) and one change each: batch size, lr,
    # schedule (cosine over about the steps 4 minutes allow), the rotation range of the augmentation
    "p128": ("s1.yaml", ("data.cache={root}/cache320_128",)),
    "p128_b64": ("s1.yaml", ("data.cache={root}/cache320_128", "trainer.batch_size=64")),
    "p128_lr3e-3": ("s1.yaml", ("data.cache={root}/cache320_128", "trainer.lr=3e-3")),
    "p128_cosine": ("s1.yaml", ("data.cache={root}/cache320_128", "trainer.schedule=cosine",
                                "trainer.warmup_steps=300", "trainer.max_steps=2400")),
    "p128_rot30": ("s1.yaml", ("data.cache={root}/cache320_128", "data.aug_rotate=0.5236")),
    # S4's auxiliary decoders at the CPU widths before and after the S4-throughput change (both pinned):
    # heatmap decoder x0.25 -> x0.125 with 4x4 kernels, ResPEL/FoldingNet x0.125 -> x0.0625
    "s4_p128_wide": ("s4.yaml", ("data.cache={root}/cache320_128", "model.heat_width=0.25", "model.heat_kernel=5",
                                 "model.point_width=0.125")),
    "s4_p128_slim": ("s4.yaml", ("data.cache={root}/cache320_128", "model.heat_width=0.125", "model.heat_kernel=4",
                                 "model.point_width=0.0625")),
}


def run_arm(name: str, cache: str, out: Path, minutes: float, extra: list[str], val_every: int) -> dict:
    """Train one arm (resuming or skipping as needed) and return its curve record."""
    from handvae.experiments.pipeline import budget_overrides, train_resumable
    from handvae.train.runlog import environment

    cfg_file, overrides = ARMS[name]
    run_dir = out / name
    record_path = run_dir / "curve.json"
    if record_path.is_file():
        return json.loads(record_path.read_text())
    over = [*budget_overrides(cache, run_dir, minutes, val_every),
            *(o.replace("{root}", str(Path(cache).parent)) for o in overrides), *extra]
    summary = train_resumable(CPU / cfg_file, over)
    record = {"arm": name, "config": f"configs/cpu/{cfg_file}", "overrides": over[4:], "minutes": minutes,
              "history": summary["history"], "best_val_epe_mm": summary["best_epe_mm"], "steps": summary["steps"],
              "environment": environment()}
    from handvae.files import atomic_write_text

    atomic_write_text(record_path, json.dumps(record, indent=1) + "\n")
    return record


def score_test(record: dict, out: Path) -> None:
    """The test-split EPE of the arm's best checkpoint (once, at the end of the study), on the arm's cache."""
    from handvae.eval.evaluate import BASELINE, evaluate_runs

    run_dir = out / record["arm"]
    metrics = run_dir / "test" / "metrics.json"
    if not metrics.is_file():
        evaluate_runs([run_dir], None, run_dir / "test")
    res = json.loads(metrics.read_text())
    record["test_mean_epe_mm"] = res[run_dir.name]["mean_epe_mm"]
    record["test_floor_mm"] = res[BASELINE]["mean_epe_mm"]


def plot(records: list[dict], path: Path) -> None:
    """Validation EPE against training minutes (left) and samples seen (right), one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from handvae.files import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for rec in records:
        h = rec["history"]
        if not h:
            continue
        epe = [e["mean_epe_mm"] for e in h]
        axes[0].plot([e["train_seconds"] / 60 for e in h], epe, label=rec["arm"], marker=".")
        axes[1].plot([e["samples"] / 1e3 for e in h], epe, label=rec["arm"], marker=".")
    axes[0].set_xlabel("training time (min, validation excluded)")
    axes[1].set_xlabel("samples seen (thousands)")
    for ax in axes:
        ax.set_ylabel("validation mean EPE (mm)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def summary_table(records: list[dict]) -> str:
    """A Markdown table: arm, steps, minutes, best validation EPE (and test EPE when scored)."""
    lines = ["| arm | overrides | steps | train min | best val EPE (mm) | test EPE (mm) |",
             "|---|---|---:|---:|---:|---:|"]
    for r in records:
        h = r["history"]
        mins = h[-1]["train_seconds"] / 60 if h else math.nan
        test = r.get("test_mean_epe_mm")
        lines.append(f"| {r['arm']} | {' '.join(ARMS[r['arm']][1]) or '-'} | {r['steps']} | {mins:.1f} | "
                     f"{r['best_val_epe_mm']:.2f} | {'' if test is None else f'{test:.2f}'} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", required=True, help="prepared benchmark cache (train and test splits)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--arms", nargs="*", default=[], help=f"arms to train, of {list(ARMS)}")
    p.add_argument("--minutes", type=float, default=5.0, help="training budget per arm")
    p.add_argument("--val-every", type=int, default=300)
    p.add_argument("--set", nargs="*", default=[], help="extra key=value overrides for every arm")
    p.add_argument("--test", action="store_true", help="score each arm's best checkpoint on the test split")
    p.add_argument("--plot-only", action="store_true", help="only collect the finished arms into JSON and PNG")
    args = p.parse_args()
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; known: {list(ARMS)}")
    if not args.plot_only:
        for name in args.arms:
            print(f"arm {name}: {args.minutes} min", flush=True)
            rec = run_arm(name, args.cache, args.out, args.minutes, args.set, args.val_every)
            print(f"arm {name}: best validation EPE {rec['best_val_epe_mm']:.2f} mm at {rec['steps']} steps",
                  flush=True)
    records = [json.loads(f.read_text()) for f in sorted(args.out.glob("*/curve.json"))]
    if args.test:
        for rec in records:
            score_test(rec, args.out)
    from handvae.files import atomic_write_text

    atomic_write_text(args.out / "time_to_accuracy.json", json.dumps(records, indent=1) + "\n")
    plot(records, args.out / "curves.png")
    print(summary_table(records))


if __name__ == "__main__":
    main()
