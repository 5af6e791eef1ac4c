"""Per-pixel surface buffers that shading and labelling read, whatever drew the surface.

Two renderers feed them: the round-cone ray caster (:mod:`handvae.synth.render`; the capsule hand,
objects, sleeves) and the triangle rasteriser (:mod:`handvae.synth.rasterize`; the mesh hand).
:func:`merge` keeps the nearer surface per pixel, so a mesh hand and capsule objects occlude each
other correctly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handvae.skeleton import NUM_JOINTS
from handvae.synth.mesh_asset import HandMaps
from handvae.synth.rasterize import MeshBuffers, unit_rows
from handvae.synth.render import GeometryBuffers

# Mask labels follow RHD: 0 background (and objects), 1 person (forearm, sleeve), left hand 2-17,
# right hand 18-33 (base + 3 f + k for finger f, k = 0 distal .. 2 proximal; base + 15 the palm).
LABEL_BASE = {"left": 2, "right": 18}
ROW_OFFSET = {"left": 0, "right": NUM_JOINTS}  # rows of each hand in the (42, ...) joint arrays
M_HAND, M_ARM, M_SLEEVE, M_OBJECT = 0, 1, 2, 3  # material codes; M_OBJECT + 1: the front occluder


@dataclass
class Surface:
    """``depth (H, W)`` camera z mm (inf: nothing); ``label (H, W)`` uint8 RHD mask label;
    ``material (H, W)`` int16 (scene.M_* codes, -1 nothing); ``owner (H, W)`` int16 (0 main hand,
    1 other hand, -1 none); ``normal (H, W, 3)`` unit, camera frame; ``palmar (H, W)`` in [0, 1]:
    palm-side skin weight; ``nail (H, W)`` in [0, 1]: fingernail weight; ``detail (H, W)``: skin
    detail (creases, grain) in standard deviations, 0 where there is none."""

    depth: np.ndarray
    label: np.ndarray
    material: np.ndarray
    owner: np.ndarray
    normal: np.ndarray
    palmar: np.ndarray
    nail: np.ndarray
    detail: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        return self.material >= 0


def empty_surface(height: int, width: int) -> Surface:
    return Surface(
        depth=np.full((height, width), np.inf),
        label=np.zeros((height, width), dtype=np.uint8),
        material=np.full((height, width), -1, dtype=np.int16),
        owner=np.full((height, width), -1, dtype=np.int16),
        normal=np.zeros((height, width, 3)),
        palmar=np.zeros((height, width)),
        nail=np.zeros((height, width)),
        detail=np.zeros((height, width)),
    )


def capsule_surface(geo: GeometryBuffers, prims, attr: dict, K: np.ndarray) -> Surface:
    """Surface of ray-cast round cones; ``attr``: per-primitive label, material, palmar (P, 3)
    direction, nail flag, owner (see scene._Prims)."""
    h, w = geo.depth.shape
    s = empty_surface(h, w)
    hit = geo.pid >= 0
    if not hit.any():
        return s
    pid = geo.pid[hit]
    s.depth[hit] = geo.depth[hit]
    s.label[hit] = attr["label"][pid]
    s.material[hit] = attr["material"][pid]
    s.owner[hit] = attr["owner"][pid]
    normal = geo.normal[hit]
    s.normal[hit] = normal
    palmar = attr["palmar"][pid]
    s.palmar[hit] = np.clip((np.einsum("ij,ij->i", normal, palmar) + 0.1) / 0.7, 0, 1)
    nails = attr["nail"][pid]
    if nails.any():
        vv, uu = np.nonzero(hit)
        pts = np.stack([(uu - K[0, 2]) / K[0, 0], (vv - K[1, 2]) / K[1, 1], np.ones(len(pid))], axis=1)
        pts = pts[nails] * geo.depth[hit][nails, None]
        a, b = prims.a[pid[nails]], prims.b[pid[nails]]
        ax = b - a
        t = np.einsum("ij,ij->i", pts - a, ax) / np.einsum("ij,ij->i", ax, ax)
        dors = -np.einsum("ij,ij->i", normal[nails], palmar[nails])
        on = np.clip((dors - 0.45) * 4, 0, 1) * np.clip((t - 0.35) * 5, 0, 1)
        nail = np.zeros(len(pid))
        nail[nails] = on
        s.nail[hit] = nail
    return s


def mesh_surface(buf: MeshBuffers, faces: np.ndarray, normals: np.ndarray, vertex: dict,
                 maps: HandMaps | None = None, face_uv: np.ndarray | None = None) -> Surface:  # fmt: skip
    """Surface of a rasterised mesh. ``faces (F, 3)`` as rasterised; ``normals (V, 3)`` camera-frame
    vertex normals; ``vertex``: per-vertex ``label``, ``material``, ``owner`` (taken from the corner
    nearest the pixel) and ``palmar``, ``nail`` (interpolated). With texture ``maps`` and the faces'
    ``face_uv (F, 3, 2)`` (corners in the order of ``faces``), skin detail and nails come from the
    maps at each pixel's interpolated texture coordinate instead."""
    h, w = buf.depth.shape
    s = empty_surface(h, w)
    hit = buf.face >= 0
    if not hit.any():
        return s
    fid = buf.face[hit]
    corner = faces[fid, np.argmax(buf.bary[hit], axis=1)]
    s.depth[hit] = buf.depth[hit]
    s.label[hit] = vertex["label"][corner]
    s.material[hit] = vertex["material"][corner]
    s.owner[hit] = vertex["owner"][corner]
    n = buf.interpolate(normals[faces])
    s.normal[hit] = unit_rows(n, 1e-12)
    s.palmar[hit] = buf.interpolate(vertex["palmar"][faces][..., None])[:, 0]
    if maps is None or face_uv is None:
        s.nail[hit] = buf.interpolate(vertex["nail"][faces][..., None])[:, 0]
    else:
        s.detail[hit], s.nail[hit] = maps.sample(buf.interpolate(face_uv))
    return s


def merge(a: Surface, b: Surface) -> Surface:
    """Per pixel, the nearer of two surfaces: ``a`` takes ``b``'s pixels where ``b`` is nearer (``a``
    is updated in place, and returned)."""
    take_b = b.depth < a.depth
    for name in ("depth", "label", "material", "owner", "normal", "palmar", "nail", "detail"):
        x, y = getattr(a, name), getattr(b, name)
        np.copyto(x, y, where=take_b if x.ndim == 2 else take_b[..., None])
    return a
