"""The triangle rasteriser against a brute-force per-pixel ray/triangle reference."""

import numpy as np
import pytest

from handvae.synth.rasterize import _nearest_per_pixel, rasterize, row_norm, vertex_normals

K = np.array([[60.0, 0.0, 20.0], [0.0, 55.0, 17.0], [0.0, 0.0, 1.0]])
W, H = 41, 37


def _brute_force(v, f, K, w, h):
    """Per pixel centre: cast the ray K^-1 [u, v, 1] and intersect every triangle (Moller-Trumbore)."""
    depth = np.full((h, w), np.inf)
    face = np.full((h, w), -1)
    kinv = np.linalg.inv(K)
    for y in range(h):
        for x in range(w):
            d = kinv @ np.array([x, y, 1.0])  # unit z: the ray parameter is the depth
            for i, (a, b, c) in enumerate(v[f]):
                e1, e2 = b - a, c - a
                p = np.cross(d, e2)
                det = e1 @ p
                if abs(det) < 1e-12:
                    continue
                s = -a
                u = (s @ p) / det
                q = np.cross(s, e1)
                t_v = (d @ q) / det
                if u < -1e-9 or t_v < -1e-9 or u + t_v > 1 + 1e-9:
                    continue
                z = (e2 @ q) / det
                if 0 < z < depth[y, x]:
                    depth[y, x], face[y, x] = z, i
    return depth, face


def _random_mesh(rng, n):
    centres = rng.uniform([-15, -15, 80], [15, 15, 140], size=(n, 1, 3))
    v = (centres + rng.normal(0, 12, size=(n, 3, 3))).reshape(-1, 3)
    return v, np.arange(3 * n).reshape(n, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_ray_casting(seed):
    v, f = _random_mesh(np.random.default_rng(seed), 12)
    buf = rasterize(v, f, K, W, H)
    depth, face = _brute_force(v, f, K, W, H)
    both = np.isfinite(depth) & (buf.face >= 0)
    # coverage may differ only on pixels whose centre lies on an edge (none expected with random floats)
    assert np.array_equal(np.isfinite(depth), buf.face >= 0)
    np.testing.assert_allclose(buf.depth[both], depth[both], rtol=1e-9)
    assert np.array_equal(buf.face[both], face[both])


def test_barycentrics_reproduce_the_3d_point():
    v, f = _random_mesh(np.random.default_rng(5), 6)
    buf = rasterize(v, f, K, W, H)
    hit = buf.face >= 0
    pts = buf.interpolate(v[f])  # perspective-correct weights of the corners -> the 3D surface point
    vv, uu = np.nonzero(hit)
    ray = np.stack([(uu - K[0, 2]) / K[0, 0], (vv - K[1, 2]) / K[1, 1], np.ones(hit.sum())], axis=1)
    np.testing.assert_allclose(pts, ray * buf.depth[hit][:, None], atol=1e-9)
    np.testing.assert_allclose(buf.bary[hit].sum(axis=1), 1.0, atol=1e-12)


def test_nearest_triangle_wins_and_behind_camera_is_dropped():
    tri = np.array([[-50.0, -50, 0], [50, -50, 0], [0, 60, 0]])
    v = np.concatenate([tri + [0, 0, 100], tri + [0, 0, 60], tri + [0, 0, -5]])
    f = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    buf = rasterize(v, f, K, W, H)
    assert buf.face[H // 2, W // 2] == 1 and buf.depth[H // 2, W // 2] == pytest.approx(60.0)
    assert not np.any(buf.face == 2)


def test_vertex_normals_of_a_tetrahedron_point_outwards():
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])  # counter-clockwise from outside
    n = vertex_normals(v, f)
    centre = v.mean(axis=0)
    assert np.all(np.einsum("ij,ij->i", n, v - centre) > 0)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0)


def test_nearest_per_pixel_matches_a_loop_and_breaks_ties_by_the_lowest_index():
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 30, size=400)
    zz = rng.integers(1, 6, size=400).astype(np.float64)  # many equal depths on one pixel
    best: dict[int, int] = {}
    for i, (p, z) in enumerate(zip(pix, zz)):
        if p not in best or z < zz[best[p]]:  # strictly nearer only: the first of equals stays
            best[p] = i
    assert sorted(_nearest_per_pixel(pix, zz, 30).tolist()) == sorted(best.values())


def test_row_norm_is_numpys_norm_to_the_bit():
    x = np.random.default_rng(1).normal(size=(1000, 3)) * 10.0 ** np.arange(-3, 3).repeat(167)[:1000, None]
    assert np.array_equal(row_norm(x), np.linalg.norm(x, axis=1, keepdims=True))


def test_vertex_normals_sum_face_normals_as_a_loop_does():
    rng = np.random.default_rng(2)
    v = rng.normal(size=(40, 3))
    f = rng.integers(0, 40, size=(120, 3))
    ref = np.zeros_like(v)
    for c in range(3):  # corner 0 of every face, then corner 1, then corner 2
        for face, corner in enumerate(f[:, c]):
            ref[corner] += np.cross(v[f[face, 1]] - v[f[face, 0]], v[f[face, 2]] - v[f[face, 0]])
    ref /= np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-12)
    assert np.allclose(vertex_normals(v, f), ref, rtol=0, atol=1e-12)
