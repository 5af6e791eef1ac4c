"""One synthetic sample: camera, one or two posed hands with forearms and sleeves, objects,
background, lighting, rendering and camera effects.

Mask labels follow RHD: 0 background (and objects), 1 person (forearm, sleeve), left hand 2-17,
right hand 18-33. Within a hand (base 2 or 18): finger f (thumb 0 .. little 4) has three labels
``base + 3 f + k`` with k = 0 distal, 1 middle, 2 proximal phalanx (the thumb's proximal label
covers its metacarpal), and ``base + 15`` is the palm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from handvae.skeleton import NUM_JOINTS, finger_joints
from handvae.synth.compose import backdrop, joint_visibility, shade
from handvae.synth.hand import PosedHand, forward_kinematics, sample_proportions
from handvae.synth.mesh_hand import default_rig, hand_maps, is_mirrored, joint_radius, local_pose, pose_mesh
from handvae.synth.poses import GRASPS, sample_orientation, sample_pose, sample_wrist
from handvae.synth.rasterize import rasterize, vertex_normals
from handvae.synth.render import Primitives, render
from handvae.synth.surface import (
    LABEL_BASE,
    M_ARM,
    M_HAND,
    M_OBJECT,
    M_SLEEVE,
    ROW_OFFSET,
    Surface,
    capsule_surface,
    empty_surface,
    merge,
    mesh_surface,
)

M_ARM_PART = 1  # the mesh's part label of forearm vertices (RHD's "person")
MESH_FOREARM_RADIUS_MM = (28.0, 48.0)  # the mesh forearm's largest radius at the wrist and the cut end


@dataclass
class SceneOptions:
    """Knobs of the world. ``K`` fixes the intrinsics (STB); None samples a focal length per image
    as ``focal_range * width`` with the principal point near the centre."""

    width: int = 320
    height: int = 320
    K: np.ndarray | None = None
    focal_range: tuple[float, float] = (0.75, 1.15)
    hand_span: tuple[float, float] = (0.3, 0.75)  # hand extent / min(width, height)
    p_second_hand: float = 0.3
    p_grasp_object: float = 0.3  # raised to 0.7 for grasp poses
    p_front_occluder: float = 0.2
    p_sleeve: float = 0.75
    max_depth_mm: float = 4900.0
    main_side: str | None = None  # 'left' | 'right' | None (random)
    hand_model: str = "mesh"  # 'mesh': the skinned MakeHuman hand | 'capsule': round cones
    pose_sampler: str = "natural"  # 'natural': gesture and grasp families | 'uniform': uniform angles
    thumb_holds: bool = True  # natural poses: the thumb touches the fingers it holds down (poses.THUMB_HOLDS)
    forearm: bool = True  # False: hands end at the wrist (no forearm, no sleeve)
    p_natural_background: float = 0.7  # photographic backgrounds (scikit-image), else procedural
    p_dead_leaves: float = 0.0  # share of dead-leaves clutter among procedural backgrounds
    p_amplitude_mix: float = 0.5  # amplitude-spectrum mixing with a natural image
    skin_maps: bool = False  # mesh hand: MakeHuman's skin detail (creases) and fingernail maps
    p_random_texture: float = 0.0  # skin painted with a random procedural texture (domain randomisation)


@dataclass
class SceneSample:
    """rgb (H, W, 3) uint8; depth_mm (H, W) float64 z-depth; mask (H, W) uint8 RHD labels;
    K (3, 3); joints_mm (42, 3) camera frame, rows 0-20 left hand, 21-41 right (RHD order);
    uv (42, 2) pixels (integer = pixel centre); visible (42,) bool; joint_radius_mm (42,) the
    surface radius around each joint; main_side: the side of the hand the image is about."""

    rgb: np.ndarray
    depth_mm: np.ndarray
    mask: np.ndarray
    K: np.ndarray
    joints_mm: np.ndarray
    uv: np.ndarray
    visible: np.ndarray
    joint_radius_mm: np.ndarray
    main_side: str
    info: dict = field(default_factory=dict)


class _Prims:
    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, a, b, ra, rb, label, material, palmar=(0.0, 0.0, 0.0), nail=False, owner=-1):
        self.rows.append((np.asarray(a, float), np.asarray(b, float), float(ra), float(rb), label, material,
                          np.asarray(palmar, float), nail, owner))  # fmt: skip

    def arrays(self):
        cols = list(zip(*self.rows))
        prims = Primitives(np.stack(cols[0]), np.stack(cols[1]), np.array(cols[2]), np.array(cols[3]))
        return prims, {
            "label": np.array(cols[4], dtype=np.uint8),
            "material": np.array(cols[5], dtype=np.int32),
            "palmar": np.stack(cols[6]),
            "nail": np.array(cols[7], dtype=bool),
            "owner": np.array(cols[8], dtype=np.int32),
        }


def _add_hand(pr: _Prims, hand: PosedHand, owner: int, sleeve: tuple | None, forearm: bool = True) -> np.ndarray:
    """Primitives of one hand + forearm (+ sleeve); returns the joint radii (21,) mm."""
    p, j = hand.prop, hand.joints
    s, pt = p.scale, p.palm_thickness
    base = LABEL_BASE[hand.side]
    palm_n = hand.frames[0][:, 2]
    radius = np.zeros(NUM_JOINTS)
    for f in range(5):
        tip, j3, j2, j1 = finger_joints(f)
        r = p.radii[f]
        tip_c = j[tip] - (j[tip] - j[j3]) / np.linalg.norm(j[tip] - j[j3]) * 0.6 * r[3]
        for k, (ja, jb, ra, rb) in enumerate(((j3, tip, r[2], r[3]), (j2, j3, r[1], r[2]), (j1, j2, r[0], r[1]))):
            b_pt = tip_c if k == 0 else j[jb]
            pr.add(j[ja], b_pt, ra, rb, base + 3 * f + k, M_HAND, hand.frames[jb][:, 2], nail=k == 0, owner=owner)
        radius[[j1, j2, j3, tip]] = r
    loc = hand.to_camera
    lp = base + 15
    bx = p.base_xz
    mcp = {f: finger_joints(f)[3] for f in range(1, 5)}
    for f in range(1, 5):
        start = loc([0.55 * bx[f, 0], 12.0 * s, 0.5 * bx[f, 1] + 1.0])
        pr.add(start, j[mcp[f]], pt * 1.05, max(p.radii[f, 0] * 1.08, pt * 0.85), lp, M_HAND, palm_n, owner=owner)
        radius[mcp[f]] = max(p.radii[f, 0] * 1.08, pt * 0.85) + 1.0
    pr.add(j[mcp[1]], j[mcp[4]], pt * 0.8, pt * 0.75, lp, M_HAND, palm_n, owner=owner)
    pr.add(loc([0.0, 0.0, 2.0]), loc([0.0, 32.0 * s, 3.0]), p.forearm_radius[0] * 0.92, pt * 1.1, lp, M_HAND,
           palm_n, owner=owner)  # fmt: skip
    pr.add(loc([-14.0 * s, 16.0 * s, 6.0]), j[mcp[4]], pt, pt * 0.85, lp, M_HAND, palm_n, owner=owner)
    thumb_mid = 0.35 * j[4] + 0.65 * j[3]
    pr.add(loc([12.0 * s, 20.0 * s, 8.0]), thumb_mid, pt * 1.2, pt * 0.9, lp, M_HAND, palm_n, owner=owner)
    pr.add(j[3], loc([20.0 * s, 58.0 * s, 3.0]), 5.0 * s, 5.5 * s, lp, M_HAND, palm_n, owner=owner)
    radius[4] = max(radius[4], pt * 1.2) + 2.0
    fr0, fr1 = p.forearm_radius
    radius[0] = fr0 + 2.0
    if not forearm:
        return radius
    pr.add(hand.forearm[0], hand.forearm[1], fr0, fr1, 1, M_ARM, owner=owner)
    if sleeve is not None:
        _add_sleeve(pr, hand, owner, sleeve, (fr0, fr1))
    return radius


def _add_sleeve(pr: _Prims, hand: PosedHand, owner: int, sleeve: tuple, arm_radius: tuple) -> None:
    """A sleeve from ``sleeve[0]`` mm up the forearm to its end, ``sleeve[1]`` times wider than
    the arm (radii at the wrist and elbow end ``arm_radius``, mm, before the identity's scale)."""
    d0, extra = sleeve
    fr0, fr1 = (r * hand.prop.scale for r in arm_radius)
    axis = hand.forearm[1] - hand.forearm[0]
    frac = min(d0 / np.linalg.norm(axis), 0.9)
    r0 = fr0 + (fr1 - fr0) * frac
    start = hand.forearm[0] + frac * axis
    pr.add(start, hand.forearm[1], r0 * extra + 2.0, fr1 * extra + 2.0, 1, M_SLEEVE, owner=owner)


def _place(hand_fn, K, width, height, rng, span_px, center_px, depth_hint=None):
    """Pose a hand so its joints span ``span_px`` pixels around ``center_px``."""
    probe = hand_fn(np.zeros(3))
    c = probe.joints[[0, 8, 12, 16, 20]].mean(axis=0)
    ext = 2.0 * float(np.max(np.linalg.norm(probe.joints - c, axis=1)))
    z = K[0, 0] * ext / span_px if depth_hint is None else depth_hint
    ray = np.linalg.solve(K, np.array([center_px[0], center_px[1], 1.0]))
    return hand_fn(ray * z - c), z


def _grasp_object(pr: _Prims, hand: PosedHand, family: str, rng) -> None:
    j = hand.joints
    ptips = j[[5, 9, 13, 17]].mean(axis=0)
    ppip = j[[7, 11, 15, 19]].mean(axis=0)
    palm_n = hand.frames[0][:, 2]
    lateral = hand.linear[:, 0] * (1 if hand.side == "right" else -1)
    if family.split("+")[0] in ("pinch", "tripod", "writing", "key") and rng.random() < 0.7:
        c = 0.5 * (j[1] + j[5])
        axis = np.cross(j[1] - j[5], palm_n)
        axis = axis / max(np.linalg.norm(axis), 1e-6) + rng.normal(0, 0.3, 3)
        axis /= np.linalg.norm(axis)
        r = rng.uniform(3.0, 8.0)
        half = rng.uniform(40.0, 90.0)
    else:
        c = 0.5 * (ptips + ppip) + palm_n * rng.uniform(0.0, 12.0)
        fingers = j[[2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 5, 9, 13, 17]]
        r = float(np.clip(np.min(np.linalg.norm(fingers - c, axis=1)) - 6.0, 10.0, 45.0))
        axis = lateral + rng.normal(0, 0.25, 3)
        axis /= np.linalg.norm(axis)
        half = 0.0 if rng.random() < 0.3 else rng.uniform(40.0, 110.0)
    pr.add(c - axis * half, c + axis * half, r, r * rng.uniform(0.8, 1.2), 0, M_OBJECT)


def make_scene(rng: np.random.Generator, opt: SceneOptions) -> SceneSample:
    """Draw and render one sample; everything random comes from ``rng``."""
    w, h = opt.width, opt.height
    if opt.K is None:
        f = w * rng.uniform(*opt.focal_range)
        K = np.array([[f, 0, w / 2 + rng.normal(0, 0.01 * w)], [0, f, h / 2 + rng.normal(0, 0.01 * h)], [0, 0, 1]])
    else:
        K = np.asarray(opt.K, dtype=np.float64)
    main_side = "right" if rng.random() < 0.5 else "left"
    if opt.main_side is not None:
        main_side = opt.main_side
    sides = (main_side, "left" if main_side == "right" else "right")
    prop = sample_proportions(rng)
    hands, poses, families = _pose_hands(rng, opt, K, prop, sides)
    pr, radii = _scene_prims(rng, opt, hands, prop, sides, families)
    surf, cleared = _reveal_main_hand(pr, hands, poses, sides, K, opt)
    bg, depth = backdrop(rng, opt, K, surf)
    rgb = shade(rng, K, surf, bg, opt.p_amplitude_mix, opt.skin_maps and opt.hand_model == "mesh", opt.p_random_texture)
    joints = np.zeros((2 * NUM_JOINTS, 3))
    jrad = np.zeros(2 * NUM_JOINTS)
    for side, hand in hands.items():
        joints[ROW_OFFSET[side] : ROW_OFFSET[side] + NUM_JOINTS] = hand.joints
        jrad[ROW_OFFSET[side] : ROW_OFFSET[side] + NUM_JOINTS] = radii[side]
    uv, visible = joint_visibility(surf, K, joints, jrad, main_side)
    return SceneSample(
        rgb=rgb, depth_mm=depth, mask=surf.label.copy(), K=K, joints_mm=joints, uv=uv, visible=visible,
        joint_radius_mm=jrad, main_side=main_side, info={"families": families, "cleared": cleared},
    )  # fmt: skip


def _surface(pr: _Prims, hands, poses, sides, K, opt: SceneOptions) -> Surface:
    """The scene's surface: ray-cast primitives (capsule hands, objects, sleeves) and, for the mesh
    hand model, the rasterised hands merged by depth."""
    w, h = opt.width, opt.height
    surf = empty_surface(h, w)
    if pr.rows:
        prims, attr = pr.arrays()
        surf = capsule_surface(render(prims, K, w, h), prims, attr, K)
    if opt.hand_model == "mesh":
        surf = merge(surf, _mesh_hands(hands, poses, sides, K, w, h, opt.forearm, opt.skin_maps))
    return surf


def _reveal_main_hand(pr: _Prims, hands, poses, sides, K, opt: SceneOptions) -> tuple[Surface, list[str]]:
    """The scene's surface, and what was taken away so that the main hand (``sides[0]``) shows at
    all: when nothing of it is in sight, first the objects and occluders, then the other hand (its
    forearm or sleeve can cover the main hand). Removes rows of ``pr`` (a row's [5] is its material,
    [8] its owner: 0 main hand, 1 other hand); draws nothing random."""
    surf, cleared = _surface(pr, hands, poses, sides, K, opt), []
    steps = (("objects", lambda r: r[5] < M_OBJECT, sides), ("other hand", lambda r: r[8] != 1, sides[:1]))
    for what, keep, order in steps:
        if _shows(surf, sides[0]):
            break
        pr.rows = [row for row in pr.rows if keep(row)]
        surf = _surface(pr, hands, poses, order, K, opt)
        cleared.append(what)
    return surf, cleared


def _shows(surf: Surface, side: str) -> bool:
    """Whether any pixel shows the hand of ``side`` (its 16 RHD mask labels)."""
    base = LABEL_BASE[side]
    return bool(np.any((surf.label >= base) & (surf.label < base + 16)))


def _pose_hands(rng, opt: SceneOptions, K, prop, sides) -> tuple[dict, dict, dict]:
    """Pose and place both hands (the main one in view, the other in view with ``p_second_hand``):
    returns side -> PosedHand, side -> (proportions, finger angles, wrist angles), side -> family."""
    w, h = opt.width, opt.height
    span = rng.uniform(*opt.hand_span) * min(w, h)
    hands: dict[str, PosedHand] = {}
    poses: dict[str, tuple] = {}
    families: dict[str, str] = {}
    depth0 = 0.0
    for idx, side in enumerate(sides):
        angles, fam = sample_pose(rng, opt.pose_sampler, opt.thumb_holds)
        for _ in range(20):  # keep the forearm from pointing straight into the lens
            wrist, rot = sample_wrist(rng), sample_orientation(rng)
            arm = forward_kinematics(prop, angles, wrist, side, rot).forearm
            if (arm[1, 2] - arm[0, 2]) / np.linalg.norm(arm[1] - arm[0]) > -0.5:
                break
        families[side] = fam
        poses[side] = (prop, angles, wrist)

        def fn(t, angles=angles, wrist=wrist, rot=rot, side=side):
            return forward_kinematics(prop, angles, wrist, side, rot, t)

        if idx == 0:
            m = 0.35 * span
            cu = rng.uniform(min(m, w / 2), max(w - m, w / 2))
            cv = rng.uniform(min(m, h / 2), max(h - m, h / 2))
            hands[side], depth0 = _place(fn, K, w, h, rng, span, (cu, cv))
        else:
            in_view = rng.random() < opt.p_second_hand
            sgn = 1 if rng.random() < 0.5 else -1
            du = (rng.uniform(0.35, 0.65) if in_view else rng.uniform(2.0, 3.0)) * w * sgn
            z = depth0 * rng.uniform(0.85, 1.25)
            hands[side], _ = _place(fn, K, w, h, rng, span, (w / 2 + du, h / 2 + rng.normal(0, 0.15 * h)), z)
    return hands, poses, families


def _scene_prims(rng, opt: SceneOptions, hands, prop, sides, families) -> tuple[_Prims, dict]:
    """The round cones of the scene (capsule hands, sleeves, a grasped object, a front occluder) and
    each hand's joint radii (21,) mm."""
    main_side = sides[0]
    pr = _Prims()
    sleeve_on = rng.random() < opt.p_sleeve
    sleeve_d, sleeve_k = rng.uniform(25.0, 150.0), rng.uniform(1.05, 1.25)
    radii = {}
    for owner, side in enumerate(sides):
        sleeve = (sleeve_d * rng.uniform(0.8, 1.2), sleeve_k) if sleeve_on and opt.forearm else None
        if opt.hand_model == "mesh":
            radii[side] = joint_radius(default_rig(), prop)
            if sleeve is not None:
                _add_sleeve(pr, hands[side], owner, sleeve, MESH_FOREARM_RADIUS_MM)
        else:
            radii[side] = _add_hand(pr, hands[side], owner, sleeve, opt.forearm)
    grasp_p = opt.p_grasp_object * (2.3 if families[main_side].split("+")[0] in GRASPS else 1.0)
    if rng.random() < grasp_p:
        _grasp_object(pr, hands[main_side], families[main_side], rng)
    if rng.random() < opt.p_front_occluder:
        hj = hands[main_side].joints
        target = hj[rng.integers(NUM_JOINTS)]
        zf = rng.uniform(0.45, 0.85)
        c = target * zf + rng.normal(0, 15.0, 3) * zf
        r = rng.uniform(8.0, 35.0) * zf
        d = rng.normal(size=3) * np.array([1, 1, 0.3])
        half = 0.0 if rng.random() < 0.4 else rng.uniform(30.0, 150.0) * zf
        pr.add(c - d / np.linalg.norm(d) * half, c + d / np.linalg.norm(d) * half, r, r, 0, M_OBJECT + 1)
    return pr, radii


def _mesh_hands(hands, poses, order, K, w, h, forearm: bool = True, skin_maps: bool = False) -> Surface:
    """Rasterise both mesh hands (with forearms unless ``forearm`` is False) into one surface;
    ``skin_maps``: skin detail and nails from the texture maps."""
    rig = default_rig()
    verts, faces, normals, attr = [], [], [], {k: [] for k in ("label", "material", "owner", "palmar", "nail")}
    face_uv = []
    offset = 0
    part = rig.mesh.part.astype(np.int16)
    for owner, side in enumerate(order):
        v, f = pose_mesh(rig, hands[side], local_pose(*poses[side]))
        uv = rig.mesh.face_uv[:, ::-1] if is_mirrored(hands[side]) else rig.mesh.face_uv
        if not forearm:  # keep the faces that touch the hand: the mesh ends at the wrist
            keep = np.any(part[f] != M_ARM_PART, axis=1)
            f, uv = f[keep], uv[keep]
        face_uv.append(uv)
        verts.append(v)
        faces.append(f + offset)
        normals.append(vertex_normals(v, f))
        offset += len(v)
        label = np.where(part >= LABEL_BASE["right"], part - LABEL_BASE["right"] + LABEL_BASE[side], part)
        attr["label"].append(label.astype(np.uint8))
        attr["material"].append(np.where(part >= LABEL_BASE["right"], M_HAND, M_ARM).astype(np.int16))
        attr["owner"].append(np.full(len(v), owner, dtype=np.int16))
        attr["palmar"].append(rig.palmar)
        attr["nail"].append(rig.nail)
    v, f = np.concatenate(verts), np.concatenate(faces)
    buf = rasterize(v, f, K, w, h)
    vertex = {k: np.concatenate(x) for k, x in attr.items()}
    if not skin_maps:
        return mesh_surface(buf, f, np.concatenate(normals), vertex)
    return mesh_surface(buf, f, np.concatenate(normals), vertex, hand_maps(), np.concatenate(face_uv))
