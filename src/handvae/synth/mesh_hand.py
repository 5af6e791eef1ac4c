"""The skinned mesh hand: the packaged MakeHuman hand (:mod:`handvae.synth.mesh_asset`) deformed by
linear blend skinning so that its skeleton follows the kinematic hand of :mod:`handvae.synth.hand`.

The labels are the kinematic hand's joints (RHD's placement, docs/DATA.md), so the keypoint
convention stays explicit and adjustable through :class:`~handvae.synth.hand.HandProportions`; the
mesh is the skin around them. Each mesh bone gets the transform that carries its rest segment
(head -> tail) onto the kinematic bone between the corresponding joints:

- phalanges (thumb: CMC->MCP, MCP->IP, IP->tip; fingers: MCP->PIP, PIP->DIP, DIP->tip): the rotation
  from the bone's rest frame (lateral, along, palmar) to the kinematic frame of that bone, a
  stretch along the bone to the kinematic length and the girth scale across it;
- metacarpals (wrist region -> MCP): the palm's scale, then the smallest rotation and stretch that
  put the mesh MCP on the kinematic MCP;
- the palm (``wrist.R``): the palm's scale; the forearm: the smallest rotation from the mesh's
  forearm direction to the kinematic forearm's (wrist flexion and deviation), and the palm's scale.

All in the right-hand local frame (mm); :func:`pose_mesh` then maps to the camera with the posed
hand's ``linear`` / ``translation`` (which mirror a left hand) and reverses the faces' winding for a
mirrored hand so normals still point out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from handvae.skeleton import finger_joints
from handvae.synth.hand import DEFAULT_RADII, HandProportions, PosedHand, forward_kinematics
from handvae.synth.mesh_asset import HandMaps, HandMesh, load_hand_maps, load_hand_mesh
from handvae.synth.rasterize import vertex_normals

DEFAULT_PALM_THICKNESS = 14.5  # hand.py's default palm half-thickness, mm
THUMB_BEND = np.array([-0.55, 0.0, 0.83])  # the thumb's flexion direction at rest (as hand.py)
PALMAR = np.array([0.0, 0.0, 1.0])
FOREARM = ("lowerarm01.R", "lowerarm02.R")
PALM = "wrist.R"


def _bone_joints() -> dict[str, tuple[int, int]]:
    """Mesh bone name -> (head joint, tail joint) in RHD order; metacarpals have head -1 (palm)."""
    out: dict[str, tuple[int, int]] = {}
    for f in range(5):
        tip, j3, j2, base = finger_joints(f)
        for k, (a, b) in enumerate(((base, j2), (j2, j3), (j3, tip))):
            out[f"finger{f + 1}-{k + 1}.R"] = (a, b)
        if f > 0:
            out[f"metacarpal{f}.R"] = (-1, base)
    return out


def _frame(along: np.ndarray, bend_ref: np.ndarray) -> np.ndarray:
    """Columns (lateral, along, bend) as hand.py's bone frames, bend orthogonalised to ``along``."""
    a = along / np.linalg.norm(along)
    b = bend_ref - a * (bend_ref @ a)
    b /= np.linalg.norm(b)
    return np.stack([np.cross(a, b), a, b], axis=1)


def _align(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Smallest rotation (3, 3) taking direction ``u`` to direction ``w``."""
    u = u / np.linalg.norm(u)
    w = w / np.linalg.norm(w)
    c = float(u @ w)
    axis = np.cross(u, w)
    s = float(np.linalg.norm(axis))
    if s < 1e-9:
        return np.eye(3) if c > 0 else np.diag([-1.0, -1.0, 1.0]) if abs(u[2]) < 0.9 else np.diag([1.0, -1.0, -1.0])
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def _girth(prop: HandProportions) -> float:
    """Finger girth of an identity relative to the default hand (includes its overall scale)."""
    return float(np.mean(np.asarray(prop.radii)[:, 1]) / np.mean(np.array(DEFAULT_RADII)[:, 1]))


@dataclass(frozen=True, eq=False)
class MeshRig:
    """What posing needs, computed once from a :class:`HandMesh`.

    rest_frame (B, 3, 3): each bone's rest frame (identity for palm and forearm); bone_joints (B, 2):
    (head, tail) RHD joints, -1 head for metacarpals, -2 for palm and forearm; palmar (V,) in [0, 1]:
    how much a vertex faces the palm side at rest (palm skin colour weight); nail (V,) in [0, 1]:
    fingernail weight; joint_radius (21,) mm: skin depth around each rest keypoint (visibility).
    """

    mesh: HandMesh
    rest_frame: np.ndarray
    bone_joints: np.ndarray
    palmar: np.ndarray
    nail: np.ndarray
    joint_radius: np.ndarray


def build_rig(mesh: HandMesh) -> MeshRig:
    joints = _bone_joints()
    nb = mesh.num_bones
    frames = np.tile(np.eye(3), (nb, 1, 1))
    bj = np.full((nb, 2), -2, dtype=np.int64)
    head, tail = mesh.head.astype(np.float64), mesh.tail.astype(np.float64)
    for i, name in enumerate(mesh.bone_names):
        if name in joints:
            bj[i] = joints[name]
            ref = THUMB_BEND if name.startswith("finger1-") else PALMAR
            frames[i] = _frame(tail[i] - head[i], ref)
    v = mesh.vertices.astype(np.float64)
    n = vertex_normals(v, mesh.faces)
    hand = mesh.part >= 18
    palmar = np.where(hand, np.clip((n @ PALMAR + 0.1) / 0.7, 0.0, 1.0), 0.0)
    nail = np.zeros(len(v))
    for f in range(5):
        b = mesh.bone_index(f"finger{f + 1}-3.R")
        on = mesh.part == 18 + 3 * f
        ax = tail[b] - head[b]
        t = (v[on] - head[b]) @ ax / (ax @ ax)
        dors = -(n[on] @ frames[b][:, 2])
        nail[on] = np.clip((dors - 0.45) * 4, 0, 1) * np.clip((t - 0.45) * 5, 0, 1)
    return MeshRig(mesh, frames, bj, palmar, nail, _rest_joint_radius(mesh, v))


def _rest_joint_radius(mesh: HandMesh, v: np.ndarray) -> np.ndarray:
    """Skin radius around each rest keypoint (21,) mm: the median distance from the keypoint to the
    vertices of its adjacent parts within a 6 mm slab across the bone (fingertips: 0.6 x the DIP's)."""
    kp = mesh.keypoints.astype(np.float64)
    radius = np.full(21, 10.0)
    parts = {0: (1, 33)}
    for f in range(5):
        tip, j3, j2, base = finger_joints(f)
        lab = [18 + 3 * f + k for k in range(3)]
        parts.update({j3: (lab[0], lab[1]), j2: (lab[1], lab[2]), base: (lab[2], 33)})
        for j, (a, b) in {j3: (j2, tip), j2: (base, j3), base: (base, j2)}.items():
            d = kp[b] - kp[a]
            d /= np.linalg.norm(d)
            near = np.isin(mesh.part, parts[j]) & (np.abs((v - kp[j]) @ d) < 3.0)
            dist = np.linalg.norm(v[near] - kp[j], axis=1)
            dist = dist[dist < 30.0]
            if dist.size > 3:
                radius[j] = float(np.median(dist))
        radius[tip] = 0.6 * radius[j3]
    arm = np.linalg.norm(v[mesh.part == 1], axis=1) < 15.0
    radius[0] = float(np.median(np.linalg.norm(v[mesh.part == 1][arm], axis=1))) if arm.sum() > 3 else 25.0
    return radius


@lru_cache(maxsize=1)
def default_rig() -> MeshRig:
    """The rig of the packaged mesh (loaded once per process)."""
    return build_rig(load_hand_mesh())


@lru_cache(maxsize=1)
def hand_maps() -> HandMaps:
    """The packaged skin detail and fingernail maps (loaded once per process)."""
    return load_hand_maps()


def bone_transforms(rig: MeshRig, local: PosedHand) -> tuple[np.ndarray, np.ndarray]:
    """Per-bone affine maps ``A (B, 3, 3)``, ``t (B, 3)`` (rest mesh -> posed, right-hand local
    frame mm) that carry the mesh's skeleton onto ``local`` (a hand posed with no rotation,
    translation or mirror)."""
    m, p = rig.mesh, local.prop
    head, tail = m.head.astype(np.float64), m.tail.astype(np.float64)
    kp = m.keypoints.astype(np.float64)
    j = local.joints
    s = float(np.linalg.norm(j[12]) / np.linalg.norm(kp[12]))  # palm scale (wrist at the origin)
    g = _girth(p)  # across-bone scale (includes the identity's overall scale)
    palm = np.diag([s, s, p.palm_thickness / DEFAULT_PALM_THICKNESS])
    nb = m.num_bones
    A = np.zeros((nb, 3, 3))
    t = np.zeros((nb, 3))
    arm_dir = local.forearm[1] - local.forearm[0]
    r_arm = _align(head[m.bone_index(FOREARM[0])], arm_dir)
    for i, name in enumerate(m.bone_names):
        ja, jb = rig.bone_joints[i]
        if ja == -2:
            A[i] = (r_arm @ palm) if name in FOREARM else palm
            continue
        if ja == -1:  # metacarpal: palm scale, then rotate/stretch the MCP onto the kinematic one
            h, tl = palm @ head[i], palm @ tail[i]
            r = _align(tl - h, j[jb] - h)
            d = (tl - h) / np.linalg.norm(tl - h)
            k = np.linalg.norm(j[jb] - h) / np.linalg.norm(tl - h)
            A[i] = r @ (np.eye(3) + (k - 1.0) * np.outer(d, d)) @ palm
            t[i] = h - A[i] @ head[i]
            continue
        a = rig.rest_frame[i][:, 1]
        length = np.linalg.norm(j[jb] - j[ja]) / np.linalg.norm(tail[i] - head[i])
        stretch = g * np.eye(3) + (length - g) * np.outer(a, a)
        A[i] = local.frames[jb] @ rig.rest_frame[i].T @ stretch
        t[i] = j[ja] - A[i] @ head[i]
    return A, t


def pose_mesh(rig: MeshRig, hand: PosedHand, local: PosedHand) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` in the camera frame (mm) and faces ``(F, 3)`` (wound so normals point out)
    of the mesh posed as ``hand``; ``local`` is the same pose with no rotation, translation or
    mirror (see :func:`local_pose`)."""
    A, t = bone_transforms(rig, local)
    w = rig.mesh.weights.astype(np.float64)
    v = rig.mesh.vertices.astype(np.float64)
    M = np.einsum("vb,bij->vij", w, A)
    posed = np.einsum("vij,vj->vi", M, v) + w @ t
    cam = posed @ hand.linear.T + hand.translation
    faces = rig.mesh.faces
    if is_mirrored(hand):
        faces = faces[:, ::-1]
    return cam, faces


def is_mirrored(hand: PosedHand) -> bool:
    """Whether ``hand`` mirrors the right-hand mesh (a left hand): :func:`pose_mesh` then reverses
    every face's corner order, and per-corner data (texture coordinates) must follow."""
    return bool(np.linalg.det(hand.linear) < 0)


def local_pose(prop: HandProportions, angles: np.ndarray, wrist_angles: np.ndarray | None) -> PosedHand:
    """The right-hand local pose (no rotation, translation or mirror) that :func:`pose_mesh` needs."""
    return forward_kinematics(prop, angles, wrist_angles, "right")


def joint_radius(rig: MeshRig, prop: HandProportions) -> np.ndarray:
    """Skin depth around each joint (21,) mm for an identity, for the visibility test."""
    out = rig.joint_radius * _girth(prop)
    out[0] = max(out[0], prop.forearm_radius[0])
    return out + 2.0
