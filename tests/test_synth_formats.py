"""RHD/STB encodings and STB camera constants, against values worked out by hand."""

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from handvae.data.formats import (
    STB_BASELINE_MM,
    STB_BB_LEFT_K,
    STB_R,
    STB_R_ROTVEC,
    STB_SK_COLOR_K,
    STB_T_MM,
    decode_rhd_depth,
    decode_stb_depth,
    encode_rhd_depth,
    encode_stb_depth,
    stb_color_to_depth_frame,
    stb_depth_to_color_frame,
)
from handvae.synth import writers
from handvae.synth.writers import encode_png


def test_rhd_depth_known_values():
    # 1 m -> code 65535 / 5 = 13107 = 51 * 256 + 51; 5 m -> 65535 = 255 * 256 + 255
    px = encode_rhd_depth(np.array([[1.0, 5.0, 0.0]]))
    assert px.dtype == np.uint8 and px.shape == (1, 3, 3)
    assert px[0, 0].tolist() == [51, 51, 0] and px[0, 1].tolist() == [255, 255, 0] and px[0, 2].tolist() == [0, 0, 0]
    assert decode_rhd_depth(px)[0].tolist() == pytest.approx([1.0, 5.0, 0.0])


def test_rhd_depth_round_trip_within_quantisation():
    d = np.random.default_rng(0).uniform(0.1, 4.9, size=(7, 9))
    assert np.max(np.abs(decode_rhd_depth(encode_rhd_depth(d)) - d)) <= 0.5 * 5 / 65535 + 1e-7


def test_stb_depth_known_values_and_round_trip():
    px = encode_stb_depth(np.array([[1234.0, 65535.0]]))
    assert px[0, 0].tolist() == [210, 4, 0]  # 1234 = 4 * 256 + 210: low byte in R, high in G
    assert px[0, 1].tolist() == [255, 255, 0]
    d = np.random.default_rng(1).integers(0, 65536, size=(5, 6)).astype(float)
    assert np.array_equal(decode_stb_depth(encode_stb_depth(d)), d.astype(np.float32))


def test_stb_constants_and_frames():
    assert STB_SK_COLOR_K[0, 0] == pytest.approx(607.92271) and STB_SK_COLOR_K[1, 2] == pytest.approx(236.42484)
    assert STB_BB_LEFT_K[0, 0] == STB_BB_LEFT_K[1, 1] == pytest.approx(822.79041)
    assert STB_BASELINE_MM == pytest.approx(120.054) and STB_T_MM[0] == pytest.approx(-24.0381)
    assert np.allclose(STB_R @ STB_R.T, np.eye(3)) and np.linalg.det(STB_R) == pytest.approx(1.0)
    # a rotation vector's axis is left unchanged and the angle is its norm
    axis = STB_R_ROTVEC / np.linalg.norm(STB_R_ROTVEC)
    assert np.allclose(STB_R @ axis, axis)
    assert np.arccos((np.trace(STB_R) - 1) / 2) == pytest.approx(np.linalg.norm(STB_R_ROTVEC))
    x = np.random.default_rng(2).normal(size=(4, 3)) * 100
    assert np.allclose(stb_depth_to_color_frame(stb_color_to_depth_frame(x)), x)
    assert np.allclose(stb_depth_to_color_frame(STB_T_MM), 0.0)  # the colour camera's origin


@pytest.mark.parametrize("deflate", ["isal", "zlib"])
@pytest.mark.parametrize("shape", [(5, 7), (6, 4, 3), (1, 1), (33, 17, 3)])
def test_png_encoder_round_trips_through_pil(shape, deflate, monkeypatch):
    module = pytest.importorskip("isal.isal_zlib") if deflate == "isal" else zlib
    monkeypatch.setattr(writers, "DEFLATE", module)
    a = np.random.default_rng(3).integers(0, 256, size=shape).astype(np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(a)))), a)
    assert encode_png(a) == encode_png(a)  # deterministic bytes
