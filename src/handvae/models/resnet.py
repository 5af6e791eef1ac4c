"""ResNet-18 (He et al. 2016) with torchvision's parameter names, written from the paper.

Names match ``torchvision.models.resnet18`` (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ..., ``fc``) so a user's torchvision weights file loads with
:func:`load_torchvision_weights`. ``width`` scales every stage (64 = torchvision's; 16-32 for CPU
demos); global average pooling makes any input of at least 32x32 px valid.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from handvae.errors import UserError


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (projection when the shape changes)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18: ``x (B, 3, S, S)`` (already normalised) -> ``(B, num_classes)``.

    With ``num_classes=0`` there is no ``fc`` and the output is the pooled feature
    ``(B, 8 * width)``. ``S >= 32`` (five stride-2 stages, then adaptive average pooling).
    """

    def __init__(self, width: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        if width < 1:
            raise UserError(f"model.rgb_width: expected a positive integer, got {width}")
        self.width = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = [width, 2 * width, 4 * width, 8 * width]
        in_ch = width
        for i, ch in enumerate(chans):
            stride = 1 if i == 0 else 2
            layer = nn.Sequential(BasicBlock(in_ch, ch, stride), BasicBlock(ch, ch, 1))
            self.add_module(f"layer{i + 1}", layer)
            in_ch = ch
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_features = num_classes if num_classes > 0 else 8 * width
        self.fc: nn.Module = nn.Linear(8 * width, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: Tensor) -> Tensor:
        """``(B, 3, S, S)`` -> pooled features ``(B, 8 * width)``."""
        if not torch.jit.is_tracing() and (x.shape[-1] < 32 or x.shape[-2] < 32):
            raise ValueError(f"ResNet18 needs inputs of at least 32x32 px, got {tuple(x.shape[-2:])}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))

    def load_torchvision_state(self, state: dict[str, Tensor], source: str = "weights") -> list[str]:
        """Copy a torchvision ResNet-18 state dict into this trunk; ``fc.*`` is skipped when absent here.

        Returns the names of the tensors loaded. Raises :class:`UserError` naming ``source`` and the
        first missing tensor or shape mismatch (e.g. a width other than 64).
        """
        own = self.state_dict()
        loaded: list[str] = []
        for name, target in own.items():
            if name not in state:
                raise UserError(f"{source}: tensor {name!r} missing; expected a torchvision ResNet-18")
            value = state[name]
            if tuple(value.shape) != tuple(target.shape):
                raise UserError(
                    f"{source}: {name!r} has shape {tuple(value.shape)}, this model needs "
                    f"{tuple(target.shape)} (model.rgb_width={self.width}; torchvision's is 64)"
                )
            loaded.append(name)
        self.load_state_dict({k: state[k] for k in own}, strict=True)
        return loaded


def load_torchvision_weights(path: str | Path) -> dict[str, Tensor]:
    """Read a torchvision ResNet-18 weights file (``.pth``/``.pt`` or ``.safetensors``) as a state dict.

    ``.pth`` files are read with ``torch.load(weights_only=True)`` (no arbitrary code). A prefix
    ``module.`` (DataParallel) is stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: weights file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        elif suffix in (".pth", ".pt", ".bin"):
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
        else:
            raise UserError(f"{path}: expected a .pth, .pt or .safetensors ResNet-18 weights file")
    except UserError:
        raise
    except Exception as err:  # unreadable / not a plain tensor file
        raise UserError(f"{path}: cannot read weights ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise UserError(f"{path}: expected a mapping of tensor names to tensors (a state dict)")
    return {k.removeprefix("module."): v for k, v in state.items()}
