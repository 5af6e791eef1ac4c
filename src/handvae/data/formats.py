"""On-disk encodings and camera constants of RHD and STB: the one place both writer and reader use.

RHD (``RHD_published_v2``): depth PNGs are 8-bit RGB with the top byte in R and the low byte in G;
``depth_m = (R * 256 + G) / 65535 * 5`` (B unused, written as 0).

STB: ``SK_depth_%d.png`` holds millimetres as 16 bits split over two 8-bit channels. This module
ASSUMES the low byte in R and the high byte in G: ``depth_mm = R + 256 * G`` (B unused, 0).
Depth images written by handvae's generator are registered to the SK colour camera (same pixel
grid and intrinsics as ``SK_color``). SK labels (``handPara``) are in the depth camera's frame;
``xyz_color = (xyz_depth - T) @ R`` with R from the rotation vector :data:`STB_R_ROTVEC` and
T = :data:`STB_T_MM` (mm).
"""

from __future__ import annotations

import numpy as np

# --- RHD -----------------------------------------------------------------------------------------
RHD_DEPTH_MAX_M = 5.0  # the 16-bit code 65535 means 5 m


def encode_rhd_depth(depth_m: np.ndarray) -> np.ndarray:
    """Depth ``(H, W)`` metres -> RHD depth PNG pixels ``(H, W, 3)`` uint8 (top byte R, low G, B=0).

    Values are rounded to the nearest code and clipped to [0, 5] m (inf/NaN -> 5 m).
    """
    d = np.nan_to_num(np.asarray(depth_m, dtype=np.float64), nan=RHD_DEPTH_MAX_M, posinf=RHD_DEPTH_MAX_M)
    code = np.rint(np.clip(d, 0.0, RHD_DEPTH_MAX_M) / RHD_DEPTH_MAX_M * 65535.0).astype(np.uint32)
    out = np.zeros(d.shape + (3,), dtype=np.uint8)
    out[..., 0] = code >> 8
    out[..., 1] = code & 255
    return out


def decode_rhd_depth(rgb: np.ndarray) -> np.ndarray:
    """RHD depth PNG pixels ``(H, W, 3+)`` uint8 -> depth ``(H, W)`` float32 metres.

    ``depth_m = (R * 256 + G) / 65535 * 5``.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 2:
        raise ValueError(f"RHD depth image must be (H, W, 3) uint8, got shape {rgb.shape}")
    code = rgb[..., 0].astype(np.float64) * 256.0 + rgb[..., 1].astype(np.float64)
    return (code / 65535.0 * RHD_DEPTH_MAX_M).astype(np.float32)


# --- STB -----------------------------------------------------------------------------------------
STB_R_ROTVEC = np.array([0.00531, -0.01196, 0.00301], dtype=np.float64)
STB_T_MM = np.array([-24.0381, -0.4563, -1.2326], dtype=np.float64)
STB_SK_COLOR_K = np.array(
    [[607.92271, 0.0, 314.78337], [0.0, 607.88192, 236.42484], [0.0, 0.0, 1.0]], dtype=np.float64
)
STB_BB_LEFT_K = np.array(
    [[822.79041, 0.0, 318.47345], [0.0, 822.79041, 250.31296], [0.0, 0.0, 1.0]], dtype=np.float64
)
STB_BASELINE_MM = 120.054
STB_IMAGE_SIZE = (640, 480)  # width, height
STB_DEPTH_MAX_MM = 65535


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues: rotation vector ``(3,)`` radians -> rotation matrix ``(3, 3)`` acting on columns."""
    r = np.asarray(rotvec, dtype=np.float64)
    theta = float(np.linalg.norm(r))
    if theta < 1e-12:
        return np.eye(3)
    k = r / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(theta) * kx + (1.0 - np.cos(theta)) * (kx @ kx)


STB_R = rotvec_to_matrix(STB_R_ROTVEC)


def stb_depth_to_color_frame(xyz_depth_mm: np.ndarray) -> np.ndarray:
    """SK depth-camera frame -> SK colour-camera frame: ``(xyz - T) @ R``; ``(..., 3)`` mm."""
    return (np.asarray(xyz_depth_mm, dtype=np.float64) - STB_T_MM) @ STB_R


def stb_color_to_depth_frame(xyz_color_mm: np.ndarray) -> np.ndarray:
    """Inverse of :func:`stb_depth_to_color_frame`: ``xyz @ R.T + T``; ``(..., 3)`` mm."""
    return np.asarray(xyz_color_mm, dtype=np.float64) @ STB_R.T + STB_T_MM


def encode_stb_depth(depth_mm: np.ndarray) -> np.ndarray:
    """Depth ``(H, W)`` mm -> STB depth PNG pixels ``(H, W, 3)`` uint8: low byte R, high byte G, B=0.

    Rounded to whole millimetres and clipped to [0, 65535] (inf/NaN -> 0, "no reading").
    """
    d = np.nan_to_num(np.asarray(depth_mm, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    code = np.rint(np.clip(d, 0.0, STB_DEPTH_MAX_MM)).astype(np.uint32)
    out = np.zeros(d.shape + (3,), dtype=np.uint8)
    out[..., 0] = code & 255
    out[..., 1] = code >> 8
    return out


def decode_stb_depth(rgb: np.ndarray) -> np.ndarray:
    """STB depth PNG pixels ``(H, W, 3+)`` uint8 -> depth ``(H, W)`` float32 mm: ``R + 256 * G``."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 2:
        raise ValueError(f"STB depth image must be (H, W, 3) uint8, got shape {rgb.shape}")
    return (rgb[..., 0].astype(np.float32) + 256.0 * rgb[..., 1].astype(np.float32)).astype(np.float32)
