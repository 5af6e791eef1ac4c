"""Evaluate trained runs on a prepared split: predictions in mm, metrics, report, plots.

Writes into ``out``::

    metrics.json        every run's Result (with its protocol) and the mean-pose baseline; each
                        carries ``pa``: the same predictions Procrustes-aligned (PA-EPE)
    report.md           the table (headline and PA-EPE side by side), per-joint errors, the protocol
    pck.png             3D PCK curves of all runs (and the baseline) on one plot
    per_joint_<run>.png per-joint mean/median errors
    predictions_<run>.npz  pred_mm, gt_mm (camera frame, RHD order), vis, index: recompute anything
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from handvae.data.batches import build_loader
from handvae.data.cache import open_split
from handvae.errors import UserError
from handvae.eval.metrics import Protocol, Result
from handvae.eval.report import markdown_report, plot_pck, plot_per_joint
from handvae.eval.scoring import evaluate_split, mean_pose_baseline
from handvae.files import atomic_write_npz, atomic_write_text
from handvae.models.load import load_model
from handvae.models.released import is_released_file

BASELINE = "mean pose (baseline)"


def run_name(path: Path) -> str:
    """A run folder's name; ``RUN/stem`` for a checkpoint file; ``released/NAME`` for a released model."""

    path = Path(path)
    if path.is_dir():
        return path.name
    return f"released/{path.stem}" if is_released_file(path) else f"{path.parent.parent.name}/{path.stem}"


def evaluate_runs(
    runs: list[str | os.PathLike],
    cache: str | os.PathLike | None,
    out: str | os.PathLike,
    split: str = "test",
    protocol: Protocol | None = None,
    device: str = "cpu",
    baseline: bool = True,
    batch_size: int = 64,
    tta_deg: float = 0.0,
) -> dict[str, Result]:
    """Score each run's RGB-only predictions on ``cache/split``; write the files listed above.

    Predictions are mapped back to each sample's original camera frame (mirrored hands mirrored
    back) before scoring; every Result carries PA-EPE in ``Result.pa`` beside the headline.
    ``tta_deg``: test-time rolls (:func:`~handvae.eval.scoring.predict_split`; 0, a single pass, by default).
    """

    if not runs:
        raise UserError("no run to evaluate")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Result] = {}
    dev = torch.device(device)
    first_cfg = None
    for run in runs:
        model, cfg, _ = load_model(run, dev)
        if cache is not None:
            cfg.data.cache = str(cache)
        if not cfg.data.cache:
            raise UserError(f"{run}: give --data CACHE (the run's config names no cache)")
        split_dir = Path(cfg.data.cache) / split
        if not (split_dir / "manifest.json").is_file():
            raise UserError(f"{split_dir}: not a prepared split (no manifest.json); run 'handvae prepare' first")
        if protocol is not None:
            cfg.eval.root, cfg.eval.scale, cfg.eval.visible_only = protocol.root, protocol.scale, protocol.visible_only
        loader = build_loader(cfg.data, split, batch_size, dev, seed=cfg.seed, train=False, modalities="R")
        result, pred_mm = evaluate_split(model, loader, cfg, pa=True, tta_deg=tta_deg)
        name = run_name(Path(run))
        results[name] = result

        arrays = open_split(split_dir, ["xyz_mm", "vis"])
        atomic_write_npz(out / f"predictions_{name.replace('/', '_')}.npz", {
            "pred_mm": pred_mm.astype(np.float32), "gt_mm": np.asarray(arrays["xyz_mm"][: loader.n]),
            "vis": np.asarray(arrays["vis"][: loader.n]), "index": np.arange(loader.n)})
        plot_per_joint(result, out / f"per_joint_{name.replace('/', '_')}.png", title=f"{name}: per-joint error")
        first_cfg = first_cfg or (cfg, loader)
    if baseline:
        cfg, loader = first_cfg
        train_dir = Path(cfg.data.cache) / cfg.data.train_split
        if (train_dir / "manifest.json").is_file():
            results[BASELINE] = mean_pose_baseline(train_dir, loader, cfg, pa=True)
    doc = {name: r.as_dict() for name, r in results.items()}
    atomic_write_text(out / "metrics.json", json.dumps(doc, indent=2) + "\n")
    notes = f"Split `{split}` of `{first_cfg[0].data.cache}`; RGB-only predictions" + (
        f", each averaged with the crop rolled by +-{tta_deg:g} degrees (test-time rolls)." if tta_deg else "."
    )
    atomic_write_text(out / "report.md", markdown_report(results, title="handvae evaluation", notes=notes))
    plot_pck(results, out / "pck.png")
    return results
