"""benchmarks/convention_gap.py: bone lengths, proportions and redrawing a skeleton, on hand-built poses."""

import numpy as np

from conftest import load_script


def _module():
    return load_script("benchmarks/convention_gap.py")


def _fan(lengths: np.ndarray) -> np.ndarray:
    """A pose with finger f's chain bent in the xy plane: its level-k bone points at angle 0.3 f + 0.2 k and
    is lengths[f, k] long. (1, 21, 3)."""
    xyz = np.zeros((1, 21, 3))
    for f, chain in enumerate(_module().finger_chains()):
        for k in range(4):
            ang = 0.3 * f + 0.2 * k
            xyz[0, chain[k + 1]] = xyz[0, chain[k]] + lengths[f, k] * np.array([np.cos(ang), np.sin(ang), 0.0])
    return xyz


LENGTHS = np.arange(1.0, 21.0).reshape(5, 4)  # 1..20 mm, total 210


def test_finger_chains_run_from_the_wrist_to_each_tip_in_rhd_order():
    assert _module().finger_chains() == [[0, 4, 3, 2, 1], [0, 8, 7, 6, 5], [0, 12, 11, 10, 9], [0, 16, 15, 14, 13],
                                         [0, 20, 19, 18, 17]]


def test_bone_lengths_and_proportions_of_a_hand_built_pose():
    m = _module()
    pose = _fan(LENGTHS)
    np.testing.assert_allclose(m.bone_lengths(pose)[0], LENGTHS, atol=1e-12)
    twice = np.concatenate([pose, 2 * pose])  # proportions do not depend on the hand's size
    np.testing.assert_allclose(m.proportions(twice), LENGTHS / 210.0, atol=1e-12)
    other = LENGTHS[::-1, ::-1]  # 20..1 mm: another hand's proportions, the same total
    pair = np.concatenate([pose, 5 * _fan(other)])  # the mean of each hand's shares, whatever its size
    np.testing.assert_allclose(m.proportions(pair), (LENGTHS + other) / 420.0, atol=1e-12)


def test_reproportion_gives_the_shares_of_each_hands_total_along_its_own_directions():
    m = _module()
    pose = np.concatenate([_fan(LENGTHS), 3 * _fan(LENGTHS)])  # totals 210 and 630 mm
    np.testing.assert_allclose(m.reproportion(pose, LENGTHS / 210.0), pose, atol=1e-9)  # its own shares: unchanged
    shares = np.full((5, 4), 1 / 20)
    out = m.reproportion(pose, shares)
    np.testing.assert_allclose(m.bone_lengths(out), [np.full((5, 4), 10.5), np.full((5, 4), 31.5)], atol=1e-9)
    np.testing.assert_allclose(out, np.concatenate([_fan(np.full((5, 4), 10.5)), _fan(np.full((5, 4), 31.5))]),
                               atol=1e-9)  # the same directions: the same fan with equal bones
    tips_only = m.reproportion(pose[:1], shares, levels=(3,))
    expect = LENGTHS.copy()
    expect[:, 3] = 10.5
    np.testing.assert_allclose(m.bone_lengths(tips_only)[0], expect, atol=1e-9)
