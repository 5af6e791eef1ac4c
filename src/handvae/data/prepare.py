"""``prepare``: raw samples -> one cached split (crop, viewpoint correction, cloud, normalisation).

Per sample (docs/METHOD.md, section 7):
1. mirroring of left hands to the right (``mirror='left'``, the default, as hand3d does: the model
   learns one side, the cache's ``mirrored`` flag records which samples were flipped and
   :func:`to_camera_mm` undoes it; prediction mirrors a left hand's photo the same way). A left hand
   seen from the palm and a right hand seen from the back look alike, so a model trained on both
   sides without knowing which cannot learn depth. ``mirror='none'`` keeps both sides;
2. the crop: square box around the hand mask times ``margin``, rendered by the virtual camera of
   :mod:`handvae.data.crop` at S x S (the same crop a predictor makes from a box on a photo); a
   source without masks (``RawSample.mask`` None, e.g. realdev) boxes the projected joints instead,
   with the same margin (:func:`handvae.data.crop.box_from_points`), and caches an empty crop mask;
3. the hand-surface cloud: mask pixels with valid depth, back-projected with K (mm); its mean is
   the centroid; ``n_points`` of them are kept (a seeded random choice, with repetition when the
   hand has fewer pixels) so that training draws fresh 256-point subsets every step;
4. normalisation: ``x_norm = R_vc (x_mm - centroid) / scale``, ``scale = 2 |kp12 - kp11|``;
5. keypoints in crop px (``K_crop R_vc x``), and the depth crop in normalised units: the
   virtual-camera depth minus the centroid's, over the scale, on hand pixels; 1 elsewhere.
Sources without depth get no cloud (``has_cloud`` False) and use the joints' mean as centroid.
``realdev`` (real photos, evaluation only) has neither mask nor depth: ``prepare realdev ROOT --split test``.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from handvae.data.cache import CacheWriter
from handvae.data.crop import (
    JOINT_FILL,
    box_from_mask,
    box_from_points,
    crop_geometry,
    project,
    sample_bilinear,
    sample_nearest,
)
from handvae.data.raw import RawSample, SampleError, mirror_sample
from handvae.data.stb import backproject
from handvae.data.viewpoint import apply_viewpoint
from handvae.errors import UserError
from handvae.skeleton import SCALE_BONE

DEPTH_BACKGROUND = 1.0
SOURCES = ("rhd", "stb", "realdev")


@dataclass
class PrepareConfig:
    source: str  # rhd | stb | realdev
    root: str
    split: str = "train"
    size: int = 256  # crop px (the paper's 256; 64-128 for CPU)
    points: int = 1024  # cloud points stored per sample
    margin: float = 1.25  # box half-size = longer mask side / 2 * margin (joints' box without a mask)
    mirror: str = "left"  # left: mirror left hands to right ones (default) | none: keep both sides
    camera: str = "sk"  # STB only: sk | bb
    radius_mm: float = 20.0  # STB only: hand segmentation radius around the bones
    limit: int = 0  # 0 = all samples; else the first N
    seed: int = 0
    skip_bad: bool = False
    workers: int = 1


def build_reader(cfg: PrepareConfig):
    if cfg.source == "rhd":
        from handvae.data.rhd import RHDReader

        return RHDReader(cfg.root, cfg.split)
    if cfg.source == "stb":
        from handvae.data.stb import STBReader

        return STBReader(cfg.root, cfg.split, camera=cfg.camera, radius_mm=cfg.radius_mm)
    if cfg.source == "realdev":
        from handvae.data.realdev import RealdevReader

        return RealdevReader(cfg.root, cfg.split)
    raise UserError(f"unknown source {cfg.source!r}; expected one of {', '.join(repr(s) for s in SOURCES)}")


def crop_box(s: RawSample, margin: float) -> tuple[float, float, float]:
    """(u_c, v_c, half) px of the crop box: the hand mask's box, or without a mask the projected
    joints' box widened by 1 / JOINT_FILL to the hand's extent, so the hand fills the crop as in
    training (and as :mod:`handvae.predict` frames a photo)."""
    if s.mask is None:
        return box_from_points(project(np.asarray(s.xyz, dtype=np.float64), s.K), margin / JOINT_FILL)
    return box_from_mask(s.mask, margin)


def prepare_sample(raw: RawSample, size: int, n_points: int, margin: float, mirror: str, rng) -> dict[str, np.ndarray]:
    """One RawSample -> the cached arrays (see :func:`handvae.data.cache.fields`)."""
    side = raw.side
    s = mirror_sample(raw) if (mirror == "left" and side == "left") else raw
    mirrored = s is not raw
    u_c, v_c, half = crop_box(s, margin)
    geom = crop_geometry(s.K, u_c, v_c, half, size)
    K = np.asarray(s.K, dtype=np.float64)
    xyz = np.asarray(s.xyz, dtype=np.float64)
    scale = 2.0 * float(np.linalg.norm(xyz[SCALE_BONE[0]] - xyz[SCALE_BONE[1]]))
    if not scale > 1e-3:
        raise SampleError(s.id, s.path, f"degenerate annotation: joints {SCALE_BONE} coincide")

    vv, uu = np.nonzero(s.mask & (s.depth > 0)) if s.has_depth else (np.zeros(0, int), np.zeros(0, int))
    if s.has_depth and uu.size == 0:
        raise SampleError(s.id, s.path, "no valid depth inside the hand mask")
    pts = backproject(uu.astype(np.float64), vv.astype(np.float64), s.depth[vv, uu].astype(np.float64) * 1000.0, K)
    centroid = pts.mean(axis=0) if pts.shape[0] else xyz.mean(axis=0)
    cloud = np.zeros((n_points, 3))
    if pts.shape[0]:
        pick = rng.choice(pts.shape[0], n_points, replace=pts.shape[0] < n_points)
        cloud = apply_viewpoint(pts[pick], geom.R_vc, centroid, scale)

    # crop: where each crop pixel looks in the full image, and its ray's z in the camera frame
    jj, ii = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    rays = np.stack([jj, ii, np.ones_like(jj)], -1) @ np.linalg.inv(geom.K_crop).T @ geom.R_vc
    coords = project(rays, K)
    image = np.clip(np.rint(sample_bilinear(s.image, coords)), 0, 255).astype(np.uint8)
    mask = np.zeros((size, size), bool) if s.mask is None else sample_nearest(s.mask, coords, False).astype(bool)
    z_src = sample_nearest(s.depth, coords, 0.0).astype(np.float64) * 1000.0
    z_virtual = z_src / rays[..., 2]  # depth along the virtual camera's axis, mm
    z_c = (geom.R_vc @ centroid)[2]
    hand = mask & (z_src > 0)
    depth = np.where(hand, np.clip((z_virtual - z_c) / scale, -1.0, 1.0), DEPTH_BACKGROUND)

    raw_xyz = np.asarray(raw.xyz, dtype=np.float64)
    return {
        "image": image,
        "depth": depth.astype(np.float16),
        "mask": mask,
        "cloud": cloud.astype(np.float32),
        "has_cloud": np.bool_(pts.shape[0] > 0),
        "pose": apply_viewpoint(xyz, geom.R_vc, centroid, scale).astype(np.float32),
        "uv": project(xyz @ geom.R_vc.T, geom.K_crop).astype(np.float32),
        "vis": np.asarray(s.vis, dtype=bool),
        "xyz_mm": raw_xyz.astype(np.float32),
        "uv_img": np.asarray(raw.uv, dtype=np.float32),
        "centroid_mm": centroid.astype(np.float32),
        "scale_mm": np.float32(scale),
        "R_vc": geom.R_vc.astype(np.float32),
        "K": K.astype(np.float32),
        "K_crop": geom.K_crop.astype(np.float32),
        "box": geom.box.astype(np.float32),
        "side": np.uint8(side == "right"),
        "mirrored": np.bool_(mirrored),
    }


# --- worker side (module globals so that spawned workers can rebuild the reader) ---------------
_WORKER: dict[str, Any] = {}


def _init_worker(cfg: PrepareConfig) -> None:
    _WORKER["cfg"] = cfg
    _WORKER["reader"] = build_reader(cfg)


def _work(i: int) -> tuple:
    cfg: PrepareConfig = _WORKER["cfg"]
    reader = _WORKER["reader"]
    try:
        raw = reader.read(i)
        rng = np.random.default_rng([cfg.seed, i])
        return ("ok", i, reader.ids[i], prepare_sample(raw, cfg.size, cfg.points, cfg.margin, cfg.mirror, rng))
    except SampleError as err:
        return ("bad", i, err.sample_id, err.path, err.reason)


def prepare(cfg: PrepareConfig, out: str | Path, overwrite: bool = False, progress: bool = True) -> Path:
    """Prepare one split of ``cfg.source`` at ``cfg.root`` into ``out/<split>``; returns that folder."""
    from tqdm import tqdm

    if cfg.size < 8 or cfg.points < 1 or cfg.margin < 1.0:
        raise UserError(
            f"bad prepare settings: size {cfg.size} (>= 8), points {cfg.points} (>= 1), margin {cfg.margin} (>= 1)"
        )
    if cfg.mirror not in ("none", "left"):
        raise UserError(f"--mirror must be 'none' or 'left', got {cfg.mirror!r}")
    reader = build_reader(cfg)
    n = len(reader) if cfg.limit <= 0 else min(cfg.limit, len(reader))
    skipped: list[dict[str, str]] = []
    with CacheWriter(out, cfg.split, n, cfg.size, cfg.points, overwrite=overwrite) as writer:
        if cfg.workers > 1:
            pool = mp.get_context("spawn").Pool(cfg.workers, initializer=_init_worker, initargs=(cfg,))
            results = pool.imap(_work, range(n), chunksize=max(1, min(16, n // (4 * cfg.workers))))
        else:
            pool = None
            _init_worker(cfg)
            results = map(_work, range(n))
        try:
            for res in tqdm(results, total=n, desc=f"prepare {cfg.source} {cfg.split}", disable=not progress):
                if res[0] == "ok":
                    writer.append(res[2], res[3])
                    continue
                _, _i, sid, path, reason = res
                if not cfg.skip_bad:
                    raise SampleError(sid, path, reason + " (pass --skip-bad to skip such samples)")
                skipped.append({"id": sid, "file": path, "reason": reason})
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
        manifest = {
            "source": cfg.source,
            "split": cfg.split,
            "root": str(Path(cfg.root).resolve()),
            "config": asdict(cfg),
            "counts": {"read": n, "written": writer.count, "skipped": len(skipped)},
            "skipped": skipped,
            "crop_size": cfg.size,
            "points": cfg.points,
        }
        return writer.commit(manifest)
