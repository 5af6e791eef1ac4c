"""The skinned mesh hand follows the kinematic skeleton: the labels stay inside the skin."""

import numpy as np
import pytest

from handvae.data.viewpoint import rot_x, rot_y
from handvae.skeleton import finger_joints
from handvae.synth.hand import forward_kinematics, sample_proportions
from handvae.synth.mesh_hand import default_rig, local_pose, pose_mesh
from handvae.synth.poses import sample_pose, sample_wrist
from handvae.synth.rasterize import vertex_normals

TIPS = [finger_joints(f)[0] for f in range(5)]


def _posed(seed, side="right"):
    rng = np.random.default_rng(seed)
    prop = sample_proportions(rng)
    angles, _ = sample_pose(rng)
    wrist = sample_wrist(rng)
    rot = rot_y(rng.uniform(-3, 3)) @ rot_x(rng.uniform(-3, 3))
    t = rng.uniform(-50, 50, 3) + [0, 0, 500]
    hand = forward_kinematics(prop, angles, wrist, side, rot, t)
    v, f = pose_mesh(default_rig(), hand, local_pose(prop, angles, wrist))
    return hand, v, f


@pytest.mark.parametrize("seed", range(6))
def test_fingertip_skin_reaches_the_labelled_tip(seed):
    rig = default_rig()
    hand, v, _ = _posed(seed)
    rest = rig.mesh.vertices.astype(float)
    for j in TIPS:  # the rest vertex nearest each tip keypoint ends next to the posed tip
        i = int(np.argmin(np.linalg.norm(rest - rig.mesh.keypoints[j], axis=1)))
        assert np.linalg.norm(v[i] - hand.joints[j]) < 5.0  # a wrong bone frame is off by 10s of mm


@pytest.mark.parametrize("seed", range(6))
def test_inner_joints_are_under_the_skin(seed):
    hand, v, _ = _posed(seed)
    for j in range(21):
        if j in TIPS:
            continue
        d = np.min(np.linalg.norm(v - hand.joints[j], axis=1))
        assert 2.0 < d < 25.0, (j, d)  # covered by skin, and no hole around the joint


def test_left_hand_is_the_mirror_image_with_outward_normals():
    hr, vr, fr = _posed(3, "right")
    hl, vl, fl = _posed(3, "left")
    # same draw: undo each hand's camera map, the local shapes are mirror images
    loc_r = np.linalg.solve(hr.linear, (vr - hr.translation).T).T
    loc_l = np.linalg.solve(hl.linear, (vl - hl.translation).T).T
    np.testing.assert_allclose(loc_r, loc_l, atol=1e-6)
    for v, f, h in ((vr, fr, hr), (vl, fl, hl)):
        n = vertex_normals(v, f)
        arm = default_rig().mesh.part == 1  # forearm: a tube, normals point away from its axis
        a, b = h.forearm
        d = (b - a) / np.linalg.norm(b - a)
        radial = (v[arm] - a) - np.outer((v[arm] - a) @ d, d)
        assert np.mean(np.einsum("ij,ij->i", n[arm], radial) > 0) > 0.9


def test_rest_pose_bone_lengths_follow_the_proportions():
    rng = np.random.default_rng(0)
    prop = sample_proportions(rng)
    zero = np.zeros((5, 4))
    hand = forward_kinematics(prop, zero)
    v, _ = pose_mesh(default_rig(), hand, local_pose(prop, zero, None))
    rig = default_rig()
    # with the skin following the skeleton, the middle finger's skin spans wrist-level to the tip
    tip = hand.joints[9]
    assert np.max(v[rig.mesh.part >= 18] @ (tip / np.linalg.norm(tip))) == pytest.approx(np.linalg.norm(tip), abs=3.0)
