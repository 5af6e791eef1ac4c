"""Drawing helpers for the qualitative figures: 3D skeletons and point clouds on matplotlib axes.

Points are in the model's normalised camera-like frame (x right, y down, z forward). They are drawn
as plot coordinates ``(x, z, -y)`` so that image-up is up on the page and depth goes into the page,
seen from slightly above and to the side of the camera. Every panel of one figure is a square of
``PANEL_IN`` inches at ``DPI`` dots per inch, and figures are saved without tight bounding boxes, so
their pixel size is exactly ``figure_size_px(rows, cols)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from handvae import files
from handvae.skeleton import BONES, FINGER_GROUPS, WRIST

PANEL_IN = 2.0  # inches per panel side
DPI = 100  # so a panel is 200 x 200 px
HEADER_IN = 0.4  # the title band above the panels (40 px)
VIEW = {"elev": 15.0, "azim": -70.0}

FINGER_COLOURS: dict[str, str] = {
    "thumb": "#d62728", "index": "#ff7f0e", "middle": "#2ca02c", "ring": "#1f77b4", "little": "#9467bd",
}
WRIST_COLOUR = "#404040"
CLOUD_COLOUR = "#5b7fa6"


def joint_colours() -> list[str]:
    """One colour per joint (RHD order): the wrist grey, every finger its own colour."""
    colours = [WRIST_COLOUR] * 21
    for finger, joints in FINGER_GROUPS.items():
        for j in joints:
            colours[j] = FINGER_COLOURS[finger]
    return colours


def figure_size_px(rows: int, cols: int) -> tuple[int, int]:
    """(width, height) in pixels of a figure of ``rows x cols`` panels plus the title band."""
    return round(cols * PANEL_IN * DPI), round((rows * PANEL_IN + HEADER_IN) * DPI)


def new_figure(rows: int, cols: int, title: str):
    """A matplotlib figure (Agg) sized for ``rows x cols`` panels, with ``title`` in its header band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = rows * PANEL_IN + HEADER_IN
    fig = plt.figure(figsize=(cols * PANEL_IN, height), dpi=DPI)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1.0 - HEADER_IN / height, wspace=0.04, hspace=0.12)
    fig.suptitle(title, fontsize=9, y=1.0 - 0.1 * HEADER_IN / height, va="top")
    return fig


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG at :data:`DPI`, untrimmed (panels keep their pixel size), atomically."""
    return files.save_figure(fig, path, dpi=DPI, tight=False)


def cube_limits(*point_sets: np.ndarray, pad: float = 0.08) -> tuple[np.ndarray, float]:
    """(centre (3,), half side) of one cube holding every given ``(..., 3)`` point set (NaNs ignored)."""
    pts = np.concatenate([np.asarray(p, np.float64).reshape(-1, 3) for p in point_sets if p is not None])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if pts.size == 0:
        return np.zeros(3), 1.0
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    half = float(max((hi - lo).max() / 2.0, 1e-3)) * (1.0 + pad)
    return (lo + hi) / 2.0, half


def _to_plot(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, np.float64)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def axes3d(fig, rows: int, cols: int, k: int, limits: tuple[np.ndarray, float], title: str = ""):
    """A 3D panel at position ``k`` (1-based) with cube ``limits`` (normalised frame), no ticks."""
    ax = fig.add_subplot(rows, cols, k, projection="3d")
    centre, half = limits
    c = _to_plot(centre)
    ax.set_xlim(c[0] - half, c[0] + half)
    ax.set_ylim(c[1] - half, c[1] + half)
    ax.set_zlim(c[2] - half, c[2] + half)
    ax.set_box_aspect((1, 1, 1), zoom=1.2)
    ax.view_init(**VIEW)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_pane_color((0.95, 0.95, 0.95, 1.0))
    if title:
        ax.set_title(title, fontsize=8, pad=0)
    return ax


def draw_pose(ax, pose: np.ndarray) -> None:
    """Skeleton of ``pose (21, 3)``: bones coloured by finger, joints as dots, the wrist grey."""
    p = _to_plot(pose)
    colours = joint_colours()
    for parent, child in BONES:
        seg = p[[parent, child]]
        ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=colours[child], lw=2.0, solid_capstyle="round")
    ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=colours, s=9, depthshade=False)
    ax.scatter(*p[WRIST], c=WRIST_COLOUR, s=18, depthshade=False)


def draw_cloud(ax, cloud: np.ndarray, colour: str = CLOUD_COLOUR) -> None:
    """Point cloud ``(N, 3)`` as small dots."""
    p = _to_plot(cloud)
    ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=colour, s=4.0, alpha=0.8, depthshade=True, linewidths=0)


def image_axes(fig, rows: int, cols: int, k: int, image: np.ndarray | None = None, title: str = ""):
    """A 2D panel at position ``k``: ``image (S, S, 3)`` uint8, or empty."""
    ax = fig.add_subplot(rows, cols, k)
    if image is not None:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if image is None:
        ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8, pad=2)
    return ax


def note_axes(fig, rows: int, cols: int, k: int, text: str, title: str = ""):
    """A panel that only says ``text`` (e.g. a modality the strategy does not decode)."""
    ax = fig.add_subplot(rows, cols, k)
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=7, wrap=True, color="#555555",
            transform=ax.transAxes)
    if title:
        ax.set_title(title, fontsize=8, pad=2)
    return ax
