"""``--hand auto`` measured: how often it picks each side, and its EPE / PA-EPE beside forced left and right.

    .venv/bin/python benchmarks/handedness.py --model s4 --data /data/realdev_raw
    .venv/bin/python benchmarks/handedness.py --run runs/release/s4 --data /data/realdev_raw --scores confidence kl

``--data`` is a prepared cache. For the realdev photos (all left hands) prepare it with
``--mirror none`` so that its crops are the hands as photographed::

    handvae prepare realdev ../shared/realdev --out /data/realdev_raw --split test --size 128 --mirror none

(the crop size must be the model's). For every cached crop and every score of
:data:`handvae.predict.handedness.SCORES` it runs :func:`~handvae.predict.handedness.choose_hand`
and prints: the fraction of crops where auto picks "left", its accuracy against the side the crop
shows (the cache's ``side``, flipped where the cache ``mirrored`` it), and mean EPE / PA-EPE (mm,
the model's protocol, visible joints) of auto, of forced "left" and "right" for every crop, and of
the oracle (the true side). Poses go to camera-frame mm exactly as ``handvae evaluate`` maps them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def load_probe(model_name: str | None, probe_file: Path | None):
    """The hand probe for the ``probe`` score: ``probe_file``, else the released model's own, else None."""
    from handvae.models.released import released_probe_path
    from handvae.predict.hand_probe import load_hand_probe

    path = probe_file or (released_probe_path(model_name) if model_name else None)
    return load_hand_probe(path)[0] if path is not None else None


def decide(model, images: np.ndarray, scores: list[str], probe=None) -> tuple[dict, dict]:
    """Per score, the chosen sides ``(N,)`` str and auto poses ``(N, 21, 3)``; forced poses per side."""
    from handvae.predict.handedness import choose_hand

    chosen = {s: [] for s in scores}
    auto = {s: [] for s in scores}
    forced: dict[str, list] = {"left": [], "right": []}
    for crop in images:
        for i, s in enumerate(scores):
            c = choose_hand(model, np.asarray(crop), s, probe)
            chosen[s].append(c.hand)
            auto[s].append(c.pose)
            if i == 0:
                for side in forced:
                    forced[side].append(c.poses[side])
    return ({s: np.array(v) for s, v in chosen.items()},
            {"auto": {s: np.stack(v) for s, v in auto.items()}, **{k: np.stack(v) for k, v in forced.items()}})


def main(argv: list[str] | None = None) -> int:
    from handvae.models.load import add_model_arguments, load_model_or_released

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(p)
    p.add_argument("--data", type=Path, required=True, help="a prepared cache (realdev: prepared with --mirror none)")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=0, help="only the first N samples (0: all)")
    p.add_argument("--scores", nargs="+", default=None,
                   help="scores to compare (default: all; probe only where there is a probe)")
    p.add_argument("--hand-probe", type=Path, default=None, help="a hand probe file (default: a released model's)")
    args = p.parse_args(argv)

    import torch

    from handvae.data.cache import open_split
    from handvae.eval.metrics import Protocol
    from handvae.eval.scoring import score, to_mm
    from handvae.predict.handedness import SCORES

    with torch.no_grad():  # inference only; the global grad mode is left as it was
        model, cfg, label = load_model_or_released(args.run, args.model)
        probe = load_probe(args.model, args.hand_probe)
        scores = args.scores or [s for s in SCORES if s != "probe" or probe is not None]
        arrays = open_split(args.data / args.split, ["image", "side", "mirrored", "R_vc", "centroid_mm", "scale_mm",
                                                     "xyz_mm", "vis"])
        n = len(arrays["image"]) if args.limit <= 0 else min(args.limit, len(arrays["image"]))
        if arrays["image"].shape[1] != cfg.data.crop_size:
            size = arrays["image"].shape[1]
            raise SystemExit(f"{args.data}: crops of {size} px, the model wants {cfg.data.crop_size}")
        index = np.arange(n)
        shown = np.where((np.asarray(arrays["side"][:n]) == 1) ^ np.asarray(arrays["mirrored"][:n]), "right", "left")
        chosen, poses = decide(model, np.asarray(arrays["image"][:n]), scores, probe)
        gt = np.asarray(arrays["xyz_mm"][:n], np.float64)
        vis = np.asarray(arrays["vis"][:n]).astype(bool)
        protocol = Protocol(root=cfg.eval.root, scale=cfg.eval.scale, visible_only=cfg.eval.visible_only)

        def epe(pose_norm: np.ndarray) -> tuple[float, float]:
            r = score(to_mm(pose_norm, arrays, index), gt, vis, protocol, pa=True)
            return r.mean_epe_mm, r.pa.mean_epe_mm

        oracle = np.where((shown == "left")[:, None, None], poses["left"], poses["right"])
        print(f"{label} on {args.data / args.split}: {n} crops, {np.mean(shown == 'left'):.0%} show a left hand; "
              f"protocol: {protocol.describe()}")
        print(f"{'prediction':<24} {'picks left':>10} {'accuracy':>9} {'EPE mm':>8} {'PA-EPE mm':>10}")
        for s in scores:
            e, pa = epe(poses["auto"][s])
            print(f"{'auto (' + s + ')':<24} {np.mean(chosen[s] == 'left'):>10.1%} {np.mean(chosen[s] == shown):>9.1%} "
                  f"{e:>8.2f} {pa:>10.2f}")
        for name, pose in (("forced left", poses["left"]), ("forced right", poses["right"]), ("oracle side", oracle)):
            e, pa = epe(pose)
            print(f"{name:<24} {'':>10} {'':>9} {e:>8.2f} {pa:>10.2f}")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
