"""The hand crop: a square box around the hand plus a margin, seen by a virtual camera.

A crop is defined the way a predictor would crop a user's photo: the box centre (u_c, v_c) and
half-size h (pixels of the full image) of a square around the hand (mask bounding box, longer
side, times ``margin``; for sources without a mask, the projected joints' bounding box). The
crop is rendered by a virtual camera that shares the real camera's centre, looks along the ray
through (u_c, v_c) (rotation R_vc of :mod:`handvae.data.viewpoint`), and has intrinsics
``K_crop = [[f_c, 0, c], [0, f_c, c], [0, 0, 1]]`` with ``c = (S - 1) / 2`` and
``f_c = f * S / (2 h)``. So a camera-frame point x (mm) lands in the crop at
``K_crop @ (R_vc @ x)`` exactly, and rotating the crop about its centre is exactly a rotation of
``R_vc @ x`` about the optical axis (what the augmentation relies on). Pixel centres are at
integer coordinates throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handvae.data.viewpoint import viewpoint_rotation


@dataclass
class CropGeometry:
    """Where a crop comes from. center: (u_c, v_c) px; half: h px (full image); size: S px."""

    center: tuple[float, float]
    half: float
    size: int
    R_vc: np.ndarray  # (3, 3)
    K_crop: np.ndarray  # (3, 3)

    @property
    def box(self) -> np.ndarray:
        """(4,) [u0, v0, u1, v1] px of the square box in the full image."""
        u, v = self.center
        return np.array([u - self.half, v - self.half, u + self.half, v + self.half])


def box_from_mask(mask: np.ndarray, margin: float = 1.25) -> tuple[float, float, float]:
    """Square box around ``mask: (H, W) bool``: returns (u_c, v_c, half) px; half >= 2 px."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("empty mask")
    u0, u1, v0, v1 = cols[0], cols[-1], rows[0], rows[-1]
    half = max(u1 - u0 + 1, v1 - v0 + 1) / 2.0 * margin
    return (u0 + u1) / 2.0, (v0 + v1) / 2.0, max(float(half), 2.0)


JOINT_FILL = 0.85  # the joints' 2D box / the hand mask's box, longer sides (synthetic world mean)


def box_from_points(points: np.ndarray, margin: float = 1.25) -> tuple[float, float, float]:
    """Square box around 2D points ``(M, 2)`` px [u, v]: returns (u_c, v_c, half) px; half >= 2 px.

    The semantics of :func:`box_from_mask`: centred on the points' bounding box, half-size = its
    longer side / 2 * ``margin``. Points have no extent, so the side is ``max - min``; a mask's
    pixels u0..u1 cover ``u0 - 0.5 .. u1 + 0.5``, hence its ``u1 - u0 + 1``. The two boxes are equal
    when the points are the outer corners of the mask's pixels.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0 or not np.isfinite(pts).all():
        raise ValueError("box_from_points needs at least one finite point")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    half = float((hi - lo).max()) / 2.0 * margin
    return float(lo[0] + hi[0]) / 2.0, float(lo[1] + hi[1]) / 2.0, max(half, 2.0)


def crop_geometry(K: np.ndarray, u_c: float, v_c: float, half: float, size: int) -> CropGeometry:
    """The virtual crop camera for box centre (u_c, v_c), half-size ``half`` px, crop size S px."""
    K = np.asarray(K, dtype=np.float64)
    f = 0.5 * (K[0, 0] + K[1, 1])
    f_c = f * size / (2.0 * half)
    c = (size - 1) / 2.0
    K_crop = np.array([[f_c, 0.0, c], [0.0, f_c, c], [0.0, 0.0, 1.0]])
    return CropGeometry((float(u_c), float(v_c)), float(half), int(size), viewpoint_rotation(u_c, v_c, K), K_crop)


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of ``(..., 3)`` camera-frame points -> ``(..., 2)`` px."""
    p = np.asarray(points, dtype=np.float64) @ np.asarray(K, dtype=np.float64).T
    return p[..., :2] / p[..., 2:3]


def source_coords(K: np.ndarray, geom: CropGeometry) -> np.ndarray:
    """For each crop pixel, where it looks in the full image: (S, S, 2) [u, v] px."""
    s = geom.size
    jj, ii = np.meshgrid(np.arange(s, dtype=np.float64), np.arange(s, dtype=np.float64))
    q = np.stack([jj, ii, np.ones_like(jj)], axis=-1)  # (S, S, 3): [u, v, 1] of the crop
    rays_virtual = q @ np.linalg.inv(geom.K_crop).T
    rays_camera = rays_virtual @ geom.R_vc  # R_vc.T @ r for each r
    return project(rays_camera, K)


def sample_bilinear(image: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Bilinear sample of ``image: (H, W, C)`` at ``coords: (..., 2)`` [u, v]; 0 outside. -> float32."""
    h, w = image.shape[:2]
    u, v = coords[..., 0], coords[..., 1]
    u0, v0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    du, dv = (u - u0)[..., None], (v - v0)[..., None]
    img = image.astype(np.float32)
    out = np.zeros(coords.shape[:-1] + image.shape[2:], dtype=np.float32)
    for oy, ox, wgt in ((0, 0, (1 - du) * (1 - dv)), (0, 1, du * (1 - dv)), (1, 0, (1 - du) * dv), (1, 1, du * dv)):
        uu, vv = u0 + ox, v0 + oy
        ok = (uu >= 0) & (uu < w) & (vv >= 0) & (vv < h)
        vals = img[np.clip(vv, 0, h - 1), np.clip(uu, 0, w - 1)]
        out += np.where(ok[..., None], vals * wgt, 0.0).astype(np.float32)
    return out


def sample_nearest(array: np.ndarray, coords: np.ndarray, fill=0):
    """Nearest-neighbour sample of ``array: (H, W, ...)`` at ``coords: (..., 2)``; ``fill`` outside."""
    h, w = array.shape[:2]
    uu = np.rint(coords[..., 0]).astype(np.int64)
    vv = np.rint(coords[..., 1]).astype(np.int64)
    ok = (uu >= 0) & (uu < w) & (vv >= 0) & (vv < h)
    vals = array[np.clip(vv, 0, h - 1), np.clip(uu, 0, w - 1)]
    return np.where(ok.reshape(ok.shape + (1,) * (vals.ndim - ok.ndim)), vals, fill)
