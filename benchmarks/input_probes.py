"""What a trained model reads in its input: its error under fixed image transforms, per prepared split.

    .venv/bin/python benchmarks/input_probes.py src/handvae/released/s4.safetensors \
        --data ~/.cache/handvae/release/cache128 ~/.cache/handvae/release/realdev128

A diagnosis, not a tuning step: every crop of each split is transformed the same way (blur,
grayscale, down-sampling and back, contrast, saturation, JPEG, sharpening), predicted, and scored as
``handvae evaluate`` scores it (camera-frame mm, the model's protocol; PA-EPE beside it). It also
prints the spread of the predictions (mean distance of a predicted joint from the split's mean
prediction, normalised units): a model that does not read an image falls back towards its mean
pose, and the spread shrinks. Comparing the synthetic test split with the real photos shows which
image properties the model leans on in each domain. Nothing here feeds back into training.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

TRANSFORMS = ("identity", "blur1", "blur2", "gray", "down64", "down32", "saturation1.6", "contrast0.6",
              "contrast1.5", "jpeg20", "sharpen")  # fmt: skip


def transform(name: str, crop: np.ndarray) -> np.ndarray:
    """``crop (S, S, 3) uint8`` after the named transform (same shape and type)."""
    from PIL import Image, ImageEnhance, ImageFilter

    im = Image.fromarray(crop)
    s = im.size[0]
    if name.startswith("blur"):
        im = im.filter(ImageFilter.GaussianBlur(float(name[4:])))
    elif name == "gray":
        im = im.convert("L").convert("RGB")
    elif name.startswith("down"):
        k = int(name[4:])
        im = im.resize((k, k), Image.BILINEAR).resize((s, s), Image.BILINEAR)
    elif name.startswith("saturation"):
        im = ImageEnhance.Color(im).enhance(float(name[10:]))
    elif name.startswith("contrast"):
        im = ImageEnhance.Contrast(im).enhance(float(name[8:]))
    elif name.startswith("jpeg"):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(name[4:]))
        im = Image.open(buf).convert("RGB")
    elif name == "sharpen":
        im = im.filter(ImageFilter.UnsharpMask(2, 150))
    elif name != "identity":
        raise ValueError(f"unknown transform {name!r}; expected one of {TRANSFORMS}")
    return np.asarray(im)


def probe(model, cfg, split_dir: Path, names: tuple[str, ...]) -> None:

    from handvae.data.cache import open_split
    from handvae.data.rgb import rgb_input
    from handvae.eval.metrics import Protocol
    from handvae.eval.scoring import score, to_mm

    a = open_split(split_dir, ["image", "mirrored", "R_vc", "centroid_mm", "scale_mm", "xyz_mm", "vis"])
    images = np.asarray(a["image"])
    gt, vis = np.asarray(a["xyz_mm"], np.float64), np.asarray(a["vis"]).astype(bool)
    protocol = Protocol(root=cfg.eval.root, scale=cfg.eval.scale, visible_only=cfg.eval.visible_only)
    print(f"{split_dir}: {len(images)} crops; protocol: {protocol.describe()}")
    print(f"{'transform':<14} {'EPE mm':>8} {'PA-EPE mm':>10} {'spread':>7}")
    for name in names:
        x = np.stack([transform(name, im) for im in images])
        preds = []
        for i in range(0, len(x), 64):
            t = rgb_input(x[i : i + 64])
            preds.append(model.predict_pose(t).double().numpy())
        pred = np.concatenate(preds)
        r = score(to_mm(pred, a, np.arange(len(x))), gt, vis, protocol, pa=True)
        spread = np.linalg.norm(pred - pred.mean(0), axis=-1).mean()
        print(f"{name:<14} {r.mean_epe_mm:>8.2f} {r.pa.mean_epe_mm:>10.2f} {spread:>7.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", help="a run folder, checkpoint or released model file")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="prepared caches (crop size of the model)")
    p.add_argument("--split", default="test")
    p.add_argument("--transforms", nargs="+", default=list(TRANSFORMS), choices=TRANSFORMS)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch

    from handvae.models.load import load_model

    torch.set_num_threads(args.threads)
    model, cfg, ckpt = load_model(args.model)
    print(f"model {ckpt}")
    with torch.no_grad():
        for data in args.data:
            probe(model, cfg, data.expanduser() / args.split, tuple(args.transforms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
