"""Sim-to-real: train one recipe on each variant of the synthetic world, score it on real photos.

Each arm is a world (``handvae synth --world`` overrides and a render size) plus a training config
and its overrides. Per arm, in ``OUT/<arm>/``: the world is rendered (or an existing one reused with
``--world-dir ARM=PATH``), prepared (train and test splits, crop = the config's), trained for
``--minutes`` of training time with validation on the held-out tail of the training split, then its
best checkpoint is scored once on the synthetic test split and on the real development set
(``--realdev``, prepared once into ``OUT/realdev``). Every step is skipped when its output exists, so
an interrupted study resumes (training resumes from its last checkpoint).

    PYTHONPATH=src python benchmarks/sim2real.py --out ~/.cache/handvae/sim2real --minutes 15 \
        --realdev ../shared/realdev --arms mesh capsule
    PYTHONPATH=src python benchmarks/sim2real.py --out ~/.cache/handvae/sim2real --table-only

Writes ``OUT/sim2real.json`` (one record per arm) and prints a markdown table (docs/SIM2REAL.md).
The real photos are only ever scored, never trained or tuned on. Never run it beside another heavy
job: on a 2-core machine the time budget would lie.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from handvae.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "configs" / "cpu"

# name -> (world overrides, render size, config, training overrides)
ARMS: dict[str, tuple[tuple[str, ...], int, str, tuple[str, ...]]] = {
    "mesh": ((), 320, "s1.yaml", ()),
    "capsule": (("hand_model=capsule",), 320, "s1.yaml", ()),
    "mesh_no_occluders": (("p_front_occluder=0", "p_grasp_object=0"), 320, "s1.yaml", ()),
    "mesh_no_sleeve": (("p_sleeve=0",), 320, "s1.yaml", ()),
    "mesh_uniform_poses": (("pose_sampler=uniform",), 320, "s1.yaml", ()),
    "mesh_no_forearm": (("forearm=false",), 320, "s1.yaml", ()),
    "mesh_no_photo_backgrounds": (("p_natural_background=0",), 320, "s1.yaml", ()),
    "mesh_no_amplitude_mix": (("p_amplitude_mix=0",), 320, "s1.yaml", ()),
    "mesh_dead_leaves": (("p_dead_leaves=0.5",), 320, "s1.yaml", ()),
    "mesh_128px": ((), 128, "s1.yaml", ()),
    "mesh_s4": ((), 320, "s4.yaml", ()),
    "mesh_color": ((), 320, "s1.yaml", ("data.aug_color=0.3",)),  # + online photometric jitter
    "mesh_skin_maps": (("skin_maps=true",), 320, "s1.yaml", ()),  # MakeHuman detail + nail maps
    "mesh_random_texture": (("p_random_texture=0.3",), 320, "s1.yaml", ()),  # hands painted at random
    "mesh_seed1": ((), 320, "s1.yaml", ("seed=1",)),  # the reference retrained with another seed: the spread
    "mesh_bf16": ((), 320, "s1.yaml", ("trainer.amp=bf16",)),  # the reference in bfloat16 (LEARNING section 7)
}


def _world(name: str, out: Path, n_train: int, n_test: int, seed: int, reuse: dict[str, str]) -> Path:
    from handvae.experiments.pipeline import build_world

    if name in reuse:
        return Path(reuse[name])
    world_over, size, _, _ = ARMS[name]
    options = dict(item.split("=", 1) for item in world_over)
    return build_world(out / name / "world", n_train, n_test, seed=seed, workers=2, size=size, options=options)


def _train(name: str, cache: Path, run_dir: Path, minutes: float, val_every: int) -> dict:
    from handvae.experiments.pipeline import budget_overrides, train_resumable

    summary_path = run_dir / "train_summary.json"
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    _, _, cfg_file, overrides = ARMS[name]
    over = [*budget_overrides(cache, run_dir, minutes, val_every), *overrides]
    summary = train_resumable(CPU / cfg_file, over)
    record = {"config": f"configs/cpu/{cfg_file}", "overrides": over[2:], "steps": summary["steps"],
              "best_val_epe_mm": summary["best_epe_mm"], "history": summary["history"]}  # fmt: skip
    atomic_write_text(summary_path, json.dumps(record, indent=1) + "\n")
    return record


def _score(run_dir: Path, cache: Path, out: Path) -> dict:
    from handvae.eval.evaluate import BASELINE, evaluate_runs

    metrics = out / "metrics.json"
    if not metrics.is_file():
        evaluate_runs([run_dir / "checkpoints" / "best.safetensors"], cache, out)
    res = json.loads(metrics.read_text())
    mine = next(v for k, v in res.items() if k != BASELINE)
    row = {"epe_mm": mine["mean_epe_mm"], "auc_20_50": mine["auc_20_50"], "pa_epe_mm": mine["pa"]["mean_epe_mm"]}
    if BASELINE in res:
        row["floor_epe_mm"] = res[BASELINE]["mean_epe_mm"]
    return row


def run_arm(name: str, args: argparse.Namespace, reuse: dict[str, str]) -> dict:
    from handvae.config import load_config
    from handvae.experiments.pipeline import prepare_cache
    from handvae.schema import Config

    arm_dir = args.out / name
    crop = load_config(Config, CPU / ARMS[name][2], []).data.crop_size
    world = _world(name, args.out, args.train, args.test, args.seed, reuse)
    cache = prepare_cache(world, arm_dir / f"cache{crop}", crop, workers=2)
    record = {"arm": name, "world": list(ARMS[name][0]), "render_px": ARMS[name][1], "world_dir": str(world)}
    record["train"] = _train(name, cache, arm_dir / "run", args.minutes, args.val_every)
    record["synthetic_test"] = _score(arm_dir / "run", cache, arm_dir / "eval_synthetic")
    if args.realdev is not None:
        real = prepare_cache(args.realdev, args.out / f"realdev{crop}", crop, splits=("test",), source="realdev")
        record["realdev"] = _score(arm_dir / "run", real, arm_dir / "eval_realdev")
    atomic_write_text(arm_dir / "record.json", json.dumps(record, indent=1) + "\n")
    return record


def crops_figure(caches: dict[str, Path], path: Path, n: int = 8) -> None:
    """One row per prepared cache: its first ``n`` test crops, as the model sees them."""
    import numpy as np
    from PIL import Image

    from handvae.data.cache import open_split

    rows = []
    for cache in caches.values():
        img = np.asarray(open_split(cache / "test", ["image"])["image"][:n])
        img = img if img.dtype == np.uint8 else np.clip(img * 255.0, 0, 255).astype(np.uint8)
        rows.append(np.concatenate(list(img), axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)
    print(f"wrote {path}: rows {', '.join(caches)}")


def table(records: list[dict]) -> str:
    lines = ["| arm | world overrides | render px | steps | synthetic test EPE mm | realdev EPE mm | realdev AUC 20-50 "
             "| realdev PA-EPE mm |", "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in records:
        real = r.get("realdev", {})
        lines.append(
            f"| {r['arm']} | {' '.join(r['world']) or '(default)'} | {r['render_px']} | {r['train']['steps']} "
            f"| {r['synthetic_test']['epe_mm']:.2f} | {real.get('epe_mm', float('nan')):.2f} "
            f"| {real.get('auc_20_50', float('nan')):.3f} | {real.get('pa_epe_mm', float('nan')):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--arms", nargs="+", default=["mesh", "capsule"], choices=sorted(ARMS))
    p.add_argument("--minutes", type=float, default=15.0, help="training minutes per arm")
    p.add_argument("--train", type=int, default=10000, help="training samples per world")
    p.add_argument("--test", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-every", type=int, default=300)
    p.add_argument("--realdev", type=Path, default=None, help="the real development set (evaluation only)")
    p.add_argument("--world-dir", action="append", default=[], metavar="ARM=PATH",
                   help="reuse an already rendered world for an arm")  # fmt: skip
    p.add_argument("--table-only", action="store_true")
    p.add_argument("--crops", type=Path, default=None,
                   help="write a PNG of test crops, one row per arm (+ realdev when prepared: keep that one local)")
    args = p.parse_args()
    args.out = args.out.expanduser()
    reuse = dict(item.split("=", 1) for item in args.world_dir)
    records = []
    for name in args.arms:
        rec = args.out / name / "record.json"
        if args.table_only:
            if rec.is_file():
                records.append(json.loads(rec.read_text()))
            continue
        records.append(run_arm(name, args, reuse))
    atomic_write_text(args.out / "sim2real.json", json.dumps(records, indent=1) + "\n")
    print(table(records))
    if args.crops is not None:
        caches = {r["arm"]: args.out / r["arm"] / "cache128" for r in records}
        if (args.out / "realdev128" / "test").is_dir():
            caches["realdev"] = args.out / "realdev128"
        crops_figure(caches, args.crops)


if __name__ == "__main__":
    main()
