"""Test-time views measured: a model's EPE / PA-EPE when its pose is averaged over rolled or zoomed copies.

    .venv/bin/python benchmarks/tta.py --model s4 --data ~/.cache/handvae/release/cache128_select
    .venv/bin/python benchmarks/tta.py --run runs/release/s4 --data CACHE [CACHE ...]

For every prepared cache (crop size of the model, hands as the model was trained: left ones mirrored)
it predicts each crop under every view of :data:`VIEW_SETS` (a roll about the crop centre by ``deg``
degrees, rotated back, and a zoom ``s`` about the centre, as training's warp makes them), averages the
normalised poses of a set, and prints mean EPE, AUC 20-50 and PA-EPE under the model's protocol (camera
frame mm, as ``handvae evaluate`` maps them). ``handvae predict``'s default (:data:`handvae.models.tta.TTA_DEG`)
was chosen with it on a synthetic selection split, never on real photos (docs/MODELS.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

# name -> views (roll degrees, zoom); the first view of every set is the crop itself
VIEW_SETS: dict[str, tuple[tuple[float, float], ...]] = {
    "crop alone": ((0, 1.0),),
    "rolls +-10": ((0, 1.0), (10, 1.0), (-10, 1.0)),
    "rolls +-20": ((0, 1.0), (20, 1.0), (-20, 1.0)),
    "rolls +-30": ((0, 1.0), (30, 1.0), (-30, 1.0)),
    "rolls +-45": ((0, 1.0), (45, 1.0), (-45, 1.0)),
    "rolls +-15,30,45": ((0, 1.0), *((s * a, 1.0) for a in (15, 30, 45) for s in (1, -1))),
    "zooms 0.85,1.15": ((0, 1.0), (0, 0.85), (0, 1.15)),
}


def view_poses(model, rgb, views):
    """``rgb (N, 3, S, S)`` -> ``{view: (N, 21, 3)}`` normalised poses in the crop's frame."""
    from handvae.models.tta import rolled_poses

    return {(deg, zoom): rolled_poses(model, rgb, (deg,), zoom)[0] for deg, zoom in views}


def measure(model, cfg, split_dir: Path) -> None:
    import torch

    from handvae.data.cache import open_split
    from handvae.data.rgb import rgb_input
    from handvae.eval.metrics import Protocol
    from handvae.eval.scoring import score, to_mm

    a = open_split(split_dir, ["image", "mirrored", "R_vc", "centroid_mm", "scale_mm", "xyz_mm", "vis"])
    images = np.asarray(a["image"])
    gt, vis = np.asarray(a["xyz_mm"], np.float64), np.asarray(a["vis"]).astype(bool)
    protocol = Protocol(root=cfg.eval.root, scale=cfg.eval.scale, visible_only=cfg.eval.visible_only)
    views = sorted({v for vs in VIEW_SETS.values() for v in vs})
    poses: dict = {v: [] for v in views}
    with torch.no_grad():
        for i in range(0, len(images), 100):
            for v, p in view_poses(model, rgb_input(images[i : i + 100]), views).items():
                poses[v].append(p)
    poses = {v: torch.cat(p).double().numpy() for v, p in poses.items()}
    print(f"{split_dir}: {len(images)} crops; protocol: {protocol.describe()}")
    print(f"{'views':<18} {'passes':>6} {'EPE mm':>8} {'AUC 20-50':>10} {'PA-EPE mm':>10}")
    for name, vs in VIEW_SETS.items():
        pred = np.mean([poses[v] for v in vs], axis=0)
        r = score(to_mm(pred, a, np.arange(len(pred))), gt, vis, protocol, pa=True)
        row = f"{name:<18} {len(vs):>6} {r.mean_epe_mm:>8.2f} {r.auc_20_50:>10.3f} {r.pa.mean_epe_mm:>10.2f}"
        print(row, flush=True)


def main(argv: list[str] | None = None) -> int:
    from handvae.models.load import add_model_arguments, load_model_or_released

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(p)
    p.add_argument("--data", type=Path, nargs="+", required=True, help="prepared caches")
    p.add_argument("--split", default="test")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default 0: torch's own choice)")
    args = p.parse_args(argv)

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model, cfg, _ = load_model_or_released(args.run, args.model)
    for data in args.data:
        measure(model, cfg, data.expanduser() / args.split)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
