"""The paper's qualitative figures (Fig. 1 and Fig. 4 style) for a trained run.

- ``reconstructions.png``: one row per sample: the RGB crop, the ground-truth 3D pose, the pose
  decoded from the mean of ``q(z | R)``, the ground-truth point cloud and the cloud decoded from the
  same latent (when the strategy has a C decoder). Ground truth and prediction of a sample share
  one cube of axis limits.
- ``interpolation.png``: for pairs of test images ``(a, b)``, ``z(t) = (1 - t) z_a + t z_b`` for
  ``t`` in ``linspace(0, 1, steps)``, decoded to poses (and clouds), the two crops at the ends.
- ``figures.json``: what was drawn (sample indices and ids, pairs, t values, strategy, arguments).

Everything is in the model's normalised frame (see :mod:`handvae.data.prepare`); sample choice
comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from handvae.data.cache import open_split
from handvae.data.rgb import rgb_input
from handvae.errors import UserError
from handvae.eval import plot3d
from handvae.files import atomic_write_text
from handvae.models.load import load_model


@dataclass
class FigureArgs:
    """Arguments of :func:`make_figures` (saved in the index)."""

    run: str
    data: str | None = None  # cache folder; None: the run config's data.cache
    split: str = "test"
    n: int = 6  # samples in the reconstruction grid
    pairs: int = 2  # interpolation pairs
    steps: int = 7  # interpolation steps, t = 0 and t = 1 included
    out: str | None = None  # None: RUN/figures
    seed: int = 0
    device: str = "cpu"


# --- latents and decoding ---------------------------------------------------------------------
@torch.no_grad()
def rgb_latents(model, rgb: torch.Tensor) -> torch.Tensor:
    """``rgb (B, 3, S, S)`` in [0, 1] -> the mean of ``q(z | R)``, ``(B, Z)`` (what inference uses)."""
    return model.encode_rgb(rgb).mu


def interpolate_latents(z_a: torch.Tensor, z_b: torch.Tensor, ts) -> torch.Tensor:
    """``(1 - t) z_a + t z_b`` for each ``t``: ``z_a, z_b (Z,)`` -> ``(T, Z)`` (exactly z_a at t=0, z_b at t=1)."""
    t = torch.as_tensor(np.asarray(ts, np.float64), dtype=z_a.dtype, device=z_a.device).reshape(-1, 1)
    return (1.0 - t) * z_a.reshape(1, -1) + t * z_b.reshape(1, -1)


@torch.no_grad()
def decode_interpolation(model, z_a: torch.Tensor, z_b: torch.Tensor, ts, letters=("P",)) -> dict[str, np.ndarray]:
    """Decode the interpolated latents: letter -> ``(T, ...)``, e.g. 'P' ``(T, 21, 3)`` normalised units."""
    z = interpolate_latents(z_a, z_b, ts)
    return {letter: model.decode(z, letter).float().cpu().numpy() for letter in letters}


# --- inputs -------------------------------------------------------------------------------------
def _load_split(cache: Path, split: str, crop_size: int, ckpt: Path) -> tuple[Path, dict, list | None]:

    split_dir = cache / split
    if not cache.is_dir():
        raise UserError(f"{cache}: no such cache folder; expected a folder written by 'handvae prepare'")
    arrays = open_split(split_dir, ["image", "pose", "cloud", "has_cloud"])
    size = int(arrays["image"].shape[1])
    if size != crop_size:
        raise UserError(
            f"{split_dir}: crops are {size} px but the model in {ckpt} was trained on {crop_size} px crops "
            f"(data.crop_size); prepare the cache with --size {crop_size} or pass another --data"
        )
    ids = None
    try:
        ids = json.loads((split_dir / "ids.json").read_text())
    except (OSError, json.JSONDecodeError):
        pass
    return split_dir, arrays, ids


def _rgb(arrays: dict, idx: np.ndarray, device) -> torch.Tensor:
    return rgb_input(np.asarray(arrays["image"][idx])).to(device)


def choose_samples(count: int, n: int, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded choice of ``n`` distinct samples and ``pairs`` pairs of two distinct samples, of ``count``."""
    rng = np.random.default_rng(seed)
    samples = rng.permutation(count)[: min(n, count)]
    pair_idx = np.stack([rng.choice(count, 2, replace=False) for _ in range(pairs)]) if pairs else np.zeros((0, 2))
    return samples.astype(np.int64), pair_idx.astype(np.int64)


def _gt_cloud(arrays: dict, i: int, n_points: int, rng: np.random.Generator) -> np.ndarray | None:
    if not bool(arrays["has_cloud"][i]):
        return None
    cloud = np.asarray(arrays["cloud"][i], np.float64)
    keep = rng.permutation(cloud.shape[0])[: min(n_points, cloud.shape[0])]
    return cloud[np.sort(keep)]


# --- figures ------------------------------------------------------------------------------------
def _strategy_name(cfg, plan) -> str:
    if cfg.model.strategy.strip().upper() == plan.strategy:
        return f"{plan.strategy} ({plan.alignment})"
    return f"{cfg.model.strategy} ({plan.strategy}, {plan.alignment})"


def plot_reconstructions(path, images, gt_pose, pred_pose, gt_clouds, pred_cloud, labels, strategy: str) -> Path:
    """Grid: one row per sample, columns RGB | GT pose | predicted pose | GT cloud | predicted cloud.

    ``images (n, S, S, 3)`` uint8; poses ``(n, 21, 3)``; ``gt_clouds``: list of ``(N, 3)`` or None;
    ``pred_cloud (n, M, 3)`` or None when the strategy has no C decoder; ``labels``: one per row.
    """
    rows, cols = len(images), 5
    fig = plot3d.new_figure(rows, cols, f"{strategy}: decoded from the RGB latent (mean of q(z|R)) vs ground truth")
    for r in range(rows):
        first = r == 0
        k = r * cols
        gt_c = gt_clouds[r]
        pc = None if pred_cloud is None else pred_cloud[r]
        pose_lim = plot3d.cube_limits(gt_pose[r], pred_pose[r])
        cloud_lim = plot3d.cube_limits(gt_pose[r], *(c for c in (gt_c, pc) if c is not None))
        plot3d.image_axes(fig, rows, cols, k + 1, images[r], labels[r])
        ax = plot3d.axes3d(fig, rows, cols, k + 2, pose_lim, "GT pose" if first else "")
        plot3d.draw_pose(ax, gt_pose[r])
        ax = plot3d.axes3d(fig, rows, cols, k + 3, pose_lim, "pose from RGB" if first else "")
        plot3d.draw_pose(ax, pred_pose[r])
        if gt_c is None:
            plot3d.note_axes(fig, rows, cols, k + 4, "no point cloud\nin the cache", "GT cloud" if first else "")
        else:
            plot3d.draw_cloud(plot3d.axes3d(fig, rows, cols, k + 4, cloud_lim, "GT cloud" if first else ""), gt_c)
        if pc is None:
            plot3d.note_axes(fig, rows, cols, k + 5, f"{strategy}\nhas no point-cloud\n(C) decoder",
                             "cloud from RGB" if first else "")
        else:
            plot3d.draw_cloud(plot3d.axes3d(fig, rows, cols, k + 5, cloud_lim, "cloud from RGB" if first else ""), pc)
    return plot3d.save_figure(fig, path)


def plot_interpolation(path, ts, ends, poses, clouds, labels, strategy: str) -> Path:
    """One row per pair (two when clouds are decoded): crop a | decodes at each t | crop b.

    ``ends``: per pair ``(image_a, image_b)``; ``poses``: per pair ``(T, 21, 3)``; ``clouds``: per
    pair ``(T, M, 3)``, or None when the strategy has no C decoder; ``labels``: per pair ``(a, b)``.
    """
    steps = len(ts)
    per_pair = 1 if clouds is None else 2
    rows, cols = len(poses) * per_pair, steps + 2
    note = "" if clouds is not None else f"; {strategy} has no point-cloud (C) decoder: poses only"
    fig = plot3d.new_figure(rows, cols, f"{strategy}: latent interpolation z = (1-t) z_a + t z_b{note}")
    for p in range(len(poses)):
        k = p * per_pair * cols
        lim = plot3d.cube_limits(poses[p])  # one cube for the pair's poses, another for its clouds
        plot3d.image_axes(fig, rows, cols, k + 1, ends[p][0], f"a: {labels[p][0]}")
        for s, t in enumerate(ts):
            plot3d.draw_pose(plot3d.axes3d(fig, rows, cols, k + 2 + s, lim, f"t = {t:.2f}"), poses[p][s])
        plot3d.image_axes(fig, rows, cols, k + cols, ends[p][1], f"b: {labels[p][1]}")
        if clouds is not None:
            k += cols
            plot3d.image_axes(fig, rows, cols, k + 1)
            cloud_lim = plot3d.cube_limits(clouds[p])
            for s in range(steps):
                plot3d.draw_cloud(plot3d.axes3d(fig, rows, cols, k + 2 + s, cloud_lim), clouds[p][s])
            plot3d.image_axes(fig, rows, cols, k + cols)
    return plot3d.save_figure(fig, path)


# --- the command ----------------------------------------------------------------------------------
def _check_counts(args: FigureArgs) -> None:
    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    if args.pairs < 0:
        raise UserError(f"--pairs must be 0 or more, got {args.pairs}")
    if args.steps < 2:
        raise UserError(f"--steps must be at least 2 (t = 0 and t = 1), got {args.steps}")


def default_out(run: Path, ckpt: Path) -> Path:
    """RUN/figures for a run folder; for a checkpoint file, its run folder's figures/ (or next to it)."""
    if run.is_dir():
        return run / "figures"
    parent = ckpt.parent
    return (parent.parent if parent.name == "checkpoints" else parent) / "figures"


def _interpolation(model, arrays, pair_idx, ts, letters, label, strategy: str, out: Path, args: FigureArgs) -> Path:
    """Decode the latent interpolation between each pair's RGB latents and plot it."""
    z_pairs = rgb_latents(model, _rgb(arrays, pair_idx.reshape(-1), args.device)).reshape(args.pairs, 2, -1)
    decoded = [decode_interpolation(model, zp[0], zp[1], ts, letters) for zp in z_pairs]
    return plot_interpolation(
        out / "interpolation.png", ts.tolist(),
        [(np.asarray(arrays["image"][a]), np.asarray(arrays["image"][b])) for a, b in pair_idx],
        [d["P"] for d in decoded], [d["C"] for d in decoded] if "C" in letters else None,
        [(label(int(a)), label(int(b))) for a, b in pair_idx], strategy,
    )  # fmt: skip


def make_figures(args: FigureArgs) -> dict:
    """Draw both figures for ``args.run`` and write the index; returns the index (see module doc)."""

    _check_counts(args)
    model, cfg, ckpt = load_model(args.run, device=args.device)
    cache = args.data or cfg.data.cache
    if not cache:
        raise UserError(f"{ckpt}: its config names no data.cache; pass --data CACHE")
    split_dir, arrays, ids = _load_split(Path(cache), args.split, cfg.data.crop_size, ckpt)
    count = int(arrays["image"].shape[0])
    if args.pairs and count < 2:
        raise UserError(f"{split_dir}: {count} sample(s); interpolation needs at least 2 (or pass --pairs 0)")
    samples, pair_idx = choose_samples(count, args.n, args.pairs, args.seed)
    has_cloud_decoder = "C" in model.plan.decoders
    letters = ("P", "C") if has_cloud_decoder else ("P",)
    strategy = _strategy_name(cfg, model.plan)
    out = Path(args.out) if args.out else default_out(Path(args.run), ckpt)
    label = (lambda i: f"#{i} {ids[i]}") if ids is not None and len(ids) == count else (lambda i: f"#{i}")

    with torch.no_grad():
        z = rgb_latents(model, _rgb(arrays, samples, args.device))
        pred = {c: model.decode(z, c).float().cpu().numpy() for c in letters}
    rng = np.random.default_rng([args.seed, 1])
    n_show = pred["C"].shape[1] if has_cloud_decoder else cfg.data.n_points
    gt_clouds = [_gt_cloud(arrays, int(i), n_show, rng) for i in samples]
    images = np.asarray(arrays["image"][samples])
    recon_path = plot_reconstructions(
        out / "reconstructions.png", images, np.asarray(arrays["pose"][samples], np.float64), pred["P"], gt_clouds,
        pred.get("C"), [label(int(i)) for i in samples], strategy,
    )
    files = {"reconstructions": recon_path.name}

    ts = np.linspace(0.0, 1.0, args.steps)
    if args.pairs:
        files["interpolation"] = _interpolation(model, arrays, pair_idx, ts, letters, label, strategy, out, args).name

    index = {
        "run": str(args.run),
        "checkpoint": str(ckpt),
        "strategy": cfg.model.strategy,
        "plan": model.plan.strategy,
        "alignment": model.plan.alignment,
        "decoders": list(model.plan.decoders),
        "cloud_decoder": has_cloud_decoder,
        "data": str(cache),
        "split": args.split,
        "split_size": count,
        "seed": args.seed,
        "latent": "mean of q(z|R)",
        "frame": "normalised (viewpoint-corrected, centred on the cloud centroid, 2 x middle MCP-PIP bone = 1)",
        "samples": [int(i) for i in samples],
        "sample_ids": [ids[int(i)] for i in samples] if ids is not None and len(ids) == count else None,
        "pairs": [[int(a), int(b)] for a, b in pair_idx],
        "steps": args.steps,
        "t": [float(t) for t in ts],
        "files": files,
        "args": asdict(replace(args, data=str(cache), out=os.fspath(out))),
    }
    atomic_write_text(out / "figures.json", json.dumps(index, indent=2) + "\n")
    return {**index, "out": os.fspath(out)}
