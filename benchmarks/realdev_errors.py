"""Where a model's error on a labelled set sits: per joint, per photo, and in the hand's orientation.

Reads the ``predictions_*.npz`` files that ``handvae evaluate`` writes (``pred_mm``, ``gt_mm``, ``vis``;
RHD joint order) for one set, such as the real development set (evaluation only), and prints for each
model and for the average of all the models given (an ensemble of their predictions):

- PA-EPE (mm, after a per-photo similarity alignment, visible joints): the mean, and the median of the
  per-photo means;
- the palm normal's error: the angle between the predicted and the true normal of the triangle wrist,
  index MCP, little MCP (median, and on how many photos it exceeds 90 degrees: palm and back confused);
- the PA-EPE of each of the 21 joints;
- its systematic part: the aligned residuals (prediction minus truth) expressed in each photo's true hand
  frame and averaged over the photos (a mean error that every photo shares, such as a thumb placed too
  far into the palm): the mean length of that bias per joint, the PA-EPE left when it is subtracted (a
  reference that uses the labels, not a correction to apply), and each fingertip's bias along the palm
  normal (mm, + towards the palm).

    PYTHONPATH=src python benchmarks/realdev_errors.py NAME=RUN/eval_realdev/predictions_NAME.npz ...
"""

from __future__ import annotations

import argparse

import numpy as np

from handvae.eval.metrics import Protocol, evaluate, keypoint_errors, procrustes_align
from handvae.skeleton import ROOT_JOINT, WRIST, finger_joints, palm_normal
from handvae.synth.hand import chirality


def palm_normals(xyz: np.ndarray) -> np.ndarray:
    """``(N, 21, 3)`` -> ``(N, 3)`` unit normals of the triangle wrist, index MCP, little MCP."""
    n = palm_normal(xyz)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def hand_frames(xyz: np.ndarray) -> np.ndarray:
    """``(N, 21, 3)`` -> ``(N, 3, 3)`` rows: along (wrist -> middle MCP), lateral (towards the thumb's side),
    palmar (the palm normal turned to the palm's side): the same anatomical axes for a left and a right
    hand (so the frame is right-handed for a right hand and mirrored for a left one)."""
    side = chirality(xyz)[:, None]
    along = xyz[:, ROOT_JOINT] - xyz[:, WRIST]
    along /= np.linalg.norm(along, axis=-1, keepdims=True)
    palmar = palm_normal(xyz) * side
    palmar -= (palmar * along).sum(-1, keepdims=True) * along
    palmar /= np.linalg.norm(palmar, axis=-1, keepdims=True)
    return np.stack([along, np.cross(palmar, along) * side, palmar], axis=1)


def systematic(pred: np.ndarray, gt: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The bias shared by all photos: ``(21, 3)`` mm in the hand frame (along, lateral, palmar), averaged
    over the photos where the joint is visible; the mean per-joint length of the bias; and the PA-EPE
    (mean over visible joints) once the bias is subtracted from every photo's aligned residual."""
    frames = hand_frames(gt)
    resid = np.einsum("nij,nkj->nki", frames, procrustes_align(pred, gt) - gt)  # (N, 21, 3) in the frames
    w = vis[..., None].astype(np.float64)
    bias = (resid * w).sum(0) / np.maximum(w.sum(0), 1.0)
    left = np.linalg.norm(resid - bias, axis=-1)
    return bias, float(np.linalg.norm(bias, axis=-1).mean()), float(left[vis].mean())


def report(name: str, pred: np.ndarray, gt: np.ndarray, vis: np.ndarray) -> None:
    protocol = Protocol(scale="procrustes")
    errors, counted = keypoint_errors(pred, gt, vis, protocol)
    per_photo = np.array([e[c].mean() for e, c in zip(errors, counted) if c.any()])  # photos with a visible joint
    cos = np.clip((palm_normals(pred) * palm_normals(gt)).sum(-1), -1.0, 1.0)
    angle = np.degrees(np.arccos(cos))
    pa = evaluate(pred, gt, vis, protocol=protocol).mean_epe_mm
    print(f"{name}: PA-EPE {pa:.2f} mm (per-photo median {np.median(per_photo):.2f}); palm normal error median "
          f"{np.median(angle):.0f} deg, over 90 deg on {int((angle > 90).sum())} of {len(angle)} photos")
    joints = [errors[counted[:, j], j].mean() for j in range(errors.shape[1])]
    print("  per joint (RHD order):", " ".join(f"{e:.1f}" for e in joints))
    bias, size, left = systematic(pred, gt, vis)
    tips = " ".join(f"{bias[finger_joints(f)[0], 2]:+.1f}" for f in range(5))
    print(f"  systematic part: {size:.2f} mm per joint; without it {left:.2f} mm (a reference that uses the "
          f"labels); fingertips along the palm normal (thumb..little, + palmar): {tips}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("predictions", nargs="+", help="NAME=predictions_*.npz of `handvae evaluate`, one set")
    args = p.parse_args()
    preds, gt, vis = {}, None, None
    for item in args.predictions:
        name, _, path = item.rpartition("=")
        z = np.load(path)
        if gt is not None and not np.allclose(z["gt_mm"], gt):
            raise SystemExit(f"{path}: another set's ground truth than the first file's")
        gt, vis = np.asarray(z["gt_mm"], np.float64), np.asarray(z["vis"], bool)
        preds[name or path] = np.asarray(z["pred_mm"], np.float64)
    for name, pred in preds.items():
        report(name, pred, gt, vis)
    if len(preds) > 1:
        report("average of all", np.mean(list(preds.values()), axis=0), gt, vis)


if __name__ == "__main__":
    main()
