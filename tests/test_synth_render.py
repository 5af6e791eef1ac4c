"""The round-cone ray caster against brute-force geometry."""

import numpy as np
import pytest

from handvae.synth.render import Primitives, render

K = np.array([[80.0, 0, 31.5], [0, 80.0, 31.5], [0, 0, 1]])


def _ray(u, v):
    return np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0])


def test_sphere_depth_silhouette_and_normal():
    c, r = np.array([10.0, -5.0, 200.0]), 30.0
    g = render(Primitives(c[None], c[None], np.array([r]), np.array([r])), K, 64, 64)
    for v in range(0, 64, 3):
        for u in range(0, 64, 3):
            d = _ray(u, v)
            dn = d / np.linalg.norm(d)
            miss = np.linalg.norm(c - (c @ dn) * dn)  # distance from centre to the ray
            if miss > r + 1e-6:
                assert g.pid[v, u] == -1
                continue
            t = c @ dn - np.sqrt(r * r - miss * miss)  # distance along the unit ray
            assert g.depth[v, u] == pytest.approx(t * dn[2], abs=1e-6)
            p = t * dn
            assert np.allclose(g.normal[v, u], (p - c) / r, atol=1e-6)


def _first_inside(d, zs, a, b, ra, rb):
    """Smallest z on the ray d*z inside the convex hull of two balls (= the union of the linearly
    interpolated balls), by brute force; None if the ray misses."""
    t = np.linspace(0, 1, 801)
    centres = a + t[:, None] * (b - a)
    radii = ra + t * (rb - ra)
    pts = d[None] * zs[:, None]
    dist = np.linalg.norm(pts[:, None] - centres[None], axis=2)
    inside = np.any(dist <= radii[None], axis=1)
    return zs[np.argmax(inside)] if inside.any() else None


def test_round_cone_first_hit_matches_ray_marching():
    a, b, ra, rb = np.array([-20.0, 8.0, 200.0]), np.array([20.0, -10.0, 185.0]), 14.0, 6.0
    g = render(Primitives(a[None], b[None], np.array([ra]), np.array([rb])), K, 64, 64)
    rng = np.random.default_rng(0)
    hits = misses = 0
    zs = np.arange(160.0, 230.0, 0.02)
    for _ in range(40):
        u, v = rng.integers(18, 46, size=2)
        first = _first_inside(_ray(u, v), zs, a, b, ra, rb)
        if first is None:
            misses += 1
            assert g.pid[v, u] == -1
        else:
            hits += 1
            assert g.depth[v, u] == pytest.approx(first, abs=0.05)
    assert hits > 10 and misses > 3


def test_zbuffer_keeps_the_nearest():
    c1, c2 = np.array([0.0, 0, 200]), np.array([0.0, 0, 150])
    prims = Primitives(np.stack([c1, c2]), np.stack([c1, c2]), np.array([20.0, 5.0]), np.array([20.0, 5.0]))
    g = render(prims, K, 64, 64)
    v = u = 31  # near the principal point the small near sphere covers the big one
    assert g.pid[v, u] == 1 and g.depth[v, u] == pytest.approx(145.0, abs=0.3)
    assert g.pid[31, 36] == 0  # outside the small sphere's silhouette
