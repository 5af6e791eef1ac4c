"""The one home for the hand's structure: joint order, bones, root and scale joints, order maps.

Internal order everywhere in handvae is RHD's 21-joint order:
0 wrist; then thumb 1-4, index 5-8, middle 9-12, ring 13-16, little 17-20, each finger listed
from TIP (first) to MCP/base (last). So 12 is the middle MCP, 11 the middle PIP, 4 the thumb base.

Order maps follow one convention: ``pose_b = pose_a[..., A2B, :]``, i.e. ``A2B[i]`` is the index
in order A of the joint that sits at index i in order B.

- snap (MediaPipe, FreiHAND, MANO-style): wrist, then each finger thumb..little, base -> tip.
- stb (Stereo Hand Pose Benchmark): 0 palm centre, then little, ring, middle, index, thumb,
  each MCP -> tip. STB has no wrist; :func:`stb_to_rhd` converts its palm into a wrist.
"""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 21
FINGERS = ("thumb", "index", "middle", "ring", "little")
# Per-finger joint names from tip to base, as RHD lists them.
_FINGER_PARTS = ("tip", "dip", "pip", "mcp")
_THUMB_PARTS = ("tip", "ip", "mcp", "cmc")

JOINT_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{part}"
    for finger in FINGERS
    for part in (_THUMB_PARTS if finger == "thumb" else _FINGER_PARTS)
)

WRIST = 0
ROOT_JOINT = 12  # middle MCP: the paper's root
SCALE_BONE = (12, 11)  # middle MCP -> middle PIP: the paper's scale reference


def finger_joints(finger: int | str) -> tuple[int, int, int, int]:
    """RHD indices of a finger's joints, tip first, base last. ``finger``: 0..4 or a name."""
    f = FINGERS.index(finger) if isinstance(finger, str) else int(finger)
    if not 0 <= f < 5:
        raise ValueError(f"finger must be 0..4 or one of {FINGERS}, got {finger!r}")
    b = 1 + 4 * f
    return (b, b + 1, b + 2, b + 3)


FINGER_GROUPS: dict[str, tuple[int, ...]] = {name: finger_joints(i) for i, name in enumerate(FINGERS)}

# Parent of each joint in the kinematic tree (the wrist is the root, parent -1).
PARENTS: tuple[int, ...] = tuple(
    [-1] + [(j + 1 if (j - 1) % 4 != 3 else WRIST) for j in range(1, NUM_JOINTS)]
)
# Bones as (parent, child) pairs: 20 of them.
BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[j], j) for j in range(1, NUM_JOINTS))

# --- order maps -------------------------------------------------------------------------------
# snap order = RHD with each finger reversed; the map is its own inverse.
RHD2SNAP: tuple[int, ...] = tuple([0] + [1 + 4 * f + (3 - k) for f in range(5) for k in range(4)])
SNAP2RHD: tuple[int, ...] = tuple(int(i) for i in np.argsort(RHD2SNAP))

# STB order: palm, then fingers little..thumb, each MCP -> tip.
# RHD finger f (thumb=0), position k (tip=0) sits in STB at finger g = 4 - f, position 3 - k.
STB2RHD: tuple[int, ...] = tuple([0] + [1 + 4 * (4 - f) + (3 - k) for f in range(5) for k in range(4)])
RHD2STB: tuple[int, ...] = tuple(int(i) for i in np.argsort(STB2RHD))

ORDERS = ("rhd", "snap", "stb")
_TO_RHD = {"rhd": tuple(range(NUM_JOINTS)), "snap": SNAP2RHD, "stb": STB2RHD}
_FROM_RHD = {"rhd": tuple(range(NUM_JOINTS)), "snap": RHD2SNAP, "stb": RHD2STB}

# STB palm -> wrist: the literature extrapolates from the ring MCP (RHD index 16) through the palm.
STB_WRIST_REF_JOINT = 16


def reorder(pose: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Reorder joints of ``pose: (..., 21, D)`` from order ``src`` to order ``dst``.

    Pure permutation: STB's palm stays a palm (use :func:`stb_to_rhd` for the wrist).
    """
    for name in (src, dst):
        if name not in ORDERS:
            raise ValueError(f"unknown joint order {name!r}; expected one of {ORDERS}")
    pose = np.asarray(pose)
    if pose.ndim < 2 or pose.shape[-2] != NUM_JOINTS:
        raise ValueError(f"expected joints on axis -2 with {NUM_JOINTS} entries, got shape {pose.shape}")
    rhd = pose[..., list(_TO_RHD[src]), :]
    return rhd[..., list(_FROM_RHD[dst]), :]


def palm_to_wrist(pose_rhd_with_palm: np.ndarray) -> np.ndarray:
    """Replace joint 0 (a palm centre, RHD order) by a wrist: ``wrist = ring_mcp + 2 (palm - ring_mcp)``.

    pose: (..., 21, 3) any unit; returns a new array, same shape.
    """
    out = np.array(pose_rhd_with_palm, dtype=float)
    ref = out[..., STB_WRIST_REF_JOINT, :]
    out[..., WRIST, :] = ref + 2.0 * (out[..., WRIST, :] - ref)
    return out


def stb_to_rhd(pose_stb: np.ndarray) -> np.ndarray:
    """STB annotation ``(..., 21, 3)`` mm in STB order -> RHD order with a wrist instead of the palm."""
    return palm_to_wrist(reorder(pose_stb, "stb", "rhd"))


def bone_length(pose: np.ndarray, bone: tuple[int, int] = SCALE_BONE) -> np.ndarray:
    """Length of ``bone`` for ``pose: (..., 21, 3)``; returns (...,) in the pose's unit."""
    pose = np.asarray(pose)
    return np.linalg.norm(pose[..., bone[0], :] - pose[..., bone[1], :], axis=-1)


def palm_normal(pose: np.ndarray) -> np.ndarray:
    """``(index_mcp - wrist) x (little_mcp - wrist)`` for ``pose: (..., 21, 3)``: the normal of the palm's
    triangle, not normalised, (..., 3). For a right hand it points to the palm's side."""
    j = np.asarray(pose, dtype=np.float64)
    w = j[..., WRIST, :]
    return np.cross(j[..., finger_joints(1)[3], :] - w, j[..., finger_joints(4)[3], :] - w)
