"""The evaluation protocol: the one module behind every number handvae publishes.

Protocol of the hand3d / Spurr et al. line of work, which the paper's tables use
(see docs/DATA.md):

1. Both poses are expressed relative to a root joint: the middle MCP (``mcp``, the paper's),
   the palm (``palm`` = midpoint of the wrist and the middle MCP) or the ``wrist``.
2. Scale: ``gt_bone`` (the paper's): the prediction is in normalised units where the middle
   MCP->PIP bone has length 1, and is multiplied by the ground truth's bone |kp12 - kp11| mm;
   ``none``: the prediction is already in mm; ``procrustes``: the prediction is aligned to
   the ground truth by the best similarity transform (rotation, scale, translation) per sample.
3. Per keypoint, a list of Euclidean errors (mm) over the test set, counting only visible
   keypoints (``visible_only``) or all of them.
4. Mean EPE = mean over keypoints of each keypoint's mean error; median EPE = mean over
   keypoints of each keypoint's median error (not the global median).
5. 3D PCK at 20 thresholds ``linspace(0, 50, 20)`` mm (an error counts when ``<=`` the
   threshold); AUC = trapezoid integral of each keypoint's PCK curve divided by the span of
   the thresholds, averaged over keypoints; ``auc_20_50`` uses thresholds 8..19, i.e. it starts
   at 21.05 mm, as the literature does.

Keypoints with no counted error (never visible) are left out of the averages, and counted.
``handvae evaluate`` reports PA-EPE beside the headline: the same predictions scored again with
``procrustes`` (:func:`aligned_protocol`), kept in :attr:`Result.pa`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import get_args

import numpy as np

from handvae.schema import Root, Scale
from handvae.skeleton import JOINT_NAMES, NUM_JOINTS, ROOT_JOINT, SCALE_BONE, WRIST

ROOTS: tuple[str, ...] = get_args(Root)  # the choices, defined once in handvae.schema
SCALES: tuple[str, ...] = get_args(Scale)
PCK_THRESHOLDS_MM = np.linspace(0.0, 50.0, 20)
AUC_20_50_FIRST = 8  # index of the first threshold of "AUC 20-50": 21.05 mm


@dataclass(frozen=True)
class Protocol:
    """The switches of the protocol; the defaults are the paper's."""

    root: str = "mcp"
    scale: str = "gt_bone"
    visible_only: bool = True

    def __post_init__(self) -> None:
        if self.root not in ROOTS:
            raise ValueError(f"protocol root must be one of {ROOTS}, got {self.root!r}")
        if self.scale not in SCALES:
            raise ValueError(f"protocol scale must be one of {SCALES}, got {self.scale!r}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["pck_thresholds_mm"] = "linspace(0, 50, 20)"
        d["auc_20_50_from_mm"] = round(float(PCK_THRESHOLDS_MM[AUC_20_50_FIRST]), 2)
        d["epe"] = "mean over keypoints of per-keypoint mean (median) errors"
        return d

    def describe(self) -> str:
        root = {"mcp": "middle MCP (kp 12)", "palm": "palm (mid wrist-middle MCP)", "wrist": "wrist"}
        root = root[self.root]
        scale = {
            "gt_bone": "prediction x ground-truth bone |kp12-kp11|",
            "none": "none (prediction in mm)",
            "procrustes": "Procrustes similarity alignment",
        }[self.scale]
        joints = "visible keypoints only" if self.visible_only else "all keypoints"
        return f"root: {root}; scale: {scale}; counted: {joints}; PCK thresholds linspace(0, 50 mm, 20)"


PAPER_PROTOCOL = Protocol()


def aligned_protocol(protocol: Protocol) -> Protocol:
    """``protocol`` with Procrustes alignment instead of its scale: the protocol of PA-EPE.

    Root and counted keypoints are kept (after alignment the root no longer changes the errors).
    """
    return replace(protocol, scale="procrustes")


@dataclass
class Result:
    """Scores of one evaluation; every field in mm or a fraction. ``protocol`` says how."""

    mean_epe_mm: float
    median_epe_mm: float
    auc_0_50: float
    auc_20_50: float
    pck_thresholds_mm: list[float]
    pck_curve: list[float]  # mean over keypoints at each threshold
    per_joint_mean_mm: list[float | None]
    per_joint_median_mm: list[float | None]
    per_joint_count: list[int]
    num_samples: int
    protocol: dict = field(default_factory=dict)
    pa: Result | None = None  # the same predictions under aligned_protocol(protocol) (PA-EPE), when scored

    @property
    def pa_epe_mm(self) -> float | None:
        """PA-EPE: mean EPE (mm) after per-sample Procrustes alignment; None when not scored."""
        return None if self.pa is None else self.pa.mean_epe_mm

    def as_dict(self) -> dict:
        return asdict(self)

    def _pa_lines(self) -> list[str]:
        if self.pa is None:
            return []
        pa = self.pa
        return [f"PA-EPE     {pa.mean_epe_mm:8.3f} mm  (Procrustes-aligned; median {pa.median_epe_mm:.3f} mm, "
                f"AUC 20-50 {pa.auc_20_50:.4f})"]

    def table(self) -> str:
        """A plain-text report: headline numbers, per-joint errors, and the protocol."""
        lines = [
            f"samples: {self.num_samples}",
            f"mean EPE   {self.mean_epe_mm:8.3f} mm",
            f"median EPE {self.median_epe_mm:8.3f} mm",
            f"AUC 0-50   {self.auc_0_50:8.4f}",
            f"AUC 20-50  {self.auc_20_50:8.4f}  (thresholds from 21.05 mm to 50 mm)",
            *self._pa_lines(),
            "",
            f"{'joint':<14}{'mean mm':>10}{'median mm':>11}{'count':>8}",
        ]
        for name, mean, med, n in zip(
            JOINT_NAMES, self.per_joint_mean_mm, self.per_joint_median_mm, self.per_joint_count
        ):
            m = "-" if mean is None else f"{mean:.3f}"
            d = "-" if med is None else f"{med:.3f}"
            lines.append(f"{name:<14}{m:>10}{d:>11}{n:>8}")
        lines.append("")
        switches = {k: self.protocol[k] for k in ("root", "scale", "visible_only")}
        lines.append("protocol: " + Protocol(**switches).describe())
        return "\n".join(lines)


def _root(pose: np.ndarray, root: str) -> np.ndarray:
    if root == "mcp":
        return pose[:, ROOT_JOINT]
    if root == "wrist":
        return pose[:, WRIST]
    return 0.5 * (pose[:, WRIST] + pose[:, ROOT_JOINT])


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Best similarity transform of each ``pred: (N, 21, 3)`` onto ``gt: (N, 21, 3)`` (Umeyama).

    Rotation is proper (no reflection). Returns the aligned prediction, same shape.
    """
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = gt.mean(axis=1, keepdims=True)
    p = pred - mu_p
    g = gt - mu_g
    cov = np.einsum("nji,njk->nik", g, p)  # (N, 3, 3) = sum_j g_j p_j^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(s)
    fix[:, -1] = d
    rot = u @ (fix[:, :, None] * vt)
    var_p = (p**2).sum(axis=(1, 2))
    scale = (s * fix).sum(axis=1) / np.maximum(var_p, 1e-12)
    return scale[:, None, None] * np.einsum("nik,njk->nji", rot, p) + mu_g


def keypoint_errors(
    pred: np.ndarray, gt: np.ndarray, vis: np.ndarray | None = None, protocol: Protocol = PAPER_PROTOCOL
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample per-keypoint errors under ``protocol``.

    pred: (N, 21, 3) normalised units (scale ``gt_bone``) or mm; gt: (N, 21, 3) mm;
    vis: (N, 21) bool or None (= all visible).
    Returns (errors (N, 21) mm, counted (N, 21) bool).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"pred and gt must both be (N, 21, 3); got {pred.shape} and {gt.shape}")
    for name, arr in (("prediction", pred), ("ground truth", gt)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} holds NaN or inf values")
    if vis is None:
        vis = np.ones(gt.shape[:2], dtype=bool)
    vis = np.asarray(vis).astype(bool)
    if vis.shape != gt.shape[:2]:
        raise ValueError(f"visibility must be (N, 21) = {gt.shape[:2]}, got {vis.shape}")

    gt_rel = gt - _root(gt, protocol.root)[:, None]
    if protocol.scale == "gt_bone":
        bone = np.linalg.norm(gt[:, SCALE_BONE[0]] - gt[:, SCALE_BONE[1]], axis=-1)
        pred = pred * bone[:, None, None]
    if protocol.scale == "procrustes":
        pred_rel = procrustes_align(pred, gt) - _root(gt, protocol.root)[:, None]
    else:
        pred_rel = pred - _root(pred, protocol.root)[:, None]
    errors = np.linalg.norm(pred_rel - gt_rel, axis=-1)
    counted = vis if protocol.visible_only else np.ones_like(vis)
    return errors, counted


def pck_curve(errors: np.ndarray, thresholds: np.ndarray = PCK_THRESHOLDS_MM) -> np.ndarray:
    """Fraction of ``errors: (M,)`` at or below each threshold; returns (T,)."""
    return (errors[None, :] <= thresholds[:, None]).mean(axis=1)


def auc(curve: np.ndarray, thresholds: np.ndarray) -> float:
    """Trapezoid integral of ``curve`` over ``thresholds`` divided by their span."""
    span = thresholds[-1] - thresholds[0]
    area = np.sum(0.5 * (curve[1:] + curve[:-1]) * np.diff(thresholds))
    return float(area / span)


def evaluate(
    pred: np.ndarray, gt: np.ndarray, vis: np.ndarray | None = None, protocol: Protocol = PAPER_PROTOCOL
) -> Result:
    """Score predicted poses against ground truth under ``protocol`` (see module docstring).

    pred: (N, 21, 3); gt: (N, 21, 3) mm; vis: (N, 21) bool or None; RHD joint order.
    """
    errors, counted = keypoint_errors(pred, gt, vis, protocol)
    th = PCK_THRESHOLDS_MM
    means, medians, counts, curves, aucs, aucs_hi = [], [], [], [], [], []
    for j in range(NUM_JOINTS):
        e = errors[counted[:, j], j]
        counts.append(int(e.size))
        if e.size == 0:
            means.append(None)
            medians.append(None)
            continue
        means.append(float(e.mean()))
        medians.append(float(np.median(e)))
        c = pck_curve(e, th)
        curves.append(c)
        aucs.append(auc(c, th))
        aucs_hi.append(auc(c[AUC_20_50_FIRST:], th[AUC_20_50_FIRST:]))
    if not curves:
        raise ValueError("no keypoint was counted: every keypoint is invisible")
    valid_means = [m for m in means if m is not None]
    valid_medians = [m for m in medians if m is not None]
    return Result(
        mean_epe_mm=float(np.mean(valid_means)),
        median_epe_mm=float(np.mean(valid_medians)),
        auc_0_50=float(np.mean(aucs)),
        auc_20_50=float(np.mean(aucs_hi)),
        pck_thresholds_mm=[float(t) for t in th],
        pck_curve=[float(v) for v in np.mean(curves, axis=0)],
        per_joint_mean_mm=means,
        per_joint_median_mm=medians,
        per_joint_count=counts,
        num_samples=int(errors.shape[0]),
        protocol=protocol.as_dict(),
    )
