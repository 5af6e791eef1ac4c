"""User inputs of ``handvae predict``: images, ``--bbox`` and ``--K``, each checked with a clear error.

Every failure is a :class:`~handvae.errors.UserError` naming the file or the value and what was
expected. Pixel convention as in :mod:`handvae.data.crop`: pixel centres at integer coordinates,
so a box ``x, y, w, h`` covers the pixels ``x .. x + w - 1`` and has its centre at
``x + (w - 1) / 2`` (exactly how training boxes are made from the hand mask).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from handvae.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm")


def read_image(path: str | Path) -> np.ndarray:
    """An image file as ``(H, W, 3) uint8`` RGB, EXIF orientation applied (as a viewer shows it)."""
    from PIL import Image, ImageOps

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA").convert("RGB")
            arr = np.asarray(im.convert("RGB"))
    except Exception as err:  # PIL raises many types (UnidentifiedImageError, OSError, DecompressionBomb...)
        raise UserError(f"{path}: not a readable image ({type(err).__name__}: {err})") from None
    if arr.ndim != 3 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise UserError(f"{path}: image of shape {arr.shape}; expected at least 2 x 2 pixels")
    return arr


def _floats(text: str, n: int, flag: str, names: str) -> list[float]:
    parts = [p for p in str(text).replace(" ", "").split(",")]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        raise UserError(f"{flag} {text!r}: expected {n} finite numbers {names} separated by commas")
    return vals


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"x,y,w,h"`` (pixels, top-left corner and size) -> floats; w and h must be positive."""
    x, y, w, h = _floats(text, 4, "--bbox", "x,y,w,h (pixels)")
    if w <= 0 or h <= 0:
        raise UserError(f"--bbox {text!r}: width and height must be positive, got w={w:g}, h={h:g}")
    return x, y, w, h


def parse_K(text: str) -> np.ndarray:
    """``"fx,fy,cx,cy"`` (pixels) -> the (3, 3) intrinsics; focal lengths must be positive."""
    fx, fy, cx, cy = _floats(text, 4, "--K", "fx,fy,cx,cy (pixels)")
    if fx <= 0 or fy <= 0:
        raise UserError(f"--K {text!r}: focal lengths must be positive, got fx={fx:g}, fy={fy:g}")
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def check_bbox_inside(bbox: tuple[float, float, float, float], width: int, height: int, image: str) -> None:
    """Raise a UserError naming ``image`` when the box is not inside its ``width x height`` pixels."""
    x, y, w, h = bbox
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise UserError(
            f"{image}: --bbox {x:g},{y:g},{w:g},{h:g} lies outside the {width}x{height} image; "
            f"expected 0 <= x, 0 <= y, x + w <= {width}, y + h <= {height}"
        )


def collect_images(inputs: list[str]) -> list[Path]:
    """Files as given, folders expanded to their image files (by suffix, sorted). Missing paths: UserError."""
    out: list[Path] = []
    for text in inputs:
        p = Path(text)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES
                           and not q.name.startswith("."))
            if not found:
                raise UserError(f"{p}: a folder without image files ({', '.join(IMAGE_SUFFIXES)})")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise UserError(f"{p}: no such image file or folder")
    return out
