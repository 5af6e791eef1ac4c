"""Test-time rolls (handvae.models.tta) against exact quarter turns of the pixels (np.rot90, no interpolation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handvae.data.rgb import rgb_input
from handvae.models.load import load_model
from handvae.models.tta import predict_pose_tta, rolled_poses

# Image axes x right, y down, z forward. np.rot90(k=1) on (row, column) moves the pixel at (x, y) from the
# centre to (y, -x): the picture turned by R_z(-90 deg) = [[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]] at
# sin = -1. Its pose p' = R_z(-90) p, so in row form p = p' R_z(-90); k=-1 is R_z(+90), the transpose.
R_MINUS_90 = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def model_and_images(tiny_checkpoint):
    model, cfg, _ = load_model(tiny_checkpoint)
    s = int(cfg.data.crop_size)
    images = np.random.default_rng(3).integers(0, 256, (3, s, s, 3), dtype=np.uint8)
    return model.eval(), images


def _plain(model, images) -> np.ndarray:
    with torch.no_grad():
        return model.predict_pose(rgb_input(images)).double().numpy()


def test_quarter_turn_rolls_are_the_turned_pictures_rotated_back(model_and_images):
    model, images = model_and_images
    with torch.no_grad():
        got = rolled_poses(model, rgb_input(images), (-90.0, 90.0)).double().numpy()
    ccw = _plain(model, np.rot90(images, 1, axes=(1, 2))) @ R_MINUS_90  # np.rot90 k=1: a roll of -90 deg
    cw = _plain(model, np.rot90(images, -1, axes=(1, 2))) @ R_MINUS_90.T
    np.testing.assert_allclose(got[0], ccw, atol=1e-4)
    np.testing.assert_allclose(got[1], cw, atol=1e-4)
    assert np.abs(ccw - cw).max() > 1e-3  # the two turns differ, so the check is not vacuous


def test_tta_is_the_mean_of_the_crop_and_its_two_rolls(model_and_images):
    model, images = model_and_images
    x = rgb_input(images)
    with torch.no_grad():
        np.testing.assert_array_equal(predict_pose_tta(model, x, 0.0).numpy(), model.predict_pose(x).numpy())
        got = predict_pose_tta(model, x, 90.0).double().numpy()
    want = (_plain(model, images) + _plain(model, np.rot90(images, -1, axes=(1, 2))) @ R_MINUS_90.T
            + _plain(model, np.rot90(images, 1, axes=(1, 2))) @ R_MINUS_90) / 3.0
    np.testing.assert_allclose(got, want, atol=1e-4)
