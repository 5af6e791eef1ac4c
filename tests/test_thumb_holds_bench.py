"""benchmarks/thumb_holds.py: the thumb's height in front of the palm, on posed kinematic hands."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import load_script, random_rotation
from handvae.skeleton import palm_normal
from handvae.synth.hand import DEG, HandProportions, forward_kinematics
from handvae.synth.poses import GESTURES


@pytest.mark.parametrize("gesture", ["fist", "open", "four"])
def test_heights_ignore_where_the_hand_is_and_follow_the_thumb(gesture):
    bench = load_script("benchmarks/thumb_holds.py")
    still = forward_kinematics(HandProportions(), GESTURES[gesture] * DEG).joints
    rotation = random_rotation(np.random.default_rng(1))
    moved = forward_kinematics(HandProportions(), GESTURES[gesture] * DEG, rotation=rotation,
                               translation=np.array([30.0, -20.0, 400.0])).joints
    assert bench.excess_mm(moved) == pytest.approx(bench.excess_mm(still), abs=1e-6)
    assert bench.thumb_height(moved) == pytest.approx(bench.thumb_height(still), abs=1e-9)
    # lift the thumb tip 10 mm towards the palm's side, along the palm's normal made perpendicular to the
    # wrist -> middle MCP axis (the side view's two axes): both measures grow by exactly that
    along = (moved[12] - moved[0]) / np.linalg.norm(moved[12] - moved[0])
    n = palm_normal(moved)
    n -= (n @ along) * along
    lifted = moved.copy()
    lifted[1] += 10.0 * n / np.linalg.norm(n)
    assert bench.excess_mm(lifted) == pytest.approx(bench.excess_mm(moved) + 10.0, abs=1e-6)
    unit = np.linalg.norm(moved[12] - moved[0])
    assert bench.thumb_height(lifted) == pytest.approx(bench.thumb_height(moved) + 10.0 / unit, abs=1e-9)


def test_the_side_view_puts_a_fists_knuckles_on_the_palms_side():
    """A fist's PIPs stand in front of the palm (its MCPs flex 88 degrees: the proximal phalanges, 30-36 mm
    long in the default proportions, point straight out of the palm), so their height is positive and
    about a phalanx long."""
    bench = load_script("benchmarks/thumb_holds.py")
    rotation = random_rotation(np.random.default_rng(2))
    j = forward_kinematics(HandProportions(), GESTURES["fist"] * DEG, rotation=rotation).joints
    h = bench.side_frame(j)[:, 1]
    assert np.all((h[[7, 11, 15, 19]] > 25.0) & (h[[7, 11, 15, 19]] < 45.0)), h[[7, 11, 15, 19]]
