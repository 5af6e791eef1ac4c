"""On-device batch augmentation and heatmaps (docs/METHOD.md, section 7), all in torch, batched.

One random similarity per sample acts on the crop about its centre c = ((S-1)/2, (S-1)/2):
``p' = c + s R(theta) (p - c) + t`` (pixels; s in [1, 1.2], t in [-20, 20] px at S = 256, scaled
with S, theta in [-pi, pi]). Because the crop is a virtual pinhole camera looking along its centre
(see :mod:`handvae.data.crop`), this is exactly a zoom + principal-point shift + rotation about the
optical axis, so the 3D pose and cloud (normalised, centred) are rotated by ``R_z(theta)`` and
nothing else; ``R_vc`` of the batch becomes ``R_z(theta) R_vc`` so that
``x_mm = R_vc.T (x_norm * scale) + centroid`` still maps predictions back. R_z uses the same
2x2 block as the image rotation (x right, y down on both). The image and depth are warped by one
``grid_sample`` (bilinear); the hue is shifted by rotating the chroma (I, Q) plane of YIQ by
``2 pi * delta``, delta in [-0.1, 0.1] of the hue circle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# RGB -> YIQ (NTSC), rows Y, I, Q.
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])


@dataclass
class AugmentConfig:
    """Ranges of the online augmentation; ``translate_px`` is at crop size 256 and scales with S."""

    scale: tuple[float, float] = (1.0, 1.2)
    translate_px: float = 20.0
    rotate: float = math.pi
    hue: float = 0.1
    color: float = 0.0  # photometric jitter strength (0: off, the paper's); see :func:`color_jitter`


def sample_params(batch: int, size: int, cfg: AugmentConfig, generator: torch.Generator, device) -> dict:
    """Random parameters for ``batch`` samples: scale (B,), shift (B, 2) px, angle (B,) rad, hue (B,)."""
    u = torch.rand(batch, 5, generator=generator, device=device)
    t = cfg.translate_px * size / 256.0
    params = {
        "scale": cfg.scale[0] + (cfg.scale[1] - cfg.scale[0]) * u[:, 0],
        "shift": (2.0 * u[:, 1:3] - 1.0) * t,
        "angle": (2.0 * u[:, 3] - 1.0) * cfg.rotate,
        "hue": (2.0 * u[:, 4] - 1.0) * cfg.hue,
    }
    if cfg.color > 0:  # drawn only when on, so a config without it keeps its random stream
        v = torch.rand(batch, 4, generator=generator, device=device)
        params["brightness"] = 1.0 + cfg.color * (2.0 * v[:, 0] - 1.0)
        params["contrast"] = 1.0 + cfg.color * (2.0 * v[:, 1] - 1.0)
        params["saturation"] = (1.0 + 1.5 * cfg.color * (2.0 * v[:, 2] - 1.0)).clamp(min=0.0)
        params["gray"] = (v[:, 3] < cfg.color / 3.0).to(v.dtype)
    return params


def identity_params(batch: int, device) -> dict:
    z = torch.zeros(batch, device=device)
    return {
        "scale": torch.ones(batch, device=device),
        "shift": torch.zeros(batch, 2, device=device),
        "angle": z,
        "hue": z,
    }


def rotation_2d(angle: torch.Tensor) -> torch.Tensor:
    """(B,) rad -> (B, 2, 2) ``[[cos, -sin], [sin, cos]]``."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def rotation_z(angle: torch.Tensor) -> torch.Tensor:
    """(B,) rad -> (B, 3, 3) rotation about the camera axis, same 2x2 block as :func:`rotation_2d`."""
    R = torch.zeros(angle.shape[0], 3, 3, device=angle.device, dtype=angle.dtype)
    R[:, :2, :2] = rotation_2d(angle)
    R[:, 2, 2] = 1.0
    return R


def transform_points_2d(uv: torch.Tensor, params: dict, size: int) -> torch.Tensor:
    """Crop keypoints ``(B, J, 2)`` px -> augmented crop px: ``c + s R (p - c) + t``."""
    c = (size - 1) / 2.0
    A = rotation_2d(params["angle"]) * params["scale"][:, None, None]
    return c + (uv - c) @ A.transpose(1, 2) + params["shift"][:, None, :]


def warp(images: torch.Tensor, params: dict) -> torch.Tensor:
    """Warp ``(B, C, S, S)`` float images by the augmentation (one grid_sample); 0 outside."""
    s = images.shape[-1]
    half = (s - 1) / 2.0
    A_inv = rotation_2d(-params["angle"]) / params["scale"][:, None, None]  # (B, 2, 2)
    offset = -(A_inv @ (params["shift"] / half)[:, :, None])  # (B, 2, 1), normalised units
    theta = torch.cat([A_inv, offset], dim=2).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def hue_shift(rgb: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Shift the hue of ``(B, 3, H, W)`` images in [0, 1] by ``delta (B,)`` of the circle; clamped."""
    yiq = _YIQ.to(rgb.device, rgb.dtype)
    phi = 2.0 * math.pi * delta.to(rgb.dtype)
    rot = torch.zeros(rgb.shape[0], 3, 3, device=rgb.device, dtype=rgb.dtype)
    rot[:, 0, 0] = 1.0
    rot[:, 1:, 1:] = rotation_2d(phi)
    T = torch.linalg.inv(yiq) @ rot @ yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", T, rgb).clamp_(0.0, 1.0)


def color_jitter(rgb: torch.Tensor, params: dict) -> torch.Tensor:
    """Photometric jitter of ``(B, 3, H, W)`` images in [0, 1], per sample: brightness (a gain),
    contrast (about the image's mean luma), saturation (about each pixel's luma Y), then grayscale
    where ``gray`` is 1; clamped to [0, 1]. Params (B,) from :func:`sample_params` with ``color > 0``."""
    view = (-1, 1, 1, 1)
    luma_w = _YIQ[0].to(rgb.device, rgb.dtype).view(1, 3, 1, 1)
    x = rgb * params["brightness"].to(rgb.dtype).view(view)
    mean = (x * luma_w).sum(dim=1, keepdim=True).mean(dim=(2, 3), keepdim=True)
    x = mean + params["contrast"].to(rgb.dtype).view(view) * (x - mean)
    y = (x * luma_w).sum(dim=1, keepdim=True)
    sat = params["saturation"].to(rgb.dtype).view(view) * (1.0 - params["gray"].to(rgb.dtype).view(view))
    return (y + sat * (x - y)).clamp_(0.0, 1.0)


def heatmaps(uv: torch.Tensor, crop_size: int, size: int = 64, sigma: float = 2.0) -> torch.Tensor:
    """Gaussian heatmaps ``(B, J, size, size)`` in [0, 1], peak 1 at each keypoint.

    uv: (B, J, 2) crop px (pixel centres at integers); mapped to the heatmap grid by
    ``(uv + 0.5) * size / crop_size - 0.5``. sigma in heatmap pixels.
    """
    p = (uv + 0.5) * (size / crop_size) - 0.5
    grid = torch.arange(size, device=uv.device, dtype=uv.dtype)
    gx = torch.exp(-((grid - p[..., 0:1]) ** 2) / (2 * sigma**2))  # (B, J, size) over columns
    gy = torch.exp(-((grid - p[..., 1:2]) ** 2) / (2 * sigma**2))  # over rows
    return gy[..., :, None] * gx[..., None, :]


def random_subsets(n_total: int, n: int, batch: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """(B, n) long: a fresh random subset of n of n_total point indices per sample (first n if no generator)."""
    if generator is None:
        return torch.arange(n, device=device).expand(batch, n)
    return torch.rand(batch, n_total, generator=generator, device=device).argsort(dim=1)[:, :n]
