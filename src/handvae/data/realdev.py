"""Reader for the real-photo development set ("realdev"): RGB crops of left hands with 3D labels.

Layout (docs/DATA.md, "Real-photo development set")::

    ROOT/annotations.npz   image (N,) str, xyz_mm (N, 21, 3), uv_px (N, 21, 2), K (N, 3, 3), ...
    ROOT/images/<image>    RGB photos (JPEG or PNG), the crops K refers to

Joints are in the camera frame in mm (x right, y down, z forward), already in RHD order; ``uv_px``
is ``K @ xyz / z`` in pixels of the stored image. There is neither a hand mask nor depth: samples
carry ``mask=None`` and ``has_depth=False``, so ``prepare`` crops around the projected joints
(:func:`handvae.data.crop.box_from_points`, the training margin) and stores no cloud. Every hand
is a left hand (``side='left'``), so the default ``mirror='left'`` turns them into right hands as
in training, and evaluation mirrors the predictions back. The set has one split, ``test``: it is
for evaluation only, never for training. The archive is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from handvae.data.crop import project
from handvae.data.imageio import read_png
from handvae.data.raw import RawSample, SampleError
from handvae.errors import UserError

SPLITS = ("test",)
ANNOTATIONS = "annotations.npz"
# key -> per-sample shape (after the leading sample axis)
FIELDS: dict[str, tuple[int, ...]] = {"image": (), "xyz_mm": (21, 3), "uv_px": (21, 2), "K": (3, 3)}
UV_TOLERANCE_PX = 2.0  # largest allowed gap between uv_px and the projection K @ xyz / z


def load_annotations(path: Path) -> dict[str, np.ndarray]:
    """The arrays of ``annotations.npz`` named in :data:`FIELDS`, checked; UserError naming ``path``.

    Returns image (N,) str, xyz_mm (N, 21, 3) float64 mm, uv_px (N, 21, 2) float64 px and
    K (N, 3, 3) float64 px.
    """
    if not path.is_file():
        raise UserError(f"{path}: annotation file missing; expected a realdev folder with {ANNOTATIONS} and images/")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in FIELDS if k not in npz.files]
            if missing:
                raise UserError(f"{path}: missing arrays {missing}; expected {sorted(FIELDS)} (found {npz.files})")
            raw = {k: npz[k] for k in FIELDS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise UserError(f"{path}: not a readable .npz of plain arrays ({err})") from None
    n = raw["image"].shape[0] if raw["image"].ndim == 1 else -1
    for key, shape in FIELDS.items():
        if raw[key].shape != (n, *shape):
            want = ", ".join(["N", *map(str, shape)])
            raise UserError(f"{path}: '{key}' must have shape ({want}) with N = len(image), got {raw[key].shape}")
    if raw["image"].dtype.kind != "U":
        raise UserError(f"{path}: 'image' must be an array of file names (str), got dtype {raw['image'].dtype}")
    if n == 0:
        raise UserError(f"{path}: holds no samples")
    out = {"image": raw["image"]}
    for key in ("xyz_mm", "uv_px", "K"):
        if raw[key].dtype.kind not in "fiu":
            raise UserError(f"{path}: '{key}' must be numeric, got dtype {raw[key].dtype}")
        out[key] = raw[key].astype(np.float64)
    return out


class RealdevReader:
    """The realdev set. ``len(reader)``; ``reader.ids``; ``reader.read(i) -> RawSample``."""

    source = "realdev"

    def __init__(self, root: str | Path, split: str = "test"):
        if split not in SPLITS:
            raise UserError(
                f"realdev split must be one of {list(SPLITS)}, got {split!r} "
                "(the set has one split, for evaluation only: pass --split test)"
            )
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserError(f"{self.root}: not a folder; expected a realdev folder with {ANNOTATIONS} and images/")
        self.anno_path = self.root / ANNOTATIONS
        self.anno = load_annotations(self.anno_path)
        self.images = self.root / "images"
        if not self.images.is_dir():
            raise UserError(f"{self.images}: not a folder; expected the photos named in {self.anno_path}")
        self.ids = [Path(str(name)).stem for name in self.anno["image"]]
        if len(set(self.ids)) != len(self.ids):
            raise UserError(f"{self.anno_path}: 'image' names a file twice (or two files with one stem)")

    def __len__(self) -> int:
        return len(self.ids)

    def read(self, i: int) -> RawSample:
        sid = self.ids[i]
        name = str(self.anno["image"][i])
        path = self.images / name
        image = read_png(path, sid, "colour image", mode="RGB")
        xyz, uv, K = self.anno["xyz_mm"][i], self.anno["uv_px"][i], self.anno["K"][i]
        where = f"{self.anno_path} [{i}: {name}]"
        if not (np.isfinite(xyz).all() and np.isfinite(uv).all() and np.isfinite(K).all()):
            raise SampleError(sid, where, "annotation holds NaN or inf values")
        if not (xyz[:, 2] > 0).all():
            raise SampleError(sid, where, "every joint must lie in front of the camera (xyz_mm z > 0)")
        gap = float(np.abs(project(xyz, K) - uv).max())
        if gap > UV_TOLERANCE_PX:
            raise SampleError(sid, where, f"uv_px is {gap:.1f} px from K @ xyz / z (at most {UV_TOLERANCE_PX} px)")
        sample = RawSample(
            image=image,
            depth=np.zeros(image.shape[:2], dtype=np.float32),
            mask=None,
            K=K,
            xyz=xyz,
            uv=uv,
            vis=np.ones(21, dtype=bool),
            side="left",
            source=self.source,
            id=sid,
            has_depth=False,
            path=str(path),
        )
        sample.check()
        return sample
