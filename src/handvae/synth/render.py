"""Vectorised numpy ray casting of round cones (tapered capsules) with a z-buffer.

A round cone is the convex hull of two spheres (centre ``a``, radius ``ra``) and (``b``, ``rb``):
a tapered capsule. A sphere is a round cone with ``a == b``. The union of round cones that share
their end spheres is smooth at the shared joints (the surfaces meet tangentially at the sphere),
which is how fingers, palm, forearm and objects are built.

Camera: pinhole with intrinsics K at the origin looking along +z (OpenCV frame, x right, y down).
Pixel (u, v) with integer u, v is the ray through the pixel centre ``K^-1 [u, v, 1]``. Rays are
kept un-normalised with unit z, so the ray parameter IS the depth z (a z-buffer, like RHD's).
Each primitive is intersected only inside the image rectangle that bounds its projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handvae.synth.rasterize import unit_rows


@dataclass
class Primitives:
    """P round cones in the camera frame, mm: ``a (P, 3)``, ``b (P, 3)``, ``ra (P,)``, ``rb (P,)``."""

    a: np.ndarray
    b: np.ndarray
    ra: np.ndarray
    rb: np.ndarray

    def __len__(self) -> int:
        return int(self.a.shape[0])


@dataclass
class GeometryBuffers:
    """Per-pixel results: ``depth (H, W)`` float64 mm (inf where nothing was hit), ``pid (H, W)``
    int32 index of the primitive seen (-1 none), ``normal (H, W, 3)`` unit surface normal in the
    camera frame (zero where nothing was hit)."""

    depth: np.ndarray
    pid: np.ndarray
    normal: np.ndarray


def _bbox(a, b, ra, rb, K, width, height, near=1.0):
    """Pixel rectangle (u0, u1, v0, v1), end-exclusive, bounding a round cone's projection; None if
    it lies outside the image or behind the camera."""
    c = 0.5 * (a + b)
    r = 0.5 * float(np.linalg.norm(b - a)) + max(ra, rb)
    if c[2] + r < near:
        return None
    if c[2] - r < near:
        return 0, width, 0, height
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    zs = (c[2] - r, c[2] + r)
    xs = [(c[0] + sx * r) / z for sx in (-1, 1) for z in zs]
    ys = [(c[1] + sy * r) / z for sy in (-1, 1) for z in zs]
    u0 = int(np.floor(fx * min(xs) + cx)) - 1
    u1 = int(np.ceil(fx * max(xs) + cx)) + 2
    v0 = int(np.floor(fy * min(ys) + cy)) - 1
    v1 = int(np.ceil(fy * max(ys) + cy)) + 2
    u0, v0 = max(u0, 0), max(v0, 0)
    u1, v1 = min(u1, width), min(v1, height)
    if u0 >= u1 or v0 >= v1:
        return None
    return u0, u1, v0, v1


def intersect_round_cone(dx, dy, a, b, ra, rb):
    """Entry depth of the rays ``d = (dx, dy, 1)`` (from the origin) into one round cone.

    dx, dy: broadcastable arrays; returns (z, normal_fn) where z has their broadcast shape (inf
    for a miss) and ``normal_fn(mask)`` gives the (n, 3) unit normals at ``z[mask]``.
    """
    dx, dy = np.broadcast_arrays(dx, dy)
    dd = dx * dx + dy * dy + 1.0
    inf = np.inf
    best = np.full(dx.shape, inf)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for c, r in ((a, ra), (b, rb)):
            cd = c[0] * dx + c[1] * dy + c[2]  # c . d
            disc = cd * cd - dd * (c @ c - r * r)
            s = (cd - np.sqrt(disc)) / dd
            hit = (disc >= 0) & (s > 0)
            best = np.where(hit & (s < best), s, best)
        ba = b - a
        length = float(np.linalg.norm(ba))
        side = length > 1e-9 and abs(ra - rb) < length
        if side:
            w = ba / length
            sn = (ra - rb) / length
            c2 = 1.0 - sn * sn
            t0 = -(a @ w)
            dw = w[0] * dx + w[1] * dy + w[2]
            qd = -(a[0] * dx + a[1] * dy + a[2])
            k = ra - sn * t0
            qa = c2 * dd - dw * dw
            qb = c2 * (qd - t0 * dw) + sn * dw * k
            qc = c2 * (a @ a - t0 * t0) - k * k
            disc = qb * qb - qa * qc
            root = np.sqrt(disc)
            lo_t, hi_t = ra * sn, length + rb * sn
            for sgn in (-1.0, 1.0):
                s = (-qb + sgn * root) / qa
                t = t0 + s * dw
                hit = (disc >= 0) & (s > 0) & (t >= lo_t) & (t <= hi_t)
                best = np.where(hit & (s < best), s, best)
    else_w = None if not side else w

    def normal_fn(mask: np.ndarray) -> np.ndarray:
        s = best[mask]
        p = np.stack([dx[mask] * s, dy[mask] * s, s], axis=1)
        q = p - a
        if else_w is None:
            center = np.where(
                (np.linalg.norm(p - b, axis=1) - rb < np.linalg.norm(q, axis=1) - ra)[:, None], b, a
            )
            n = p - center
        else:
            t = q @ else_w
            rho = np.sqrt(np.maximum(np.einsum("ij,ij->i", q, q) - t * t, 0.0))
            tan = sn / np.sqrt(c2)
            axial = np.clip(t - rho * tan, 0.0, length)
            n = q - axial[:, None] * else_w
        return unit_rows(n, 1e-12)

    return best, normal_fn


def render(prims: Primitives, K: np.ndarray, width: int, height: int) -> GeometryBuffers:
    """Ray-cast all primitives into a z-buffer. K: (3, 3) intrinsics; depth in the primitives' unit."""
    K = np.asarray(K, dtype=np.float64)
    depth = np.full((height, width), np.inf)
    pid = np.full((height, width), -1, dtype=np.int32)
    normal = np.zeros((height, width, 3))
    us = (np.arange(width) - K[0, 2]) / K[0, 0]
    vs = (np.arange(height) - K[1, 2]) / K[1, 1]
    for i in range(len(prims)):
        a, b, ra, rb = prims.a[i], prims.b[i], float(prims.ra[i]), float(prims.rb[i])
        box = _bbox(a, b, ra, rb, K, width, height)
        if box is None:
            continue
        u0, u1, v0, v1 = box
        z, normal_fn = intersect_round_cone(us[None, u0:u1], vs[v0:v1, None], a, b, ra, rb)
        sub = depth[v0:v1, u0:u1]
        closer = z < sub
        if not closer.any():
            continue
        sub[closer] = z[closer]
        pid[v0:v1, u0:u1][closer] = i
        normal[v0:v1, u0:u1][closer] = normal_fn(closer)
    return GeometryBuffers(depth=depth, pid=pid, normal=normal)


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of ``points (..., 3)`` (z > 0) -> pixel coordinates ``(..., 2)``."""
    p = np.asarray(points, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    return np.stack(
        [
            K[0, 0] * p[..., 0] / p[..., 2] + K[0, 1] * p[..., 1] / p[..., 2] + K[0, 2],
            K[1, 1] * p[..., 1] / p[..., 2] + K[1, 2],
        ],
        axis=-1,
    )
