"""ResPEL: residual permutation-equivariant layers for point clouds (Li & Lee, CVPR 2019).

Written from the paper's description (supplementary Table 2): three blocks of 7
permutation-equivariant layers (PEL) with 64, 256 and 512 hidden units, then "point to hidden
unit voting" to 128 features, then FC-128 + BN + ReLU.

- A PEL maps per-point features ``x_n`` to ``A x_n + B max_m x_m + b`` (Deep Sets' equivariant
  form with a max-pooled context), followed by BatchNorm over (batch, points) and ReLU. Permuting
  the points permutes the output the same way.
- A block is one PEL that changes the width followed by three residual units of two PELs each
  (``x + PEL(PEL(x))``): 1 + 3 * 2 = 7 layers.
- Voting: every point casts, for each of the 128 hidden units, a value and a weight; the weights
  are a softmax over the points, and each unit is the weighted sum of the points' values. The
  result does not depend on the order of the points.

Points are ``(B, N, 3)`` in normalised units; layers work on ``(B, N, C)`` (per-point linear
layers are plain matrix products; BatchNorm statistics are over batch and points).
"""

from __future__ import annotations

from torch import Tensor, nn


class PointBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the last dimension of ``(B, N, C)``, statistics over batch and points."""

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        return super().forward(x.reshape(-1, shape[-1])).reshape(shape)


class PEL(nn.Module):
    """Permutation-equivariant layer: ``(B, N, C_in) -> (B, N, C_out)``."""

    def __init__(self, in_ch: int, out_ch: int, activation: bool = True) -> None:
        super().__init__()
        self.point = nn.Linear(in_ch, out_ch, bias=False)  # BN follows
        self.context = nn.Linear(in_ch, out_ch, bias=False)
        self.bn = PointBatchNorm(out_ch)
        self.act: nn.Module = nn.ReLU(inplace=True) if activation else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        ctx = self.context(x.amax(dim=1, keepdim=True))  # (B, 1, C_out), broadcast over points
        return self.act(self.bn(self.point(x) + ctx))


class ResidualPEL(nn.Module):
    """``relu(x + PEL(PEL(x)))`` with the second PEL linear before the sum."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.pel1 = PEL(ch, ch)
        self.pel2 = PEL(ch, ch, activation=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(x + self.pel2(self.pel1(x)))


class ResPELBlock(nn.Module):
    """One PEL to ``width`` then ``(layers - 1) / 2`` residual units: ``layers`` PELs in all."""

    def __init__(self, in_ch: int, width: int, layers: int = 7) -> None:
        super().__init__()
        if layers < 1 or layers % 2 == 0:
            raise ValueError(f"ResPEL block needs an odd number of layers (1 + 2k), got {layers}")
        self.entry = PEL(in_ch, width)
        self.units = nn.Sequential(*[ResidualPEL(width) for _ in range((layers - 1) // 2)])

    def forward(self, x: Tensor) -> Tensor:
        return self.units(self.entry(x))


class PointVoting(nn.Module):
    """Point-to-hidden-unit voting: ``(B, N, C) -> (B, K)``, softmax weights over the points."""

    def __init__(self, in_ch: int, units: int) -> None:
        super().__init__()
        self.value = nn.Linear(in_ch, units)
        self.weight = nn.Linear(in_ch, units)

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight(x).softmax(dim=1)
        return (w * self.value(x)).sum(dim=1)


class ResPELTrunk(nn.Module):
    """Point-cloud trunk: ``points (B, N, 3)`` -> features ``(B, fc_units)``.

    ``widths`` are the hidden units of the blocks (paper: 64, 256, 512); ``width_mult`` scales
    them for CPU presets. Each block has ``layers`` PELs (paper: 7).
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (64, 256, 512),
        layers: int = 7,
        vote_units: int = 128,
        fc_units: int = 128,
        width_mult: float = 1.0,
    ) -> None:
        super().__init__()
        chans = [max(4, round(w * width_mult)) for w in widths]
        blocks = []
        in_ch = 3
        for ch in chans:
            blocks.append(ResPELBlock(in_ch, ch, layers))
            in_ch = ch
        self.blocks = nn.Sequential(*blocks)
        self.vote = PointVoting(in_ch, vote_units)
        self.fc = nn.Sequential(
            nn.Linear(vote_units, fc_units, bias=False), nn.BatchNorm1d(fc_units), nn.ReLU(inplace=True)
        )
        self.out_features = fc_units

    def forward(self, points: Tensor) -> Tensor:
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be (B, N, 3), got {tuple(points.shape)}")
        x = self.blocks(points)
        return self.fc(self.vote(x))
