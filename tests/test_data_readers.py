"""RHD and STB readers on fixtures written here; the restricted unpickler; bad-input errors."""

import os
import pickle

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from _data_fixtures import (
    RHD_HARD,
    RHD_HARD_CORNER,
    RHD_K,
    SK_K,
    STB_R,
    STB_T,
    bone_pixels,
    hand_pose,
    project,
    rhd_centers,
    stb_centers,
    write_rhd,
    write_rhd_hard,
    write_stb,
    write_stb_frames,
)
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
    # the dominant (right) hand's pixels as the fixture drew them, without the left hand's corner blob
    np.testing.assert_array_equal(s.mask, bone_pixels(project(want, RHD_K), (64, 64), 2.5))
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


@pytest.fixture(scope="module")
def rhd_hard_root(tmp_path_factory):
    return write_rhd_hard(tmp_path_factory.mktemp("rhd_hard"))


@pytest.mark.parametrize("i", range(len(RHD_HARD)))
def test_rhd_reader_takes_the_dominant_hands_rows_and_visibility(rhd_hard_root, i):
    """Both hands in the mask; the one with more pixels is read: its rows (0-20 left, 21-41 right) of
    xyz and uv_vis, its mask pixels only, and its joints with visibility 0 come out not visible."""
    spec = RHD_HARD[i]
    side = spec["dominant"]
    s = RHDReader(rhd_hard_root, "train").read(i)
    want = hand_pose(spec[side])
    assert s.side == side
    np.testing.assert_allclose(s.xyz, want, atol=1e-3)  # metres -> mm, float32 in the pickle
    np.testing.assert_allclose(s.uv, project(want, RHD_K), atol=1e-4)
    want_vis = np.ones(21, bool)
    want_vis[list(spec["hidden"][side])] = False
    np.testing.assert_array_equal(s.vis, want_vis)  # the other hand's hidden joints play no part
    labels = np.asarray(Image.open(rhd_hard_root / "training" / "mask" / f"{i:05d}.png"))
    lo, hi = (2, 17) if side == "left" else (18, 33)
    np.testing.assert_array_equal(s.mask, (labels >= lo) & (labels <= hi))
    assert s.mask.sum() > 100 and not s.mask[RHD_HARD_CORNER].any()  # the other hand's pixels are left out
    other = (2, 17) if side == "right" else (18, 33)
    assert ((labels[RHD_HARD_CORNER] >= other[0]) & (labels[RHD_HARD_CORNER] <= other[1])).all()


# An STB label written out by hand: STB order (palm, then little, ring, middle, index, thumb, each
# MCP -> tip), mm, in the SK depth camera's frame, as labels/<seq>_SK.mat holds it.
STB_LABEL_DEPTH_FRAME = np.array([
    [21.7, 12.6, 540.2],  # palm
    [38.7, -10.9, 538.1],  # little mcp
    [37.0, -27.6, 539.0],  # little pip
    [41.6, -48.6, 536.5],  # little dip
    [40.1, -63.8, 535.2],  # little tip
    [27.4, -8.8, 539.6],  # ring mcp
    [26.9, -26.2, 539.5],  # ring pip
    [26.1, -49.2, 536.1],  # ring dip
    [23.7, -64.4, 535.4],  # ring tip
    [6.3, -9.0, 538.1],  # middle mcp
    [13.2, -28.8, 539.3],  # middle pip
    [10.2, -47.6, 537.8],  # middle dip
    [11.5, -65.5, 536.0],  # middle tip
    [-3.4, -9.9, 543.9],  # index mcp
    [0.1, -27.9, 537.0],  # index pip
    [-1.1, -47.4, 536.0],  # index dip
    [-3.8, -64.0, 533.5],  # index tip
    [-18.6, -12.3, 537.9],  # thumb mcp
    [-11.4, -28.5, 537.3],  # thumb pip
    [-22.0, -47.5, 534.3],  # thumb dip
    [-19.1, -65.9, 533.6],  # thumb tip
])
# RHD joint i (wrist; thumb, index, middle, ring, little, each tip -> MCP) is STB joint STB_JOINT_OF_RHD[i].
STB_JOINT_OF_RHD = [0, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]


def test_stb_reader_on_a_hand_written_label(tmp_path):
    """The SK label goes to the colour frame as ``(xyz_depth - T) @ R``, R the Rodrigues matrix of the
    documented rotation vector, worked out here with scipy; then RHD order and the palm -> wrist rule."""
    R = Rotation.from_rotvec([0.00531, -0.01196, 0.00301]).as_matrix()
    T = np.array([-24.0381, -0.4563, -1.2326])
    colour = (STB_LABEL_DEPTH_FRAME - T) @ R  # STB order
    want = colour[STB_JOINT_OF_RHD]
    palm, ring_mcp = colour[0], colour[5]
    want[0] = ring_mcp + 2.0 * (palm - ring_mcp)  # the wrist (docs/DATA.md)
    assert np.abs(colour - STB_LABEL_DEPTH_FRAME).max() > 20.0  # the frames differ by more than any tolerance
    write_stb_frames(tmp_path, "B3Counting", STB_LABEL_DEPTH_FRAME[None], want[None])
    s = STBReader(tmp_path, "train").read(0)
    np.testing.assert_allclose(s.xyz, want, atol=1e-6)
    np.testing.assert_allclose(s.uv, project(want, SK_K), atol=1e-6)
    assert s.side == "left" and s.vis.all() and s.mask.sum() > 100
