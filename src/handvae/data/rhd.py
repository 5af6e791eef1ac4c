"""Reader for the Rendered Hand Pose dataset (RHD_published_v2) and anything written in its format.

Layout: ``ROOT/training`` and ``ROOT/evaluation``, each with ``color/%05d.png``,
``depth/%05d.png`` (depth_m = (R*256 + G)/65535*5, see :mod:`handvae.data.formats`),
``mask/%05d.png`` (0 background, 1 person, 2-17 left hand, 18-33 right hand) and
``anno_<split>.pickle`` (sample id -> {'xyz': (42, 3) m, 'uv_vis': (42, 3), 'K': (3, 3)};
rows 0-20 left hand, 21-41 right hand). The pickle is read with the restricted unpickler.
One hand per sample: the dominant one, with more mask pixels (ties go to the right hand).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from handvae.data.formats import decode_rhd_depth
from handvae.data.imageio import read_png, read_rgb_channels
from handvae.data.raw import RawSample, SampleError
from handvae.data.safe_pickle import safe_load
from handvae.errors import UserError

SPLIT_DIRS = {"train": "training", "training": "training", "test": "evaluation", "evaluation": "evaluation"}
LEFT_LABELS = (2, 17)
RIGHT_LABELS = (18, 33)


def dominant_hand(labels: np.ndarray) -> tuple[str, np.ndarray]:
    """Pick the hand with more pixels in an RHD label mask ``(H, W)``: ('left'|'right', (H, W) bool)."""
    left = (labels >= LEFT_LABELS[0]) & (labels <= LEFT_LABELS[1])
    right = (labels >= RIGHT_LABELS[0]) & (labels <= RIGHT_LABELS[1])
    if int(left.sum()) > int(right.sum()):
        return "left", left
    return "right", right


class RHDReader:
    """Samples of one RHD split. ``len(reader)``; ``reader.ids``; ``reader.read(i) -> RawSample``."""

    source = "rhd"

    def __init__(self, root: str | Path, split: str = "train"):
        if split not in SPLIT_DIRS:
            raise UserError(f"RHD split must be one of {sorted(SPLIT_DIRS)}, got {split!r}")
        name = SPLIT_DIRS[split]
        root = Path(root)
        self.dir = root / name
        if not self.dir.is_dir():
            raise UserError(f"{self.dir}: not a folder; expected an RHD root with {name}/ inside")
        self.anno_path = self.dir / f"anno_{name}.pickle"
        if not self.anno_path.is_file():
            raise UserError(f"{self.anno_path}: annotation file missing")
        try:
            anno = safe_load(self.anno_path)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
            raise UserError(f"{self.anno_path}: not a readable RHD annotation pickle ({err})") from None
        if not isinstance(anno, dict):
            raise UserError(f"{self.anno_path}: expected a dict of sample id -> annotation")
        self.anno = anno
        self.keys = sorted(anno)
        self.ids = [f"{name}/{int(k):05d}" for k in self.keys]

    def __len__(self) -> int:
        return len(self.keys)

    def read(self, i: int) -> RawSample:
        key = self.keys[i]
        sid = self.ids[i]
        stem = f"{int(key):05d}.png"
        color_path = self.dir / "color" / stem
        image = read_png(color_path, sid, "colour image", mode="RGB")
        depth = decode_rhd_depth(read_rgb_channels(self.dir / "depth" / stem, sid, "depth image"))
        mask_path = self.dir / "mask" / stem
        labels = read_png(mask_path, sid, "mask image")
        if labels.ndim == 3:
            labels = labels[..., 0]
        if depth.shape != image.shape[:2]:
            raise SampleError(
                sid, str(self.dir / "depth" / stem),
                f"depth size {depth.shape} does not match the colour image size {image.shape[:2]}",
            )
        if labels.shape != image.shape[:2]:
            raise SampleError(
                sid, str(mask_path), f"mask size {labels.shape} does not match the colour image size {image.shape[:2]}"
            )
        side, mask = dominant_hand(labels)
        if not mask.any():
            raise SampleError(sid, str(mask_path), "empty hand mask (no pixels labelled 2-33)")
        entry = self.anno[key]
        where = f"{self.anno_path} [{key}]"
        if not isinstance(entry, dict) or not {"xyz", "uv_vis", "K"} <= set(entry):
            raise SampleError(sid, where, "annotation must be a dict with keys 'xyz', 'uv_vis', 'K'")
        xyz = np.asarray(entry["xyz"], dtype=np.float64)
        uv_vis = np.asarray(entry["uv_vis"], dtype=np.float64)
        K = np.asarray(entry["K"], dtype=np.float64)
        for name, arr, shape in (("xyz", xyz, (42, 3)), ("uv_vis", uv_vis, (42, 3)), ("K", K, (3, 3))):
            if arr.shape != shape:
                raise SampleError(sid, where, f"annotation {name} must have shape {shape}, got {arr.shape}")
        rows = slice(0, 21) if side == "left" else slice(21, 42)
        sample = RawSample(
            image=image,
            depth=depth,
            mask=mask,
            K=K,
            xyz=xyz[rows] * 1000.0,
            uv=uv_vis[rows, :2],
            vis=uv_vis[rows, 2] > 0.5,
            side=side,
            source=self.source,
            id=sid,
            path=str(color_path),
        )
        sample.check()
        return sample
