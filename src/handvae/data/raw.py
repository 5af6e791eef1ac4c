"""The one record every reader yields: a full image with its depth, hand mask, camera and labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handvae.errors import UserError


class SampleError(UserError):
    """A bad sample: the message names the sample and the file. ``prepare --skip-bad`` skips these."""

    def __init__(self, sample_id: str, path: str, reason: str):
        self.sample_id = sample_id
        self.path = str(path)
        self.reason = reason
        super().__init__(f"sample {sample_id} ({path}): {reason}")


@dataclass
class RawSample:
    """One hand of one frame, as read from disk, before cropping.

    image: (H, W, 3) uint8 RGB. depth: (H, W) float32 metres in the colour camera's pixel grid,
    0 where unknown (all 0 when the source has no depth). mask: (H, W) bool, the hand's pixels, or
    None when the source has no mask (then it has no depth either, and the crop box comes from the
    projected joints, see :func:`handvae.data.crop.box_from_points`).
    K: (3, 3) colour intrinsics (pixels). xyz: (21, 3) float mm, colour-camera frame (x right,
    y down, z forward), RHD joint order. uv: (21, 2) float pixels (u right, v down; pixel
    centres at integers). vis: (21,) bool. side: 'left' | 'right'. source: dataset name
    ('rhd', 'stb', 'realdev'); id: sample id unique within the source/split; has_depth: False when the
    source has no depth map (e.g. STB's stereo camera).
    """

    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray | None
    K: np.ndarray
    xyz: np.ndarray
    uv: np.ndarray
    vis: np.ndarray
    side: str
    source: str
    id: str
    has_depth: bool = True
    path: str = ""  # the main file, for error messages

    def check(self) -> None:
        """Raise :class:`SampleError` when shapes or values are inconsistent."""
        h, w = self.image.shape[:2]
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            self._fail(f"image must be (H, W, 3) uint8, got {self.image.shape} {self.image.dtype}")
        if self.depth.shape != (h, w):
            self._fail(f"depth size {self.depth.shape} does not match the colour image size {(h, w)}")
        if self.mask is None:
            if self.has_depth:
                self._fail("a sample with depth needs a hand mask (its cloud is the masked depth)")
        elif self.mask.shape != (h, w):
            self._fail(f"mask size {self.mask.shape} does not match the colour image size {(h, w)}")
        elif not self.mask.any():
            self._fail("empty hand mask")
        for name, arr, shape in (("K", self.K, (3, 3)), ("xyz", self.xyz, (21, 3)), ("uv", self.uv, (21, 2))):
            if np.shape(arr) != shape:
                self._fail(f"annotation {name} must have shape {shape}, got {np.shape(arr)}")
            if not np.all(np.isfinite(arr)):
                self._fail(f"annotation {name} has non-finite values")
        if np.shape(self.vis) != (21,):
            self._fail(f"annotation vis must have shape (21,), got {np.shape(self.vis)}")
        if self.side not in ("left", "right"):
            self._fail(f"side must be 'left' or 'right', got {self.side!r}")

    def _fail(self, reason: str) -> None:
        raise SampleError(self.id, self.path, reason)


def mirror_sample(s: RawSample) -> RawSample:
    """Mirror a sample left-right (a left hand becomes a right hand), exactly in 3D and 2D.

    Camera frame x -> -x; image columns flipped (u -> W - 1 - u); the principal point
    o_x -> W - 1 - o_x, so projecting the mirrored 3D points with the new K gives the
    mirrored 2D points. Undo for metrics by negating x of the 3D result (see ``unmirror_xyz``).
    """
    w = s.image.shape[1]
    flip = np.diag([-1.0, 1.0, 1.0])
    K = np.array(s.K, dtype=np.float64).copy()
    K[0, 2] = (w - 1) - K[0, 2]
    K[0, 1] = -K[0, 1]
    uv = np.array(s.uv, dtype=np.float64).copy()
    uv[:, 0] = (w - 1) - uv[:, 0]
    return RawSample(
        image=np.ascontiguousarray(s.image[:, ::-1]),
        depth=np.ascontiguousarray(s.depth[:, ::-1]),
        mask=None if s.mask is None else np.ascontiguousarray(s.mask[:, ::-1]),
        K=K,
        xyz=np.asarray(s.xyz, dtype=np.float64) @ flip,
        uv=uv,
        vis=s.vis,
        side="right" if s.side == "left" else "left",
        source=s.source,
        id=s.id,
        has_depth=s.has_depth,
        path=s.path,
    )


def unmirror_xyz(xyz: np.ndarray, mirrored: np.ndarray | bool) -> np.ndarray:
    """Undo :func:`mirror_sample` on ``xyz: (..., 21, 3)`` mm where ``mirrored`` (per leading index)."""
    out = np.array(xyz, dtype=np.float64, copy=True)
    m = np.broadcast_to(np.asarray(mirrored, dtype=bool), out.shape[:-2])
    out[m, :, 0] *= -1.0
    return out
