"""The models' RGB input, one home: uint8 pixels -> ``(N, 3, S, S)`` float32 in [0, 1].

Training batches ('R' in :mod:`handvae.data.batches`), evaluation, prediction, the released model's
reference input and the benchmarks all feed the networks through :func:`rgb_input`, so a crop is
scaled the same way everywhere (``value / 255``, channels first).
"""

from __future__ import annotations

import numpy as np
import torch


def rgb_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(S, S, 3)`` or ``(N, S, S, 3)`` uint8 (numpy, any strides, or a tensor on any device) ->
    ``(N, 3, S, S)`` float32 in [0, 1] on the same device (a single image gets N = 1)."""
    if not isinstance(images, torch.Tensor):
        images = np.ascontiguousarray(images)
        # a read-only array (a memory-mapped cache) is copied: torch wants writable memory
        images = torch.from_numpy(images if images.flags.writeable else images.copy())
    if images.dtype != torch.uint8 or images.ndim not in (3, 4) or images.shape[-1] != 3:
        raise ValueError(
            f"RGB input: expected uint8 pixels of shape (S, S, 3) or (N, S, S, 3), "
            f"got {images.dtype} {tuple(images.shape)}"
        )
    if images.ndim == 3:
        images = images[None]
    return images.permute(0, 3, 1, 2).float().div_(255.0)
