"""A prepared split on disk: one folder of fixed-shape ``.npy`` arrays plus ``manifest.json``.

``CACHE/<split>/`` holds one ``<name>.npy`` per field (leading axis = sample, memory-mappable with
``np.load(..., mmap_mode='r')``), ``ids.json`` (sample ids in order) and ``manifest.json``
(source, counts, config, versions, per-file sha256 and an overall checksum, skipped samples).
The folder is built as ``CACHE/.<split>.tmp-*`` and renamed into place only when complete, and
``manifest.json`` is written last: a folder without a manifest is never taken for a cache.

Geometry fields (``K``, ``box``, ``centroid_mm``, ``R_vc``, ``K_crop``) refer to the working frame,
which is the camera frame mirrored in x when ``mirrored`` is set; ``xyz_mm`` and ``uv_img`` are the
ground truth in the original camera frame / image. :func:`to_camera_mm` maps normalised poses back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from handvae.data.raw import unmirror_xyz
from handvae.data.viewpoint import undo_viewpoint
from handvae.errors import UserError
from handvae.files import file_sha256

CACHE_FORMAT = 1


def fields(size: int, n_points: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample shape and dtype of every cached array, crop size S and N cloud points."""
    return {
        "image": ((size, size, 3), "uint8"),  # RGB crop
        "depth": ((size, size), "float16"),  # normalised depth crop, background 1 (see prepare)
        "mask": ((size, size), "bool"),  # hand mask in the crop
        "cloud": ((n_points, 3), "float32"),  # normalised hand-surface points
        "has_cloud": ((), "bool"),
        "pose": ((21, 3), "float32"),  # normalised 3D pose (RHD order)
        "uv": ((21, 2), "float32"),  # keypoints in crop px
        "vis": ((21,), "bool"),
        "xyz_mm": ((21, 3), "float32"),  # ground truth, original camera frame, mm
        "uv_img": ((21, 2), "float32"),  # ground truth keypoints in the original image, px
        "centroid_mm": ((3,), "float32"),
        "scale_mm": ((), "float32"),
        "R_vc": ((3, 3), "float32"),
        "K": ((3, 3), "float32"),
        "K_crop": ((3, 3), "float32"),
        "box": ((4,), "float32"),  # [u0, v0, u1, v1] px, working frame
        "side": ((), "uint8"),  # original hand side: 0 left, 1 right
        "mirrored": ((), "bool"),
    }


def versions() -> dict[str, str]:
    import handvae

    return {
        "cache_format": str(CACHE_FORMAT),
        "handvae": getattr(handvae, "__version__", "unknown"),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }


class CacheWriter:
    """Writes one split; use as a context manager (an exception removes the temporary folder)."""

    def __init__(self, root: str | Path, split: str, capacity: int, size: int, n_points: int, overwrite: bool = False):
        self.root = Path(root)
        self.final = self.root / split
        if self.final.exists() and not overwrite:
            raise UserError(f"{self.final} exists; pass --overwrite to replace it")
        if capacity <= 0:
            raise UserError(f"nothing to prepare for {self.final} (0 samples)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp = self.root / f".{split}.tmp-{uuid.uuid4().hex[:8]}"
        self.tmp.mkdir()
        self.spec = fields(size, n_points)
        self.capacity = capacity
        self.count = 0
        self.ids: list[str] = []
        self.arrays = {
            name: np.lib.format.open_memmap(self.tmp / f"{name}.npy", "w+", np.dtype(dt), (capacity, *shape))
            for name, (shape, dt) in self.spec.items()
        }

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def append(self, sample_id: str, arrays: dict[str, np.ndarray]) -> None:
        for name, out in self.arrays.items():
            out[self.count] = arrays[name]
        self.ids.append(sample_id)
        self.count += 1

    def extend(self, sample_ids: list[str], arrays: dict[str, np.ndarray]) -> None:
        """Append a block of samples at once: ``arrays[name]`` holds ``len(sample_ids)`` rows of each field."""
        n = len(sample_ids)
        for name, out in self.arrays.items():
            out[self.count : self.count + n] = arrays[name]
        self.ids.extend(sample_ids)
        self.count += n

    def abort(self) -> None:
        self.arrays = {}
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _shrink(self) -> None:
        for name, arr in self.arrays.items():
            arr.flush()
            if self.count == self.capacity:
                continue
            path = self.tmp / f"{name}.npy"
            small = np.lib.format.open_memmap(
                self.tmp / f"{name}.part.npy", "w+", arr.dtype, (self.count, *arr.shape[1:])
            )
            for i in range(0, self.count, 4096):
                small[i : i + 4096] = arr[i : min(i + 4096, self.count)]
            small.flush()
            del small
            os.replace(self.tmp / f"{name}.part.npy", path)
        self.arrays = {}

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Finish: trim to the samples written, checksum, write manifest last, rename into place."""
        if self.count == 0:
            self.abort()
            raise UserError(f"no valid samples for {self.final}; nothing written")
        self._shrink()
        files = {f"{name}.npy": file_sha256(self.tmp / f"{name}.npy") for name in self.spec}
        (self.tmp / "ids.json").write_text(json.dumps(self.ids))
        files["ids.json"] = file_sha256(self.tmp / "ids.json")
        overall = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()
        manifest = dict(manifest, count=self.count, files=files, checksum=overall, versions=versions())
        (self.tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        old = None
        if self.final.exists():
            old = self.root / f".{self.final.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final


def concat_splits(sources: list[str | Path], root: str | Path, split: str, overwrite: bool = False) -> Path:
    """Join prepared splits, in the given order, into ``root/<split>``; returns that folder.

    Every source must have the same crop size, cloud points and mirroring. Sample ids become
    ``"k:id"`` (k the source's position), so ids stay unique; the manifest lists each source's
    folder, count and checksum. Order matters: a holdout is the last samples of a split
    (``data.val_holdout``).
    """
    dirs = [Path(s) for s in sources]
    if not dirs:
        raise UserError("nothing to join: give at least one prepared split")
    manifests = [read_manifest(d) for d in dirs]

    def common(what: str, value, show) -> Any:
        """The value every source shares, else a UserError naming each source's."""
        values = [value(m) for m in manifests]
        if len(set(values)) != 1:
            found = ", ".join(f"{d}: {show(v)}" for d, v in zip(dirs, values))
            raise UserError(f"cannot join splits prepared with different {what} ({found})")
        return values[0]

    size, n_points = common("crop size or cloud points", lambda m: (m["crop_size"], m["points"]),
                            lambda v: f"{v[0]} px, {v[1]} points")
    mirror = common("--mirror", lambda m: m.get("config", {}).get("mirror"), str)
    total = sum(int(m["count"]) for m in manifests)
    with CacheWriter(root, split, total, size, n_points, overwrite=overwrite) as writer:
        for k, d in enumerate(dirs):
            arrays = open_split(d, [f"{name}.npy" for name in writer.spec])
            ids = json.loads((d / "ids.json").read_text())
            for i0 in range(0, len(ids), 1024):
                block = {name: a[i0 : i0 + 1024] for name, a in arrays.items()}
                writer.extend([f"{k}:{sid}" for sid in ids[i0 : i0 + 1024]], block)
        manifest = {
            "source": "cache",
            "split": split,
            "sources": [{"split_dir": str(d.resolve()), "count": int(m["count"]), "checksum": m["checksum"]}
                        for d, m in zip(dirs, manifests)],
            "config": {"mirror": mirror},
            "counts": {"read": total, "written": total, "skipped": 0},
            "skipped": [],
            "crop_size": size,
            "points": n_points,
        }
        return writer.commit(manifest)


def read_manifest(split_dir: str | Path) -> dict[str, Any]:
    """The manifest of a prepared split; UserError when the folder is not a complete cache."""
    split_dir = Path(split_dir)
    path = split_dir / "manifest.json"
    if not path.is_file():
        raise UserError(f"{split_dir}: not a prepared cache (no manifest.json); run `handvae prepare`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: corrupt manifest ({err})") from None
    fmt = str(manifest.get("versions", {}).get("cache_format"))
    if fmt != str(CACHE_FORMAT):
        raise UserError(f"{path}: cache format {fmt}, this handvae reads format {CACHE_FORMAT}; prepare again")
    return manifest


def verify(split_dir: str | Path) -> None:
    """Recompute every file's sha256 against the manifest; UserError naming the first mismatch."""
    split_dir = Path(split_dir)
    manifest = read_manifest(split_dir)
    for name, digest in manifest["files"].items():
        if not (split_dir / name).is_file() or file_sha256(split_dir / name) != digest:
            raise UserError(f"{split_dir / name}: checksum mismatch with manifest.json (corrupt cache)")


def open_split(split_dir: str | Path, names: list[str] | None = None, mmap: bool = True) -> dict[str, np.ndarray]:
    """Arrays of a prepared split (memory-mapped unless ``mmap`` is False); ``names`` picks fields."""
    split_dir = Path(split_dir)
    manifest = read_manifest(split_dir)
    names = names or [n for n in manifest["files"] if n.endswith(".npy")]
    out = {}
    for name in names:
        stem = name.removesuffix(".npy")
        path = split_dir / f"{stem}.npy"
        if not path.is_file():
            raise UserError(f"{path}: missing from the cache")
        out[stem] = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    return out


def to_camera_mm(pose_norm: np.ndarray, R_vc: np.ndarray, centroid_mm: np.ndarray, scale_mm, mirrored) -> np.ndarray:
    """Normalised poses ``(B, J, 3)`` -> mm in the original camera frame (undoes viewpoint and mirroring).

    ``R_vc (B, 3, 3)``, ``centroid_mm (B, 3)``, ``scale_mm (B,)``, ``mirrored (B,)`` from the cache.
    """

    return unmirror_xyz(undo_viewpoint(pose_norm, R_vc, centroid_mm, scale_mm), mirrored)
