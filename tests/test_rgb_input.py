"""handvae.data.rgb.rgb_input: the one uint8 -> model-input conversion (channels first, value / 255)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handvae.data.rgb import rgb_input


def test_values_and_layout_by_hand():
    img = np.zeros((2, 3, 3), np.uint8)  # (H=2, W=3, RGB)
    img[1, 2] = (255, 51, 0)  # row 1, column 2: red 1.0, green 0.2, blue 0.0
    x = rgb_input(img)
    assert x.shape == (1, 3, 2, 3) and x.dtype == torch.float32
    assert x[0, :, 1, 2].tolist() == pytest.approx([1.0, 0.2, 0.0])
    assert float(x.sum()) == pytest.approx(1.2)


def test_batches_views_and_tensors_agree():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (4, 5, 5, 3), dtype=np.uint8)
    ref = torch.from_numpy(imgs.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    assert torch.equal(rgb_input(imgs), ref)
    assert torch.equal(rgb_input(torch.from_numpy(imgs)), ref)
    flipped = imgs[2][:, ::-1]  # a negative-stride view, as a mirrored crop is
    assert torch.equal(rgb_input(flipped)[0], ref[2].flip(-1))


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8),
                                 np.zeros((4, 4, 4), np.uint8)])
def test_rejects_what_is_not_uint8_rgb(bad):
    with pytest.raises(ValueError, match=r"expected uint8 pixels of shape \(S, S, 3\)"):
        rgb_input(bad)
