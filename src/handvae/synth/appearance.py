"""Appearance: skin tones, lights, shading, backgrounds, and camera effects aimed at real photos.

Backgrounds come from natural photographs shipped inside scikit-image's wheel (``skimage.data``,
only the images that load with no network; see :data:`SKIMAGE_IMAGES`) and from procedural
textures; without scikit-image only procedural ones are used. Camera effects: blur, motion blur,
sensor noise, white balance, gamma, vignetting, JPEG artefacts and amplitude-spectrum mixing
(the low-frequency amplitude of a natural image with the render's phase).
All images here are float32 sRGB in [0, 1], shape (H, W, 3), unless stated.
"""

from __future__ import annotations

import colorsys
import io
import warnings

import numpy as np
from PIL import Image
from scipy import ndimage

from handvae.synth.rasterize import unit_rows

# skimage.data images that load from the wheel without any download (see docs/DATA.md, backgrounds)
SKIMAGE_IMAGES = (
    "astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
    "colorwheel", "stereo_motorcycle", "camera", "brick", "grass", "gravel", "moon", "coins",
    "clock", "page", "text", "horse",
)  # fmt: skip
_CACHE: dict[str, list[np.ndarray]] = {}

# sRGB skin anchors from very light to very dark (0-255)
_SKIN = np.array(
    [
        [246, 220, 200], [236, 196, 170], [226, 178, 146], [208, 156, 122], [188, 132, 98],
        [160, 108, 78], [132, 86, 60], [104, 66, 46], [78, 50, 36], [58, 40, 30],
    ],
    dtype=np.float64,
) / 255.0  # fmt: skip


def _load_natural_images() -> list[np.ndarray]:
    """The offline natural images as float32 RGB arrays in [0, 1]; [] if scikit-image is missing."""
    out: list[np.ndarray] = []
    try:
        from skimage import data as skdata
    except ImportError:  # pragma: no cover - depends on the environment
        return out
    for name in SKIMAGE_IMAGES:
        fn = getattr(skdata, name, None)
        if fn is None:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = fn()
        except Exception:  # pragma: no cover - a missing file must never stop generation
            continue
        if isinstance(img, tuple):  # stereo_motorcycle returns (left, right, disparity)
            img = img[0]
        img = np.asarray(img)
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3].astype(np.float32)
        img /= 255.0 if img.max() > 1.5 else 1.0
        out.append(np.clip(img, 0.0, 1.0))
    return out


def natural_images_u8() -> list[np.ndarray]:
    """The offline natural images as uint8 RGB arrays, ``(img * 255).astype(uint8)`` of the float
    images in [0, 1] (loaded once per process; only the uint8 copies are kept); [] if scikit-image
    is missing."""
    if "nat_u8" not in _CACHE:
        _CACHE["nat_u8"] = [(img * 255).astype(np.uint8) for img in _load_natural_images()]
    return _CACHE["nat_u8"]


def sample_skin(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(back-of-hand albedo, palm albedo), each (3,) linear RGB."""
    t = rng.uniform(0.0, len(_SKIN) - 1.0)
    i = min(int(t), len(_SKIN) - 2)
    srgb = (1 - (t - i)) * _SKIN[i] + (t - i) * _SKIN[i + 1]
    srgb = srgb * rng.uniform(0.92, 1.08) * np.array([1.0, rng.uniform(0.95, 1.04), rng.uniform(0.92, 1.06)])
    back = np.clip(srgb, 0.02, 1.0) ** 2.2
    palm_target = np.array([0.86, 0.62, 0.55]) ** 2.2
    palm = back + (palm_target - back) * rng.uniform(0.15, 0.45) * (1.0 if t > 4 else 0.5)
    return back, palm


def value_noise(rng, h, w, cells, octaves=4):
    """fBm value noise (h, w) in [0, 1]: sum of bilinearly upsampled random grids."""
    out = np.zeros((h, w), dtype=np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        n = max(2, int(cells * 2**o))
        grid = rng.random((n, n)).astype(np.float32)
        img = np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.BILINEAR))
        out += amp * img
        total += amp
        amp *= 0.5
    out /= total
    return (out - out.min()) / max(float(out.max() - out.min()), 1e-6)


def random_color(rng, sat=(0.1, 0.9), val=(0.15, 0.95)):

    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val)), dtype=np.float32)


def procedural_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A procedural texture (h, w, 3): coloured fBm noise, stripes, checks, gradients or blobs."""
    kind = rng.integers(5)
    c1, c2 = random_color(rng), random_color(rng)
    if kind == 0:
        t = value_noise(rng, h, w, rng.uniform(2, 10))
    elif kind == 1:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ang = rng.uniform(0, np.pi)
        period = rng.uniform(6, 60)
        t = 0.5 + 0.5 * np.sin((np.cos(ang) * xx + np.sin(ang) * yy) * 2 * np.pi / period)
        t = t * 0.8 + 0.2 * value_noise(rng, h, w, 8, 2)
    elif kind == 2:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        p = rng.uniform(10, 60)
        t = ((np.floor(xx / p) + np.floor(yy / p)) % 2).astype(np.float32)
        t = ndimage.gaussian_filter(t, rng.uniform(0.5, 4))
    elif kind == 3:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ang = rng.uniform(0, 2 * np.pi)
        t = np.cos(ang) * xx / w + np.sin(ang) * yy / h
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        t = 0.85 * t + 0.15 * value_noise(rng, h, w, 16, 3)
    else:
        t = value_noise(rng, h, w, rng.uniform(1.5, 4), 2) ** 2
    img = c1[None, None] * (1 - t[..., None]) + c2[None, None] * t[..., None]
    return img.astype(np.float32)


def natural_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray | None:
    """A random crop of an offline natural image, resized and colour-jittered; None if none."""
    imgs = natural_images_u8()
    if not imgs:
        return None
    img = imgs[rng.integers(len(imgs))]
    ih, iw = img.shape[:2]
    frac = rng.uniform(0.3, 1.0)
    ch = max(8, int(ih * frac))
    cw = max(8, min(iw, int(ch * w / h)))
    y0 = rng.integers(0, ih - ch + 1)
    x0 = rng.integers(0, iw - cw + 1)
    crop = np.ascontiguousarray(img[y0 : y0 + ch, x0 : x0 + cw])
    pil = Image.fromarray(crop).resize((w, h), Image.BILINEAR)
    out = np.asarray(pil, dtype=np.float32) / 255.0
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if rng.random() < 0.3:
        out = np.rot90(out, k=int(rng.integers(1, 4)))
        if out.shape[:2] != (h, w):
            out = (
                np.asarray(Image.fromarray((out * 255).astype(np.uint8)).resize((w, h)), dtype=np.float32)
                / 255
            )
    gains = rng.uniform(0.7, 1.3, size=3).astype(np.float32)
    out = out * gains  # a new array (out may be a view): the rest works in place
    out *= rng.uniform(0.6, 1.3)
    return np.clip(out, 0.0, 1.0, out=out)


def dead_leaves(rng: np.random.Generator, h: int, w: int, n: int = 1500) -> np.ndarray:
    """A dead-leaves image (h, w, 3): opaque discs of random colour and power-law radii (density
    ~ r^-3) dropped one over another, the classic model of natural-image clutter with its
    scale-invariant statistics. Painted front to back, each disc only where nothing lies yet; what
    ``n`` discs leave uncovered takes the colour of a last, farthest leaf."""
    img = np.zeros((h, w, 3), dtype=np.float32)
    covered = np.zeros((h, w), dtype=bool)
    rmin, rmax = 0.015 * max(h, w), 0.3 * max(h, w)
    for _ in range(n):
        r = (rmin**-2 + rng.random() * (rmax**-2 - rmin**-2)) ** -0.5
        cy, cx = rng.uniform(-r, h + r), rng.uniform(-r, w + r)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, h)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, w)
        color = random_color(rng)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & ~covered[y0:y1, x0:x1]
        img[y0:y1, x0:x1][disc] = color
        covered[y0:y1, x0:x1] |= disc
    img[~covered] = random_color(rng)
    return img


def background(rng: np.random.Generator, h: int, w: int, p_natural: float = 0.7,
               p_dead_leaves: float = 0.0) -> np.ndarray:  # fmt: skip
    """Background (h, w, 3): natural images with probability ``p_natural``, else procedural (dead
    leaves with probability ``p_dead_leaves`` when > 0), sometimes blended."""
    nat = natural_background(rng, h, w) if rng.random() < p_natural else None
    if nat is None and p_dead_leaves > 0 and rng.random() < p_dead_leaves:
        img = dead_leaves(rng, h, w)
    else:
        img = procedural_background(rng, h, w) if nat is None else nat
    if nat is not None and rng.random() < 0.2:
        lam = rng.uniform(0.2, 0.5)
        img = (1 - lam) * img + lam * procedural_background(rng, h, w)
    if rng.random() < 0.4:  # depth of field
        img = ndimage.gaussian_filter(img, (rng.uniform(0.5, 4.0),) * 2 + (0,))
    return np.ascontiguousarray(img, dtype=np.float32)


def sample_lights(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(directions (L, 3) towards the lights, colours (L, 3) linear, ambient (3,)); 1-3 lights."""
    n = int(rng.integers(1, 4))
    dirs = rng.normal(size=(n, 3))
    dirs[:, 2] = -np.abs(dirs[:, 2]) - 0.3  # lights mostly on the camera's side
    dirs[:, 1] -= 0.4  # and somewhat from above (y is down)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    temp = rng.uniform(-1, 1, size=(n, 1))
    warm, cool = np.array([1.0, 0.85, 0.68]), np.array([0.8, 0.9, 1.05])
    cols = np.where(temp > 0, 1 + temp * (warm - 1), 1 - temp * (cool - 1))
    cols = cols * rng.uniform(0.5, 1.3, size=(n, 1)) * np.array([1.0] + [0.6] * (n - 1))[:, None]
    if rng.random() < 0.1:  # a coloured light now and then
        cols[-1] *= rng.uniform(0.5, 1.2, size=3)
    ambient = rng.uniform(0.12, 0.45) * rng.uniform(0.85, 1.15, size=3)
    return dirs, cols, ambient


def shade(
    albedo: np.ndarray,
    normal: np.ndarray,
    view: np.ndarray,
    lights: tuple[np.ndarray, np.ndarray, np.ndarray],
    spec: np.ndarray,
    shininess: float,
    wrap: np.ndarray,
) -> np.ndarray:
    """Wrapped-Lambert diffuse (soft, skin-like) + Blinn-Phong specular, linear RGB (n, 3).

    albedo (n, 3) linear, normal/view (n, 3) unit (view points to the camera), spec (n,) strength,
    wrap (n,) in [0, 1) diffuse wrap (0 = Lambert)."""
    dirs, cols, ambient = lights
    # hemisphere ambient: brighter from above (y is down in the camera frame)
    hemi = 0.75 + 0.25 * (-normal[:, 1:2])
    out = albedo * ambient[None] * hemi
    for d, c in zip(dirs, cols):
        ndl = normal @ d
        diff = np.clip((ndl[:, None] + wrap[:, None]) / (1 + wrap[:, None]), 0, None)
        # skin scatters red light further: a warm rim where the light grazes
        sss = np.clip(1 - np.abs(ndl), 0, 1)[:, None] * wrap[:, None] * np.array([0.25, 0.05, 0.02])
        h = d[None] + view
        h = unit_rows(h, 1e-9)
        sp = np.clip(np.einsum("ij,ij->i", normal, h), 0, 1) ** shininess * (ndl > 0)
        out = out + c[None] * (albedo * (diff + sss) + (spec * sp)[:, None])
    return out


def amplitude_mix(img: np.ndarray, ref: np.ndarray, beta: float, lam: float) -> np.ndarray:
    """Replace a fraction ``lam`` of the low-frequency amplitude spectrum of ``img`` with that of
    ``ref`` (same shape), keeping the phase of ``img``. ``beta``: half-size of the low-frequency
    square as a fraction of the image size."""
    f = np.fft.rfft2(img, axes=(0, 1))
    h, w = img.shape[:2]
    b = max(1, int(beta * min(h, w)))
    rows = np.r_[0:b, h - b : h]
    sel = (rows[:, None], slice(0, b))
    # of the reference only the block is needed: rfft2 is rfft along axis 1, then fft along axis 0,
    # column by column, so the block's b columns alone give the same values
    fr_block = np.fft.fft(np.fft.rfft(ref, axis=1)[:, :b], axis=0)[rows[:, None]]  # the shape of f[sel]
    block = f[sel]
    amp = np.abs(block)
    new_amp = (1 - lam) * amp + lam * np.abs(fr_block)
    f[sel] = block * (new_amp / np.maximum(amp, 1e-8))
    out = np.fft.irfft2(f, s=(h, w), axes=(0, 1))
    return out.astype(np.float32)


def camera_effects(img: np.ndarray, rng: np.random.Generator, p_amplitude_mix: float = 0.5) -> np.ndarray:
    """Blur, motion blur, spectrum mixing (with probability ``p_amplitude_mix``), white balance,
    exposure, gamma, vignette, noise, JPEG. img: (H, W, 3) float sRGB [0, 1] -> uint8 (H, W, 3)."""
    h, w = img.shape[:2]
    img = ndimage.gaussian_filter(img, (rng.uniform(0.35, 1.2),) * 2 + (0,))
    if rng.random() < 0.12:
        ax = int(rng.integers(2))
        img = ndimage.uniform_filter1d(img, size=int(rng.integers(3, 8)), axis=ax)
    if rng.random() < p_amplitude_mix:
        nat = natural_background(rng, h, w)
        ref = nat if nat is not None else procedural_background(rng, h, w)
        img = amplitude_mix(img, ref, rng.uniform(0.003, 0.03), rng.uniform(0.1, 0.6))
    img = img * rng.uniform(0.9, 1.1, size=3).astype(np.float32)  # a new array: the next steps work in place
    img *= np.float32(rng.uniform(0.75, 1.25))
    img = np.clip(img, 0.0, 1.0) ** np.float32(rng.uniform(0.8, 1.25))
    sat = np.float32(rng.uniform(0.7, 1.3))
    grey = ((img[..., 0] + img[..., 1] + img[..., 2]) / 3)[..., None]  # the channel mean, without a slow reduce
    img = grey + sat * (img - grey)
    if rng.random() < 0.3:
        yy, xx = np.ogrid[0:h, 0:w]
        r2 = ((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2
        img = img * (1 - rng.uniform(0.2, 0.8) * r2)[..., None].astype(np.float32)
    sigma = rng.uniform(0.0, 0.03)
    if sigma > 0.003:
        noise = rng.standard_normal((h, w, 3), dtype=np.float32)
        shot = np.sqrt(np.clip(img, 0, 1)) * np.float32(rng.uniform(0.0, 0.04))
        img = img + noise * (np.float32(sigma) + shot)
    out = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if rng.random() < 0.35:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=int(rng.integers(40, 96)))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out
