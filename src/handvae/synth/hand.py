"""A posable kinematic hand: per-identity proportions, joint limits, forward kinematics in RHD order.

Local hand frame (millimetres), defined for a RIGHT hand: origin at the wrist, +y from the wrist
towards the fingers, +z out of the palm (the palmar side), x = y cross z (towards the thumb).
A left hand is the mirror image (x negated), so left and right have opposite chirality:
:func:`chirality` is +1 for a right hand and -1 for a left hand whatever the pose or rotation.

Joint placement follows RHD (docs/DATA.md): the thumb's base joint sits near the CMC,
about 40 mm from the wrist; the MCPs of index..little sit 94, 93, 89, 84 mm from the wrist;
bones (base -> tip) as listed in :data:`DEFAULT_BONES`. These proportions are a documented,
adjustable part of the model (:class:`HandProportions`); identities scale and jitter them.

Pose parameters: ``angles (5, 4)`` radians, one row per finger thumb..little.
Long fingers: (MCP flexion, MCP abduction (+ towards the thumb), PIP flexion, DIP flexion).
Thumb: (CMC flexion (across the palm), CMC abduction (away from the palm), MCP flexion, IP flexion).
Flexion is positive towards the palm. Limits: :data:`LOWER`, :data:`UPPER`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from handvae.data.viewpoint import rot_x, rot_y, rot_z
from handvae.skeleton import NUM_JOINTS, finger_joints, palm_normal

DEG = np.pi / 180.0

# wrist -> base joint of each finger (thumb CMC, other MCPs), mm, RHD placement
DEFAULT_BASE_DIST = (40.0, 94.0, 93.0, 89.0, 84.0)
# lateral (x, towards thumb) and palmar (z) offsets of each base joint, mm; y follows from the distance
DEFAULT_BASE_XZ = ((24.0, 11.0), (28.0, 3.0), (9.0, 0.0), (-10.0, 2.0), (-28.0, 6.0))
# bone lengths base -> tip per finger (thumb: CMC->MCP, MCP->IP, IP->tip), mm, RHD placement
DEFAULT_BONES = (
    (42.0, 33.0, 26.0),
    (36.0, 27.0, 26.5),
    (36.0, 28.0, 28.0),
    (30.0, 27.5, 27.5),
    (33.0, 19.0, 19.5),
)
# surface radius at base, 2nd, 3rd joint and tip (mm) for an average adult
DEFAULT_RADII = (
    (14.0, 10.5, 9.3, 8.3),
    (9.8, 8.6, 7.6, 6.8),
    (10.2, 8.9, 7.8, 7.0),
    (9.6, 8.4, 7.4, 6.6),
    (8.6, 7.5, 6.6, 5.9),
)
# rest direction of each proximal bone in the palm plane: angle from +y towards +x (thumb side), degrees
REST_SPLAY_DEG = (0.0, 6.0, 0.0, -6.0, -13.0)

# joint limits, degrees, layout as the pose angles
_LIMITS_DEG = np.array(
    [
        [[-20, 60], [-25, 50], [-15, 70], [-20, 85]],  # thumb: CMC flex, CMC abd, MCP, IP
        [[-25, 95], [-20, 25], [-5, 110], [-10, 85]],  # index
        [[-25, 95], [-20, 20], [-5, 110], [-10, 85]],  # middle
        [[-25, 95], [-20, 20], [-5, 110], [-10, 85]],  # ring
        [[-25, 95], [-30, 20], [-5, 110], [-10, 85]],  # little
    ],
    dtype=np.float64,
)
LOWER = _LIMITS_DEG[..., 0] * DEG  # (5, 4) radians
UPPER = _LIMITS_DEG[..., 1] * DEG  # (5, 4) radians
# wrist: (flexion, radial(+)/ulnar(-) deviation) of the hand relative to the forearm
WRIST_LOWER = np.array([-70.0, -30.0]) * DEG
WRIST_UPPER = np.array([70.0, 20.0]) * DEG


@dataclass
class HandProportions:
    """Geometry of one identity (mm). ``base_dist (5,)``, ``base_xz (5, 2)``, ``bones (5, 3)``,
    ``radii (5, 4)``; ``forearm_radius`` (wrist end, elbow end); ``palm_thickness`` half-thickness."""

    base_dist: np.ndarray = field(default_factory=lambda: np.array(DEFAULT_BASE_DIST))
    base_xz: np.ndarray = field(default_factory=lambda: np.array(DEFAULT_BASE_XZ))
    bones: np.ndarray = field(default_factory=lambda: np.array(DEFAULT_BONES))
    radii: np.ndarray = field(default_factory=lambda: np.array(DEFAULT_RADII))
    forearm_radius: tuple[float, float] = (21.0, 30.0)
    palm_thickness: float = 14.5

    @property
    def scale(self) -> float:
        return float(self.base_dist[2] / DEFAULT_BASE_DIST[2])


def sample_proportions(rng: np.random.Generator) -> HandProportions:
    """A random identity: overall scale from a child's (0.72) to a large adult's (1.15) hand, with
    per-bone jitter (+-6 %), finger girth (+-12 %) and MCP depth (+-4 %) variation."""
    s = float(np.clip(rng.normal(0.97, 0.09), 0.72, 1.15))
    girth = s * float(np.clip(rng.normal(1.0, 0.07), 0.88, 1.14))
    p = HandProportions()
    p.base_dist = p.base_dist * s * rng.uniform(0.96, 1.04, size=5)
    p.base_xz = p.base_xz * s * rng.uniform(0.93, 1.07, size=(5, 2))
    p.bones = p.bones * s * rng.uniform(0.94, 1.06, size=(5, 3))
    p.radii = p.radii * girth * rng.uniform(0.96, 1.04, size=(5, 1))
    p.forearm_radius = (21.0 * girth * rng.uniform(0.92, 1.08), 30.0 * girth * rng.uniform(0.9, 1.15))
    p.palm_thickness = 14.5 * girth
    return p


def base_positions(prop: HandProportions) -> np.ndarray:
    """Base joints (thumb CMC, MCPs) in the right-hand local frame: (5, 3) mm."""
    x, z = prop.base_xz[:, 0], prop.base_xz[:, 1]
    y = np.sqrt(np.maximum(prop.base_dist**2 - x**2 - z**2, 1.0))
    return np.stack([x, y, z], axis=1)


@lru_cache(maxsize=5)
def _finger_base_frame(f: int) -> np.ndarray:
    """Rest frame of finger ``f`` (columns: lateral, along, palmar) in the right-hand local frame;
    computed once per finger (a read-only array)."""
    if f == 0:
        along = np.array([0.52, 0.80, 0.30])
        along /= np.linalg.norm(along)
        bend = np.array([-0.55, 0.0, 0.83])  # the thumb flexes across and into the palm
        bend -= along * (bend @ along)
        bend /= np.linalg.norm(bend)
    else:
        a = REST_SPLAY_DEG[f] * DEG
        along = np.array([np.sin(a), np.cos(a), 0.0])
        bend = np.array([0.0, 0.0, 1.0])
    lateral = np.cross(along, bend)
    frame = np.stack([lateral, along, bend], axis=1)
    frame.flags.writeable = False
    return frame


@dataclass
class PosedHand:
    """A posed hand in the camera frame (mm).

    joints: (21, 3) in RHD order; frames: (21, 3, 3) the rotation of each bone's frame (columns:
    lateral, along the bone, palmar) stored at the bone's child joint (row 0: the palm frame);
    forearm: (2, 3) wrist-end and elbow-end centres of the forearm; side: 'left' | 'right';
    linear (3, 3) and translation (3,) map right-hand local points (mm) to the camera frame
    (``x_cam = x_local @ linear.T + translation``; ``linear`` includes the mirror of a left hand).
    """

    joints: np.ndarray
    frames: np.ndarray
    forearm: np.ndarray
    side: str
    prop: HandProportions
    linear: np.ndarray
    translation: np.ndarray

    def to_camera(self, local: np.ndarray) -> np.ndarray:
        """Right-hand local points ``(..., 3)`` mm -> camera frame mm."""
        return np.asarray(local, dtype=np.float64) @ self.linear.T + self.translation


def forward_kinematics(
    prop: HandProportions,
    angles: np.ndarray,
    wrist_angles: np.ndarray | None = None,
    side: str = "right",
    rotation: np.ndarray | None = None,
    translation: np.ndarray | None = None,
) -> PosedHand:
    """Pose the hand. ``angles (5, 4)`` rad; ``wrist_angles (2,)`` rad (flexion, deviation) bend
    the forearm; ``rotation (3, 3)`` and ``translation (3,)`` mm map the local frame (of a right
    hand; mirrored for a left hand) into the camera frame. Returns a :class:`PosedHand`."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    angles = np.asarray(angles, dtype=np.float64).reshape(5, 4)
    joints = np.zeros((NUM_JOINTS, 3))
    frames = np.zeros((NUM_JOINTS, 3, 3))
    frames[0] = np.eye(3)
    bases = base_positions(prop)
    for f in range(5):
        ids = finger_joints(f)[::-1]  # base, 2nd, 3rd, tip
        frame0 = _finger_base_frame(f)
        a0, a1, a2, a3 = angles[f]
        if f == 0:
            # opposition: flexing the CMC also turns the thumb about its own axis
            r1 = frame0 @ rot_z(-a1) @ rot_x(a0) @ rot_y(0.6 * a0)
        else:
            r1 = frame0 @ rot_z(a1) @ rot_x(a0)
        r2 = r1 @ rot_x(a2)
        r3 = r2 @ rot_x(a3)
        p = bases[f]
        joints[ids[0]] = p
        frames[ids[0]] = frame0
        for r, length, jid in zip((r1, r2, r3), prop.bones[f], ids[1:]):
            p = p + r[:, 1] * length
            joints[jid] = p
            frames[jid] = r
    wa = np.zeros(2) if wrist_angles is None else np.asarray(wrist_angles, dtype=np.float64)
    # forearm axis from the wrist towards the elbow: -y bent by wrist flexion (about x) and deviation (z)
    arm_dir = rot_z(-wa[1]) @ rot_x(-wa[0]) @ np.array([0.0, -1.0, 0.0])
    forearm = np.stack([np.zeros(3), arm_dir * 250.0 * prop.scale])
    mirror = np.diag([-1.0 if side == "left" else 1.0, 1.0, 1.0])
    rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    t = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64)
    linear = rot @ mirror
    return PosedHand(
        joints=joints @ linear.T + t,
        frames=linear @ frames @ mirror,
        forearm=forearm @ linear.T + t,
        side=side,
        prop=prop,
        linear=linear,
        translation=t,
    )


def chirality(joints: np.ndarray) -> np.ndarray:
    """+1 for a right hand, -1 for a left hand: the sign of
    ``((index_mcp - wrist) x (little_mcp - wrist)) . (thumb_base - wrist)``.

    The thumb's base sits on the palmar side of the plane through the wrist and the index and
    little MCPs, so the sign does not depend on the finger pose or the rotation. joints: (..., 21, 3).
    """
    j = np.asarray(joints, dtype=np.float64)
    return np.sign(np.sum(palm_normal(j) * (j[..., 4, :] - j[..., 0, :]), axis=-1))


def flexion_angles(joints: np.ndarray) -> np.ndarray:
    """Unsigned bend angle at the 2nd and 3rd joint of each finger, ``(5, 2)`` rad, from 3D joints
    alone (the angle between consecutive bone vectors)."""
    out = np.zeros((5, 2))
    for f in range(5):
        tip, j3, j2, base = finger_joints(f)
        chain = joints[[base, j2, j3, tip]]
        bones = np.diff(chain, axis=0)
        for k in range(2):
            u, v = bones[k], bones[k + 1]
            c = u @ v / (np.linalg.norm(u) * np.linalg.norm(v))
            out[f, k] = np.arccos(np.clip(c, -1.0, 1.0))
    return out
