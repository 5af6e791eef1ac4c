"""How much a keypoint convention costs on a labelled set, for a perfect model and for a trained one.

1. Move the MCPs of the ground truth along the MCP -> PIP bone by ``d`` mm (the set's joints in
   another convention, otherwise perfect) and score that "perfect model" under the headline protocol
   (root middle MCP, ground-truth bone scale) and after Procrustes alignment (PA-EPE).
2. With ``--predictions``: take a trained model's predictions (the ``predictions_*.npz`` that
   ``handvae evaluate`` writes) and convert them after the fact to a deeper convention, each long
   finger's MCP moved ``d`` mm away from its PIP (in the model's own millimetres: its normalised
   pose times the synthetic world's middle MCP -> PIP bone), then score them the same way. This
   tells how much of a trained model's error the convention explains; it fits nothing (one fixed
   list of ``d``).

3. With ``--synthetic``: the whole skeleton, not just the MCPs. Each of the 20 bones (wrist -> MCP and
   the three phalanges of each finger) as a share of the hand's total bone length, averaged over a
   synthetic split's poses (a ``predictions_*.npz`` of ``handvae evaluate`` on a synthetic test split:
   its ``gt_mm``); the set's poses are redrawn with those shares of their own total length along their
   own bone directions (a perfect articulation in the synthetic mean proportions) and scored, all bones
   at once and one level at a time; with ``--predictions``, the models' predictions are redrawn likewise,
   with the synthetic shares and, as a reference that uses the set's labels, with the set's own mean shares.

Reads an ``annotations.npz`` with ``xyz_mm (N, 21, 3)`` in RHD order, such as the real development
set's (evaluation only).

    PYTHONPATH=src python benchmarks/convention_gap.py ../shared/realdev/annotations.npz \
        [--predictions RUN/eval_realdev/predictions_NAME.npz ...] [--synthetic RUN/eval_test/predictions_NAME.npz]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from handvae.eval.metrics import Protocol, evaluate
from handvae.skeleton import SCALE_BONE, finger_joints
from handvae.synth.hand import DEFAULT_BASE_DIST, DEFAULT_BONES

SHIFTS_MM = (0.0, 5.0, 10.0, 13.0, 16.0)


def shift_mcps(xyz: np.ndarray, d_mm: float) -> np.ndarray:
    """``xyz (N, 21, 3)`` mm with each long finger's MCP moved ``d_mm`` towards its PIP (away if < 0)."""
    out = xyz.copy()
    for f in range(1, 5):
        _, _, pip, mcp = finger_joints(f)
        u = xyz[:, pip] - xyz[:, mcp]
        out[:, mcp] = xyz[:, mcp] + d_mm * u / np.linalg.norm(u, axis=-1, keepdims=True)
    return out


BONE_LEVELS = ("wrist -> MCP", "MCP -> PIP", "PIP -> DIP", "DIP -> tip")


def finger_chains() -> list[list[int]]:
    """Per finger (thumb first) the joints from the wrist out: ``[0, MCP, PIP, DIP, tip]`` (RHD order)."""
    return [[0, *reversed(finger_joints(f))] for f in range(5)]


def bone_lengths(xyz: np.ndarray) -> np.ndarray:
    """``xyz (N, 21, 3)`` -> ``(N, 5, 4)`` bone lengths: finger (thumb first) x level (:data:`BONE_LEVELS`)."""
    chains = np.array(finger_chains())
    return np.linalg.norm(xyz[:, chains[:, 1:]] - xyz[:, chains[:, :-1]], axis=-1)


def proportions(xyz: np.ndarray) -> np.ndarray:
    """``(5, 4)`` mean share of each bone in its hand's total bone length (the shares sum to 1)."""
    lengths = bone_lengths(xyz)
    return (lengths / lengths.sum(axis=(1, 2), keepdims=True)).mean(axis=0)


def reproportion(xyz: np.ndarray, shares: np.ndarray, levels: tuple[int, ...] = (0, 1, 2, 3)) -> np.ndarray:
    """``xyz (N, 21, 3)`` redrawn from the wrist along its own bone directions, the bones of ``levels``
    given ``shares (5, 4)`` of each hand's total bone length and the others kept as they are."""
    lengths = bone_lengths(xyz)
    total = lengths.sum(axis=(1, 2))
    out = xyz.copy()
    for f, chain in enumerate(finger_chains()):
        for level in range(4):
            a, b = chain[level], chain[level + 1]
            u = xyz[:, b] - xyz[:, a]
            u = u / np.linalg.norm(u, axis=-1, keepdims=True)
            length = shares[f, level] * total if level in levels else lengths[:, f, level]
            out[:, b] = out[:, a] + u * length[:, None]
    return out


def _scores(norm: np.ndarray, xyz: np.ndarray, gt: np.ndarray, vis: np.ndarray | None) -> tuple[float, float]:
    """(headline EPE, PA-EPE) mm: ``norm`` rooted and in bone units, ``xyz`` the same pose in mm."""
    head = evaluate(norm, gt, vis, protocol=Protocol()).mean_epe_mm
    pa = evaluate(xyz, gt, vis, protocol=Protocol(scale="procrustes")).mean_epe_mm
    return head, pa


def perfect_model_table(gt: np.ndarray) -> None:
    a, b = SCALE_BONE
    print("| MCPs moved towards the PIP (mm) | headline EPE (mm) | PA-EPE (mm) |\n|---:|---:|---:|")
    for d in SHIFTS_MM:
        x = shift_mcps(gt, d)
        norm = (x - x[:, a : a + 1]) / np.linalg.norm(x[:, a] - x[:, b], axis=-1)[:, None, None]
        head, pa = _scores(norm, x, gt, None)
        print(f"| {d:.0f} | {head:.2f} | {pa:.2f} |")


def converted_predictions_table(path: Path, annotations: np.ndarray) -> None:
    """Score one ``handvae evaluate`` predictions file converted to deeper MCPs by each of SHIFTS_MM."""
    z = np.load(path)
    pred, gt, vis = (np.asarray(z[k], dtype=np.float64) for k in ("pred_mm", "gt_mm", "vis"))
    if gt.shape != annotations.shape or not np.allclose(gt, annotations, atol=1e-3):
        raise SystemExit(f"{path}: its ground truth is not the annotations' (predictions of another set?)")
    a, b = SCALE_BONE
    # The model's normalised pose (the protocol scaled it by the ground-truth bone), in its own mm.
    bone = DEFAULT_BONES[2][0]
    gt_bone = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)[:, None, None]
    own_mm = (pred - pred[:, a : a + 1]) / gt_bone * bone
    print(f"\n{path}: MCPs moved away from the PIP after prediction")
    print("| MCPs moved (mm) | headline EPE (mm) | PA-EPE (mm) |\n|---:|---:|---:|")
    for d in SHIFTS_MM:
        x = shift_mcps(own_mm, -d)
        norm = (x - x[:, a : a + 1]) / (bone + d)  # the bone the model would have learnt in that convention
        head, pa = _scores(norm, x, gt, vis.astype(bool))
        print(f"| {d:.0f} | {head:.2f} | {pa:.2f} |")


def _pa(xyz: np.ndarray, gt: np.ndarray, vis: np.ndarray | None = None) -> float:
    return evaluate(xyz, gt, vis, protocol=Protocol(scale="procrustes")).mean_epe_mm


def proportions_table(gt: np.ndarray, synthetic: Path, predictions: list[Path]) -> None:
    """PA-EPE of the set's poses and of the given predictions redrawn in the synthetic proportions."""
    syn = proportions(np.load(synthetic)["gt_mm"].astype(np.float64))
    own = proportions(gt)
    print(f"\nbone shares of the hand's total length, the set / the synthetic split ({synthetic}):")
    print("| finger | " + " | ".join(BONE_LEVELS) + " |\n|---|" + "---:|" * 4)
    for f, name in enumerate(("thumb", "index", "middle", "ring", "little")):
        print(f"| {name} | " + " | ".join(f"{own[f, k]:.3f} / {syn[f, k]:.3f}" for k in range(4)) + " |")
    print("\nthe set's poses redrawn in the synthetic proportions (a perfect articulation in that skeleton):")
    print("| bones redrawn | PA-EPE (mm) |\n|---|---:|")
    print(f"| all | {_pa(reproportion(gt, syn), gt):.2f} |")
    for k, name in enumerate(BONE_LEVELS):
        print(f"| {name} only | {_pa(reproportion(gt, syn, (k,)), gt):.2f} |")
    for path in predictions:
        z = np.load(path)
        pred, vis = np.asarray(z["pred_mm"], dtype=np.float64), z["vis"].astype(bool)
        print(f"\n{path}: PA-EPE as predicted {_pa(pred, gt, vis):.2f} mm; redrawn in the synthetic mean proportions "
              f"{_pa(reproportion(pred, syn), gt, vis):.2f}; in the set's own mean proportions (uses its labels: a "
              f"reference, not a model's figure) {_pa(reproportion(pred, own), gt, vis):.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("annotations")
    p.add_argument("--predictions", nargs="*", default=[], type=Path,
                   help="predictions_*.npz of `handvae evaluate` on the same set, converted after the fact")
    p.add_argument("--synthetic", type=Path,
                   help="predictions_*.npz of `handvae evaluate` on a synthetic test split: its proportions")
    args = p.parse_args()
    gt = np.load(args.annotations)["xyz_mm"].astype(np.float64)
    a, b = SCALE_BONE
    bone = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
    palm = np.linalg.norm(gt[:, a] - gt[:, 0], axis=-1)
    print(f"{len(gt)} poses: middle MCP->PIP {bone.mean():.1f} mm (the synthetic default {DEFAULT_BONES[2][0]:.1f}), "
          f"wrist->middle MCP {palm.mean():.1f} mm (default {DEFAULT_BASE_DIST[2]:.1f})")
    perfect_model_table(gt)
    for path in args.predictions:
        converted_predictions_table(path, gt)
    if args.synthetic:
        proportions_table(gt, args.synthetic, args.predictions)


if __name__ == "__main__":
    main()
