"""benchmarks/realdev_errors.py: the hand frame and the systematic part of an error, on posed kinematic hands."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import load_script, random_rotation
from handvae.eval.metrics import procrustes_align
from handvae.synth.hand import DEG, HandProportions, forward_kinematics
from handvae.synth.poses import GESTURES


def _module():
    return load_script("benchmarks/realdev_errors.py")


def _hands(gesture: str, n: int = 8) -> np.ndarray:
    """(n, 21, 3) mm: the gesture at random rotations, right and left hands alternating."""
    rng = np.random.default_rng(0)
    return np.stack([
        forward_kinematics(HandProportions(), GESTURES[gesture] * DEG, side=("right", "left")[i % 2],
                           rotation=random_rotation(rng), translation=np.array([0.0, 0.0, 400.0])).joints
        for i in range(n)
    ])


@pytest.mark.parametrize("gesture", ["fist", "hook"])
def test_hand_frame_is_orthonormal_and_its_palmar_axis_points_where_fingers_curl(gesture):
    xyz = _hands(gesture)
    frames = _module().hand_frames(xyz)
    np.testing.assert_allclose(frames @ frames.transpose(0, 2, 1), np.broadcast_to(np.eye(3), frames.shape),
                               atol=1e-9)
    # a curled fingertip lies on the palm's side of the wrist, the same distance for either hand at any rotation
    index_tip = np.einsum("nj,nj->n", xyz[:, 5] - xyz[:, 0], frames[:, 2])
    assert (index_tip > 5.0).all(), index_tip
    np.testing.assert_allclose(index_tip, index_tip[0], atol=1e-9)


def test_systematic_part_is_zero_for_exact_predictions_and_finds_a_shared_thumb_offset():
    module = _module()
    gt = _hands("open")
    vis = np.ones(gt.shape[:2], bool)
    bias, size, left = module.systematic(gt.copy(), gt, vis)
    assert size < 1e-6 and left < 1e-6
    # every photo's thumb tip 10 mm further into the palm, left and right hands at any rotation: the bias is
    # largest there and palmar (the similarity alignment absorbs part of it), and it is the whole error
    pred = gt.copy()
    pred[:, 1] += 10.0 * module.hand_frames(gt)[:, 2]
    bias, size, left = module.systematic(pred, gt, vis)
    assert 5.0 < bias[1, 2] <= 10.0, bias[1]
    assert np.abs(bias).max() == bias[1, 2]
    assert left < 1e-6
    # an offset whose sign alternates between photos has no shared part: removing it leaves the whole error
    pred[1::2, 1] -= 20.0 * module.hand_frames(gt)[1::2, 2]
    bias, size, left = module.systematic(pred, gt, vis)
    whole = np.linalg.norm(procrustes_align(pred, gt) - gt, axis=-1).mean()
    assert abs(bias[1, 2]) < 0.5 and whole > 1.0
    assert left == pytest.approx(whole, rel=0.05)
