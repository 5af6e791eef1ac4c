"""On-device batches: augmentation consistency, heatmaps, presence masks, order, resume, sharding."""

import math

import numpy as np
import pytest
import torch

from _data_fixtures import write_rhd
from handvae.data import augment as aug
from handvae.data.batches import BatchLoader, assemble
from handvae.data.cache import open_split
from handvae.data.prepare import PrepareConfig, prepare
from handvae.errors import UserError

S = 64


def _camera_batch(b=3, seed=0):
    """Hand-built crops: joints y (mm) in the crop camera's frame, K_c, and what the cache would hold."""
    g = np.random.default_rng(seed)
    f, c = 80.0, (S - 1) / 2
    y = g.normal(size=(b, 21, 3)) * [25, 25, 10] + [0, 0, 500]
    uv = f * y[..., :2] / y[..., 2:] + c
    cen = y.mean(1) + g.normal(size=(b, 3))
    scale = np.full(b, 40.0)
    pose = (y - cen[:, None]) / scale[:, None, None]
    raw = {
        "image": torch.zeros(b, S, S, 3, dtype=torch.uint8),
        "pose": torch.tensor(pose, dtype=torch.float32),
        "cloud": torch.tensor(g.normal(size=(b, 50, 3)), dtype=torch.float32),
        "has_cloud": torch.ones(b, dtype=torch.bool),
        "uv": torch.tensor(uv, dtype=torch.float32),
        "centroid_mm": torch.tensor(cen, dtype=torch.float32),
        "scale_mm": torch.tensor(scale, dtype=torch.float32),
        "R_vc": torch.eye(3).expand(b, 3, 3).clone(),
    }
    return raw, f, c, cen


def _params(b):
    return {
        "scale": torch.tensor([1.0, 1.1, 1.2])[:b],
        "shift": torch.tensor([[0.0, 0.0], [3.0, -2.0], [-4.5, 1.0]])[:b],
        "angle": torch.tensor([0.7, -2.5, math.pi])[:b],
        "hue": torch.zeros(b),
    }


def _soft_argmax(h):
    """(..., n, n) -> (..., 2) [x, y] weighted centre."""
    n = h.shape[-1]
    grid = torch.arange(n, dtype=h.dtype)
    w = h.sum((-1, -2))
    return torch.stack([(h.sum(-2) * grid).sum(-1) / w, (h.sum(-1) * grid).sum(-1) / w], -1)


def test_rotation_keeps_2d_keypoints_pose_and_cloud_consistent():
    raw, f, c, cen = _camera_batch()
    params = _params(3)
    batch = assemble(raw, torch.arange(3), "CHP", S, n_points=50, heatmap_size=S, heatmap_sigma=1.5, params=params)
    for i in range(3):
        th, s = float(params["angle"][i]), float(params["scale"][i])
        tx, ty = params["shift"][i].tolist()
        Rz = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
        # the rotated 3D pose, back in mm about the rotated centroid, seen by the zoomed/shifted camera
        P = batch["P"][i].double().numpy()
        assert np.allclose(P, raw["pose"][i].double().numpy() @ Rz.T, atol=1e-6)
        y_rot = P * 40.0 + Rz @ cen[i]
        K_aug = np.array([[s * f, 0, c + tx], [0, s * f, c + ty], [0, 0, 1]])
        proj = y_rot @ K_aug.T
        proj = proj[:, :2] / proj[:, 2:]
        uv_aug = aug.transform_points_2d(raw["uv"][i : i + 1].double(), {k: v[i : i + 1].double() for k, v in
                                                                          params.items()}, S)[0].numpy()
        assert np.allclose(proj, uv_aug, atol=1e-4)
        inside = ((proj > 6) & (proj < S - 7)).all(1)
        assert inside.sum() >= 5
        assert np.allclose(_soft_argmax(batch["H"][i].double())[inside].numpy(), proj[inside], atol=0.02)
        # the cloud turns with the pose, and R_vc carries the rotation so that mm mapping still holds
        assert np.allclose(batch["C"][i].numpy(), raw["cloud"][i].numpy() @ Rz.T, atol=1e-5)
        assert np.allclose(batch["R_vc"][i].numpy(), Rz, atol=1e-6)


def test_image_warp_moves_content_with_the_keypoints():
    b = 3
    uv = torch.tensor([[[20.0, 25.0]], [[40.0, 30.0]], [[31.0, 45.0]]])
    yy, xx = torch.meshgrid(torch.arange(S, dtype=torch.float32), torch.arange(S, dtype=torch.float32), indexing="ij")
    blobs = torch.exp(-((xx - uv[:, :, 0, None, None]) ** 2 + (yy - uv[:, :, 1, None, None]) ** 2) / (2 * 2.0**2))
    img = (blobs[:, 0, :, :, None].expand(b, S, S, 3) * 255).round().to(torch.uint8)
    raw = {"image": img, "uv": uv, "centroid_mm": torch.zeros(b, 3), "scale_mm": torch.ones(b),
           "R_vc": torch.eye(3).expand(b, 3, 3)}
    params = _params(b)
    batch = assemble(raw, torch.arange(b), "R", S, params=params)
    want = aug.transform_points_2d(uv, params, S)[:, 0]
    got = _soft_argmax(batch["R"][:, 0].double())
    assert torch.allclose(got, want.double(), atol=0.15)


def test_depth_warp_pads_with_the_background_not_with_zero():
    """A constant depth 0.5 turned by 0.7 rad: the corners see beyond the crop (background 1), the middle
    still sees 0.5. Corner (0, 0) is (-15.5, -15.5) px from the centre; turned back by 0.7 rad it is
    15.5 (cos 0.7 + sin 0.7) = 21.8 px left of it, outside the 32 px crop."""
    raw = {"depth": torch.full((1, 32, 32), 0.5), "uv": torch.zeros(1, 21, 2), "centroid_mm": torch.zeros(1, 3),
           "scale_mm": torch.ones(1), "R_vc": torch.eye(3)[None]}
    params = {"scale": torch.ones(1), "shift": torch.zeros(1, 2), "angle": torch.tensor([0.7]), "hue": torch.zeros(1)}
    d = assemble(raw, torch.arange(1), "D", 32, params=params)["D"][0, 0]
    assert 15.5 * (math.cos(0.7) + math.sin(0.7)) > 15.5 + 1
    for corner in (d[0, 0], d[0, -1], d[-1, 0], d[-1, -1]):
        assert float(corner) == 1.0
    torch.testing.assert_close(d[12:20, 12:20], torch.full((8, 8), 0.5))


def test_heatmap_maxima_at_keypoints():
    uv = torch.tensor([[[10.0, 20.0], [63.0, 0.0], [33.0, 41.0]]])  # crop px, crop 128 -> heatmap 64
    h = aug.heatmaps(uv, crop_size=128, size=64, sigma=2.0)
    assert h.shape == (1, 3, 64, 64) and float(h.max()) <= 1.0
    for j, (u, v) in enumerate(uv[0].tolist()):
        hu, hv = (u + 0.5) * 0.5 - 0.5, (v + 0.5) * 0.5 - 0.5  # 4.75, 9.75 etc.
        iy, ix = divmod(int(h[0, j].argmax()), 64)
        assert (ix, iy) in {(math.floor(hu), math.floor(hv)), (math.ceil(hu), math.ceil(hv)),
                            (math.floor(hu), math.ceil(hv)), (math.ceil(hu), math.floor(hv))}
        # value at a grid point by the formula
        assert float(h[0, j, iy, ix]) == pytest.approx(math.exp(-((ix - hu) ** 2 + (iy - hv) ** 2) / 8), rel=1e-5)
    h2 = aug.heatmaps(torch.tensor([[[12.0, 30.0]]]), crop_size=64, size=64, sigma=2.0)
    assert int(h2[0, 0].argmax()) == 30 * 64 + 12 and float(h2.max()) == pytest.approx(1.0)


def test_augmentation_parameters_fill_the_documented_ranges():
    """scale in [1, 1.2], shift within +-20 px at S = 256 scaled with S (+-5 px at 64), angle within +-pi,
    hue within +-0.1: 4096 draws reach each end and never pass it."""
    g = torch.Generator().manual_seed(0)
    p = aug.sample_params(4096, 64, aug.AugmentConfig(), g, "cpu")
    for values, lo, hi in ((p["scale"], 1.0, 1.2), (p["shift"], -5.0, 5.0), (p["angle"], -math.pi, math.pi),
                           (p["hue"], -0.1, 0.1)):
        span = hi - lo
        assert lo <= float(values.min()) < lo + 0.01 * span and hi - 0.01 * span < float(values.max()) <= hi
    assert abs(float(torch.corrcoef(p["shift"].T)[0, 1])) < 0.1  # x and y shifts drawn independently
    # point subsets: n distinct indices per sample, a different subset per sample; the first n without a generator
    pick = aug.random_subsets(50, 16, 3, g, "cpu")
    assert all(len(set(row.tolist())) == 16 and 0 <= min(row) and max(row) < 50 for row in pick)
    assert not torch.equal(pick[0].sort().values, pick[1].sort().values)
    assert torch.equal(aug.random_subsets(50, 16, 2, None, "cpu"), torch.arange(16).expand(2, 16))


def test_hue_shift_keeps_grey_and_luma():
    pixels = torch.tensor([[0.5, 0.5, 0.5], [0.6, 0.4, 0.45]])  # a grey and a reddish pixel
    rgb = pixels.T.reshape(1, 3, 1, 2).repeat(2, 1, 1, 1)
    out = aug.hue_shift(rgb.clone(), torch.tensor([0.0, 0.1]))
    assert torch.allclose(out[0], rgb[0], atol=1e-6) and torch.allclose(out[1, :, 0, 0], rgb[1, :, 0, 0], atol=1e-6)
    luma = torch.tensor([0.299, 0.587, 0.114])
    assert float(luma @ out[1, :, 0, 1]) == pytest.approx(float(luma @ rgb[1, :, 0, 1]), abs=1e-5)
    assert not torch.allclose(out[1, :, 0, 1], rgb[1, :, 0, 1], atol=1e-3)
    # half the hue circle negates the chroma (I, Q): rgb -> 2 Y - rgb, as grey (Y, Y, Y) has I = Q = 0
    y = float(luma @ pixels[1])  # 0.4655
    half = aug.hue_shift(rgb[:1].clone(), torch.tensor([0.5]))
    torch.testing.assert_close(half[0, :, 0, 1], 2 * y - pixels[1], rtol=0, atol=1e-5)
    # a whole turn is no change, and a shift is undone by the opposite one (nothing clamped here)
    torch.testing.assert_close(aug.hue_shift(rgb[:1].clone(), torch.tensor([1.0])), rgb[:1], rtol=0, atol=1e-5)
    back = aug.hue_shift(aug.hue_shift(rgb[1:].clone(), torch.tensor([0.1])), torch.tensor([-0.1]))
    torch.testing.assert_close(back, rgb[1:], rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = write_rhd(tmp_path_factory.mktemp("rhd"), n=5)
    out = tmp_path_factory.mktemp("cache")
    return prepare(PrepareConfig("rhd", str(root), size=32, points=64), out, progress=False)


def _loader(split, **kw):
    args = dict(batch_size=2, seed=7, modalities="RDCHP", n_points=16, heatmap_size=16,
                augment=aug.AugmentConfig(), on_device="always")
    args.update(kw)
    return BatchLoader(split, **args)


def test_batches_follow_the_convention(split):
    loader = _loader(split, labelled_fraction=0.4, weak_batches="mixed")
    assert len(loader) == 2  # 5 samples, batch 2, drop_last for training
    batches = list(loader)
    assert loader.epoch == 1 and loader.position == 0
    b = batches[0]
    assert b["R"].shape == (2, 3, 32, 32) and b["R"].dtype == torch.float32 and 0 <= b["R"].min() <= b["R"].max() <= 1
    assert b["D"].shape == (2, 1, 32, 32) and b["C"].shape == (2, 16, 3) and b["H"].shape == (2, 21, 16, 16)
    assert b["P"].shape == (2, 21, 3) and b["R_vc"].shape == (2, 3, 3) and b["index"].dtype == torch.long
    assert set(b["present"]) == set("RDCHP")
    idx = torch.cat([x["index"] for x in batches])
    labelled = torch.cat([x["present"]["P"] for x in batches])
    assert torch.equal(labelled, idx < 2)  # first round(0.4 * 5) = 2 samples keep P
    # without augmentation a batch is the cache itself
    ev = next(iter(_loader(split, train=False, augment=None, batch_size=5)))
    a = open_split(split)
    assert torch.allclose(ev["P"], torch.from_numpy(np.array(a["pose"])))
    assert torch.allclose(ev["R"], torch.from_numpy(np.array(a["image"])).permute(0, 3, 1, 2) / 255.0)
    assert torch.equal(ev["C"], torch.from_numpy(np.array(a["cloud"][:, :16])))
    # depth as cached (background 1), heatmaps by the formula on the cached keypoints, geometry as cached
    np.testing.assert_allclose(ev["D"][:, 0].numpy(), np.asarray(a["depth"], np.float32), rtol=0, atol=1e-6)
    p = (np.asarray(a["uv"], np.float64) + 0.5) * 16 / 32 - 0.5  # crop px -> heatmap px (16 of 32)
    yy, xx = np.mgrid[0:16, 0:16]
    want_h = np.exp(-((xx - p[..., 0, None, None]) ** 2 + (yy - p[..., 1, None, None]) ** 2) / (2 * 2.0**2))
    np.testing.assert_allclose(ev["H"].numpy(), want_h, rtol=1e-5, atol=1e-6)
    for key in ("R_vc", "scale_mm", "centroid_mm"):
        assert torch.equal(ev[key], torch.from_numpy(np.array(a[key]))), key
    assert torch.equal(ev["present"]["C"], torch.from_numpy(np.array(a["has_cloud"])))


def _same(b1, b2):
    return all(torch.equal(b1[k], b2[k]) for k in ("R", "D", "C", "H", "P", "R_vc", "index"))


def test_reproducible_resume_and_streaming(split):
    first = list(_loader(split))
    again = _loader(split)
    assert all(_same(x, y) for x, y in zip(first, list(again)))
    assert not _same(first[0], next(iter(again)))  # epoch 1 differs from epoch 0
    resumed = _loader(split)
    it = iter(resumed)
    next(it)
    state = resumed.state_dict()
    fresh = _loader(split)
    fresh.load_state_dict(state)
    assert state["position"] == 1 and _same(next(iter(fresh)), first[1])
    streamed = _loader(split, on_device="never")
    assert not streamed.resident and all(_same(x, y) for x, y in zip(first, list(streamed)))


def test_paired_weak_batches_give_every_step_a_labelled_batch_and_an_unlabelled_one(split):
    loader = _loader(split, labelled_fraction=0.4, batch_size=1)  # 2 labelled samples (0, 1), 3 unlabelled
    assert loader.paired and len(loader) == 2  # an epoch is one pass over the labelled part
    supervised = _loader(split, max_samples=2, batch_size=1)  # the supervised run on the labelled part alone
    for epoch in range(3):
        batches = list(loader)
        idx = torch.stack([x["index"] for x in batches])  # (steps, 2): labelled, then unlabelled
        assert idx[:, 0].tolist() == supervised.indices(epoch).tolist()  # the same order as that run's
        assert set(idx[:, 1].tolist()) <= {2, 3, 4} and len(set(idx[:, 1].tolist())) == 2  # no repeat within
        assert all(x["present"]["P"].tolist() == [True, False] for x in batches)
        assert all(x["present"]["H"].tolist() == [True, False] for x in batches)  # heatmaps are pose labels too
        assert all(x["R"].shape[0] == 2 for x in batches)
    short = _loader(split, labelled_fraction=0.8, batch_size=2)  # 4 labelled, 1 unlabelled: it repeats
    assert [x["index"][2:].tolist() for x in short] == [[4, 4], [4, 4]]
    # exact resume in the middle of an epoch
    first = list(_loader(split, labelled_fraction=0.4, batch_size=1))
    it = iter(resumed := _loader(split, labelled_fraction=0.4, batch_size=1))
    next(it)
    fresh = _loader(split, labelled_fraction=0.4, batch_size=1)
    fresh.load_state_dict(resumed.state_dict())
    assert _same(next(iter(fresh)), first[1])
    with pytest.raises(UserError, match="1 labelled samples, fewer than a batch of 2"):
        _loader(split, labelled_fraction=0.2, batch_size=2)
    with pytest.raises(UserError, match="weak_batches must be paired or mixed"):
        _loader(split, labelled_fraction=0.4, weak_batches="half")
    assert not _loader(split, labelled_fraction=1.0).paired  # nothing unlabelled: one batch as before
    with pytest.raises(UserError, match="needs drop_last"):
        _loader(split, labelled_fraction=0.4, batch_size=1, drop_last=False)


def test_paired_batches_across_ranks_and_epochs(split):
    ranks = [_loader(split, labelled_fraction=0.4, batch_size=1, world_size=2, rank=r) for r in range(2)]
    alone = [_loader(split, max_samples=2, batch_size=1, world_size=2, rank=r) for r in range(2)]
    unlabelled_orders = set()
    for epoch in range(4):
        cols = [ld.indices(epoch).view(-1, 2) for ld in ranks]  # one step per rank: 1 labelled, 1 unlabelled
        for r in range(2):
            assert cols[r][:, 0].tolist() == alone[r].indices(epoch).tolist()  # each rank as the supervised run's
        assert sorted(cols[0][:, 0].tolist() + cols[1][:, 0].tolist()) == [0, 1]  # the ranks share the labelled
        assert all(2 <= i <= 4 for c in cols for i in c[:, 1].tolist())
        unlabelled_orders.add(tuple(c[0, 1].item() for c in cols))
    assert len(unlabelled_orders) > 1  # the unlabelled part is drawn anew each epoch


def test_a_held_out_tail_keeps_its_labels(split):
    tail = _loader(split, start=3, train=False, augment=None, batch_size=2)  # samples 3 and 4, all labelled
    b = next(iter(tail))
    assert b["index"].tolist() == [3, 4] and b["present"]["P"].all() and b["present"]["H"].all()


def test_check_same_draw_names_a_run_that_drew_other_samples():
    from handvae.checkpoint import check_same_draw
    from handvae.schema import Config, DataConfig

    weak = Config(data=DataConfig(labelled_fraction=0.4))  # paired by default
    check_same_draw({"data": {"labelled_fraction": 0.4, "weak_batches": "paired"}}, weak, "run")
    check_same_draw({"data": {"labelled_fraction": 1.0}}, Config(), "run")  # all labelled: weak_batches moot
    check_same_draw({}, Config(), "run")  # a config saved with every key at its default
    with pytest.raises(UserError, match=r"run: trained with data\.weak_batches=mixed, now paired"):
        check_same_draw({"data": {"labelled_fraction": 0.4}}, weak, "run")  # saved before the option existed
    with pytest.raises(UserError, match=r"data\.max_samples=500, now 475"):
        check_same_draw({"data": {"max_samples": 500}}, Config(data=DataConfig(max_samples=475)), "alone")
    with pytest.raises(UserError, match=r"data\.val_split=test, now holdout; data\.labelled_fraction=1\.0, now 0\.4"):
        check_same_draw({"data": {"val_split": "test", "weak_batches": "paired"}}, weak, "run")


def test_rank_sharding_like_distributed_sampler(split):
    ranks = [_loader(split, world_size=2, rank=r, batch_size=1) for r in range(2)]
    idx = [ld.indices() for ld in ranks]
    assert len(idx[0]) == len(idx[1]) == 3  # 5 padded to 6
    assert set(torch.cat(idx).tolist()) == set(range(5))
    g = torch.Generator()
    g.manual_seed(7)
    perm = torch.randperm(5, generator=g).tolist()
    padded = perm + perm[:1]
    assert idx[0].tolist() == padded[0::2] and idx[1].tolist() == padded[1::2]


def test_build_loader_from_data_config(split):
    from handvae.data.batches import build_loader
    from handvae.errors import UserError
    from handvae.schema import DataConfig

    cfg = DataConfig(cache=str(split.parent), crop_size=32, n_points=16, labelled_fraction=0.2, val_split="test",
                     weak_batches="mixed")
    loader = build_loader(cfg, "train", batch_size=2, modalities="RCP")
    b = next(iter(loader))
    assert set(b) == {"R", "C", "P", "present", "scale_mm", "centroid_mm", "R_vc", "index"}
    assert loader.n_labelled == 1 and loader.augment is not None and not loader.paired
    paired = build_loader(DataConfig(cache=str(split.parent), crop_size=32, n_points=16, labelled_fraction=0.4,
                                     val_split="test"), "train", batch_size=2, modalities="RCP")
    assert paired.paired and next(iter(paired))["present"]["P"].tolist() == [True, True, False, False]
    with pytest.raises(UserError, match="crop size 32"):
        build_loader(DataConfig(cache=str(split.parent), n_points=16, val_split="test"), "train", batch_size=2)


def test_stb_stereo_camera_has_no_cloud(tmp_path):
    from _data_fixtures import BB_K, hand_pose, project, stb_centers, write_stb_bb
    from handvae.data.stb import STBReader

    root = write_stb_bb(tmp_path / "stb")
    r = STBReader(root, "train", camera="bb")
    s = r.read(0)
    want = hand_pose(stb_centers(1)[0])
    assert np.allclose(s.xyz, want, atol=1e-6) and not s.has_depth
    u, v = np.rint(project(want, BB_K)).astype(int).T
    assert s.mask[v, u].all()
    out = prepare(PrepareConfig("stb", str(root), camera="bb", size=32, points=16,
                                        mirror="none"), tmp_path / "c", progress=False)
    a = open_split(out)
    assert not a["has_cloud"][0] and np.allclose(a["centroid_mm"][0], want.mean(0), atol=1e-3)
    b = next(iter(BatchLoader(out, batch_size=1, train=False, n_points=16, heatmap_size=16)))
    assert not b["present"]["C"][0] and b["present"]["P"][0]


def _jitter_params(b, brightness=1.0, contrast=1.0, saturation=1.0, gray=0.0):
    full = lambda v: torch.full((b,), float(v))  # noqa: E731
    return {"brightness": full(brightness), "contrast": full(contrast), "saturation": full(saturation),
            "gray": full(gray)}  # fmt: skip


def test_color_jitter_against_hand_formulas():
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(2, 3, 5, 4, generator=g) * 0.6 + 0.1  # away from the clamp
    torch.testing.assert_close(aug.color_jitter(rgb, _jitter_params(2)), rgb)  # all neutral: identity
    torch.testing.assert_close(aug.color_jitter(rgb, _jitter_params(2, brightness=1.3)), rgb * 1.3)
    luma = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]  # (B, H, W), by hand
    gray = aug.color_jitter(rgb, _jitter_params(2, gray=1.0))
    for c in range(3):  # grayscale: every channel is the pixel's luma
        torch.testing.assert_close(gray[:, c], luma)
    flat = aug.color_jitter(rgb, _jitter_params(2, contrast=0.0))
    mean = luma.mean(dim=(1, 2))  # contrast 0: the image collapses to its mean luma, in every channel
    torch.testing.assert_close(flat, mean.view(2, 1, 1, 1).expand_as(rgb))
    sat2 = aug.color_jitter(rgb, _jitter_params(2, saturation=2.0))
    torch.testing.assert_close(sat2, (luma[:, None] + 2.0 * (rgb - luma[:, None])).clamp(0, 1))


def test_color_jitter_is_off_by_default_and_keeps_the_random_stream():
    cfg, cfg_color = aug.AugmentConfig(), aug.AugmentConfig(color=0.4)
    p0 = aug.sample_params(64, 128, cfg, torch.Generator().manual_seed(3), "cpu")
    p1 = aug.sample_params(64, 128, cfg_color, torch.Generator().manual_seed(3), "cpu")
    assert "brightness" not in p0  # the paper's augmentation: geometry and hue only
    for k in p0:  # turning colour on draws after the others: the geometric draws are unchanged
        torch.testing.assert_close(p0[k], p1[k])
    assert p1["brightness"].min() >= 0.6 and p1["brightness"].max() <= 1.4
    assert p1["saturation"].min() >= 0.0 and 0 < p1["gray"].sum() < 64
