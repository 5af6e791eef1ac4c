"""Does float16 storage of a released model cost accuracy? EPE of fp32 vs fp16 weights on a cache's test split.

    .venv/bin/python benchmarks/release_fp16.py runs/release/s4 --data /data/synth_cache
    .venv/bin/python benchmarks/release_fp16.py runs/release/s4 --data /data/realdev_cache --split test

Exports the run twice with ``handvae.eval.release_export`` (float32 and float16 storage, both loaded
into float32 modules) into a temporary folder, predicts the split with each exactly as ``handvae
evaluate`` does (camera-frame mm, the run's protocol), and prints mean EPE, PA-EPE, AUC 20-50 and file
size for both, and the largest and mean per-joint distance between the two models' predictions (mm).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def evaluate_file(path: Path, data: Path, split: str, batch_size: int):
    """(Result, predictions (N, 21, 3) mm) of a released file on ``data/split``."""
    import torch

    from handvae.data.batches import build_loader
    from handvae.eval.scoring import evaluate_split
    from handvae.models.released import load_released_file

    model, cfg, _ = load_released_file(path)
    cfg.data.cache = str(data)
    loader = build_loader(cfg.data, split, batch_size, torch.device("cpu"), seed=cfg.seed, train=False,
                          modalities="R")
    return evaluate_split(model, loader, cfg, pa=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", help="a run folder or checkpoint")
    p.add_argument("--data", type=Path, required=True, help="a prepared cache (crop size of the run)")
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)

    from handvae.eval.release_export import release_export

    rows, preds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype, fp16 in (("float32", False), ("float16", True)):
            summary = release_export(args.run, "bench", Path(tmp) / f"{dtype}.safetensors", fp16=fp16)
            result, preds[dtype] = evaluate_file(summary.path, args.data, args.split, args.batch_size)
            rows[dtype] = (result, summary.bytes)
    print(f"{args.run} on {args.data / args.split} ({rows['float32'][0].num_samples} samples)")
    print(f"{'storage':<8} {'EPE mm':>8} {'PA-EPE mm':>10} {'AUC 20-50':>10} {'file MB':>8}")
    for dtype, (r, size) in rows.items():
        print(f"{dtype:<8} {r.mean_epe_mm:>8.3f} {r.pa.mean_epe_mm:>10.3f} {r.auc_20_50:>10.4f} {size / 1e6:>8.2f}")
    gap = np.linalg.norm(preds["float16"] - preds["float32"], axis=-1)
    print(f"fp16 - fp32: EPE {rows['float16'][0].mean_epe_mm - rows['float32'][0].mean_epe_mm:+.4f} mm; "
          f"predictions differ by {gap.mean():.4f} mm per joint on average, {gap.max():.4f} mm at most")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
