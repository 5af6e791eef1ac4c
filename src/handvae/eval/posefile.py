"""Read pose files for ``handvae metrics``: npy, npz or json holding (N, 21, 3) poses.

- ``.npy``: the array itself.
- ``.npz``: the array under ``pose`` (or ``xyz``, ``pred``, ``gt``), or the only array in the file;
  an optional ``vis`` (N, 21) array gives visibility.
- ``.json``: a nested list (N, 21, 3), or an object with ``pose`` and optionally ``vis``.

Poses come back in RHD order (``stb`` order has its palm converted to a wrist). Pickled objects
are never loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from handvae.errors import UserError
from handvae.skeleton import NUM_JOINTS, ORDERS, reorder, stb_to_rhd

_POSE_KEYS = ("pose", "xyz", "pred", "gt", "joints")


def _as_pose_array(raw: object, path: Path) -> np.ndarray:
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{path}: expected numbers shaped (N, 21, 3), got ragged or non-numeric data") from None
    if arr.ndim == 2 and arr.shape == (NUM_JOINTS, 3):
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (NUM_JOINTS, 3):
        raise UserError(f"{path}: expected poses shaped (N, 21, 3), got {arr.shape}")
    if arr.shape[0] == 0:
        raise UserError(f"{path}: holds no poses (N = 0)")
    bad = ~np.isfinite(arr)
    if bad.any():
        n = int(bad.any(axis=(1, 2)).sum())
        first = int(np.argmax(bad.any(axis=(1, 2))))
        raise UserError(f"{path}: {n} pose(s) hold NaN or inf values (first at index {first}); expected finite numbers")
    return arr


def load_poses(path: str | Path, order: str = "rhd") -> tuple[np.ndarray, np.ndarray | None]:
    """Load ``(poses (N, 21, 3) in RHD order, vis (N, 21) bool or None)`` from ``path``."""
    path = Path(path)
    if order not in ORDERS:
        raise UserError(f"unknown joint order {order!r} for {path}; expected one of {', '.join(ORDERS)}")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    suffix = path.suffix.lower()
    vis = None
    try:
        if suffix == ".npy":
            raw = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.keys())
                key = next((k for k in _POSE_KEYS if k in keys), None)
                if key is None:
                    arrays = [k for k in keys if k != "vis"]
                    if len(arrays) != 1:
                        raise UserError(
                            f"{path}: expected an array named one of {', '.join(_POSE_KEYS)} "
                            f"(or a single array), found {keys}"
                        )
                    key = arrays[0]
                raw = data[key]
                vis = data["vis"] if "vis" in keys else None
        elif suffix == ".json":
            doc = json.loads(path.read_text())
            if isinstance(doc, dict):
                key = next((k for k in _POSE_KEYS if k in doc), None)
                if key is None:
                    raise UserError(f"{path}: expected a JSON list or an object with a 'pose' entry")
                raw, vis = doc[key], doc.get("vis")
            else:
                raw = doc
        else:
            raise UserError(f"{path}: unsupported file type {suffix!r}; expected .npy, .npz or .json")
    except UserError:
        raise
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: could not be read as {suffix[1:]} ({err})") from None
    pose = _as_pose_array(raw, path)
    if vis is not None:
        vis = np.asarray(vis)
        if vis.shape != pose.shape[:2]:
            raise UserError(f"{path}: 'vis' must be shaped {pose.shape[:2]} like the poses, got {vis.shape}")
        vis = vis.astype(bool)
        if order != "rhd":
            vis = reorder(vis[..., None], order, "rhd")[..., 0]
    pose = stb_to_rhd(pose) if order == "stb" else reorder(pose, order, "rhd")
    return pose, vis
