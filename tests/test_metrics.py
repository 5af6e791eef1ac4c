"""The evaluation protocol against values worked out by hand."""

import numpy as np
import pytest

from conftest import random_rotation
from handvae.eval.metrics import PCK_THRESHOLDS_MM, Protocol, evaluate, pck_curve, procrustes_align

MM = Protocol(scale="none")


def _hand(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 21, 3)) * 40.0 + np.array([0.0, 0.0, 500.0])


def _rotation(seed):
    return random_rotation(np.random.default_rng(seed))


def test_thresholds_are_pinned():
    np.testing.assert_allclose(PCK_THRESHOLDS_MM, [50.0 * i / 19 for i in range(20)], rtol=0, atol=1e-12)
    assert PCK_THRESHOLDS_MM[0] == 0.0 and PCK_THRESHOLDS_MM[-1] == 50.0
    assert PCK_THRESHOLDS_MM[8] == pytest.approx(400 / 19)  # 21.05 mm: "AUC 20-50" starts here


def test_constant_error_gives_step_pck_and_exact_auc():
    gt = _hand()
    pred = gt.copy()
    pred[:, [j for j in range(21) if j != 12], 0] += 25.0  # every joint 25 mm off, root (12) exact
    r = evaluate(pred, gt, protocol=MM)
    # 20 joints at 25 mm, the root at 0 mm.
    assert r.mean_epe_mm == pytest.approx(20 * 25 / 21)
    assert r.median_epe_mm == pytest.approx(20 * 25 / 21)
    # 25 mm lies between t9 = 23.68 and t10 = 26.32: PCK = 0 up to t9, 1 from t10.
    # Area = half a step (trapezoid over t9..t10) + 9 full steps -> AUC(0-50) = 9.5 / 19.
    # Over t8..t19 (span 11 steps): the same area -> 9.5 / 11. The root joint scores 1 on both.
    assert r.auc_0_50 == pytest.approx((20 * 9.5 / 19 + 1.0) / 21)
    assert r.auc_20_50 == pytest.approx((20 * 9.5 / 11 + 1.0) / 21)
    expected_curve = (20 * (PCK_THRESHOLDS_MM >= 25.0) + 1) / 21
    np.testing.assert_allclose(r.pck_curve, expected_curve)


def test_error_on_a_threshold_counts_as_within():
    errors = np.array([50 * 10 / 19])
    curve = pck_curve(errors)
    assert curve[10] == 1.0 and curve[9] == 0.0


def test_median_is_mean_of_per_keypoint_medians_not_global_median():
    gt = _hand(3)
    pred = gt.copy()
    pred[:, 1, 0] += [1.0, 2.0, 30.0]  # joint 1: median 2, mean 11
    others = [j for j in range(21) if j not in (1, 12)]
    pred[:, others, 1] += 5.0  # 19 joints at 5 mm
    r = evaluate(pred, gt, protocol=MM)
    assert r.median_epe_mm == pytest.approx((2.0 + 19 * 5.0) / 21)
    assert r.mean_epe_mm == pytest.approx((11.0 + 19 * 5.0) / 21)
    errors = np.concatenate([[1.0, 2.0, 30.0], np.full(57, 5.0), np.zeros(3)])
    assert np.median(errors) == 5.0 != pytest.approx(r.median_epe_mm)
    assert r.per_joint_median_mm[1] == pytest.approx(2.0)


def test_invisible_joints_are_excluded():
    gt = _hand(4)
    pred = gt.copy()
    pred[:, 3, 0] += 4.0
    pred[2, 3, 0] += 996.0  # a wild error on an invisible joint
    vis = np.ones((4, 21), bool)
    vis[2, 3] = False
    r = evaluate(pred, gt, vis, MM)
    assert r.per_joint_count[3] == 3
    assert r.per_joint_mean_mm[3] == pytest.approx(4.0)
    assert r.mean_epe_mm == pytest.approx(4.0 / 21)
    r_all = evaluate(pred, gt, vis, Protocol(scale="none", visible_only=False))
    assert r_all.per_joint_mean_mm[3] == pytest.approx((3 * 4.0 + 1000.0) / 4)


def test_never_visible_joint_is_left_out_of_the_average():
    gt = _hand(2)
    pred = gt.copy()
    pred[:, 5, 0] += 6.0
    vis = np.ones((2, 21), bool)
    vis[:, 7] = False
    r = evaluate(pred, gt, vis, MM)
    assert r.per_joint_mean_mm[7] is None and r.per_joint_count[7] == 0
    assert r.mean_epe_mm == pytest.approx(6.0 / 20)


def test_root_switch_moves_errors_as_the_formula_says():
    gt = _hand(2)
    pred = gt.copy()
    pred[:, 0] += [3.0, 0.0, 0.0]  # only the wrist is off, by 3 mm
    assert evaluate(pred, gt, protocol=Protocol(root="mcp", scale="none")).mean_epe_mm == pytest.approx(3 / 21)
    # Wrist root: the wrist's error moves every other joint by 3 mm.
    assert evaluate(pred, gt, protocol=Protocol(root="wrist", scale="none")).mean_epe_mm == pytest.approx(60 / 21)
    # Palm root (mid wrist-MCP) moves by 1.5 mm: every joint, the wrist included, is 1.5 mm off.
    assert evaluate(pred, gt, protocol=Protocol(root="palm", scale="none")).mean_epe_mm == pytest.approx(1.5)


def test_gt_bone_scale_multiplies_normalised_prediction():
    gt = _hand(3)
    bone = np.linalg.norm(gt[:, 12] - gt[:, 11], axis=-1)[:, None, None]
    rel = gt - gt[:, 12:13]
    exact = rel / bone
    assert evaluate(exact, gt).mean_epe_mm == pytest.approx(0.0, abs=1e-9)
    # 10% too large: each joint is off by 0.1 |gt_j - gt_root|.
    r = evaluate(1.1 * exact, gt)
    expected = np.mean(0.1 * np.linalg.norm(rel, axis=-1), axis=0).mean()
    assert r.mean_epe_mm == pytest.approx(expected)
    # With no scale the normalised prediction is read as mm: each joint is off by |rel_j| |1 - 1/bone|.
    off = np.linalg.norm(rel, axis=-1) * np.abs(1 - 1 / bone[:, :, 0])
    assert evaluate(exact, gt, protocol=MM).mean_epe_mm == pytest.approx(off.mean(axis=0).mean())


def test_procrustes_removes_similarity_but_not_reflection():
    gt = _hand(3)
    rot = _rotation(3)
    pred = 0.7 * gt @ rot.T + np.array([10.0, -5.0, 3.0])
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-8)
    assert evaluate(pred, gt, protocol=Protocol(scale="procrustes")).mean_epe_mm == pytest.approx(0.0, abs=1e-7)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert evaluate(mirrored, gt, protocol=Protocol(scale="procrustes")).mean_epe_mm > 1.0


def _horn_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """An independent reference: Horn's (1987) unit-quaternion solution for the rotation (always proper),
    then the least-squares scale for it, one sample ``(21, 3)`` at a time."""
    out = np.empty_like(gt)
    for n in range(len(gt)):
        p, g = pred[n] - pred[n].mean(0), gt[n] - gt[n].mean(0)
        (sxx, sxy, sxz), (syx, syy, syz), (szx, szy, szz) = p.T @ g  # S_ab = sum_j p_ja g_jb
        big_n = np.array([
            [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
            [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
            [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
            [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
        ])
        w, x, y, z = np.linalg.eigh(big_n)[1][:, -1]  # the eigenvector of the largest eigenvalue
        rot = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ])
        rp = p @ rot.T
        out[n] = (g * rp).sum() / (p * p).sum() * rp + gt[n].mean(0)
    return out


def test_procrustes_equals_horns_quaternion_solution_also_for_a_mirror_image():
    """Noisy and mirrored predictions have no exact fit: the best proper similarity is worked out by another
    method (quaternions, not an SVD), and PA-EPE is its mean distance to the ground truth."""
    gt = _hand(3, seed=4)
    rng = np.random.default_rng(5)
    noisy = 1.3 * (gt + rng.normal(size=gt.shape) * 8.0) @ _rotation(6).T - 40.0
    np.testing.assert_allclose(_horn_align(0.7 * gt @ _rotation(3).T + 9.0, gt), gt, atol=1e-8)  # the reference
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    for pred in (noisy, mirrored):
        want = _horn_align(pred, gt)
        np.testing.assert_allclose(procrustes_align(pred, gt), want, atol=1e-8)
        # Procrustes: errors are |aligned - gt| whatever the root; mean over samples, then over joints
        epe = np.linalg.norm(want - gt, axis=-1).mean(axis=0).mean()
        assert evaluate(pred, gt, protocol=Protocol(scale="procrustes")).mean_epe_mm == pytest.approx(epe, rel=1e-9)
    assert np.linalg.norm(_horn_align(mirrored, gt) - gt, axis=-1).mean() > 10.0  # the mirror costs tens of mm


def test_result_carries_and_prints_its_protocol():
    gt = _hand(2)
    r = evaluate(gt.copy(), gt, protocol=Protocol(root="wrist", scale="none", visible_only=False))
    assert r.protocol["root"] == "wrist" and r.protocol["scale"] == "none" and r.protocol["visible_only"] is False
    text = r.table()
    assert "root: wrist" in text and "all keypoints" in text and "AUC 20-50" in text


@pytest.mark.parametrize(
    "pred_shape, gt_shape", [((2, 20, 3), (2, 20, 3)), ((2, 21, 3), (3, 21, 3)), ((21, 3), (21, 3))]
)
def test_bad_shapes_raise(pred_shape, gt_shape):
    with pytest.raises(ValueError, match=r"\(N, 21, 3\)"):
        evaluate(np.zeros(pred_shape), np.zeros(gt_shape))


def test_nan_raises():
    gt = _hand(2)
    pred = gt.copy()
    pred[1, 4, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate(pred, gt, protocol=MM)


def test_palm_root_is_the_midpoint_of_the_wrist_and_the_middle_mcp():
    """Only the documented palm (mid wrist-kp12) passes: kp12 and the ring MCP (kp16) are moved, so a palm
    built from the wrist and any other joint gives another number (with kp16: 65/21 mm)."""
    gt = _hand(1)
    pred = gt.copy()
    pred[:, 12] += [4.0, 0.0, 0.0]  # the palm moves by (2, 0, 0)
    pred[:, 16] += [0.0, 6.0, 0.0]
    # every joint is 2 mm off against the moved root, but kp16: |(-2, 6, 0)| = sqrt(40)
    want = (20 * 2.0 + np.sqrt(40.0)) / 21
    assert evaluate(pred, gt, protocol=Protocol(root="palm", scale="none")).mean_epe_mm == pytest.approx(want)
