"""Where a model's error on a labelled set sits: per joint, per photo, and in the hand's orientation.

Reads the ``predictions_*.npz`` files that ``handvae evaluate`` writes (``pred_mm``, ``gt_mm``, ``vis``;
RHD joint order) for one set, such as the real development set (evaluation only), and prints for each
model and for the average of all the models given (an ensemble of their predictions):

- PA-EPE (mm, after a per-photo similarity alignment, visible joints): the mean, and the median of the
  per-photo means;
- the palm normal's error: the angle between the predicted and the true normal of the triangle wrist,
  index MCP, little MCP (median, and on how many photos it exceeds 90 degrees: palm and back confused);
- the PA-EPE of each of the 21 joints.

    PYTHONPATH=src python benchmarks/realdev_errors.py NAME=RUN/eval_realdev/predictions_NAME.npz ...
"""

from __future__ import annotations

import argparse

import numpy as np

from handvae.eval.metrics import Protocol, evaluate, keypoint_errors
from handvae.skeleton import palm_normal


def palm_normals(xyz: np.ndarray) -> np.ndarray:
    """``(N, 21, 3)`` -> ``(N, 3)`` unit normals of the triangle wrist, index MCP, little MCP."""
    n = palm_normal(xyz)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def report(name: str, pred: np.ndarray, gt: np.ndarray, vis: np.ndarray) -> None:
    protocol = Protocol(scale="procrustes")
    errors, counted = keypoint_errors(pred, gt, vis, protocol)
    per_photo = np.array([e[c].mean() for e, c in zip(errors, counted)])
    cos = np.clip((palm_normals(pred) * palm_normals(gt)).sum(-1), -1.0, 1.0)
    angle = np.degrees(np.arccos(cos))
    pa = evaluate(pred, gt, vis, protocol=protocol).mean_epe_mm
    print(f"{name}: PA-EPE {pa:.2f} mm (per-photo median {np.median(per_photo):.2f}); palm normal error median "
          f"{np.median(angle):.0f} deg, over 90 deg on {int((angle > 90).sum())} of {len(angle)} photos")
    joints = [errors[counted[:, j], j].mean() for j in range(errors.shape[1])]
    print("  per joint (RHD order):", " ".join(f"{e:.1f}" for e in joints))


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
