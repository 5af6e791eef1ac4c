"""prepare -> cache: geometry kept for metrics, mirroring, --skip-bad, atomic writes, workers, CLI."""

import json

import numpy as np
import pytest

from _data_fixtures import RHD_K, bone_pixels, hand_pose, project, rhd_centers, write_rhd, write_stb
from handvae.cli import main
from handvae.data.cache import open_split, to_camera_mm, verify
from handvae.data.prepare import PrepareConfig, prepare
from handvae.errors import UserError


@pytest.fixture(scope="module")
def rhd_root(tmp_path_factory):
    return write_rhd(tmp_path_factory.mktemp("rhd"), n=3)


@pytest.fixture(scope="module")
def rhd_cache(rhd_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache")
    prepare(PrepareConfig("rhd", str(rhd_root), size=32, points=128, seed=3), out, progress=False)
    return out / "train"


def test_cache_layout_and_manifest(rhd_cache):
    m = json.loads((rhd_cache / "manifest.json").read_text())
    assert m["source"] == "rhd" and m["count"] == 3 and m["counts"] == {"read": 3, "written": 3, "skipped": 0}
    assert m["config"]["size"] == 32 and m["versions"]["cache_format"] == "1" and len(m["checksum"]) == 64
    a = open_split(rhd_cache)
    assert isinstance(a["image"], np.memmap) and a["image"].shape == (3, 32, 32, 3) and a["cloud"].shape == (3, 128, 3)
    verify(rhd_cache)
    assert json.loads((rhd_cache / "ids.json").read_text())[2] == "training/00002"


def test_prepared_geometry_maps_back_to_camera_mm(rhd_cache):
    a = open_split(rhd_cache)
    # scale = 2 |kp12 - kp11| of the fixture's hand (18 mm down, 2 mm nearer per phalanx)
    assert np.allclose(a["scale_mm"], 2 * np.hypot(18.0, 2.0), atol=1e-3)
    # the centroid is the mean of the hand-surface points: on the depth plane z = 0.4 m + 20 mm i
    assert np.allclose(a["centroid_mm"][:, 2], [400, 420, 440], atol=0.1)
    back = to_camera_mm(a["pose"], a["R_vc"], a["centroid_mm"], a["scale_mm"], a["mirrored"])
    assert np.allclose(back, a["xyz_mm"], atol=1e-3)
    # keypoints in the crop are the joints seen by the crop camera: K_crop R_vc x
    for i in range(3):
        p = a["xyz_mm"][i].astype(np.float64) @ a["R_vc"][i].T.astype(np.float64) @ a["K_crop"][i].T
        assert np.allclose(a["uv"][i], p[:, :2] / p[:, 2:], atol=1e-3)
    # the cloud maps back onto the fixture's depth plane, within its hand's extent
    cloud_mm = to_camera_mm(a["cloud"], a["R_vc"], a["centroid_mm"], a["scale_mm"], a["mirrored"])
    assert np.allclose(cloud_mm[..., 2], np.array([400, 420, 440])[:, None], atol=0.1)
    for i, c in enumerate(rhd_centers(3)):
        # each cloud point is a hand pixel back-projected: it projects onto a pixel centre of the fixture's mask
        hand = bone_pixels(project(hand_pose(c), RHD_K), (64, 64), 2.5)
        uv = project(cloud_mm[i].astype(np.float64), RHD_K)
        np.testing.assert_allclose(uv, np.rint(uv), atol=1e-2)
        u, v = np.rint(uv).astype(int).T
        assert hand[v, u].all()
        # and the centroid is the mean of every hand pixel on the plane z = 400 + 20 i mm: x = (u - 31.5) z / 150
        vv, uu = np.nonzero(hand)
        z = 400.0 + 20.0 * i
        want = np.stack([(uu - 31.5) * z / 150.0, (vv - 31.5) * z / 150.0, np.full(uu.size, z)], -1).mean(0)
        np.testing.assert_allclose(a["centroid_mm"][i], want, atol=0.1)
        # the crop box: the mask's pixel box (pixels u0..u1 cover u0 - 0.5..u1 + 0.5), longer side / 2 x 1.25
        u0, u1, v0, v1 = uu.min(), uu.max(), vv.min(), vv.max()
        uc, vc, half = (u0 + u1) / 2, (v0 + v1) / 2, max(u1 - u0 + 1, v1 - v0 + 1) / 2 * 1.25
        np.testing.assert_allclose(a["box"][i], [uc - half, vc - half, uc + half, vc + half], atol=1e-4)
        # the crop camera: f_c = f S / (2 half), principal point (S - 1) / 2; R_vc turns the box centre's ray to +z
        np.testing.assert_allclose(a["K_crop"][i], [[150 * 32 / (2 * half), 0, 15.5], [0, 150 * 32 / (2 * half), 15.5],
                                                    [0, 0, 1]], rtol=1e-6)
        ray = a["R_vc"][i].astype(np.float64) @ [(uc - 31.5) / 150, (vc - 31.5) / 150, 1.0]
        np.testing.assert_allclose(ray[:2], 0.0, atol=1e-6)
    assert np.abs(a["cloud"]).max() < 3.0 and np.abs(a["cloud"].mean(1)).max() < 0.3
    # hand pixels are in the crop's middle, with the box margin all around
    m = a["mask"][0]
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    assert rows[0] >= 1 and cols[0] >= 1 and rows[-1] <= 30 and cols[-1] <= 30
    assert np.allclose(a["K"][0], RHD_K)


def test_mirroring_left_hands_is_undone_for_metrics(tmp_path):
    root = write_stb(tmp_path / "stb", seqs=("B2Counting",), n=1)
    out = prepare(PrepareConfig("stb", str(root), size=32, points=64, mirror="left"), tmp_path / "c", progress=False)
    a = open_split(out)
    assert a["mirrored"][0] and a["side"][0] == 0
    # mirrored working frame: the hand's x flips sign, so the centroid's x does too
    plain_cfg = PrepareConfig("stb", str(root), size=32, points=64, mirror="none")
    plain = open_split(prepare(plain_cfg, tmp_path / "p", progress=False))
    assert a["centroid_mm"][0, 0] == pytest.approx(-plain["centroid_mm"][0, 0], abs=1e-3)
    back = to_camera_mm(a["pose"], a["R_vc"], a["centroid_mm"], a["scale_mm"], a["mirrored"])
    assert np.allclose(back, a["xyz_mm"], atol=1e-3) and np.allclose(a["xyz_mm"], plain["xyz_mm"])
    assert np.allclose(a["image"][0], plain["image"][0][:, ::-1], atol=2)


def _break(root):
    d = root / "training"
    (d / "color" / "00001.png").write_bytes(b"garbage")


def test_bad_sample_aborts_without_a_cache_and_skip_bad_counts(tmp_path):
    root = write_rhd(tmp_path / "rhd", n=3)
    _break(root)
    out = tmp_path / "cache"
    with pytest.raises(UserError, match=r"training/00001.*color/00001\.png.*corrupt"):
        prepare(PrepareConfig("rhd", str(root), size=16, points=16), out, progress=False)
    assert list(out.iterdir()) == []  # no split, no temporary folder left behind
    with pytest.raises(UserError, match="no manifest"):
        open_split(out / "train")
    split = prepare(PrepareConfig("rhd", str(root), size=16, points=16, skip_bad=True), out, progress=False)
    m = json.loads((split / "manifest.json").read_text())
    assert m["counts"] == {"read": 3, "written": 2, "skipped": 1} and m["count"] == 2
    assert m["skipped"][0]["id"] == "training/00001" and m["skipped"][0]["file"].endswith("color/00001.png")
    assert json.loads((split / "ids.json").read_text()) == ["training/00000", "training/00002"]
    kept = open_split(split)
    assert kept["image"].shape[0] == 2
    # the rows hold samples 0 and 2 (their hands, and their depth planes 400 and 440 mm), not a shifted slot
    want = np.stack([hand_pose(c) for c in rhd_centers(3)[::2]])
    np.testing.assert_allclose(kept["xyz_mm"], want, rtol=0, atol=1e-3)
    np.testing.assert_allclose(kept["centroid_mm"][:, 2], [400.0, 440.0], atol=0.1)
    verify(split)
    assert sorted(p.name for p in out.iterdir()) == ["train"]


def test_workers_give_identical_cache_and_cli(tmp_path, rhd_root, rhd_cache, capsys):
    rc = main(["prepare", "rhd", str(rhd_root), "--out", str(tmp_path / "c"), "--size", "32", "--points", "128",
               "--seed", "3", "--workers", "2", "--no-progress"])
    assert rc == 0 and "3 samples" in capsys.readouterr().out
    a, b = open_split(rhd_cache), open_split(tmp_path / "c" / "train")
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    # an existing split is not replaced without --overwrite; a bad path is one clear error
    assert main(["prepare", "rhd", str(rhd_root), "--out", str(tmp_path / "c"), "--no-progress"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["prepare", "stb", str(tmp_path / "nope"), "--out", str(tmp_path / "d"), "--no-progress"]) == 2


def test_prepare_cache_joins_splits_in_order(tmp_path, rhd_root, rhd_cache, capsys):
    # a second split of the same world with other point subsets (seed 4), then both joined by the CLI
    prepare(PrepareConfig("rhd", str(rhd_root), size=32, points=128, seed=4, limit=2), tmp_path / "b", progress=False)
    other = tmp_path / "b" / "train"
    rc = main(["prepare", "cache", str(other), str(rhd_cache), "--out", str(tmp_path / "j"), "--split", "train"])
    assert rc == 0 and "5 samples from 2 splits" in capsys.readouterr().out
    joined = tmp_path / "j" / "train"
    verify(joined)
    a, b, j = open_split(other), open_split(rhd_cache), open_split(joined)
    assert set(j) == set(a)
    for k in j:
        assert np.array_equal(j[k], np.concatenate([a[k], b[k]])), k
    assert not np.array_equal(j["cloud"][0], j["cloud"][2])  # same image, other points: the order is kept
    ids = json.loads((joined / "ids.json").read_text())
    assert ids == ["0:training/00000", "0:training/00001", "1:training/00000", "1:training/00001", "1:training/00002"]
    m = json.loads((joined / "manifest.json").read_text())
    assert m["source"] == "cache" and m["count"] == 5 and [s["count"] for s in m["sources"]] == [2, 3]
    assert m["config"]["mirror"] == "left"  # what the trainer reads to know the hands it learns
    assert m["sources"][1]["checksum"] == json.loads((rhd_cache / "manifest.json").read_text())["checksum"]


def test_prepare_cache_refuses_mixed_crops_and_extra_roots(tmp_path, rhd_root, rhd_cache, capsys):
    prepare(PrepareConfig("rhd", str(rhd_root), size=40, points=128, limit=1), tmp_path / "b", progress=False)
    rc = main(["prepare", "cache", str(rhd_cache), str(tmp_path / "b" / "train"), "--out", str(tmp_path / "j")])
    err = capsys.readouterr().err
    assert rc == 2 and "different crop size" in err and "40 px" in err and "32 px" in err
    assert not (tmp_path / "j").exists() or not any((tmp_path / "j").iterdir())
    prepare(PrepareConfig("rhd", str(rhd_root), size=32, points=128, limit=1, mirror="none"), tmp_path / "m",
            progress=False)
    rc = main(["prepare", "cache", str(rhd_cache), str(tmp_path / "m" / "train"), "--out", str(tmp_path / "j")])
    assert rc == 2 and "different --mirror" in capsys.readouterr().err
    rc = main(["prepare", "rhd", str(rhd_root), str(rhd_root), "--out", str(tmp_path / "k"), "--no-progress"])
    assert rc == 2 and "takes one dataset root" in capsys.readouterr().err
