"""A contact sheet for people: one row per sample with RGB, depth, part mask and skeleton overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from handvae.files import atomic_path
from handvae.skeleton import BONES, NUM_JOINTS
from handvae.synth.scene import SceneSample

_FINGER_COLORS = ((230, 60, 60), (240, 200, 40), (60, 200, 80), (50, 140, 240), (200, 80, 220))


def _depth_tile(s: SceneSample) -> np.ndarray:
    d = s.depth_mm
    fg = s.mask > 0
    lo = float(d[fg].min()) if fg.any() else float(d.min())
    hi = float(d[fg].max()) if fg.any() else float(d.max())
    t = np.clip((d - lo) / max(hi - lo, 1.0), 0, 1)
    t = np.where(fg, t, 1.0)
    col = np.stack([1 - t, 0.3 + 0.4 * (1 - t), t], axis=-1) * np.where(fg, 1.0, 0.25)[..., None]
    return (col * 255).astype(np.uint8)


def _mask_tile(s: SceneSample) -> np.ndarray:
    m = s.mask.astype(np.int64)
    rng = np.random.default_rng(7)
    palette = rng.integers(60, 256, size=(256, 3)).astype(np.uint8)
    palette[0] = 0
    palette[1] = (90, 90, 90)
    return palette[m]


def _skeleton_tile(s: SceneSample) -> np.ndarray:
    img = Image.fromarray(s.rgb.copy())
    draw = ImageDraw.Draw(img)
    for hand in range(2):
        off = hand * NUM_JOINTS
        for p, c in BONES:
            a, b = s.uv[off + p], s.uv[off + c]
            col = _FINGER_COLORS[(c - 1) // 4]
            if not (s.visible[off + p] or s.visible[off + c]):
                col = tuple(v // 3 for v in col)
            draw.line([tuple(a), tuple(b)], fill=col, width=2)
        for j in range(NUM_JOINTS):
            u, v = s.uv[off + j]
            r = 2.5
            fill = (255, 255, 255) if s.visible[off + j] else (60, 60, 60)
            draw.ellipse([u - r, v - r, u + r, v + r], fill=fill)
    return np.asarray(img)


def contact_sheet(samples: list[SceneSample], tile: int = 200) -> np.ndarray:
    """(rows * tile_h, 4 * tile_w, 3) uint8: per sample RGB | depth | mask | skeleton overlay."""
    rows = []
    for s in samples:
        tiles = [s.rgb, _depth_tile(s), _mask_tile(s), _skeleton_tile(s)]
        h, w = s.rgb.shape[:2]
        th = round(tile * h / w)
        rows.append(
            np.concatenate(
                [np.asarray(Image.fromarray(t).resize((tile, th), Image.BILINEAR)) for t in tiles], 1
            )
        )
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)


def write_contact_sheet(samples: list[SceneSample], path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(contact_sheet(samples)).save(tmp, format="PNG")
    return path
