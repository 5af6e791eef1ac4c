"""Viewpoint correction, the crop camera and the on-disk encodings, against hand-worked values."""

import numpy as np
import pytest

from handvae.data.crop import (
    box_from_mask,
    box_from_points,
    crop_geometry,
    project,
    sample_bilinear,
    sample_nearest,
    source_coords,
)
from handvae.data.formats import decode_rhd_depth, decode_stb_depth, encode_rhd_depth, encode_stb_depth
from handvae.data.viewpoint import apply_viewpoint, rot_x, rot_y, undo_viewpoint, viewpoint_rotation

K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])


def test_viewpoint_puts_crop_centre_on_optical_axis():
    # crop centre 100 px right of and 100 px above the principal point: ray d = (0.2, -0.2, 1)
    R = viewpoint_rotation(420.0, 140.0, K)
    d = np.array([0.2, -0.2, 1.0])
    out = R @ d
    assert np.allclose(out[:2], 0.0, atol=1e-12)
    assert out[2] == pytest.approx(np.linalg.norm(d))
    assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
    # by hand: rotate about y by -atan(0.2) (x -> 0), then about x by atan2(-0.2, sqrt(1.04))
    ay = np.arctan(0.2)
    ax = np.arctan2(-0.2, np.sqrt(1.04))
    assert np.allclose(R, rot_x(ax) @ rot_y(-ay))
    # the paper's written order lands off the axis for this off-centre crop (docs/METHOD.md, section 7)
    assert np.abs((rot_y(-ay) @ rot_x(ax) @ d)[:2]).max() > 1e-3
    # a centred crop needs no correction
    assert np.allclose(viewpoint_rotation(320.0, 240.0, K), np.eye(3))


def test_viewpoint_inverse_recovers_input():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 21, 3)) * 50 + [0, 0, 500]
    Rs = np.stack([viewpoint_rotation(u, v, K) for u, v in [(10, 20), (600, 50), (320, 470), (100, 400)]])
    c = rng.normal(size=(4, 3)) * 30 + [0, 0, 500]
    s = np.array([30.0, 35.0, 40.0, 45.0])
    norm = np.stack([apply_viewpoint(x[i], Rs[i], c[i], s[i]) for i in range(4)])
    # normalisation by hand: R (x - c) / s
    assert np.allclose(norm[1, 3], Rs[1] @ (x[1, 3] - c[1]) / s[1])
    assert np.allclose(undo_viewpoint(norm, Rs, c, s), x)


def test_crop_camera_maps_box_centre_to_crop_centre_and_samples_consistently():
    g = crop_geometry(K, 420.0, 140.0, half=50.0, size=33)
    # the 3D point on the crop-centre ray lands at the crop centre
    x = 700.0 * np.linalg.solve(K, [420.0, 140.0, 1.0])
    assert np.allclose(project(g.R_vc @ x, g.K_crop), [16.0, 16.0])
    # inverse mapping (crop pixel -> image pixel) agrees with the forward one (3D point -> crop)
    coords = source_coords(K, g)
    for i, j in [(0, 0), (5, 30), (16, 16), (32, 7)]:
        p = 640.0 * np.linalg.solve(K, [*coords[i, j], 1.0])  # a 3D point seen at that image pixel
        assert np.allclose(project(g.R_vc @ p, g.K_crop), [j, i])
    # zoom: the box half-size (50 px) spans half the crop (16.5 px) near the centre
    assert g.K_crop[0, 0] == pytest.approx(500.0 * 33 / 100.0)


def test_box_from_mask_and_bilinear_sampling():
    m = np.zeros((20, 30), bool)
    m[4:10, 10:14] = True  # rows 4-9 (6 px), cols 10-13 (4 px)
    u, v, h = box_from_mask(m, margin=1.5)
    assert (u, v, h) == (11.5, 6.5, 4.5)
    img = np.arange(20 * 30, dtype=np.float64).reshape(20, 30, 1)  # value = 30 v + u, linear
    out = sample_bilinear(img, np.array([[2.25, 3.5], [-5.0, 1.0]]))
    assert out[0, 0] == pytest.approx(30 * 3.5 + 2.25) and out[1, 0] == 0.0


def test_box_from_points_equals_the_mask_box_of_the_pixels_whose_outer_corners_they_are():
    m = np.zeros((20, 30), bool)
    m[4:10, 10:14] = True  # pixels u 10-13, v 4-9 cover u 9.5-13.5, v 3.5-9.5
    corners = np.array([[9.5, 3.5], [13.5, 9.5], [11.0, 5.0]])  # the two outer corners and a point inside
    assert box_from_points(corners, margin=1.5) == box_from_mask(m, margin=1.5) == (11.5, 6.5, 4.5)
    # half-size: the longer side (6) / 2 * margin; a single point still gets the 2 px floor
    assert box_from_points(np.array([[3.0, 4.0]])) == (3.0, 4.0, 2.0)
    with pytest.raises(ValueError, match="finite point"):
        box_from_points(np.array([[1.0, np.nan]]))


def test_nearest_sampling_rounds_to_the_pixel_and_fills_outside():
    arr = np.arange(4 * 5).reshape(4, 5) * 10  # value = 10 (5 v + u)
    coords = np.array([[1.4, 2.6], [3.5, 0.0], [-0.6, 1.0], [4.4, 3.4], [0.0, 3.6]])
    # (1, 3) -> 160; u 3.5 rounds to even 4 -> 40; u -0.6 -> -1 is outside; (4, 3) -> 190; v 3.6 -> 4 is outside
    assert sample_nearest(arr, coords, fill=-1).tolist() == [160, 40, -1, 190, -1]


def test_depth_encodings_round_trip_and_byte_order():
    d = np.array([[0.0, 0.5], [1.2345, 5.0]])
    assert np.allclose(decode_rhd_depth(encode_rhd_depth(d)), d, atol=5 / 65535)
    px = np.array([[[1, 2, 0]]], np.uint8)
    assert decode_rhd_depth(px)[0, 0] == pytest.approx((256 + 2) / 65535 * 5)
    assert decode_stb_depth(px)[0, 0] == 1 + 256 * 2
    mm = np.array([[0.0, 600.0], [1234.0, 65535.0]])
    assert np.array_equal(decode_stb_depth(encode_stb_depth(mm)), mm)
