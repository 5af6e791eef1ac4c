"""Reading PNGs for the readers: every failure becomes a SampleError naming the sample and file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from handvae.data.raw import SampleError


def read_png(path: Path, sample_id: str, what: str, mode: str | None = None) -> np.ndarray:
    """Read ``path`` as an array; ``mode`` ('RGB', 'L', None = as stored). Raises SampleError."""
    if not path.is_file():
        raise SampleError(sample_id, str(path), f"missing {what} file")
    try:
        with Image.open(path) as im:
            im.load()
            if mode is not None and im.mode != mode:
                im = im.convert(mode)
            return np.asarray(im)
    except (OSError, SyntaxError, ValueError) as err:
        raise SampleError(sample_id, str(path), f"corrupt {what} file ({err})") from None


def read_rgb_channels(path: Path, sample_id: str, what: str) -> np.ndarray:
    """An image whose channels encode data (depth PNGs): must be stored as RGB; (H, W, 3) uint8."""
    arr = read_png(path, sample_id, what)
    if arr.ndim != 3 or arr.shape[2] < 3 or arr.dtype != np.uint8:
        raise SampleError(sample_id, str(path), f"{what} must be an 8-bit RGB PNG, got shape {arr.shape}")
    return arr[..., :3]
