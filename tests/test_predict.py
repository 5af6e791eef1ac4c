"""``handvae predict``: crops made like training crops, placement in mm / px, files, batches, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import foreign_checkpoints
from handvae.cli import main
from handvae.predict.geometry import JOINT_FILL, crop_box, crop_image, place_pose, scale_warning

S = 32  # the tiny model's crop size


@pytest.fixture(scope="module")
def samples(tiny_cache):
    """(raw samples of the tiny world's test split, their cached arrays) for the first 4 samples.

    A left hand is returned mirrored, as prepare cached it (the cache's ``mirrored`` flag).
    """
    from handvae.data.cache import open_split
    from handvae.data.raw import mirror_sample
    from handvae.data.rhd import RHDReader

    reader = RHDReader(tiny_cache.parent / "rhd", "test")
    arrays = open_split(tiny_cache / "test")
    raws = [reader.read(i) for i in range(4)]
    return [mirror_sample(r) if arrays["mirrored"][i] else r for i, r in enumerate(raws)], arrays


def box_of(arrays, i):
    box = np.asarray(arrays["box"][i], np.float64)
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), (box[2] - box[0]) / 2


def test_crop_is_the_training_crop(samples):
    raws, arrays = samples
    for i, raw in enumerate(raws):
        center, half = box_of(arrays, i)
        crop = crop_image(raw.image, center, half, S, raw.K, max_downsample=1e9)
        np.testing.assert_array_equal(crop.pixels, np.asarray(arrays["image"][i]))


def test_large_downsampling_is_prefiltered():
    # a 1-pixel checkerboard seen 20x smaller must come out mid grey, not aliased black/white
    ii, jj = np.mgrid[:640, :640]
    board = np.repeat((((ii + jj) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)
    crop = crop_image(board, (319.5, 319.5), 320.0, S)
    assert np.abs(crop.pixels.astype(float) - 127.5).max() < 8


def test_placement_recovers_the_ground_truth(samples):
    """Fed the true normalised pose and scale, placement gives back the camera-frame pose."""
    raws, arrays = samples
    for i, raw in enumerate(raws):
        center, half = box_of(arrays, i)
        crop = crop_image(raw.image, center, half, S, raw.K, max_downsample=1e9)
        out = place_pose(np.asarray(arrays["pose"][i], np.float64), crop, float(arrays["scale_mm"][i]), 1.25)
        xyz = np.asarray(raw.xyz, np.float64)
        np.testing.assert_allclose(out["rel_mm_cam"], xyz - xyz[12], atol=0.02)  # viewpoint correction undone
        # the fit: the projected joints' box is centred in the crop and spans fill * S / margin
        lo, hi = out["uv_crop"].min(0), out["uv_crop"].max(0)
        np.testing.assert_allclose((lo + hi) / 2, (S - 1) / 2, atol=0.01)
        assert (hi - lo).max() == pytest.approx(JOINT_FILL * S / 1.25, abs=0.01)
        # ... which puts the joints near where they are in the photo and at about the right depth
        assert np.linalg.norm(out["uv_img"] - raw.uv, axis=1).mean() < 0.2 * half
        assert out["root_depth_mm"] == pytest.approx(xyz[12, 2], rel=0.25)


def test_degenerate_scale_is_flagged(samples):
    _, arrays = samples
    pose = np.asarray(arrays["pose"][0], np.float64)
    assert np.linalg.norm(pose[12] - pose[11]) == pytest.approx(0.5, abs=1e-5)  # how training poses are scaled
    assert scale_warning(pose) is None and scale_warning(1.5 * pose) is None
    assert "degenerate" in scale_warning(0.1 * pose) and "degenerate" in scale_warning(3.0 * pose)


def write_photo(samples, folder: Path, i: int = 0) -> tuple[Path, str, str]:
    """The i-th test photo as PNG, with its K and a tight mask box as the CLI wants them."""
    raws, _ = samples
    raw = raws[i]
    path = folder / f"photo{i}.png"
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(raw.image).save(path)
    rows, cols = np.flatnonzero(raw.mask.any(1)), np.flatnonzero(raw.mask.any(0))
    bbox = f"{cols[0]},{rows[0]},{cols[-1] - cols[0] + 1},{rows[-1] - rows[0] + 1}"
    K = raw.K
    return path, bbox, f"{K[0, 0]},{K[1, 1]},{K[0, 2]},{K[1, 2]}"


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def test_predict_photo_with_K_and_bbox(samples, tiny_checkpoint, tmp_path, capsys):
    photo, bbox, K = write_photo(samples, tmp_path / "in")
    out = tmp_path / "out"
    rc = main(["predict", str(photo), "--checkpoint", str(tiny_checkpoint), "--bbox", bbox, "--K", K,
               "--out", str(out), "--no-progress"])
    assert rc == 0
    h, w = samples[0][0].image.shape[:2]
    assert png_size(out / "photo0_overlay.png") == (w, h)
    assert png_size(out / "photo0_3d.png") == (480, 480)
    assert png_size(out / "photo0_crop.png") == (S, S)
    rec = json.loads((out / "photo0.json").read_text())
    assert json.loads((out / "predict_args.json").read_text())["bbox"] == bbox
    assert len(rec["joint_names"]) == 21 and rec["joint_names"][12] == "middle_mcp"
    uv = np.array(rec["uv_px"])
    assert uv.shape == (21, 2) and (uv >= 0).all() and (uv[:, 0] < w).all() and (uv[:, 1] < h).all()
    assert rec["assumed_scale"] == {**rec["assumed_scale"], "bone_mm": 35.0, "scale_mm": 70.0}
    # consistency of the record, worked out from its own parts
    R = np.array(rec["crop"]["viewpoint_R"])
    Kmat = np.array(rec["camera"]["K"])
    ray = np.linalg.solve(Kmat, [*rec["crop"]["center"], 1.0])
    np.testing.assert_allclose(np.cross(R @ ray, [0, 0, 1]), 0, atol=1e-5)  # R_vc turns the box ray onto +z
    p = np.array(rec["pose_normalised"])
    np.testing.assert_allclose(rec["joints_rel_mm"], (p - p[12]) * 70.0 @ R, atol=0.01)
    cam = np.array(rec["camera"]["joints_cam_mm"])
    assert (cam[:, 2] > 0).all()
    proj = cam @ Kmat.T
    np.testing.assert_allclose(proj[:, :2] / proj[:, 2:], uv, atol=0.01)
    np.testing.assert_allclose(cam - cam[12], rec["joints_rel_mm"], atol=0.01)


def test_whole_image_is_the_crop(samples, tiny_checkpoint, tmp_path):
    """A photo that already is a crop goes to the network unchanged; the pose is the model's (one pass with
    ``--tta-deg 0``; by default the mean of the crop's and its +-30 degree rolls', handvae.models.tta)."""
    from handvae.models.load import load_model
    from handvae.models.tta import predict_pose_tta

    _, arrays = samples
    crop = np.array(arrays["image"][1])
    photo = tmp_path / "crop.png"
    Image.fromarray(crop).save(photo)
    assert main(["predict", str(photo), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "o"),
                 "--no-progress", "--bone-mm", "40", "--tta-deg", "0"]) == 0
    with Image.open(tmp_path / "o" / "crop_crop.png") as im:
        np.testing.assert_array_equal(np.asarray(im), crop)
    model, _, _ = load_model(tiny_checkpoint)
    with torch.no_grad():
        want = model.predict_pose(torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255)[0].numpy()
    rec = json.loads((tmp_path / "o" / "crop.json").read_text())
    np.testing.assert_allclose(rec["pose_normalised"], want, atol=1e-5)
    np.testing.assert_allclose(rec["joints_rel_mm"], (want - want[12]) * 80.0, atol=0.01)  # crop frame, no K
    uv = np.array(rec["uv_px"])
    assert "camera" not in rec and (uv >= 0).all() and (uv < S).all() and rec["tta_deg"] == 0.0
    assert main(["predict", str(photo), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "t"),
                 "--no-progress"]) == 0
    rec = json.loads((tmp_path / "t" / "crop.json").read_text())
    with torch.no_grad():
        tta = predict_pose_tta(model, torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255, 30.0)[0].numpy()
    assert rec["tta_deg"] == 30.0 and np.abs(tta - want).max() > 1e-4
    np.testing.assert_allclose(rec["pose_normalised"], tta, atol=1e-5)


def test_batch_goes_on_past_a_bad_image(samples, tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "batch"
    write_photo(samples, folder, 0)
    write_photo(samples, folder, 1)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG signature, then garbage
    (folder / "notes.txt").write_text("not an image, and not taken for one")
    text = tmp_path / "text.jpg"
    text.write_text("hello")
    out = tmp_path / "out"
    rc = main(["predict", str(folder), str(text), "--checkpoint", str(tiny_checkpoint), "--out", str(out),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "2 of 4 image(s) failed" in err and "broken.png" in err and "text.jpg" in err and "notes.txt" not in err
    for name in ("photo0", "photo1"):
        assert (out / f"{name}.json").is_file() and (out / f"{name}_overlay.png").stat().st_size > 0
    assert not (out / "broken.json").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--bbox", "1,2,3"], "--bbox '1,2,3'"),
        (["--bbox", "1,2,-3,4"], "width and height must be positive"),
        (["--K", "a,b,c,d"], "--K 'a,b,c,d'"),
        (["--K", "0,100,50,50"], "focal lengths must be positive"),
        (["--bone-mm", "-3"], "--bone-mm"),
        (["--tta-deg", "-5"], "--tta-deg -5.0: expected degrees between 0 (off) and 90"),
    ],
)
def test_bad_options(samples, tiny_checkpoint, tmp_path, capsys, extra, needle):
    photo, _, _ = write_photo(samples, tmp_path)
    rc = main(["predict", str(photo), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "o"), *extra])
    assert rc == 2 and needle in capsys.readouterr().err


def test_bbox_outside_the_image(samples, tiny_checkpoint, tmp_path, capsys):
    photo, _, _ = write_photo(samples, tmp_path)
    rc = main(["predict", str(photo), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "o"),
               "--bbox", "80,80,40,40", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and str(photo) in err and "lies outside the 96x96 image" in err


def test_missing_image(tiny_checkpoint, tmp_path, capsys):
    rc = main(["predict", str(tmp_path / "nope.png"), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path)])
    assert rc == 2 and "nope.png: no such image file or folder" in capsys.readouterr().err


@pytest.mark.parametrize(("kind", "needle"), [("png", "expected a .safetensors checkpoint"),
                                              ("junk", "not a readable safetensors file"),
                                              ("other", "weights do not fit strategy S1")])
def test_wrong_checkpoint(samples, tiny_checkpoint, tmp_path, capsys, kind, needle):
    photo, _, _ = write_photo(samples, tmp_path)
    ckpt = foreign_checkpoints(tiny_checkpoint, tmp_path / "ck")[kind]
    rc = main(["predict", str(photo), "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and str(ckpt) in err and needle in err


def test_a_left_hand_is_predicted_as_the_mirror_image_of_its_right_hand(samples, tiny_run, tmp_path):
    """A model trained on right hands (left ones mirrored) sees ``--hand left`` photos mirrored back.

    The mirror photo of a hand, said to be a left hand, must give the mirror image of what the
    original photo gives as a right hand: pose x negated, image columns u -> W - 1 - u, camera x negated.
    """
    raws, _ = samples
    photo, bbox, K = write_photo(samples, tmp_path / "right", 0)
    image = raws[0].image
    width = image.shape[1]
    left = tmp_path / "left" / "photo0.png"
    left.parent.mkdir()
    Image.fromarray(np.ascontiguousarray(image[:, ::-1])).save(left)
    x, y, w, h = (float(v) for v in bbox.split(","))
    fx, fy, cx, cy = (float(v) for v in K.split(","))
    bbox_m = f"{width - x - w},{y},{w},{h}"
    K_m = f"{fx},{fy},{width - 1 - cx},{cy}"
    assert main(["predict", str(photo), "--checkpoint", str(tiny_run), "--out", str(tmp_path / "o_r"),
                 "--bbox", bbox, "--K", K, "--no-progress"]) == 0
    assert main(["predict", str(left), "--checkpoint", str(tiny_run), "--out", str(tmp_path / "o_l"),
                 "--bbox", bbox_m, "--K", K_m, "--hand", "left", "--no-progress"]) == 0
    right = json.loads((tmp_path / "o_r" / "photo0.json").read_text())
    mirror = json.loads((tmp_path / "o_l" / "photo0.json").read_text())
    assert right["model"]["trained_hands"] == "right" and mirror["mirrored_for_model"] is True
    flip = np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(np.array(mirror["pose_normalised"]), np.array(right["pose_normalised"]) * flip,
                               atol=2e-5)
    uv_r, uv_m = np.array(right["uv_px"]), np.array(mirror["uv_px"])
    np.testing.assert_allclose(uv_m[:, 0], width - 1 - uv_r[:, 0], atol=0.02)
    np.testing.assert_allclose(uv_m[:, 1], uv_r[:, 1], atol=0.02)
    np.testing.assert_allclose(np.array(mirror["camera"]["joints_cam_mm"]),
                               np.array(right["camera"]["joints_cam_mm"]) * flip, atol=0.05)


def test_predict_writes_the_cached_training_crop(samples, tiny_checkpoint, tmp_path):
    """``predict --bbox --K`` with the mask's tight box writes, pixel for pixel, the crop prepare cached.

    The box is made as prepare makes it (``box_from_mask``, margin 1.25: centre ``(u0 + u1) / 2``,
    half ``longer side / 2 * margin``), and the crop runs with the default ``max_downsample``. Sample 2
    is a right hand; sample 0 a left hand, whose photo is the mirrored one prepare cropped (``samples``).
    """
    from handvae.data.crop import box_from_mask

    raws, arrays = samples
    assert not arrays["mirrored"][2] and arrays["mirrored"][0]
    for i in (2, 0):
        photo, bbox, K = write_photo(samples, tmp_path / "in", i)
        out = tmp_path / f"out{i}"
        assert main(["predict", str(photo), "--checkpoint", str(tiny_checkpoint), "--bbox", bbox, "--K", K,
                     "--out", str(out), "--no-progress"]) == 0
        with Image.open(out / f"photo{i}_crop.png") as im:
            np.testing.assert_array_equal(np.asarray(im), np.asarray(arrays["image"][i]))
        # why they agree: the CLI box is the mask's tight box, so crop_box gives box_from_mask's box exactly ...
        x, y, w, h = (float(v) for v in bbox.split(","))
        height, width = raws[i].image.shape[:2]
        u_c, v_c, half = box_from_mask(raws[i].mask, 1.25)
        assert crop_box((x, y, w, h), width, height, 1.25) == (u_c, v_c, half)
        rec = json.loads((out / f"photo{i}.json").read_text())
        np.testing.assert_allclose([*rec["crop"]["center"], rec["crop"]["half"]], [u_c, v_c, half], atol=0.005)
        np.testing.assert_allclose(arrays["box"][i], [u_c - half, v_c - half, u_c + half, v_c + half])
        # ... and the box is small enough that the default prefilter (max_downsample 3) does not engage
        assert 2.0 * half / S < 3.0
