"""Crop a photo the way training crops are made, and place a predicted pose back in the photo.

**Crop.** Training crops (:mod:`handvae.data.prepare`) are a square box around the hand mask,
half-size ``h = longer side / 2 * margin``, rendered by a virtual camera that looks along the ray
through the box centre (rotation ``R_vc``, :mod:`handvae.data.viewpoint`). ``crop_image`` does the
same with the user's box (or the whole image, taken as the crop as it is: centred, half-size half
the longer image side, padded with black like training crops beyond the image border). With
``K`` the crop is exactly the training crop. Without ``K`` the box centre is taken as the principal
point, so ``R_vc = I`` and the crop is a plain resize of the square box (exact for a box centred on
the optical axis; for off-centre boxes the rotation the model was trained to expect is missing).
Large downsampling is prefiltered (area average) down to ``max_downsample`` image px per crop px,
so that a 4000 px photo is not point-sampled into 64 px.

**Placement.** The model predicts ``x_norm = R_vc (x_mm - centroid) / scale_mm`` (crop frame,
centred on the unknown hand-surface centroid). A monocular image fixes the pose only up to scale,
so ``scale_mm`` is assumed (default 2 x 35 mm middle proximal phalanx, an adult hand: the
synthetic RHD-like world has scale_mm 56-81, mean 70). Root-relative mm follow directly. For the
absolute position (camera-frame joints, 2D projections) the translation is fitted so that the
projected joints' bounding box is centred in the crop and its longer side is
``fill * S / margin`` crop px: training boxes are the mask box times ``margin``, and the joints
span ``fill = 0.85`` of the mask box on average (measured on the synthetic world, std 0.08). With
``K`` the fit is perspective in the virtual camera (which gives the root depth); without ``K`` it
is orthographic in the crop, mapped to the image by the crop's pixel scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handvae.data.crop import JOINT_FILL, CropGeometry, crop_geometry, project, sample_bilinear, source_coords
from handvae.skeleton import ROOT_JOINT, SCALE_BONE

DEFAULT_BONE_MM = 35.0  # |kp12 - kp11|, middle MCP -> PIP of an adult hand; scale_mm = 2 x this


@dataclass
class Crop:
    """A crop and where it comes from. ``pixels (S, S, 3) uint8``; ``K`` is the user's or a pseudo one."""

    pixels: np.ndarray
    geom: CropGeometry
    K: np.ndarray
    has_K: bool
    source: str  # "bbox" | "whole image"


def crop_box(bbox: tuple[float, float, float, float] | None, width: int, height: int,
             margin: float) -> tuple[float, float, float]:
    """(u_c, v_c, half) px of the square crop box: the bbox times ``margin``, or the whole image."""
    if bbox is None:
        return (width - 1) / 2.0, (height - 1) / 2.0, max(width, height) / 2.0
    x, y, w, h = bbox
    return x + (w - 1) / 2.0, y + (h - 1) / 2.0, max(max(w, h) / 2.0 * margin, 1.0)


def crop_image(image: np.ndarray, center: tuple[float, float], half: float, size: int,
               K: np.ndarray | None = None, max_downsample: float = 3.0, source: str = "bbox") -> Crop:
    """Render the ``size x size`` crop of box (centre, half) px from ``image (H, W, 3) uint8``."""
    u_c, v_c = center
    has_K = K is not None
    if K is None:  # principal point at the box centre: R_vc = I; the focal length cancels out
        K = np.array([[2.0 * half, 0.0, u_c], [0.0, 2.0 * half, v_c], [0.0, 0.0, 1.0]])
    geom = crop_geometry(K, u_c, v_c, half, size)
    coords = source_coords(K, geom)
    src = image
    factor = 2.0 * half / size  # image px per crop px
    if factor > max_downsample:
        from PIL import Image

        h, w = image.shape[:2]
        r = max_downsample / factor
        new = (max(2, round(w * r)), max(2, round(h * r)))
        src = np.asarray(Image.fromarray(image).resize(new, Image.BOX))
        coords = (coords + 0.5) * np.array([new[0] / w, new[1] / h]) - 0.5
    pixels = np.clip(np.rint(sample_bilinear(src, coords)), 0, 255).astype(np.uint8)
    return Crop(pixels, geom, np.asarray(K, np.float64), has_K, source)


def place_pose(pose_norm: np.ndarray, crop: Crop, scale_mm: float, margin: float,
               fill: float = JOINT_FILL, iters: int = 30) -> dict[str, np.ndarray]:
    """Normalised prediction ``(21, 3)`` -> mm and pixels (see module doc).

    Returns ``rel_mm_crop (21, 3)`` root-relative mm in the crop (virtual camera) frame,
    ``uv_crop (21, 2)`` and ``uv_img (21, 2)`` px; with a real K also ``rel_mm_cam (21, 3)``
    (viewpoint correction undone), ``cam_mm (21, 3)`` camera-frame joints and ``root_depth_mm``.
    """
    geom = crop.geom
    x = np.asarray(pose_norm, np.float64) * scale_mm  # crop frame, around the unknown centroid
    rel = x - x[ROOT_JOINT]
    f_c, c = geom.K_crop[0, 0], geom.K_crop[0, 2]
    target = fill * geom.size / margin  # crop px of the joints' longer bbox side
    lo, hi = x[:, :2].min(0), x[:, :2].max(0)
    extent = max(float((hi - lo).max()), 1e-6)
    out: dict[str, np.ndarray] = {"rel_mm_crop": rel}
    if not crop.has_K:  # orthographic fit in the crop, then the crop's pixel scale
        k = target / extent
        uv_crop = c + k * (x[:, :2] - (lo + hi) / 2.0)
        out["uv_crop"] = uv_crop
        out["uv_img"] = np.asarray(geom.center) + (uv_crop - c) * (2.0 * geom.half / geom.size)
        return out
    depth_span = float(np.ptp(x[:, 2]))
    t = np.array([-(lo + hi)[0] / 2.0, -(lo + hi)[1] / 2.0, f_c * extent / target])
    for _ in range(iters):
        t[2] = max(t[2], 2.0 * depth_span + 1.0)  # keep every joint well in front of the camera
        y = x + t
        uv = f_c * y[:, :2] / y[:, 2:3] + c
        ulo, uhi = uv.min(0), uv.max(0)
        t[2] *= float((uhi - ulo).max()) / target
        t[:2] -= ((ulo + uhi) / 2.0 - c) * t[2] / f_c
    y = x + t
    out["uv_crop"] = project(y, geom.K_crop)
    out["cam_mm"] = y @ geom.R_vc  # R_vc.T @ y per joint: the viewpoint correction undone
    out["rel_mm_cam"] = rel @ geom.R_vc
    out["uv_img"] = project(out["cam_mm"], crop.K)
    out["root_depth_mm"] = np.float64(out["cam_mm"][ROOT_JOINT, 2])
    return out


def scale_warning(pose_norm: np.ndarray, tolerance: float = 2.0) -> str | None:
    """A warning when the predicted scale bone is off its trained length 0.5 by more than ``tolerance`` x.

    Training poses have ``|kp12 - kp11| = 0.5`` normalised units exactly; a prediction far from it
    (an under-trained model collapsing towards the mean pose) makes the mm lengths and the fitted
    depth unreliable.
    """
    bone = float(np.linalg.norm(np.asarray(pose_norm)[SCALE_BONE[0]] - np.asarray(pose_norm)[SCALE_BONE[1]]))
    if 0.5 / tolerance <= bone <= 0.5 * tolerance:
        return None
    return (f"the predicted middle MCP-PIP bone is {bone:.3g} normalised units where training poses have 0.5: "
            "the prediction is degenerate (an under-trained model?), so its mm lengths and depth are unreliable")
