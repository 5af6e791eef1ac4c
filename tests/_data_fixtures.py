"""Tiny RHD- and STB-format datasets with hand-built geometry, written by the tests themselves."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image
from scipy.spatial.transform import Rotation

from handvae.data.formats import encode_rhd_depth, encode_stb_depth

RHD_SIZE = 64
RHD_K = np.array([[150.0, 0.0, 31.5], [0.0, 150.0, 31.5], [0.0, 0.0, 1.0]])
SK_K = np.array([[607.92271, 0.0, 314.78337], [0.0, 607.88192, 236.42484], [0.0, 0.0, 1.0]])
STB_R = Rotation.from_rotvec([0.00531, -0.01196, 0.00301]).as_matrix()
STB_T = np.array([-24.0381, -0.4563, -1.2326])


def hand_pose(center) -> np.ndarray:
    """(21, 3) mm, RHD order: a flat open hand, fingers pointing up (-y), tips slightly nearer."""
    c = np.asarray(center, dtype=np.float64)
    xyz = np.zeros((21, 3))
    xyz[0] = c + (0.0, 45.0, 0.0)
    for f in range(5):
        mcp = c + (-30.0 + 15.0 * f, -5.0, 0.0)
        for k in range(4):  # k = 0 tip ... 3 mcp
            xyz[1 + 4 * f + k] = mcp + (0.0, -18.0 * (3 - k), -2.0 * (3 - k))
    return xyz


def project(xyz, K):
    p = xyz @ K.T
    return p[:, :2] / p[:, 2:]


def bone_pixels(uv: np.ndarray, shape, radius: float) -> np.ndarray:
    """Bool mask: pixels within ``radius`` px of points sampled densely along the hand's bones."""
    parents = [-1] + [(j + 1 if (j - 1) % 4 != 3 else 0) for j in range(1, 21)]
    pts = [uv]
    for j in range(1, 21):
        t = np.linspace(0, 1, 20)[:, None]
        pts.append(uv[parents[j]] * (1 - t) + uv[j] * t)
    pts = np.concatenate(pts)
    vv, uu = np.mgrid[0 : shape[0], 0 : shape[1]]
    d2 = (uu[..., None] - pts[:, 0]) ** 2 + (vv[..., None] - pts[:, 1]) ** 2
    return d2.min(-1) <= radius**2


def rhd_centers(n: int) -> list[tuple[float, float, float]]:
    return [(-8.0 + 8.0 * i, 4.0 * i, 400.0 + 20.0 * i) for i in range(n)]


def write_rhd(root: Path, n: int = 3, split: str = "training") -> Path:
    """RHD layout under ``root``: right hand dominant (big), a small left-hand blob in a corner."""
    d = root / split
    for sub in ("color", "depth", "mask"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    anno = {}
    for i, c in enumerate(rhd_centers(n)):
        right = hand_pose(c)
        left = hand_pose((60.0, 60.0, 500.0))
        uv_r = project(right, RHD_K)
        hand = bone_pixels(uv_r, (RHD_SIZE, RHD_SIZE), 2.5)
        labels = np.ones((RHD_SIZE, RHD_SIZE), np.uint8)
        labels[hand] = 20  # a right-hand part
        labels[:3, :3] = 5  # a few left-hand pixels
        img = np.full((RHD_SIZE, RHD_SIZE, 3), 90, np.uint8)
        img[..., 2] = np.linspace(0, 255, RHD_SIZE).astype(np.uint8)[None, :]
        img[hand] = (210, 160, 120)
        depth = np.full((RHD_SIZE, RHD_SIZE), 0.4 + 0.02 * i, np.float32)
        Image.fromarray(img).save(d / "color" / f"{i:05d}.png")
        Image.fromarray(encode_rhd_depth(depth)).save(d / "depth" / f"{i:05d}.png")
        Image.fromarray(labels).save(d / "mask" / f"{i:05d}.png")
        xyz = np.concatenate([left, right]) / 1000.0
        uv = np.concatenate([project(left, RHD_K), uv_r])
        anno[i] = {"xyz": xyz.astype(np.float32), "uv_vis": np.c_[uv, np.ones(42)].astype(np.float32), "K": RHD_K}
    with open(d / f"anno_{split}.pickle", "wb") as fh:
        pickle.dump(anno, fh, protocol=2)
    return root


STB_SHAPE = (300, 400)  # H, W


def rhd_to_stb_labels(xyz_color_rhd: np.ndarray) -> np.ndarray:
    """Colour-frame RHD-order pose with a wrist -> depth-frame STB-order pose with a palm (mm)."""
    palm = xyz_color_rhd[16] + 0.5 * (xyz_color_rhd[0] - xyz_color_rhd[16])
    x = xyz_color_rhd.copy()
    x[0] = palm
    # STB order: palm, little, ring, middle, index, thumb, each MCP -> tip.
    order = [0] + [1 + 4 * f + k for f in (4, 3, 2, 1, 0) for k in (3, 2, 1, 0)]
    x_stb = x[order]
    return x_stb @ STB_R.T + STB_T  # inverse of (xyz - T) @ R


def stb_centers(n: int) -> list[tuple[float, float, float]]:
    return [(-10.0 + 10.0 * i, 0.0, 600.0 + 15.0 * i) for i in range(n)]


def _write_sk_frame(folder: Path, i: int, xyz: np.ndarray, plane_mm: float) -> None:
    """SK_color_i.png (bones drawn) and SK_depth_i.png (a plane at ``plane_mm`` through the hand, 1 m behind)."""
    uv = project(xyz, SK_K)
    u0, v0 = np.floor(uv.min(0) - 15).astype(int)
    u1, v1 = np.ceil(uv.max(0) + 15).astype(int)
    depth = np.full(STB_SHAPE, 1000.0)
    depth[v0:v1, u0:u1] = plane_mm
    img = np.full(STB_SHAPE + (3,), 60, np.uint8)
    img[bone_pixels(uv, STB_SHAPE, 6)] = (200, 150, 110)
    Image.fromarray(img).save(folder / f"SK_color_{i}.png")
    Image.fromarray(encode_stb_depth(depth)).save(folder / f"SK_depth_{i}.png")


def write_stb(root: Path, seqs=("B1Counting", "B2Counting"), n: int = 2) -> Path:
    """STB layout under ``root``: images/<seq>/SK_*.png and labels/<seq>_SK.mat."""
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for seq in seqs:
        folder = root / "images" / seq
        folder.mkdir(parents=True, exist_ok=True)
        para = np.zeros((3, 21, n))
        for i, c in enumerate(stb_centers(n)):
            xyz = hand_pose(c)
            para[:, :, i] = rhd_to_stb_labels(xyz).T
            _write_sk_frame(folder, i, xyz, c[2])
        scipy.io.savemat(root / "labels" / f"{seq}_SK.mat", {"handPara": para})
    return root


BB_K = np.array([[822.79041, 0.0, 318.47345], [0.0, 822.79041, 250.31296], [0.0, 0.0, 1.0]])


def write_stb_bb(root: Path, seq: str = "B3Random", n: int = 1) -> Path:
    """STB stereo-camera layout: images/<seq>/BB_left_%d.png (640x480) and labels/<seq>_BB.mat (left camera frame)."""
    (root / "labels").mkdir(parents=True, exist_ok=True)
    folder = root / "images" / seq
    folder.mkdir(parents=True, exist_ok=True)
    para = np.zeros((3, 21, n))
    for i, c in enumerate(stb_centers(n)):
        xyz = hand_pose(c)
        para[:, :, i] = ((rhd_to_stb_labels(xyz) - STB_T) @ STB_R).T  # undo the SK conversion: left-camera frame
        img = np.full((480, 640, 3), 60, np.uint8)
        Image.fromarray(img).save(folder / f"BB_left_{i}.png")
    scipy.io.savemat(root / "labels" / f"{seq}_BB.mat", {"handPara": para})
    return root


# RHD's hard cases: (the side with more mask pixels, each hand's centre in mm, joints hidden per side).
# Sample 0: the LEFT hand dominates (rows 0-20 of xyz / uv_vis), a few right-hand pixels in a corner.
# Sample 1: the right hand dominates, a few left-hand pixels in a corner. Both have occluded joints.
RHD_HARD = [
    {"dominant": "left", "left": (0.0, -4.0, 380.0), "right": (70.0, 70.0, 520.0),
     "hidden": {"left": (3, 8, 20), "right": (1, 12)}},
    {"dominant": "right", "left": (-70.0, 70.0, 520.0), "right": (4.0, 0.0, 420.0),
     "hidden": {"left": (4,), "right": (2, 11, 17)}},
]
RHD_HARD_CORNER = (slice(58, 64), slice(58, 64))  # the other hand's few pixels


def write_rhd_hard(root: Path, split: str = "training") -> Path:
    """RHD layout under ``root`` with the real format's hard cases of :data:`RHD_HARD`.

    Both hands are in every mask (the dominant one drawn along its bones with labels from both ends
    of its side's range, the other as a 6 x 6 corner patch), the two hands' annotations differ, and
    the hidden joints have ``uv_vis`` visibility 0.
    """
    d = root / split
    for sub in ("color", "depth", "mask"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    label_range = {"left": (2, 17), "right": (18, 33)}
    anno = {}
    for i, spec in enumerate(RHD_HARD):
        big = spec["dominant"]
        small = "right" if big == "left" else "left"
        poses = {side: hand_pose(spec[side]) for side in ("left", "right")}
        uv = {side: project(poses[side], RHD_K) for side in ("left", "right")}
        hand = bone_pixels(uv[big], (RHD_SIZE, RHD_SIZE), 2.5)
        assert not hand[RHD_HARD_CORNER].any()
        lo, hi = label_range[big]
        labels = np.ones((RHD_SIZE, RHD_SIZE), np.uint8)  # 1: the person
        part = np.broadcast_to(np.where(np.arange(RHD_SIZE) < 32, lo, hi), (RHD_SIZE, RHD_SIZE))  # by column
        labels[hand] = part[hand]
        labels[RHD_HARD_CORNER] = label_range[small][0]
        img = np.full((RHD_SIZE, RHD_SIZE, 3), 90, np.uint8)
        img[hand] = (210, 160, 120)
        depth = np.full((RHD_SIZE, RHD_SIZE), spec[big][2] / 1000.0, np.float32)
        Image.fromarray(img).save(d / "color" / f"{i:05d}.png")
        Image.fromarray(encode_rhd_depth(depth)).save(d / "depth" / f"{i:05d}.png")
        Image.fromarray(labels).save(d / "mask" / f"{i:05d}.png")
        vis = {side: np.ones(21) for side in ("left", "right")}
        for side, joints in spec["hidden"].items():
            vis[side][list(joints)] = 0.0
        xyz = np.concatenate([poses["left"], poses["right"]]) / 1000.0  # rows 0-20 left, 21-41 right
        uv_vis = np.c_[np.concatenate([uv["left"], uv["right"]]), np.concatenate([vis["left"], vis["right"]])]
        anno[i] = {"xyz": xyz.astype(np.float32), "uv_vis": uv_vis.astype(np.float32), "K": RHD_K}
    with open(d / f"anno_{split}.pickle", "wb") as fh:
        pickle.dump(anno, fh, protocol=2)
    return root


def write_stb_frames(root: Path, seq: str, label_depth_frame: np.ndarray, joints_colour: np.ndarray) -> Path:
    """One STB sequence under ``root`` from a given label: ``labels/<seq>_SK.mat`` and its SK images.

    ``label_depth_frame (N, 21, 3)`` mm, STB order, depth-camera frame, is written as ``handPara``
    as it is. The images are made from ``joints_colour (N, 21, 3)`` mm (the caller's colour-frame
    joints): a depth plane through the hand around its projected joints, the scene 1 m away.
    """
    (root / "labels").mkdir(parents=True, exist_ok=True)
    folder = root / "images" / seq
    folder.mkdir(parents=True, exist_ok=True)
    para = np.transpose(np.asarray(label_depth_frame, np.float64), (2, 1, 0))  # (3, 21, N)
    for i, xyz in enumerate(np.asarray(joints_colour, np.float64)):
        _write_sk_frame(folder, i, xyz, xyz[:, 2].mean())
    scipy.io.savemat(root / "labels" / f"{seq}_SK.mat", {"handPara": para})
    return root


def crop_photo(tiny_cache, folder: Path, i: int = 1, mirror: bool = False) -> tuple[Path, np.ndarray]:
    """A cached test crop saved as a photo (the whole image is then the crop, unchanged)."""
    from handvae.data.cache import open_split

    crop = np.array(open_split(tiny_cache / "test", ["image"])["image"][i])
    crop = np.ascontiguousarray(crop[:, ::-1]) if mirror else crop
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{'mirror' if mirror else 'photo'}{i}.png"
    Image.fromarray(crop).save(path)
    return path, crop
