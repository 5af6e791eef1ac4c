"""Reader for the Stereo Hand Pose Tracking Benchmark (STB) and anything written in its format.

Layout: sequence folders (``ROOT/images/<seq>/`` or ``ROOT/<seq>/``) with ``SK_color_%d.png``,
``SK_depth_%d.png`` (mm, see :func:`handvae.data.formats.decode_stb_depth`), ``BB_left_%d.png``;
labels ``ROOT/labels/<seq>_SK.mat`` / ``<seq>_BB.mat`` with ``handPara`` (3, 21, N) mm in STB's
joint order. Split (literature convention): B1Counting and B1Random are the test set, every
other sequence found is training (override with ``sequences``).

camera 'sk' (default): RealSense colour + depth. SK labels are in the depth camera frame and are
moved to the colour frame (``(xyz - T) @ R``, :func:`stb_depth_to_color_frame`); the depth image
is taken as registered to the colour image (same pixel grid and intrinsics, as the project's
generator writes it). The hand mask is segmented from depth: pixels whose 3D point lies within
``radius_mm`` of a labelled bone segment. camera 'bb': Bumblebee left image with its intrinsics;
no depth (``has_depth`` False, no cloud), the mask is the projected bones thickened by
``radius_mm`` at the hand's depth. Palm -> wrist as in the literature; hand side: always left.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from handvae.data.crop import project
from handvae.data.formats import STB_BB_LEFT_K, STB_SK_COLOR_K, decode_stb_depth, stb_depth_to_color_frame
from handvae.data.imageio import read_png, read_rgb_channels
from handvae.data.raw import RawSample, SampleError
from handvae.errors import UserError
from handvae.skeleton import BONES, stb_to_rhd

TEST_SEQUENCES = ("B1Counting", "B1Random")
CAMERAS = ("sk", "bb")


def dist_to_segments(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each point ``(M, D)`` to the nearest segment a[k]-b[k] (``(K, D)`` each) -> (M,)."""
    ab = b - a  # (K, D)
    ap = points[:, None, :] - a[None]  # (M, K, D)
    denom = np.maximum((ab * ab).sum(-1), 1e-12)
    t = np.clip((ap * ab[None]).sum(-1) / denom, 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return np.sqrt(((points[:, None, :] - closest) ** 2).sum(-1)).min(axis=1)


def mask_from_depth(depth_m: np.ndarray, K: np.ndarray, xyz_mm: np.ndarray, radius_mm: float = 20.0) -> np.ndarray:
    """Hand mask ``(H, W) bool``: valid depth pixels within ``radius_mm`` of a bone of ``xyz_mm (21, 3)``."""
    h, w = depth_m.shape
    uv = project(xyz_mm, K)
    z_min = max(float(xyz_mm[:, 2].min()), 1.0)
    pad = K[0, 0] * radius_mm / z_min + 2
    u0, v0 = (np.floor(uv.min(0) - pad)).astype(int)
    u1, v1 = (np.ceil(uv.max(0) + pad)).astype(int)
    u0, v0, u1, v1 = max(u0, 0), max(v0, 0), min(u1, w - 1), min(v1, h - 1)
    mask = np.zeros((h, w), dtype=bool)
    if u1 < u0 or v1 < v0:
        return mask
    vv, uu = np.mgrid[v0 : v1 + 1, u0 : u1 + 1]
    z = depth_m[v0 : v1 + 1, u0 : u1 + 1].astype(np.float64) * 1000.0
    ok = z > 0
    pts = backproject(uu[ok], vv[ok], z[ok], K)
    bones = np.array(BONES)
    near = dist_to_segments(pts, xyz_mm[bones[:, 0]], xyz_mm[bones[:, 1]]) < radius_mm
    sub = np.zeros(z.shape, dtype=bool)
    sub[ok] = near
    mask[v0 : v1 + 1, u0 : u1 + 1] = sub
    return mask


def mask_from_joints_2d(shape: tuple[int, int], K: np.ndarray, xyz_mm: np.ndarray, radius_mm: float) -> np.ndarray:
    """Hand mask ``(H, W) bool`` without depth: projected bones thickened by ``radius_mm`` at the hand's depth."""
    h, w = shape
    uv = project(xyz_mm, K)
    r_px = K[0, 0] * radius_mm / max(float(np.median(xyz_mm[:, 2])), 1.0)
    vv, uu = np.mgrid[0:h, 0:w]
    pts = np.stack([uu.ravel(), vv.ravel()], axis=1).astype(np.float64)
    bones = np.array(BONES)
    return (dist_to_segments(pts, uv[bones[:, 0]], uv[bones[:, 1]]) < r_px).reshape(h, w)


def backproject(u: np.ndarray, v: np.ndarray, z_mm: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels (u, v) with depth z (mm) -> camera-frame points (M, 3) mm."""
    x = (u - K[0, 2]) / K[0, 0] * z_mm
    y = (v - K[1, 2]) / K[1, 1] * z_mm
    return np.stack([x, y, z_mm], axis=-1)


def _find_images_dir(root: Path) -> Path:
    return root / "images" if (root / "images").is_dir() else root


class STBReader:
    """Frames of the STB sequences of one split. ``len``; ``ids``; ``read(i) -> RawSample``."""

    source = "stb"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        camera: str = "sk",
        sequences: list[str] | None = None,
        radius_mm: float = 20.0,
    ):
        if camera not in CAMERAS:
            raise UserError(f"STB camera must be one of {CAMERAS}, got {camera!r}")
        if split not in ("train", "test"):
            raise UserError(f"STB split must be 'train' or 'test', got {split!r}")
        root = Path(root)
        self.images = _find_images_dir(root)
        self.labels = root / "labels"
        self.camera = camera
        self.radius_mm = radius_mm
        if not self.labels.is_dir():
            raise UserError(f"{self.labels}: not a folder; expected STB labels/<seq>_SK.mat there")
        tag = "SK" if camera == "sk" else "BB"
        found = sorted(
            p.name for p in self.images.iterdir() if p.is_dir() and (self.labels / f"{p.name}_{tag}.mat").is_file()
        )
        if sequences:
            missing = [s for s in sequences if s not in found]
            if missing:
                raise UserError(f"{root}: sequences {missing} not found (with labels); found {found}")
            seqs = list(sequences)
        else:
            seqs = [s for s in found if (s in TEST_SEQUENCES) == (split == "test")]
        if not seqs:
            raise UserError(f"{root}: no STB {split} sequences with {tag} labels found (found {found})")
        self.sequences = seqs
        self.hand_para: dict[str, np.ndarray] = {}
        self.index: list[tuple[str, int]] = []
        for seq in seqs:
            path = self.labels / f"{seq}_{tag}.mat"
            try:
                para = scipy.io.loadmat(path)["handPara"]
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise UserError(f"{path}: not a readable STB label file with 'handPara' ({err})") from None
            para = np.asarray(para, dtype=np.float64)
            if para.ndim != 3 or para.shape[:2] != (3, 21):
                raise UserError(f"{path}: handPara must have shape (3, 21, N), got {para.shape}")
            self.hand_para[seq] = para
            self.index.extend((seq, f) for f in range(para.shape[2]))
        self.ids = [f"{seq}/{f}" for seq, f in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def read(self, i: int) -> RawSample:
        seq, frame = self.index[i]
        sid = self.ids[i]
        folder = self.images / seq
        xyz_stb = self.hand_para[seq][:, :, frame].T  # (21, 3) mm, STB order
        if self.camera == "sk":
            color_path = folder / f"SK_color_{frame}.png"
            image = read_png(color_path, sid, "colour image", mode="RGB")
            depth_path = folder / f"SK_depth_{frame}.png"
            depth = decode_stb_depth(read_rgb_channels(depth_path, sid, "depth image")) / 1000.0
            if depth.shape != image.shape[:2]:
                raise SampleError(
                    sid,
                    str(depth_path),
                    f"depth size {depth.shape} does not match the colour image size {image.shape[:2]}",
                )
            K = np.array(STB_SK_COLOR_K, dtype=np.float64)
            xyz = stb_to_rhd(stb_depth_to_color_frame(xyz_stb))
            mask = mask_from_depth(depth, K, xyz, self.radius_mm)
            has_depth = True
            mask_path = depth_path
        else:
            color_path = folder / f"BB_left_{frame}.png"
            image = read_png(color_path, sid, "colour image", mode="RGB")
            K = np.array(STB_BB_LEFT_K, dtype=np.float64)
            xyz = stb_to_rhd(xyz_stb)
            depth = np.zeros(image.shape[:2], dtype=np.float32)
            mask = mask_from_joints_2d(image.shape[:2], K, xyz, self.radius_mm)
            has_depth = False
            mask_path = color_path
        if not mask.any():
            raise SampleError(sid, str(mask_path), "empty hand mask (no depth near the labelled joints)")
        sample = RawSample(
            image=image,
            depth=depth.astype(np.float32),
            mask=mask,
            K=K,
            xyz=xyz,
            uv=project(xyz, K),
            vis=np.ones(21, dtype=bool),
            side="left",
            source=self.source,
            id=sid,
            has_depth=has_depth,
            path=str(color_path),
        )
        sample.check()
        return sample
