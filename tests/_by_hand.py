"""Reference computations written out for the tests: normalised poses to camera mm and the paper's EPE."""

from __future__ import annotations

import numpy as np
import torch


def rgb_predictions(model, images) -> np.ndarray:
    """The model's RGB-only normalised poses ``(N, 21, 3)`` for cached ``images (N, S, S, 3)`` uint8."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        rgb = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 255.0
        out = model.predict_pose(rgb).double().numpy()
    model.train(was_training)
    return out


def to_mm(pose_norm: np.ndarray, cached, rows=slice(None)) -> np.ndarray:
    """x_mm = R_vc^T (scale x) + centroid, then x -> -x for a mirrored (left) hand: (N, 21, 3).

    ``cached``: the arrays of a prepared split; ``rows``: which of its samples ``pose_norm`` belongs to.
    """
    R = np.asarray(cached["R_vc"][rows], np.float64)
    s = np.asarray(cached["scale_mm"][rows], np.float64)
    c = np.asarray(cached["centroid_mm"][rows], np.float64)
    out = np.stack([(pose_norm[i] * s[i]) @ R[i] + c[i] for i in range(len(R))])
    out[np.asarray(cached["mirrored"][rows]).astype(bool), :, 0] *= -1.0
    return out


def mean_epe(pred_mm: np.ndarray, cached, rows=slice(None)) -> float:
    """The paper's protocol written out: root kp 12 on both sides; each joint's mean over the samples where it
    is visible; the mean over joints (camera-frame mm predictions already carry the GT bone's scale)."""
    gt = np.asarray(cached["xyz_mm"][rows], np.float64)
    vis = np.asarray(cached["vis"][rows]).astype(bool)
    err = np.linalg.norm((pred_mm - pred_mm[:, 12:13]) - (gt - gt[:, 12:13]), axis=-1)
    return float(np.mean([err[vis[:, j], j].mean() for j in range(21) if vis[:, j].any()]))
