"""Viewpoint correction (paper, suppl. A; docs/METHOD.md, section 7).

After cropping, the crop centre becomes the image centre, so the 3D pose and cloud are rotated so
that the ray through the crop centre becomes the optical axis. With the crop centre (u_c, v_c)
and intrinsics K, the ray is ``d = K^-1 [u_c, v_c, 1]`` (= ``[(u_c - o_x)/f, (v_c - o_y)/f, 1]``,
the paper's ``[u_c - o_x, v_c - o_y, f]`` up to scale, with separate f_x, f_y):

    alpha_y = atan2(d_x, d_z);  e = R_y(-alpha_y) d;  alpha_x = atan2(e_y, e_z)
    R_vc = R_x(alpha_x) R_y(-alpha_y)

R_x, R_y are the right-handed rotations acting on column vectors. This order (about y first, then
about x) maps ``d`` exactly onto +z; the paper's written order ``R_y(-alpha_y) R_x(alpha_x)`` is a
fraction of a degree off for off-centre crops (docs/METHOD.md, section 7). The defining property,
tested: ``R_vc @ d`` is parallel to ``[0, 0, 1]``.
"""

from __future__ import annotations

import numpy as np


def rot_x(a: float) -> np.ndarray:
    """Rotation by ``a`` radians about the x axis, (3, 3), acting on column vectors."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    """Rotation by ``a`` radians about the y axis, (3, 3), acting on column vectors."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    """Rotation by ``a`` radians about the camera (z) axis, (3, 3), acting on column vectors."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def crop_ray(u_c: float, v_c: float, K: np.ndarray) -> np.ndarray:
    """Ray ``(3,)`` through pixel (u_c, v_c): ``K^-1 [u_c, v_c, 1]`` (z component 1)."""
    return np.linalg.solve(np.asarray(K, dtype=np.float64), np.array([u_c, v_c, 1.0]))


def viewpoint_rotation(u_c: float, v_c: float, K: np.ndarray) -> np.ndarray:
    """R_vc (3, 3): rotates the ray through crop centre (u_c, v_c) px onto the optical axis +z."""
    d = crop_ray(u_c, v_c, K)
    alpha_y = np.arctan2(d[0], d[2])
    e = rot_y(-alpha_y) @ d
    alpha_x = np.arctan2(e[1], e[2])
    return rot_x(alpha_x) @ rot_y(-alpha_y)


def apply_viewpoint(points_mm: np.ndarray, R_vc: np.ndarray, centroid_mm: np.ndarray, scale_mm: float) -> np.ndarray:
    """Normalise ``(..., 3)`` mm camera-frame points: ``R_vc @ (x - centroid) / scale``."""
    return (np.asarray(points_mm, dtype=np.float64) - centroid_mm) @ np.asarray(R_vc).T / scale_mm


def undo_viewpoint(points_norm: np.ndarray, R_vc: np.ndarray, centroid_mm: np.ndarray, scale_mm) -> np.ndarray:
    """Inverse of :func:`apply_viewpoint`: ``R_vc.T @ (x * scale) + centroid`` -> (..., 3) mm.

    Batched: ``points_norm (B, J, 3)``, ``R_vc (B, 3, 3)``, ``centroid_mm (B, 3)``, ``scale_mm (B,)``.
    """
    x = np.asarray(points_norm, dtype=np.float64)
    R = np.asarray(R_vc, dtype=np.float64)
    s = np.asarray(scale_mm, dtype=np.float64)[..., None, None]
    c = np.asarray(centroid_mm, dtype=np.float64)[..., None, :]
    return np.einsum("...ji,...nj->...ni", R, x * s) + c
