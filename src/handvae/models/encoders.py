"""Encoders to a Gaussian latent: a trunk per modality, then mean and log-variance heads.

- ``R``: RGB crop ``(B, 3, S, S)`` in ``[0, 1]`` -> ImageNet normalisation -> ResNet-18 trunk.
- ``C``: point cloud ``(B, N, 3)`` normalised units -> ResPEL trunk (mean head with Tanh, as the
  paper's Table 2 ends in "FC-64, Tanh").
- ``D``: depth crop ``(B, 1, S, S)`` normalised depth -> DCGAN-style discriminator trunk.
- A joint encoder (KL alignment, Alg. 2) owns its own trunks for each input modality,
  concatenates their features and maps them through FC + BN + ReLU to the heads.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from handvae.models.latent import Gaussian
from handvae.models.resnet import ResNet18

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0  # overflow guard only; far outside what training reaches


class RGBTrunk(nn.Module):
    """``rgb (B, 3, S, S)`` in [0, 1] -> ResNet-18 features ``(B, 8 * width)``; S >= 32."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.resnet = ResNet18(width=width, num_classes=0)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.out_features = self.resnet.out_features

    def forward(self, rgb: Tensor) -> Tensor:
        return self.resnet((rgb - self.mean) / self.std)


class DepthTrunk(nn.Module):
    """``depth (B, 1, S, S)`` -> features ``(B, 8 * width)``; DCGAN discriminator style, S >= 16.

    Four 5x5 stride-2 convolutions (width, 2w, 4w, 8w) with BN (not on the first) and LeakyReLU,
    then global average pooling.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        for i, ch in enumerate((width, 2 * width, 4 * width, 8 * width)):
            layers.append(nn.Conv2d(in_ch, ch, 5, 2, 2, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            in_ch = ch
        self.convs = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = in_ch

    def forward(self, depth: Tensor) -> Tensor:
        return torch.flatten(self.pool(self.convs(depth)), 1)


class GaussianHead(nn.Module):
    """Two linear heads: features ``(B, F)`` -> :class:`Gaussian` with ``(B, Z)`` parameters."""

    def __init__(self, in_features: int, latent_dim: int, tanh_mu: bool = False, init_logvar: float = 0.0) -> None:
        super().__init__()
        self.mu = nn.Linear(in_features, latent_dim)
        self.logvar = nn.Linear(in_features, latent_dim)
        self.tanh_mu = tanh_mu
        if init_logvar != 0.0:
            # Start with a confident posterior: with logvar ~ 0 the sampling noise (std 1) swamps the means
            # (std ~0.4 at initialisation) and the decoders first learn to ignore z.
            with torch.no_grad():
                self.logvar.weight.mul_(0.01)
                self.logvar.bias.fill_(init_logvar)

    def forward(self, h: Tensor) -> Gaussian:
        mu = self.mu(h)
        if self.tanh_mu:
            mu = torch.tanh(mu)
        return Gaussian(mu, self.logvar(h).clamp(LOGVAR_MIN, LOGVAR_MAX))


class Encoder(nn.Module):
    """One modality's encoder ``q(z | x)``: trunk + Gaussian head."""

    def __init__(self, trunk: nn.Module, latent_dim: int, tanh_mu: bool = False, init_logvar: float = 0.0) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = GaussianHead(trunk.out_features, latent_dim, tanh_mu, init_logvar)

    def forward(self, x: Tensor) -> Gaussian:
        return self.head(self.trunk(x))


class JointEncoder(nn.Module):
    """``q(z | x, w, ...)`` of the KL alignment: its own trunk per letter, features fused.

    ``forward(inputs)`` takes a mapping letter -> tensor with every letter of ``trunks``.
    """

    def __init__(
        self, trunks: dict[str, nn.Module], latent_dim: int, hidden: int = 256, init_logvar: float = 0.0
    ) -> None:
        super().__init__()
        self.letters = list(trunks)
        self.trunks = nn.ModuleDict(trunks)
        total = sum(t.out_features for t in trunks.values())
        self.fuse = nn.Sequential(
            nn.Linear(total, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)
        )
        self.head = GaussianHead(hidden, latent_dim, init_logvar=init_logvar)

    def forward(self, inputs: dict[str, Tensor]) -> Gaussian:
        feats = [self.trunks[k](inputs[k]) for k in self.letters]
        return self.head(self.fuse(torch.cat(feats, dim=1)))
