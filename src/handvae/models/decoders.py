"""Decoders from a latent ``z (B, Z)`` to each modality (supplementary Tables 3-5).

- ``P`` pose: FC-128 ReLU x3, FC-63 -> ``(B, 21, 3)`` normalised units.
- ``H`` heatmaps (DCGAN): FC-8192, reshape (128, 8, 8), BN; 5x5 stride-2 'same' transposed
  convolutions 64 (BN ReLU), 32 (BN ReLU), 21 (Sigmoid) -> ``(B, 21, 64, 64)`` in [0, 1]
  (CPU presets: fewer channels, 4x4 kernels).
- ``C`` point cloud (FoldingNet): fold 1 = concat(z, a 16x16 grid in [-1, 1]^2) -> per-point
  256, 512, 1024, 512 (BN ReLU) -> 3 (BN Tanh); fold 2 = concat(z, fold-1 points) -> same widths
  -> 3 (BN, 3 * Tanh) -> ``(B, 256, 3)`` normalised units.
- ``D`` depth (RD2DHP ablation, DCGAN generator): FC to (8w, 8, 8), then stride-2 transposed
  convolutions halving the channels up to the crop size -> ``(B, 1, S, S)``, linear output.

Every decoder takes ``z (B, Z)``; shapes are documented per class. Layers followed by BatchNorm
have no bias (BN's shift replaces it).

Initialisation (not in the paper): each decoder starts with outputs at the scale of its targets,
so no loss term dominates the first steps by the size of its decoder's first guess. The pose MLP's
hidden layers use He initialisation (PyTorch's default shrinks a ReLU stack's output ~2.4x per
layer) and its last layer starts small (``POSE_INIT_RMS``); FoldingNet's last BatchNorm starts with
a gain that puts the first cloud at ``CLOUD_INIT_RMS`` per coordinate instead of ~1.9 (3 tanh of a
unit normal).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from handvae.errors import UserError
from handvae.skeleton import NUM_JOINTS

POSE_INIT_RMS = 0.1  # normalised units: the rms of the first pose guess (targets: about 0.4 about the centroid)
CLOUD_INIT_RMS = 0.4  # normalised units per coordinate: the hand-surface clouds' rms about their centroid


def _tconv(in_ch: int, out_ch: int, bias: bool = True, kernel: int = 5) -> nn.ConvTranspose2d:
    """``kernel x kernel`` (the paper: 5), stride 2, 'same' padding: exactly doubles height and width.

    Output size ``2 (n - 1) - 2 pad + kernel + out_pad = 2 n`` with ``pad = (kernel - 1) // 2``.
    """
    pad = (kernel - 1) // 2
    return nn.ConvTranspose2d(in_ch, out_ch, kernel, stride=2, padding=pad, output_padding=2 + 2 * pad - kernel,
                              bias=bias)


def _upsamplings(size: int, key: str, base: int = 8) -> int:
    n = round(math.log2(size / base)) if size >= 2 * base else 0
    if n < 1 or base * 2**n != size:
        raise UserError(f"{key}: expected {base} * 2^k with k >= 1 (16, 32, 64, ...), got {size}")
    return n


class PoseDecoder(nn.Module):
    """``z (B, Z)`` -> pose ``(B, 21, 3)`` normalised units."""

    def __init__(self, latent_dim: int, hidden: int = 128, joints: int = NUM_JOINTS) -> None:
        super().__init__()
        self.joints = joints
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, joints * 3),
        )
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        for layer in linears[:-1]:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        # The last layer maps hidden features of rms ~ |z| to a first guess of rms ~ POSE_INIT_RMS.
        nn.init.normal_(linears[-1].weight, std=POSE_INIT_RMS / math.sqrt(hidden))
        nn.init.zeros_(linears[-1].bias)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], self.joints, 3)


class HeatmapDecoder(nn.Module):
    """``z (B, Z)`` -> heatmaps ``(B, 21, size, size)`` in [0, 1]; size = 8 * 2^k (paper: 64).

    ``kernel``: of the transposed convolutions (the paper's 5; 4 does 36% fewer multiply-adds, and its
    stride-2 overlaps are even, so no checkerboard pattern).
    """

    def __init__(
        self, latent_dim: int, size: int = 64, joints: int = NUM_JOINTS, base_ch: int = 128, kernel: int = 5
    ) -> None:
        super().__init__()
        n_up = _upsamplings(size, "data.heatmap_size")
        if kernel < 2:
            raise UserError(f"model.heat_kernel: expected a transposed-convolution kernel of at least 2, got {kernel}")
        self.base_ch = base_ch
        self.fc = nn.Linear(latent_dim, base_ch * 8 * 8, bias=False)
        self.bn0 = nn.BatchNorm2d(base_ch)  # the paper's table has no activation here
        layers: list[nn.Module] = []
        ch = base_ch
        for i in range(n_up):
            last = i == n_up - 1
            out = joints if last else max(ch // 2, 8)
            layers.append(_tconv(ch, out, bias=last, kernel=kernel))
            layers += [nn.Sigmoid()] if last else [nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            ch = out
        self.up = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        x = self.bn0(self.fc(z).view(z.shape[0], self.base_ch, 8, 8))
        return self.up(x)


class Fold(nn.Module):
    """One FoldingNet fold: per point concat(z, p) -> widths (BN ReLU) -> 3 (BN, scale * Tanh).

    The first layer's weight is split into its ``z`` and ``p`` columns, ``W [z; p] = W_z z + W_p p``,
    so ``W_z z`` is computed once per sample instead of once per point (same function, no
    concatenated copy); the rest runs on ``(B * N, C)`` matrices.
    """

    def __init__(self, latent_dim: int, in_dim: int, widths: list[int], scale: float, init_rms: float = 0.0) -> None:
        super().__init__()
        self.z_in = nn.Linear(latent_dim, widths[0], bias=False)  # BN follows: no bias
        self.p_in = nn.Linear(in_dim, widths[0], bias=False)
        layers: list[nn.Module] = [nn.BatchNorm1d(widths[0]), nn.ReLU(inplace=True)]
        ch = widths[0]
        for w in widths[1:]:
            layers += [nn.Linear(ch, w, bias=False), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
            ch = w
        out_bn = nn.BatchNorm1d(3)
        if init_rms > 0:  # tanh(x) ~ x for small x: a BN gain of init_rms / scale gives outputs of rms ~ init_rms
            nn.init.constant_(out_bn.weight, init_rms / scale)
        layers += [nn.Linear(ch, 3, bias=False), out_bn, nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.scale = scale

    def forward(self, z: Tensor, p: Tensor) -> Tensor:
        """``z (B, Z)``, ``p (B, N, d)`` -> ``(B, N, 3)``."""
        bsz, n = p.shape[0], p.shape[1]
        h = (self.z_in(z)[:, None, :] + self.p_in(p)).reshape(bsz * n, -1)
        return self.scale * self.net(h).view(bsz, n, 3)


class FoldingDecoder(nn.Module):
    """``z (B, Z)`` -> point cloud ``(B, n_points, 3)`` normalised units, within +-3.

    ``n_points`` must be a square (the grid is ``sqrt(n) x sqrt(n)`` in [-1, 1]^2, a buffer).
    ``width_mult`` scales the fold widths (paper: 256, 512, 1024, 512) for CPU presets.
    """

    def __init__(self, latent_dim: int, n_points: int = 256, width_mult: float = 1.0) -> None:
        super().__init__()
        side = math.isqrt(n_points)
        if side * side != n_points or side < 2:
            raise UserError(f"data.n_points: FoldingNet needs a square number of points, got {n_points}")
        lin = torch.linspace(-1.0, 1.0, side)
        gy, gx = torch.meshgrid(lin, lin, indexing="ij")
        self.register_buffer("grid", torch.stack([gx, gy], dim=-1).reshape(1, n_points, 2), persistent=False)
        widths = [max(8, round(w * width_mult)) for w in (256, 512, 1024, 512)]
        self.fold1 = Fold(latent_dim, 2, widths, scale=1.0)
        self.fold2 = Fold(latent_dim, 3, widths, scale=3.0, init_rms=CLOUD_INIT_RMS)

    def forward(self, z: Tensor) -> Tensor:
        grid = self.grid.expand(z.shape[0], -1, -1).to(z.dtype)
        return self.fold2(z, self.fold1(z, grid))


class DepthDecoder(nn.Module):
    """``z (B, Z)`` -> depth ``(B, 1, size, size)``, linear output; any size >= 16.

    Transposed convolutions up to the next ``8 * 2^k >= size``, then bilinear resizing when the
    crop size is not of that form.
    """

    def __init__(self, latent_dim: int, size: int = 256, width: int = 32) -> None:
        super().__init__()
        if size < 16:
            raise UserError(f"data.crop_size: the depth decoder needs at least 16 px, got {size}")
        n_up = max(1, math.ceil(math.log2(size / 8)))
        self.size = size
        self.base_ch = 8 * width
        self.fc = nn.Linear(latent_dim, self.base_ch * 8 * 8, bias=False)
        self.bn0 = nn.BatchNorm2d(self.base_ch)
        layers: list[nn.Module] = [nn.ReLU(inplace=True)]
        ch = self.base_ch
        for i in range(n_up):
            if i == n_up - 1:
                layers.append(_tconv(ch, 1))
            else:
                out = max(ch // 2, 8)
                layers += [_tconv(ch, out, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
                ch = out
        self.up = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        x = self.up(self.bn0(self.fc(z).view(z.shape[0], self.base_ch, 8, 8)))
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x
