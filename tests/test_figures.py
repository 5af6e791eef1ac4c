"""``handvae figures``: qualitative figures of a trained run (on the tiny S4 run of conftest)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from handvae.cli import main

PANEL_PX, HEADER_PX = 200, 40  # 2 in panels and a 0.4 in title band at 100 dpi


def _png_size(path):
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_figures_command_writes_pngs_and_index(tiny_run, tiny_cache, tmp_path, capsys):
    out = tmp_path / "figs"
    rc = main(["figures", str(tiny_run), "--n", "3", "--pairs", "2", "--steps", "4", "--out", str(out), "--seed", "5"])
    assert rc == 0
    recon, interp = out / "reconstructions.png", out / "interpolation.png"
    assert recon.stat().st_size > 0 and interp.stat().st_size > 0
    # 3 samples x 5 columns (RGB, GT pose, pose, GT cloud, cloud)
    assert _png_size(recon) == (5 * PANEL_PX, 3 * PANEL_PX + HEADER_PX)
    # S4 decodes clouds: 2 rows (poses, clouds) per pair; columns: crop a, 4 steps, crop b
    assert _png_size(interp) == (6 * PANEL_PX, 2 * 2 * PANEL_PX + HEADER_PX)
    assert not list(out.glob(".*")), "temporary files left behind"

    index = json.loads((out / "figures.json").read_text())
    assert index["strategy"] == "S4" and index["cloud_decoder"] is True
    assert len(index["samples"]) == 3 and len(set(index["samples"])) == 3
    assert all(0 <= i < 24 for i in index["samples"])  # tiny_cache's test split holds 24
    assert len(index["pairs"]) == 2 and all(a != b for a, b in index["pairs"])
    assert index["steps"] == 4
    np.testing.assert_allclose(index["t"], [0.0, 1 / 3, 2 / 3, 1.0], rtol=0, atol=1e-12)
    assert index["files"] == {"reconstructions": "reconstructions.png", "interpolation": "interpolation.png"}
    assert index["args"]["seed"] == 5
    assert index["data"] == str(tiny_cache)  # the run config's data.cache when --data is not given
    assert str(recon) in capsys.readouterr().out


def test_sample_choice_is_seeded():
    from handvae.eval.figures import choose_samples

    s1, p1 = choose_samples(24, 6, 3, seed=7)
    s2, p2 = choose_samples(24, 6, 3, seed=7)
    s3, _ = choose_samples(24, 6, 3, seed=8)
    assert np.array_equal(s1, s2) and np.array_equal(p1, p2)
    assert not np.array_equal(s1, s3)
    assert len(set(s1.tolist())) == 6 and p1.shape == (3, 2) and (p1[:, 0] != p1[:, 1]).all()
    s, p = choose_samples(4, 10, 0, seed=0)  # more asked than held: all of them, once
    assert sorted(s.tolist()) == [0, 1, 2, 3] and p.shape == (0, 2)


def test_interpolation_endpoints_decode_to_the_input_latents(tiny_run, tiny_cache):
    from handvae.data.cache import open_split
    from handvae.eval.figures import decode_interpolation, interpolate_latents
    from handvae.models.load import load_model

    model, _, _ = load_model(tiny_run)
    images = np.asarray(open_split(tiny_cache / "test", ["image"])["image"][[3, 17]])
    rgb = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        z_a = model.encode_rgb(rgb[:1]).mu[0]  # each image encoded on its own
        z_b = model.encode_rgb(rgb[1:]).mu[0]
        pose_a = model.decode(z_a[None], "P")[0].numpy()
        pose_b = model.decode(z_b[None], "P")[0].numpy()
        cloud_a = model.decode(z_a[None], "C")[0].numpy()
    ts = np.linspace(0.0, 1.0, 5)

    z = interpolate_latents(z_a, z_b, ts)
    assert torch.equal(z[0], z_a) and torch.equal(z[-1], z_b)
    torch.testing.assert_close(z[2], (z_a + z_b) / 2, rtol=0, atol=1e-6)

    out = decode_interpolation(model, z_a, z_b, ts, ("P", "C"))
    assert out["P"].shape == (5, 21, 3) and out["C"].shape[0] == 5
    np.testing.assert_allclose(out["P"][0], pose_a, rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["P"][-1], pose_b, rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["C"][0], cloud_a, rtol=0, atol=1e-5)
    assert np.abs(pose_a - pose_b).max() > 1e-3  # the two ends differ, so the checks above can fail


def test_bad_run_path_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "no_such_run"
    assert main(["figures", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    assert main(["figures", str(empty)]) == 2
    assert str(empty) in capsys.readouterr().err


def test_bad_cache_exits_2_naming_it(tiny_run, tiny_cache, tmp_path, capsys):
    not_a_cache = tmp_path / "not_a_cache"
    (not_a_cache / "test").mkdir(parents=True)
    assert main(["figures", str(tiny_run), "--data", str(not_a_cache), "--out", str(tmp_path / "o")]) == 2
    assert str(not_a_cache / "test") in capsys.readouterr().err

    # a cache of 16 px crops for a model trained on 32 px crops
    other = tmp_path / "small_cache" / "test"
    other.mkdir(parents=True)
    shutil.copy(tiny_cache / "test" / "manifest.json", other / "manifest.json")
    np.save(other / "image.npy", np.zeros((4, 16, 16, 3), np.uint8))
    for name in ("pose", "cloud", "has_cloud"):
        np.save(other / f"{name}.npy", np.load(tiny_cache / "test" / f"{name}.npy")[:4])
    assert main(["figures", str(tiny_run), "--data", str(other.parent), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(other) in err and "16 px" in err and "32 px" in err
    assert not (tmp_path / "o").exists()


def test_reconstruction_grid_without_cloud_decoder_says_so(tmp_path):
    """A strategy without a C decoder (S1): the cloud column holds a note, the figure keeps its size."""
    import matplotlib

    matplotlib.use("Agg")
    from handvae.eval.figures import plot_reconstructions

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    poses = rng.normal(size=(2, 21, 3))
    texts = []
    import matplotlib.figure

    orig = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        texts.extend(t.get_text() for ax in fig.axes for t in ax.texts)
        return orig(fig, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(matplotlib.figure.Figure, "savefig", spy)
        path = plot_reconstructions(tmp_path / "r.png", images, poses, poses + 0.1, [None, rng.normal(size=(64, 3))],
                                    None, ["#0", "#1"], "S1 (R2P, none)")
    assert _png_size(path) == (5 * PANEL_PX, 2 * PANEL_PX + HEADER_PX)
    assert sum("no point-cloud" in t and "S1" in t for t in texts) == 2  # one note per row
    assert sum("no point cloud" in t for t in texts) == 1  # the sample without a GT cloud
