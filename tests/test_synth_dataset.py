"""`handvae synth`: RHD/STB files on disk, determinism across worker counts, safe writing."""

import filecmp
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from handvae.cli import main
from handvae.data.formats import STB_SK_COLOR_K, decode_rhd_depth, decode_stb_depth, stb_depth_to_color_frame
from handvae.errors import UserError
from handvae.skeleton import stb_to_rhd
from handvae.synth import generate


class _NumpyOnly(pickle.Unpickler):
    """What a careful reader allows: numpy arrays and dtypes, nothing else."""

    ok = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module, name):
        if (module, name) not in self.ok:
            raise pickle.UnpicklingError(f"{module}.{name} not allowed")
        return super().find_class(module, name)


def _load(path):
    with open(path, "rb") as fh:
        return _NumpyOnly(fh).load()


@pytest.fixture(scope="module")
def rhd(tmp_path_factory):
    root = tmp_path_factory.mktemp("rhd") / "RHD_published_v2"
    assert main(["synth", "--out", str(root), "--train", "5", "--test", "3", "--seed", "7", "--size", "96",
                 "--quiet"]) == 0  # fmt: skip
    return root


def _files(root: Path):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_rhd_layout_and_pickle_types(rhd):
    for split, n in (("training", 5), ("evaluation", 3)):
        anno = _load(rhd / split / f"anno_{split}.pickle")
        assert sorted(anno) == list(range(n)) and all(type(k) is int for k in anno)
        for i, rec in anno.items():
            assert set(rec) == {"xyz", "uv_vis", "K"}
            assert rec["xyz"].shape == (42, 3) and rec["xyz"].dtype == np.float32
            assert rec["uv_vis"].shape == (42, 3) and rec["uv_vis"].dtype == np.float32
            assert rec["K"].shape == (3, 3) and rec["K"].dtype == np.float32
            assert set(np.unique(rec["uv_vis"][:, 2])) <= {0.0, 1.0}
            color = np.asarray(Image.open(rhd / split / "color" / f"{i:05d}.png"))
            depth = np.asarray(Image.open(rhd / split / "depth" / f"{i:05d}.png"))
            mask = np.asarray(Image.open(rhd / split / "mask" / f"{i:05d}.png"))
            assert color.shape == (96, 96, 3) and color.dtype == np.uint8
            assert depth.shape == (96, 96, 3) and mask.shape == (96, 96) and mask.max() <= 33
            # keypoints are the projections of the 3D joints (metres) with K
            xyz, K = rec["xyz"].astype(np.float64), rec["K"].astype(np.float64)
            uv = (xyz / xyz[:, 2:]) @ K.T
            assert np.all(np.abs(uv[:, :2] - rec["uv_vis"][:, :2]) < 0.5)
            # depth PNG at visible joints: the surface, a finger's thickness in front of the joint
            d = decode_rhd_depth(depth)
            for j in np.nonzero(rec["uv_vis"][:, 2] == 1)[0]:
                u, v = np.rint(rec["uv_vis"][j, :2]).astype(int)
                assert 0.0 <= xyz[j, 2] - d[v, u] <= 0.045 + 1e-4  # <= the thickest radius (forearm)
                side = (2, 17) if j < 21 else (18, 33)
                assert side[0] <= mask[v, u] <= side[1] or (j % 21 == 0 and mask[v, u] == 1)
    assert (rhd / "synth_config.yaml").is_file()


def test_same_seed_is_byte_identical_for_any_worker_count(rhd, tmp_path):
    other = tmp_path / "again"
    generate.generate_dataset("rhd", other, 5, 3, seed=7, workers=2, size=96)
    assert _files(rhd) == _files(other)
    for rel in _files(rhd):
        assert filecmp.cmp(rhd / rel, other / rel, shallow=False), rel


def test_no_overwrite_without_flag(rhd, capsys):
    before = {rel: (rhd / rel).read_bytes() for rel in _files(rhd)}
    assert main(["synth", "--out", str(rhd), "--train", "1", "--test", "0", "--quiet", "--size", "64"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert {rel: (rhd / rel).read_bytes() for rel in _files(rhd)} == before


def test_overwrite_replaces(tmp_path):
    out = tmp_path / "ds"
    generate.generate_dataset("rhd", out, 2, 1, seed=1, size=48)
    generate.generate_dataset("rhd", out, 1, 1, seed=2, size=48, overwrite=True)
    assert len(_load(out / "training" / "anno_training.pickle")) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_interrupted_generation_leaves_nothing_complete(tmp_path, monkeypatch):
    real = generate.make_sample
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(generate, "make_sample", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate.generate_dataset("rhd", tmp_path / "ds", 6, 2, seed=0, size=48)
    assert list(tmp_path.iterdir()) == []
    # an existing dataset survives an interrupted --overwrite
    monkeypatch.setattr(generate, "make_sample", real)
    generate.generate_dataset("rhd", tmp_path / "ds", 1, 1, seed=0, size=48)
    before = (tmp_path / "ds" / "training" / "anno_training.pickle").read_bytes()
    calls["n"] = 0
    monkeypatch.setattr(generate, "make_sample", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate.generate_dataset("rhd", tmp_path / "ds", 6, 2, seed=1, size=48, overwrite=True)
    assert (tmp_path / "ds" / "training" / "anno_training.pickle").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_bad_input_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        generate.generate_dataset("rhd", tmp_path / "file", 1, 1)
    with pytest.raises(UserError, match="--workers"):
        generate.generate_dataset("rhd", tmp_path / "x", 1, 1, workers=0)
    assert main(["synth", "--train", "1"]) == 2


def test_stb_layout_mat_round_trip_and_frames(tmp_path):
    root = tmp_path / "STB"
    assert main(["synth", "--format", "stb", "--out", str(root), "--train", "3", "--test", "2", "--seed", "4",
                 "--quiet", "--workers", "2"]) == 0  # fmt: skip
    mats = sorted(p.name for p in (root / "labels").iterdir())
    assert mats == ["B1Counting_SK.mat", "B1Random_SK.mat", "B2Counting_SK.mat", "B2Random_SK.mat",
                    "B3Counting_SK.mat"]  # fmt: skip
    close = total = 0
    for mat in mats:
        seq = mat[: -len("_SK.mat")]
        para = scipy.io.loadmat(root / "labels" / mat)["handPara"]
        assert para.dtype == np.float64 and para.shape == (3, 21, 1)
        color = np.asarray(Image.open(root / "images" / seq / "SK_color_0.png"))
        assert color.shape == (480, 640, 3)
        depth = decode_stb_depth(np.asarray(Image.open(root / "images" / seq / "SK_depth_0.png")))
        # reader's path: depth-camera frame -> colour frame, STB order -> RHD order with a wrist
        xyz = stb_to_rhd(stb_depth_to_color_frame(para[:, :, 0].T))
        assert 70 < np.linalg.norm(xyz[12] - xyz[0]) < 115  # wrist -> middle MCP, any identity
        assert 20 < np.linalg.norm(xyz[4] - xyz[0]) < 50  # wrist -> thumb base (RHD: 40 mm)
        uv = (xyz / xyz[:, 2:]) @ STB_SK_COLOR_K.T
        for j in range(21):
            u, v = np.rint(uv[j, :2]).astype(int)
            if 0 <= u < 640 and 0 <= v < 480:
                total += 1
                close += abs(depth[v, u] - xyz[j, 2]) <= 30  # on the hand's surface
    assert close >= 0.5 * total and total > 40
    assert main(["synth", "--format", "stb", "--out", str(root), "--train", "1", "--test", "0", "--quiet"]) == 2


def test_preview_contact_sheet(tmp_path):
    out = tmp_path / "sheet.png"
    assert main(["synth", "--preview", str(out), "--preview-count", "2", "--size", "64"]) == 0
    img = np.asarray(Image.open(out))
    assert img.ndim == 3 and img.shape[1] == 4 * 200 and img.shape[0] >= 2 * 200
