"""From a rendered :class:`~handvae.synth.surface.Surface` to a finished sample: the background and
its depth, shading (materials, lights, ambient occlusion, camera effects), and the joints' pixel
positions and visibility. Every random choice comes from the caller's generator, in a fixed order.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from handvae.skeleton import NUM_JOINTS
from handvae.synth import appearance as ap
from handvae.synth.rasterize import row_norm
from handvae.synth.render import project
from handvae.synth.surface import LABEL_BASE, M_ARM, M_HAND, M_OBJECT, M_SLEEVE, Surface

OCCLUDER_SLACK_MM = 10.0  # visibility: a surface this far in front of a joint's skin hides it


def backdrop(rng: np.random.Generator, opt, K: np.ndarray, surf: Surface) -> tuple[np.ndarray, np.ndarray]:
    """The background image ``(H, W, 3)`` float in [0, 1] (with a soft cast shadow of the hand and
    arm at times) and the depth map ``(H, W)`` mm: the surface, else a tilted plane behind it.
    ``opt``: the scene's options (max_depth_mm, p_natural_background, p_dead_leaves)."""
    h, w = surf.depth.shape
    hit = surf.hit
    depth_hand = float(np.median(surf.depth[hit])) if hit.any() else 600.0
    zb = depth_hand + rng.uniform(150.0, 2500.0)
    gu, gv = rng.uniform(-0.4, 0.4, size=2)
    uu = (np.arange(w)[None] - K[0, 2]) / w
    vv = (np.arange(h)[:, None] - K[1, 2]) / h
    bg_depth = np.clip(zb * (1 + gu * uu + gv * vv), depth_hand + 100.0, opt.max_depth_mm)
    depth = np.where(hit, surf.depth, bg_depth)
    bg = ap.background(rng, h, w, opt.p_natural_background, opt.p_dead_leaves)
    if hit.any() and rng.random() < 0.4:  # a soft cast shadow of the hand and arm
        shift = rng.normal(0, 0.04 * w, size=2)
        sh = ndimage.shift(hit.astype(np.float32), shift, order=0)
        sh = ndimage.gaussian_filter(sh, rng.uniform(3, 12))
        bg = bg * (1 - rng.uniform(0.2, 0.5) * sh)[..., None]
    return bg, depth


def _albedo(rng: np.random.Generator, surf: Surface, skin_detail: bool = False,
            p_random_texture: float = 0.0) -> np.ndarray:  # fmt: skip
    """Linear albedo ``(N, 3)`` of the covered pixels: skin (palm side lighter), forearm, sleeve,
    objects, nails, value-noise skin detail; with ``skin_detail`` also the surface's detail map
    (creases darken the skin by a random depth); with probability ``p_random_texture`` the skin
    (hands and forearms) is painted with a random procedural texture instead (domain
    randomisation: the network must read the hand's shape and shading, not its colour)."""
    h, w = surf.depth.shape
    hit = surf.hit
    back, palm = ap.sample_skin(rng)
    arm = back * rng.uniform(0.9, 1.05, size=3)
    sleeve_col = ap.random_color(rng, (0.0, 0.7), (0.05, 0.9)) ** 2.2
    obj_cols = [ap.random_color(rng, (0.2, 1.0), (0.2, 1.0)) ** 2.2 for _ in range(2)]
    nail_col = np.array([0.85, 0.72, 0.7]) ** 2.2
    mat = surf.material[hit]
    pal = surf.palmar[hit][:, None]
    albedo = np.where((mat == M_HAND)[:, None], back + (palm - back) * pal, 0.0)
    albedo = np.where((mat == M_ARM)[:, None], arm, albedo)
    albedo = np.where((mat == M_SLEEVE)[:, None], sleeve_col, albedo)
    albedo = np.where((mat == M_OBJECT)[:, None], obj_cols[0], albedo)
    albedo = np.where((mat == M_OBJECT + 1)[:, None], obj_cols[1], albedo)
    on = surf.nail[hit][:, None]
    albedo = albedo + (nail_col - albedo) * (0.65 * on)
    tex = ap.value_noise(rng, h, w, w / 24, 3)[hit]
    albedo = albedo * (1 + 0.14 * (tex - 0.5))[:, None]
    if skin_detail:  # creases and grain: darker where the map is high, on skin only
        depth = rng.uniform(0.06, 0.18)
        skin = (mat <= M_ARM)[:, None]
        albedo = np.where(skin, albedo * np.exp(-depth * surf.detail[hit])[:, None], albedo)
    if p_random_texture > 0 and rng.random() < p_random_texture:
        paint = ap.procedural_background(rng, h, w)[hit].astype(np.float64) ** 2.2
        albedo = np.where((mat <= M_ARM)[:, None], paint, albedo)
    return albedo


def shade(rng: np.random.Generator, K: np.ndarray, surf: Surface, bg: np.ndarray,
          p_amplitude_mix: float = 0.5, skin_detail: bool = False,
          p_random_texture: float = 0.0) -> np.ndarray:  # fmt: skip
    """The final RGB image ``(H, W, 3)`` uint8: lit surface over ``bg``, then camera effects;
    ``skin_detail``, ``p_random_texture``: see :func:`_albedo`."""
    w = surf.depth.shape[1]
    hit = surf.hit
    albedo = _albedo(rng, surf, skin_detail, p_random_texture)
    mat = surf.material[hit]
    vv, uu = np.nonzero(hit)
    pts = np.stack([(uu - K[0, 2]) / K[0, 0], (vv - K[1, 2]) / K[1, 1], np.ones(len(mat))], axis=1)
    pts = pts * surf.depth[hit][:, None]
    view = -pts / row_norm(pts)
    skin = mat <= M_ARM
    spec = np.where(skin, rng.uniform(0.03, 0.12), np.where(mat == M_SLEEVE, 0.01, rng.uniform(0.1, 0.5)))
    wrap = np.where(skin, rng.uniform(0.3, 0.6), 0.1)
    lin = ap.shade(albedo, surf.normal[hit], view, ap.sample_lights(rng), spec, rng.uniform(8.0, 30.0), wrap)
    # screen-space ambient occlusion: darken pixels whose neighbours are in front
    depth_hand = float(np.median(surf.depth[hit])) if hit.any() else 600.0
    dz = np.where(hit, surf.depth, depth_hand + 500.0)
    occl = np.clip((dz - ndimage.uniform_filter(dz, size=max(3, w // 40))) / 25.0, 0, 1)[hit]
    lin = lin * (1 - 0.55 * occl)[:, None]
    img = bg.copy()
    img[hit] = np.clip(lin, 0, 1) ** (1 / 2.2)
    return ap.camera_effects(img, rng, p_amplitude_mix)


def joint_visibility(surf: Surface, K: np.ndarray, joints: np.ndarray, radius: np.ndarray,
                     main_side: str) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Pixel positions ``uv (42, 2)`` and visibility ``(42,)`` of both hands' joints (rows 0-20 left,
    21-41 right). A joint is visible when its pixel is inside the image and shows its own hand (the
    wrist: also its own forearm) at a depth within ``radius`` mm of the joint, and nothing in the
    pixel's 3x3 neighbourhood lies more than ``radius + OCCLUDER_SLACK_MM`` in front of it (the
    joint's true position is sub-pixel, and an occluder's edge may cover it)."""
    h, w = surf.depth.shape
    uv = project(joints, K)
    visible = np.zeros(len(joints), dtype=bool)
    inside = (uv[:, 0] > -0.5) & (uv[:, 0] < w - 0.5) & (uv[:, 1] > -0.5) & (uv[:, 1] < h - 0.5) & (joints[:, 2] > 0)
    for i in np.nonzero(inside)[0]:
        u, v = int(np.rint(uv[i, 0])), int(np.rint(uv[i, 1]))
        base = LABEL_BASE["left" if i < NUM_JOINTS else "right"]
        own = base <= surf.label[v, u] <= base + 15
        if i % NUM_JOINTS == 0 and surf.label[v, u] == 1:  # the wrist may be seen on its own forearm
            side_owner = 0 if (i < NUM_JOINTS) == (main_side == "left") else 1
            own = surf.material[v, u] == M_ARM and surf.owner[v, u] == side_owner
        zd = surf.depth[v, u]
        front = surf.depth[max(v - 1, 0) : v + 2, max(u - 1, 0) : u + 2].min()
        clear = front >= joints[i, 2] - radius[i] - OCCLUDER_SLACK_MM
        visible[i] = own and clear and (joints[i, 2] - radius[i] <= zd <= joints[i, 2] + radius[i])
    return uv, visible
