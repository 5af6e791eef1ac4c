"""Writers of one sample in RHD's and STB's on-disk formats (docs/DATA.md).

RHD_published_v2: ``<split>/color/%05d.png`` (8-bit RGB), ``<split>/depth/%05d.png`` (8-bit RGB,
:func:`handvae.data.formats.encode_rhd_depth`), ``<split>/mask/%05d.png`` (8-bit grey, labels),
and ``<split>/anno_<split>.pickle``: dict int -> {'xyz': (42, 3) float32 metres, camera frame;
'uv_vis': (42, 3) float32 (u, v, visible 0/1); 'K': (3, 3) float32}. Rows 0-20 left, 21-41 right.

STB: ``images/<seq>/SK_color_%d.png``, ``images/<seq>/SK_depth_%d.png`` (depth registered to the
colour camera, :func:`handvae.data.formats.encode_stb_depth`) and ``labels/<seq>_SK.mat`` with
``handPara`` (3, 21, N) float64 mm, STB joint order (palm centre first), depth-camera frame.
The palm centre is written as ``(wrist + ring_mcp) / 2`` so that the literature's conversion
``wrist = ring_mcp + 2 (palm - ring_mcp)`` gives back the generator's wrist exactly.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np

from handvae.data.formats import encode_rhd_depth, encode_stb_depth, stb_color_to_depth_frame
from handvae.skeleton import NUM_JOINTS, STB_WRIST_REF_JOINT, WRIST, reorder
from handvae.synth.scene import SceneSample

RHD_SPLITS = ("training", "evaluation")
STB_TRAIN_SEQS = tuple(f"B{i}{kind}" for i in range(2, 7) for kind in ("Counting", "Random"))
STB_TEST_SEQS = ("B1Counting", "B1Random")
PNG_LEVEL = 1  # DEFLATE level: fast; PNG is lossless whatever the level


def _deflate_module() -> ModuleType:
    """ISA-L's zlib-compatible DEFLATE (the ``isal`` package) when installed, else the standard
    ``zlib``: the same stream format that every PNG reader decodes, about 10x faster at level 1 on
    noisy photos (about 10% larger files). Either gives the same bytes on every run."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
        return zlib
    return isal_zlib


DEFLATE = _deflate_module()


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def encode_png(array: np.ndarray) -> bytes:
    """An (H, W) grey or (H, W, 3) RGB uint8 array -> PNG bytes (8-bit, every row with the "Up"
    filter, DEFLATE level 1, by :data:`DEFLATE`). Much faster than PIL's adaptive filtering for noisy
    photos at about the same size; any PNG reader decodes it to the same array."""
    a = np.asarray(array)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"expected (H, W) or (H, W, 3) uint8, got {a.dtype} {a.shape}")
    h, w = a.shape[:2]
    flat = a.reshape(h, -1)
    raw = np.empty((h, flat.shape[1] + 1), dtype=np.uint8)
    raw[:, 0] = 2  # filter type Up
    raw[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=raw[1:, 1:])
    color_type = 0 if a.ndim == 2 else 2
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", DEFLATE.compress(raw.tobytes(), PNG_LEVEL))
        + _chunk(b"IEND", b"")
    )


def save_png(path: Path, array: np.ndarray) -> None:
    """Write an (H, W) or (H, W, 3) uint8 array as PNG (deterministic bytes)."""
    Path(path).write_bytes(encode_png(array))


def rhd_record(s: SceneSample) -> dict[str, np.ndarray]:
    """The annotation of one sample as RHD stores it."""
    uv_vis = np.concatenate([s.uv, s.visible[:, None].astype(np.float64)], axis=1)
    return {
        "xyz": (s.joints_mm / 1000.0).astype(np.float32),
        "uv_vis": uv_vis.astype(np.float32),
        "K": np.asarray(s.K, dtype=np.float32),
    }


def rhd_dirs(split_root: Path) -> None:
    for sub in ("color", "depth", "mask"):
        (split_root / sub).mkdir(parents=True, exist_ok=True)


def write_rhd_sample(split_root: Path, index: int, s: SceneSample) -> dict[str, np.ndarray]:
    """Write color/depth/mask PNGs of sample ``index`` under ``split_root``; return its record."""
    name = f"{index:05d}.png"
    save_png(split_root / "color" / name, s.rgb)
    save_png(split_root / "depth" / name, encode_rhd_depth(s.depth_mm / 1000.0))
    save_png(split_root / "mask" / name, s.mask)
    return rhd_record(s)


def stb_pose(s: SceneSample, side: str = "left") -> np.ndarray:
    """(21, 3) mm in STB order, palm centre at 0, depth-camera frame, from a sample's hand."""
    rows = slice(0, NUM_JOINTS) if side == "left" else slice(NUM_JOINTS, 2 * NUM_JOINTS)
    j = np.array(s.joints_mm[rows], dtype=np.float64)
    j[WRIST] = 0.5 * (j[WRIST] + j[STB_WRIST_REF_JOINT])  # wrist -> palm centre
    return stb_color_to_depth_frame(reorder(j, "rhd", "stb"))


def write_stb_frame(seq_dir: Path, frame: int, s: SceneSample) -> np.ndarray:
    """Write SK colour and depth PNGs of one frame; return its (21, 3) handPara slice."""
    save_png(seq_dir / f"SK_color_{frame}.png", s.rgb)
    save_png(seq_dir / f"SK_depth_{frame}.png", encode_stb_depth(s.depth_mm))
    return stb_pose(s)


def stb_plan(n_train: int, n_test: int) -> list[tuple[str, str, int, int]]:
    """Sequences to write: (name, split, first global index in the split, frame count)."""
    plan = []
    for split, seqs, n in (("train", STB_TRAIN_SEQS, n_train), ("test", STB_TEST_SEQS, n_test)):
        start = 0
        for k, seq in enumerate(seqs):
            count = n // len(seqs) + (1 if k < n % len(seqs) else 0)
            if count:
                plan.append((seq, split, start, count))
            start += count
    return plan


_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by handvae synth"


def mat_bytes(hand_para: np.ndarray) -> bytes:
    """A MATLAB v5 file holding ``handPara`` with a fixed header (scipy stamps the time otherwise,
    which would break byte-identical output)."""
    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, {"handPara": np.asarray(hand_para, dtype=np.float64)}, do_compression=False)
    data = bytearray(buf.getvalue())
    data[:116] = _MAT_HEADER.ljust(116, b" ")
    return bytes(data)
