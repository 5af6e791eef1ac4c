"""realdev (real photos, no mask, no depth, left hands): reader, keypoint-box crop, mirroring, PA-EPE.

A tiny realdev folder is written here from a known hand and camera; the real set, when the folder
``../shared/realdev`` exists beside the repository, is checked too (skipped where it is absent).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _data_fixtures import hand_pose
from handvae.cli import main
from handvae.data.cache import open_split
from handvae.data.crop import JOINT_FILL, box_from_mask, box_from_points
from handvae.data.prepare import PrepareConfig, prepare
from handvae.data.realdev import RealdevReader
from handvae.errors import UserError
from handvae.eval.metrics import Protocol, evaluate
from handvae.eval.scoring import score, to_mm

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "realdev"
SIZE = 64  # the fake photos, px
FAKE_K = np.array([[150.0, 0.0, 30.5], [0.0, 155.0, 33.0], [0.0, 0.0, 1.0]])
CENTERS = [(-10.0, 0.0, 420.0), (0.0, 5.0, 450.0), (12.0, -4.0, 480.0)]
NAMES = ["00000.png", "00001.jpg", "00002.jpg"]  # one lossless file, two JPEGs as shipped


def proj(xyz: np.ndarray, K: np.ndarray) -> np.ndarray:
    """``K @ xyz / z``: (..., 3) mm -> (..., 2) px, written out here rather than taken from the package."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    return np.stack([K[0, 0] * x / z + K[0, 1] * y / z + K[0, 2], K[1, 1] * y / z + K[1, 2]], axis=-1)


def write_realdev(root: Path, **override) -> Path:
    """A realdev folder: 3 photos (red rises with u, green with v) and annotations.npz; ``override`` replaces arrays."""
    (root / "images").mkdir(parents=True)
    xyz = np.stack([hand_pose(c) for c in CENTERS])
    K = np.repeat(FAKE_K[None], len(CENTERS), axis=0)
    vv, uu = np.mgrid[0:SIZE, 0:SIZE]
    img = np.stack([uu * 4, vv * 4, np.full_like(uu, 100)], axis=-1).astype(np.uint8)
    for name in NAMES:
        Image.fromarray(img).save(root / "images" / name, **({"quality": 95} if name.endswith(".jpg") else {}))
    arrays = {
        "image": np.array(NAMES),
        "xyz_mm": xyz.astype(np.float32),
        "uv_px": proj(xyz, FAKE_K).astype(np.float32),
        "K": K.astype(np.float32),
        "K_original": K.astype(np.float32),
        "bbox_original_xywh": np.zeros((len(NAMES), 4), np.int32),
    }
    arrays.update(override)
    np.savez(root / "annotations.npz", **arrays)
    return root


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    return write_realdev(tmp_path_factory.mktemp("realdev") / "realdev")


@pytest.fixture(scope="module")
def fake_cache(fake_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("realdev_cache")
    return prepare(PrepareConfig("realdev", str(fake_root), split="test", size=32, points=16), out, progress=False)


def test_reader_returns_the_hand_made_values(fake_root):
    reader = RealdevReader(fake_root, "test")
    assert len(reader) == 3 and reader.ids == ["00000", "00001", "00002"]
    for i, c in enumerate(CENTERS):
        s = reader.read(i)
        np.testing.assert_allclose(s.xyz, hand_pose(c), atol=1e-3)
        np.testing.assert_allclose(s.K, FAKE_K, atol=1e-4)
        np.testing.assert_allclose(s.uv, proj(hand_pose(c), FAKE_K), atol=1e-3)
        assert s.side == "left" and s.mask is None and not s.has_depth and s.vis.all()
        assert s.image.shape == (SIZE, SIZE, 3) and s.image.dtype == np.uint8 and not s.depth.any()
        assert s.path.endswith(NAMES[i])
    exact = reader.read(0).image  # the PNG is lossless; the JPEGs are close
    assert exact[5, 7].tolist() == [28, 20, 100]
    assert np.abs(reader.read(1).image.astype(int) - exact.astype(int)).mean() < 3


def test_points_box_has_the_mask_box_semantics():
    mask = np.zeros((40, 50), bool)
    mask[7:19, 10:31] = True  # rows 7..18, columns 10..30: 21 x 12 pixels
    corners = np.array([[10 - 0.5, 7 - 0.5], [30 + 0.5, 18 + 0.5]])  # the outer corners of those pixels
    for margin in (1.0, 1.25, 1.5):
        assert box_from_points(corners, margin) == pytest.approx(box_from_mask(mask, margin))
        assert box_from_points(corners, margin) == pytest.approx((20.0, 12.5, 21 / 2 * margin))
    pts = np.array([[3.0, 4.0], [9.0, 2.0], [5.0, 12.0]])  # bbox u 3..9, v 2..12: longer side 10
    assert box_from_points(pts, 1.25) == pytest.approx((6.0, 7.0, 6.25))
    assert box_from_points(np.array([[5.0, 5.0]]), 1.25)[2] == 2.0  # the same 2 px floor
    with pytest.raises(ValueError):
        box_from_points(np.zeros((0, 2)))


def _expected_crop_uv(xyz: np.ndarray, size: int, margin: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """Mirror, box the projected joints, rotate the box centre's ray onto +z, project: (21, 2), box (4,)."""
    xyz_m = xyz * np.array([-1.0, 1.0, 1.0])
    K_m = FAKE_K.copy()
    K_m[0, 2] = (SIZE - 1) - K_m[0, 2]
    uv_m = proj(xyz_m, K_m)
    lo, hi = uv_m.min(axis=0), uv_m.max(axis=0)
    (u_c, v_c), half = (lo + hi) / 2, (hi - lo).max() / 2 * margin
    d = np.linalg.solve(K_m, [u_c, v_c, 1.0])
    ay = np.arctan2(d[0], d[2])
    ry = np.array([[np.cos(-ay), 0, np.sin(-ay)], [0, 1, 0], [-np.sin(-ay), 0, np.cos(-ay)]])
    e = ry @ d
    ax = np.arctan2(e[1], e[2])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    f_c = 0.5 * (K_m[0, 0] + K_m[1, 1]) * size / (2 * half)
    c = (size - 1) / 2
    K_crop = np.array([[f_c, 0, c], [0, f_c, c], [0, 0, 1]])
    box = np.array([u_c - half, v_c - half, u_c + half, v_c + half])
    return proj(xyz_m @ (rx @ ry).T, K_crop), box


def test_prepared_keypoints_land_where_the_projection_says(fake_cache):
    a = open_split(fake_cache)
    assert json.loads((fake_cache / "manifest.json").read_text())["source"] == "realdev"
    assert np.asarray(a["mirrored"]).all() and not np.asarray(a["side"]).any()  # left hands, mirrored
    assert not np.asarray(a["has_cloud"]).any() and not np.asarray(a["mask"]).any()
    assert (np.asarray(a["depth"]) == 1.0).all()
    for i, c in enumerate(CENTERS):
        uv, box = _expected_crop_uv(hand_pose(c), 32, 1.25 / JOINT_FILL)
        np.testing.assert_allclose(a["uv"][i], uv, atol=1e-3)
        np.testing.assert_allclose(a["box"][i], box, atol=1e-3)
        np.testing.assert_allclose(a["xyz_mm"][i], hand_pose(c), atol=1e-3)  # ground truth: the original frame
        span = uv.max(axis=0) - uv.min(axis=0)
        fill = 32 * JOINT_FILL / 1.25  # the joints fill JOINT_FILL / margin of the crop, as in training
        assert fill - 1.5 < span.max() < fill + 1.5
    red = np.asarray(a["image"][0, 8:24, 8:24, 0], float)
    assert (np.diff(red, axis=1) < 0).all()  # red rose with u in the photo: the crop is mirrored too


def test_ground_truth_scores_zero_headline_and_pa(fake_cache):
    a = open_split(fake_cache)
    index = np.arange(len(a["pose"]))
    gt = np.asarray(a["xyz_mm"], np.float64)
    pred_mm = to_mm(np.asarray(a["pose"], np.float64), a, index)  # mirroring undone
    np.testing.assert_allclose(pred_mm, gt, atol=1e-2)
    res = score(pred_mm, gt, np.asarray(a["vis"]).astype(bool), Protocol(), pa=True)
    assert res.protocol["scale"] == "gt_bone" and res.pa.protocol["scale"] == "procrustes"
    assert res.mean_epe_mm < 0.02 and res.pa_epe_mm < 0.02
    flipped = pred_mm * np.array([-1.0, 1.0, 1.0])  # forgetting to unmirror is caught
    assert score(flipped, gt, np.ones(gt.shape[:2], bool), Protocol()).mean_epe_mm > 5.0


def test_evaluate_reports_headline_and_pa_epe(tiny_run, fake_cache, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["evaluate", str(tiny_run), "--data", str(fake_cache.parent), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "PA-EPE" in printed and "mean EPE" in printed and "Procrustes" in printed
    ours = json.loads((out / "metrics.json").read_text())["s4"]
    assert ours["protocol"]["scale"] == "gt_bone" and ours["pa"]["protocol"]["scale"] == "procrustes"
    data = np.load(out / "predictions_s4.npz")
    np.testing.assert_allclose(data["gt_mm"], np.stack([hand_pose(c) for c in CENTERS]), atol=1e-3)
    again = evaluate(data["pred_mm"], data["gt_mm"], data["vis"], Protocol(scale="procrustes"))
    assert again.mean_epe_mm == pytest.approx(ours["pa"]["mean_epe_mm"], rel=1e-5)
    assert f"{ours['pa']['mean_epe_mm']:.2f}" in printed
    report = (out / "report.md").read_text()
    assert "PA-EPE (mm)" in report and f"{ours['pa']['mean_epe_mm']:.2f}" in report


def test_bad_folders_name_the_file(tmp_path, capsys):
    with pytest.raises(UserError, match="'train'"):
        RealdevReader(write_realdev(tmp_path / "ok"), "train")
    assert main(["prepare", "realdev", str(tmp_path / "ok"), "--out", str(tmp_path / "c")]) == 2
    assert "'train'" in capsys.readouterr().err  # the default split is refused: evaluation only

    with pytest.raises(UserError, match=r"annotations\.npz: annotation file missing"):
        RealdevReader(tmp_path / "ok" / "images", "test")
    with pytest.raises(UserError, match=r"annotations\.npz: 'xyz_mm' must have shape \(N, 21, 3\)"):
        RealdevReader(write_realdev(tmp_path / "shape", xyz_mm=np.zeros((3, 20, 3), np.float32)), "test")
    root = write_realdev(tmp_path / "nok")
    with np.load(root / "annotations.npz") as npz:
        kept = {k: npz[k] for k in npz.files if k != "K"}
    np.savez(root / "annotations.npz", **kept)
    with pytest.raises(UserError, match=r"annotations\.npz: missing arrays \['K'\]"):
        RealdevReader(root, "test")
    with pytest.raises(UserError, match=r"annotations\.npz: not a readable"):
        RealdevReader(write_realdev(tmp_path / "obj", image=np.array(NAMES, dtype=object)), "test")

    root = write_realdev(tmp_path / "noimg")
    (root / "images" / NAMES[1]).unlink()
    reader = RealdevReader(root, "test")
    with pytest.raises(UserError, match=f"{NAMES[1]}.*missing colour image file"):
        reader.read(1)
    uv = proj(np.stack([hand_pose(c) for c in CENTERS]), FAKE_K) + 5.0
    with pytest.raises(UserError, match=r"00002.*uv_px is 5\.0 px from K @ xyz / z"):
        RealdevReader(write_realdev(tmp_path / "uv", uv_px=uv.astype(np.float32)), "test").read(2)


@pytest.mark.skipif(not (REAL / "annotations.npz").is_file(), reason=f"no real development set at {REAL}")
def test_the_real_development_set(tmp_path):
    reader = RealdevReader(REAL, "test")
    assert len(reader) == 102
    for i in range(len(reader)):
        s = reader.read(i)
        assert s.side == "left" and s.image.shape == (256, 256, 3)
        assert np.abs(proj(s.xyz, s.K) - s.uv).max() < 0.5
    out = prepare(
        PrepareConfig("realdev", str(REAL), split="test", size=32, points=16, limit=4), tmp_path, progress=False
    )
    a = open_split(out)
    assert len(a["pose"]) == 4 and np.asarray(a["mirrored"]).all()
    gt = np.asarray(a["xyz_mm"], np.float64)
    pred_mm = to_mm(np.asarray(a["pose"], np.float64), a, np.arange(4))
    assert score(pred_mm, gt, np.asarray(a["vis"]).astype(bool), Protocol(), pa=True).mean_epe_mm < 0.02
