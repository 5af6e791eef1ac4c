"""RGB-only predictions on a prepared split, mapped back to millimetres, scored by the pinned metrics.

The model predicts normalised poses (``x_norm = R_vc (x_mm - centroid) / scale_mm`` with
``scale_mm = 2 |kp12 - kp11|`` of the ground truth, see :mod:`handvae.data.prepare`). They are
mapped back to the original camera frame in mm with the cache's ``R_vc``, ``centroid_mm``,
``scale_mm`` and mirroring flag; the ground truth's bone is thus the known scale, exactly the
paper's protocol ("global hand scale and root position are taken as known").
"""

from __future__ import annotations

import numpy as np
import torch

from handvae.data.cache import open_split, to_camera_mm
from handvae.eval.metrics import Protocol, Result, aligned_protocol, evaluate
from handvae.models.tta import predict_pose_tta
from handvae.skeleton import bone_length


@torch.no_grad()
def predict_split(model: torch.nn.Module, loader, tta_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Normalised predictions ``(N, 21, 3)`` for every sample of an evaluation loader, and their indices.

    ``tta_deg``: average each pose with those of the crop rolled by +-``tta_deg`` degrees
    (:func:`~handvae.models.tta.predict_pose_tta`); 0, the protocol's default, is a single pass."""
    was_training = model.training
    model.eval()
    loader.set_epoch(0)
    preds, idx = [], []
    for batch in loader:
        preds.append(predict_pose_tta(model, batch["R"], tta_deg).float().cpu())
        idx.append(batch["index"].cpu())
    model.train(was_training)
    return torch.cat(preds).numpy().astype(np.float64), torch.cat(idx).numpy()


def to_mm(pred_norm: np.ndarray, arrays: dict, index: np.ndarray) -> np.ndarray:
    """Normalised predictions of samples ``index`` -> mm in each sample's original camera frame."""
    return to_camera_mm(
        pred_norm, np.asarray(arrays["R_vc"][index], np.float64), np.asarray(arrays["centroid_mm"][index], np.float64),
        np.asarray(arrays["scale_mm"][index], np.float64), np.asarray(arrays["mirrored"][index]),
    )


def score(pred_mm: np.ndarray, gt_mm: np.ndarray, vis: np.ndarray, protocol: Protocol, pa: bool = False) -> Result:
    """Score camera-frame mm predictions ``(N, 21, 3)`` whose scale came from the ground truth's bone.

    For the ``gt_bone`` protocol the prediction is handed to the metrics in bone units (divided by
    the ground-truth bone it was scaled with), so the metrics' own multiplication restores it.
    ``pa``: also score PA-EPE (:func:`handvae.eval.metrics.aligned_protocol`) into ``Result.pa``.
    """
    aligned = None
    if pa and protocol.scale != "procrustes":
        aligned = evaluate(pred_mm, gt_mm, vis, aligned_protocol(protocol))
    if protocol.scale == "gt_bone":
        pred_mm = pred_mm / bone_length(gt_mm)[:, None, None]
    result = evaluate(pred_mm, gt_mm, vis, protocol)
    result.pa = aligned
    return result


def _score_split(pred_norm: np.ndarray, index: np.ndarray, loader, cfg, pa: bool = False) -> tuple[Result, np.ndarray]:
    """Map normalised predictions of samples ``index`` to camera mm (mirroring undone) and score them
    under ``cfg.eval`` (and PA-EPE when ``pa``)."""

    extra = open_split(loader.split_dir, ["xyz_mm", "vis", "mirrored", "R_vc", "centroid_mm", "scale_mm"])
    pred_mm = to_mm(pred_norm, extra, index)
    gt = np.asarray(extra["xyz_mm"][index], np.float64)
    vis = np.asarray(extra["vis"][index]).astype(bool)
    protocol = Protocol(root=cfg.eval.root, scale=cfg.eval.scale, visible_only=cfg.eval.visible_only)
    return score(pred_mm, gt, vis, protocol, pa), pred_mm


def evaluate_split(model: torch.nn.Module, loader, cfg, pa: bool = False,
                   tta_deg: float = 0.0) -> tuple[Result, np.ndarray]:
    """(Result under ``cfg.eval``, predictions (N, 21, 3) mm camera frame) for an evaluation loader.

    ``pa``: also score PA-EPE into ``Result.pa``; ``tta_deg``: test-time rolls (:func:`predict_split`).
    """
    pred_norm, index = predict_split(model, loader, tta_deg)
    return _score_split(pred_norm, index, loader, cfg, pa)


def mean_pose_baseline(train_split_dir, loader, cfg, pa: bool = False) -> Result:
    """The floor every model must beat: predict the training set's mean normalised pose for every sample.

    ``pa``: also score PA-EPE into ``Result.pa``.
    """

    mean = np.asarray(open_split(train_split_dir, ["pose"])["pose"], np.float64).mean(axis=0)
    index = loader.start + np.arange(loader.n)
    return _score_split(np.broadcast_to(mean, (index.size, 21, 3)), index, loader, cfg, pa)[0]
