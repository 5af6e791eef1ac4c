"""The kinematic hand and the pose samplers, checked against geometry worked out by hand."""

import numpy as np
import pytest

from handvae.skeleton import finger_joints
from handvae.synth.hand import (
    LOWER,
    UPPER,
    HandProportions,
    chirality,
    flexion_angles,
    forward_kinematics,
    sample_proportions,
)
from handvae.synth.poses import GESTURES, sample_orientation, sample_pose, sample_wrist


def test_bone_lengths_follow_the_proportions():
    rng = np.random.default_rng(0)
    prop = sample_proportions(rng)
    angles, _ = sample_pose(rng)
    j = forward_kinematics(prop, angles, rotation=sample_orientation(rng), translation=[1, 2, 500]).joints
    for f in range(5):
        tip, j3, j2, base = finger_joints(f)
        assert np.linalg.norm(j[base] - j[0]) == pytest.approx(prop.base_dist[f], abs=1e-6)
        chain = [base, j2, j3, tip]
        for k in range(3):
            assert np.linalg.norm(j[chain[k + 1]] - j[chain[k]]) == pytest.approx(prop.bones[f, k], abs=1e-6)


def test_default_proportions_are_rhd_placement():
    p = HandProportions()
    assert np.allclose(p.base_dist, [40, 94, 93, 89, 84])
    assert np.allclose(p.bones[0], [42, 33, 26])


def test_sampled_poses_respect_limits_and_hinges():
    rng = np.random.default_rng(1)
    prop = HandProportions()
    for _ in range(300):
        angles, _ = sample_pose(rng)
        assert np.all(angles >= LOWER - 1e-12) and np.all(angles <= UPPER + 1e-12)
        w = sample_wrist(rng)
        assert np.all(np.abs(w) <= np.radians(70) + 1e-12)
    # PIP and DIP are hinges about the same axis: the 3D bend angle equals |PIP| and |DIP|
    for _ in range(20):
        angles, _ = sample_pose(rng)
        j = forward_kinematics(prop, angles, rotation=sample_orientation(rng)).joints
        bend = flexion_angles(j)
        assert np.allclose(bend[1:, 0], np.abs(angles[1:, 2]), atol=1e-6)
        assert np.allclose(bend[1:, 1], np.abs(angles[1:, 3]), atol=1e-6)
        assert np.all(bend[1:, 0] <= np.radians(110) + 1e-6)


def test_gestures_are_within_limits_after_clipping_noise_free():
    for name, deg in GESTURES.items():
        rad = np.radians(deg)
        assert np.all(rad >= LOWER - 1e-9) and np.all(rad <= UPPER + 1e-9), name


def test_left_and_right_have_opposite_chirality():
    rng = np.random.default_rng(2)
    for _ in range(50):
        prop = sample_proportions(rng)
        angles, _ = sample_pose(rng)
        rot = sample_orientation(rng)
        right = forward_kinematics(prop, angles, side="right", rotation=rot).joints
        left = forward_kinematics(prop, angles, side="left", rotation=rot).joints
        assert chirality(right) == 1 and chirality(left) == -1


def test_left_is_the_mirror_of_right():
    rng = np.random.default_rng(3)
    prop, (angles, _) = sample_proportions(rng), sample_pose(rng)
    right = forward_kinematics(prop, angles, side="right").joints
    left = forward_kinematics(prop, angles, side="left").joints
    assert np.allclose(left, right * [-1, 1, 1])


def test_right_palm_facing_camera_has_thumb_on_image_right():
    # Fingers up (camera -y), palm towards the camera (-z): a viewer sees a right hand's thumb on
    # their right (+x) and a left hand's on their left.
    rot = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # columns: images of local x, y, z
    open_hand = np.radians(GESTURES["open"])
    for side, sign in (("right", 1), ("left", -1)):
        j = forward_kinematics(HandProportions(), open_hand, side=side, rotation=rot).joints
        assert sign * (j[1, 0] - j[12, 0]) > 20  # thumb tip vs middle MCP, mm
        assert j[12, 1] < j[0, 1]  # fingers above the wrist (y down)


def test_orientation_is_a_rotation():
    rng = np.random.default_rng(4)
    for _ in range(50):
        r = sample_orientation(rng)
        assert np.allclose(r.T @ r, np.eye(3), atol=1e-9) and np.linalg.det(r) == pytest.approx(1.0)


@pytest.mark.parametrize("thumb_holds", [True, False])
def test_contact_gestures_bring_the_thumb_to_its_target(thumb_holds):
    from handvae.synth.poses import contacts, solve_contact_gestures

    table = solve_contact_gestures(thumb_holds)
    for name, (targets, dist) in contacts(thumb_holds).items():
        j = forward_kinematics(HandProportions(), np.radians(table[name])).joints
        gap = np.linalg.norm(j[1] - j[list(targets)].mean(axis=0))
        assert gap == pytest.approx(dist, abs=3.0), name
        assert np.all(np.radians(table[name]) >= LOWER - 1e-9) and np.all(np.radians(table[name]) <= UPPER + 1e-9)


def test_held_thumbs_stay_within_the_folded_hand():
    """In a fist (point, victory, ...) the thumb lies on the fingers it holds, or on the palm: its tip is no
    further in front of the palm than the long fingers' farthest joint plus 25 mm (the thumb tip's radius,
    8.3 mm, over a finger's, 6-9 mm, or over the palm's skin, which lies about 15 mm in front of the MCP
    joint centres). The table's angles alone leave every one of them more than 50 mm in front."""
    from handvae.skeleton import palm_normal
    from handvae.synth.poses import THUMB_HOLDS, solve_contact_gestures

    def excess(table, name):  # mm the thumb tip sticks out beyond the long fingers, palm side
        j = forward_kinematics(HandProportions(), np.radians(table[name])).joints
        n = palm_normal(j)
        h = (j - j[0]) @ (n / np.linalg.norm(n))
        return h[1] - h[5:].max()

    held, free = solve_contact_gestures(True), solve_contact_gestures(False)
    assert set(THUMB_HOLDS) <= set(held)
    for name in THUMB_HOLDS:
        assert excess(held, name) < 25.0, name
        assert excess(free, name) > 50.0, name


def test_the_thumb_holds_are_a_world_option():
    from handvae.synth.generate import scene_options
    from handvae.synth.poses import THUMB_HOLDS, solve_contact_gestures

    assert scene_options("rhd").thumb_holds and not scene_options("rhd", world={"thumb_holds": "false"}).thumb_holds
    # without the holds, every gesture is the table's own angles but for the pinch-like contacts
    free, held = solve_contact_gestures(False), solve_contact_gestures(True)
    for name, deg in GESTURES.items():
        if name in THUMB_HOLDS:
            assert np.array_equal(free[name][1:], deg[1:]) and not np.allclose(held[name][0], deg[0]), name
        else:
            assert np.array_equal(free[name], held[name]), name
    # and the sampler draws the same families from the same generator either way
    for seed in range(20):
        assert sample_pose(np.random.default_rng(seed), "natural", True)[1] == \
            sample_pose(np.random.default_rng(seed), "natural", False)[1]
