"""The joint order, tree and order maps, checked against hand-written tables."""

import numpy as np
import pytest

from handvae import skeleton as sk


def test_joint_names_follow_rhd_order():
    assert len(sk.JOINT_NAMES) == 21
    assert sk.JOINT_NAMES[0] == "wrist"
    assert sk.JOINT_NAMES[1] == "thumb_tip" and sk.JOINT_NAMES[4] == "thumb_cmc"
    assert sk.JOINT_NAMES[12] == "middle_mcp" and sk.JOINT_NAMES[11] == "middle_pip"
    assert sk.JOINT_NAMES[17] == "little_tip" and sk.JOINT_NAMES[20] == "little_mcp"
    assert sk.ROOT_JOINT == 12 and sk.SCALE_BONE == (12, 11)


def test_parents_and_bones_by_hand():
    expected = [-1, 2, 3, 4, 0, 6, 7, 8, 0, 10, 11, 12, 0, 14, 15, 16, 0, 18, 19, 20, 0]
    assert list(sk.PARENTS) == expected
    assert len(sk.BONES) == 20
    assert (0, 12) in sk.BONES and (12, 11) in sk.BONES and (2, 1) in sk.BONES
    assert sk.FINGER_GROUPS["ring"] == (13, 14, 15, 16)


def test_snap_map_by_hand():
    expected = [0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17]
    assert list(sk.RHD2SNAP) == expected
    assert list(sk.SNAP2RHD) == expected  # its own inverse


def test_stb_map_by_hand():
    # STB: palm, little, ring, middle, index, thumb, each MCP -> tip: the RHD order read backwards.
    expected = [0] + list(range(20, 0, -1))
    assert list(sk.STB2RHD) == expected


@pytest.mark.parametrize("order", sk.ORDERS)
def test_maps_are_bijections_and_invert(order):
    rng = np.random.default_rng(1)
    pose = rng.normal(size=(4, 21, 3))
    there = sk.reorder(pose, "rhd", order)
    assert sorted(sk._FROM_RHD[order]) == list(range(21))
    np.testing.assert_array_equal(sk.reorder(there, order, "rhd"), pose)
    # Every joint value appears exactly once.
    assert np.unique(there.reshape(-1, 3), axis=0).shape[0] == 4 * 21


def test_reorder_between_foreign_orders_passes_through_rhd():
    pose = np.arange(21 * 3, dtype=float).reshape(21, 3)
    snap = sk.reorder(pose, "rhd", "snap")
    np.testing.assert_array_equal(sk.reorder(snap, "snap", "stb"), sk.reorder(pose, "rhd", "stb"))


def test_known_stb_pose_converts_to_expected_rhd_pose():
    stb = np.zeros((21, 3))
    stb[:, 0] = np.arange(21)  # x encodes the STB index
    stb[0] = [100.0, 50.0, 400.0]  # palm
    stb[5] = [90.0, 40.0, 410.0]  # ring MCP in STB
    rhd = sk.stb_to_rhd(stb)
    assert rhd[1, 0] == 20  # thumb tip = STB 20
    assert rhd[4, 0] == 17  # thumb base = STB 17
    assert rhd[12, 0] == 9  # middle MCP = STB 9
    assert rhd[20, 0] == 1  # little MCP = STB 1
    np.testing.assert_allclose(rhd[16], [90.0, 40.0, 410.0])  # ring MCP carried over
    # wrist = ring_mcp + 2 (palm - ring_mcp) = (110, 60, 390)
    np.testing.assert_allclose(rhd[0], [110.0, 60.0, 390.0])
    assert stb[0, 0] == 100.0  # input untouched


def test_reorder_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown joint order"):
        sk.reorder(np.zeros((21, 3)), "rhd", "coco")
    with pytest.raises(ValueError, match="21"):
        sk.reorder(np.zeros((20, 3)), "rhd", "snap")


def test_bone_length():
    pose = np.zeros((2, 21, 3))
    pose[:, 11] = [3.0, 4.0, 0.0]
    np.testing.assert_allclose(sk.bone_length(pose), [5.0, 5.0])


def test_palm_normal_is_the_cross_of_the_wrist_to_index_and_little_mcps():
    pose = np.zeros((2, 21, 3))
    pose[:, 0] = [1.0, 1.0, 1.0]  # wrist
    pose[:, 8] = [3.0, 1.0, 1.0]  # index MCP: +2 along x from the wrist
    pose[:, 20] = [1.0, 4.0, 1.0]  # little MCP: +3 along y
    pose[1, 8], pose[1, 20] = pose[1, 20].copy(), pose[1, 8].copy()  # swapped: the normal flips
    np.testing.assert_allclose(sk.palm_normal(pose), [[0.0, 0.0, 6.0], [0.0, 0.0, -6.0]])
