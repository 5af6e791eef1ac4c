"""RHD and STB readers on fixtures written here; the restricted unpickler; bad-input errors."""

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from _data_fixtures import RHD_K, SK_K, STB_R, STB_T, hand_pose, project, rhd_centers, stb_centers, write_rhd, write_stb
from handvae.data.formats import stb_depth_to_color_frame
from handvae.data.raw import SampleError
from handvae.data.rhd import RHDReader, dominant_hand
from handvae.data.safe_pickle import UnsafePickleError, safe_load, safe_loads
from handvae.data.stb import STBReader
from handvae.errors import UserError


@pytest.fixture(scope="module")
def rhd_root(tmp_path_factory):
    return write_rhd(tmp_path_factory.mktemp("rhd"), n=2)


@pytest.fixture(scope="module")
def stb_root(tmp_path_factory):
    return write_stb(tmp_path_factory.mktemp("stb"), n=2)


class _RunsCode:
    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


def test_restricted_unpickler_refuses_code(tmp_path):
    flag = tmp_path / "pwned"
    data = pickle.dumps({0: {"K": np.eye(3)}, 1: _RunsCode(flag)})
    with pytest.raises(UnsafePickleError, match="system"):
        safe_loads(data)
    assert not flag.exists()
    with pytest.raises(UnsafePickleError):
        safe_loads(pickle.dumps(np.array([1, "x"], dtype=object)))
    with pytest.raises(UnsafePickleError):
        safe_loads(pickle.dumps({1, 2}))  # builtins.set is not in the allowed set


def test_restricted_unpickler_reads_rhd_style_annotations(tmp_path):
    anno = {7: {"xyz": np.ones((42, 3), np.float32), "uv_vis": np.zeros((42, 3)), "K": np.eye(3)}}
    for proto in (2, 4, 5):
        path = tmp_path / f"a{proto}.pickle"
        path.write_bytes(pickle.dumps(anno, protocol=proto))
        out = safe_load(path)
        assert set(out) == {7} and out[7]["xyz"].dtype == np.float32 and np.array_equal(out[7]["K"], np.eye(3))


def test_dominant_hand_rule():
    labels = np.zeros((10, 10), np.uint8)
    labels[0:3, 0:3] = 5  # 9 left-hand pixels (labels 2-17)
    labels[5:9, 5:7] = 30  # 8 right-hand pixels (labels 18-33)
    labels[9, 9] = 1  # person, not a hand
    side, mask = dominant_hand(labels)
    assert side == "left" and mask.sum() == 9
    labels[9, 0:2] = 18  # right now has 10
    side, mask = dominant_hand(labels)
    assert side == "right" and mask.sum() == 10 and not mask[0, 0]


def test_rhd_reader(rhd_root):
    r = RHDReader(rhd_root, "train")
    assert len(r) == 2 and r.ids == ["training/00000", "training/00001"]
    s = r.read(1)
    want = hand_pose(rhd_centers(2)[1])
    assert s.side == "right" and s.image.shape == (64, 64, 3)
    assert np.allclose(s.xyz, want, atol=1e-3)  # rows 21-41, metres -> mm
    assert np.allclose(s.uv, project(want, RHD_K), atol=1e-3) and s.vis.all()
    assert np.allclose(s.depth[s.mask], 0.42, atol=1e-4)
    assert s.mask.sum() > 50 and not s.mask[0, 0]


def test_stb_frame_conversion_known_points():
    # xyz_c = (xyz - T) @ R: the depth camera's point T is the colour origin, T + R e_x is e_x
    assert np.allclose(stb_depth_to_color_frame(STB_T), 0.0)
    p = STB_T + 100.0 * STB_R[:, 0]
    assert np.allclose(stb_depth_to_color_frame(p), [100.0, 0.0, 0.0])
    assert np.allclose(stb_depth_to_color_frame(np.array([[10.0, 20.0, 500.0]])), ([10, 20, 500] - STB_T) @ STB_R)


def test_stb_reader(stb_root):
    r = STBReader(stb_root, "train")
    assert r.sequences == ["B2Counting"] and len(r) == 2
    assert STBReader(stb_root, "test").sequences == ["B1Counting"]
    s = r.read(1)
    want = hand_pose(stb_centers(2)[1])  # colour frame, RHD order, with its wrist
    assert np.allclose(s.xyz, want, atol=1e-6) and s.side == "left"
    assert np.allclose(s.uv, project(want, SK_K))
    # the mask from depth covers the joints' pixels and nothing 1 m away or far from the hand
    u, v = np.rint(s.uv).astype(int).T
    assert s.mask[v, u].all()
    assert not s.mask[s.depth > 0.9].any() and not s.mask[:, :150].any()


def test_bad_inputs_name_sample_and_file(tmp_path):
    root = write_rhd(tmp_path / "rhd", n=4)
    d = root / "training"
    (d / "color" / "00000.png").unlink()  # missing image
    (d / "color" / "00001.png").write_bytes(b"not a png")  # corrupt image
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(d / "depth" / "00002.png")  # size mismatch
    Image.fromarray(np.ones((64, 64), np.uint8)).save(d / "mask" / "00003.png")  # no hand pixels
    r = RHDReader(root, "train")
    expect = [("00000", "color", "missing"), ("00001", "color", "corrupt"), ("00002", "depth", "size"),
              ("00003", "mask", "empty hand mask")]
    for i, (stem, folder, words) in enumerate(expect):
        with pytest.raises(SampleError) as err:
            r.read(i)
        msg = str(err.value)
        assert f"training/{stem}" in msg and f"{folder}/{stem}.png" in msg and words in msg
    # an annotation with the wrong shape
    anno = safe_load(d / "anno_training.pickle")
    anno[3]["xyz"] = np.zeros((21, 3))
    (d / "anno_training.pickle").write_bytes(pickle.dumps(anno))
    Image.fromarray(np.full((64, 64), 20, np.uint8)).save(d / "mask" / "00003.png")
    with pytest.raises(SampleError, match=r"training/00003.*anno_training.pickle.*\(42, 3\)"):
        RHDReader(root, "train").read(3)
    with pytest.raises(UserError, match=r"anno_evaluation\.pickle"):
        (root / "evaluation").mkdir()
        RHDReader(root, "test")
