"""Pictures of a prediction: the skeleton over the photo, and a 3D plot (matplotlib, Agg backend)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from handvae.files import atomic_write_bytes
from handvae.skeleton import BONES, FINGERS, NUM_JOINTS

FINGER_COLORS = ((230, 60, 60), (240, 200, 40), (60, 200, 80), (50, 140, 240), (200, 80, 220))
PLOT_PX = 480  # the 3D plot is PLOT_PX x PLOT_PX


def bone_color(child: int) -> tuple[int, int, int]:
    """Colour of the bone ending at joint ``child`` (by finger)."""
    return FINGER_COLORS[(child - 1) // 4]


def save_png_atomic(image, path: str | os.PathLike) -> Path:
    """Save a PIL image as PNG, atomically (see :func:`handvae.files.atomic_write_bytes`)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


def overlay(image: np.ndarray, uv: np.ndarray, box: np.ndarray | None = None):
    """The skeleton ``uv (21, 2)`` px drawn on ``image (H, W, 3) uint8`` (same size); PIL image."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(img)
    h, w = image.shape[:2]
    lw = max(1, round(max(h, w) / 200))
    if box is not None:
        draw.rectangle([float(v) for v in box], outline=(255, 255, 255), width=max(1, lw // 2))
    for p, c in BONES:
        draw.line([tuple(map(float, uv[p])), tuple(map(float, uv[c]))], fill=bone_color(c), width=lw)
    r = 1.5 * lw + 0.5
    for j in range(NUM_JOINTS):
        u, v = map(float, uv[j])
        draw.ellipse([u - r, v - r, u + r, v + r], fill=(255, 255, 255), outline=(0, 0, 0))
    return img


def plot_3d(rel_mm: np.ndarray, title: str = ""):
    """A 3D plot (PLOT_PX square) of root-relative joints ``(21, 3)`` mm, camera axes; PIL image.

    Drawn with image-up (-y) up and depth (z) away from the viewer, so it looks like the photo.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from PIL import Image

    fig = Figure(figsize=(PLOT_PX / 100, PLOT_PX / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection="3d")
    pts = np.asarray(rel_mm, np.float64)
    xs, ys, zs = pts[:, 0], pts[:, 2], -pts[:, 1]  # plot axes: x right, depth, up
    for p, c in BONES:
        ax.plot([xs[p], xs[c]], [ys[p], ys[c]], [zs[p], zs[c]], color=np.array(bone_color(c)) / 255, lw=2.5)
    ax.scatter(xs, ys, zs, c="k", s=8, depthshade=False)
    mid = (pts.max(0) + pts.min(0)) / 2.0
    r = max(float((pts.max(0) - pts.min(0)).max()) / 2.0, 1.0) * 1.1
    ax.set_xlim(mid[0] - r, mid[0] + r)
    ax.set_ylim(mid[2] - r, mid[2] + r)
    ax.set_zlim(-mid[1] - r, -mid[1] + r)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("z, depth (mm)")
    ax.set_zlabel("-y, up (mm)")
    ax.view_init(elev=10, azim=-80)
    handles = [Line2D([], [], color=np.array(col) / 255, lw=2.5) for col in FINGER_COLORS]
    ax.legend(handles, FINGERS, loc="upper left", fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return Image.fromarray(rgba[..., :3].copy())
