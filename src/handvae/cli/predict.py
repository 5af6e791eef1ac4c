"""``handvae predict IMAGE_OR_FOLDER... [--checkpoint C | --model NAME] [--bbox x,y,w,h] [--K fx,fy,cx,cy] --out DIR``.

Without ``--checkpoint`` the released model ``s4w32hc`` (an S4) shipped with handvae is used (``--model NAME`` for
another, :mod:`handvae.models.released`). Examples::

    handvae predict photo.jpg --out preds --hand auto
    handvae predict photo.jpg --checkpoint runs/cpu/s4 --bbox 210,120,180,190 --out preds
    handvae predict photos/ --checkpoint runs/s4/checkpoints/best.safetensors --K 600,600,320,240 --out preds

Writes per image NAME.json, NAME_overlay.png, NAME_3d.png and NAME_crop.png (see
:mod:`handvae.predict.run`) and ``predict_args.json``. A folder is a batch (its image files by
suffix); an image that cannot be read is reported, the batch goes on, the failures are listed at
the end and the exit code is 1. Bad options (--bbox, --K, the checkpoint) stop with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HAND_SCORES = ("confidence", "kl", "stability", "probe")  # handvae.predict.handedness.SCORES, without torch
TTA_DEG = 30.0  # handvae.models.tta.TTA_DEG, without importing torch here
DEFAULT_SCORE = "stability"  # of the label-free scores, chosen on a synthetic selection split (docs/MODELS.md)


def check_tta_deg(deg: float) -> None:
    """``--tta-deg`` of predict and evaluate: degrees in [0, 90] (0: off); UserError otherwise."""
    from handvae.errors import UserError

    if not (math.isfinite(deg) and 0.0 <= deg <= 90.0):
        raise UserError(f"--tta-deg {deg}: expected degrees between 0 (off) and 90")


HELP = "predict 3D hand poses on your own photos (JSON, skeleton overlay, 3D plot)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and/or folders of images")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", help="a run folder or a .safetensors checkpoint of 'handvae train'")
    source.add_argument("--model", metavar="NAME", help="a released model shipped with handvae (default: s4w32hc when "
                                                        "no --checkpoint is given)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--bbox", help="x,y,w,h px: a box around the hand (for every image); it is made square and "
                                  "enlarged by --margin like training crops. Default: the whole image is the crop")
    p.add_argument("--K", help="fx,fy,cx,cy px: camera intrinsics; gives camera-frame joints and exact crops")
    p.add_argument("--bone-mm", type=float, default=None,
                   help="assumed middle MCP-PIP bone length in mm (the pose's scale; default 35, an adult hand)")
    p.add_argument("--margin", type=float, default=1.25, help="box enlargement, as in training (default 1.25)")
    p.add_argument("--hand", choices=["right", "left", "auto"], default="right",
                   help="the side of the hand in the photos (default right); a model trained on right hands "
                        "(the default) sees a left hand mirrored and its prediction is mirrored back; auto "
                        "predicts the crop and its mirror image and keeps the more plausible")
    p.add_argument("--hand-score", choices=HAND_SCORES, default=None,
                   help=f"how --hand auto judges plausibility (default: probe when the model has a hand probe, "
                        f"as the released ones do, else {DEFAULT_SCORE}; see handvae.predict.handedness)")
    p.add_argument("--hand-probe", type=Path, default=None, metavar="FILE",
                   help="a hand probe for --hand-score probe with a --checkpoint (tools/fit_hand_probe.py)")
    p.add_argument("--tta-deg", type=float, default=TTA_DEG, metavar="DEG",
                   help=f"test-time rolls: average the pose with those of the crop rotated by +-DEG degrees "
                        f"(three passes; default {TTA_DEG:g}, chosen on synthetic data; 0: one pass)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument("--seed", type=int, default=0, help="random seed (inference is deterministic)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:

    import torch

    from handvae.errors import UserError
    from handvae.files import atomic_write_bytes as write_bytes_atomic
    from handvae.predict.geometry import DEFAULT_BONE_MM
    from handvae.predict.inputs import collect_images, parse_bbox, parse_K
    from handvae.predict.run import PredictOptions, Predictor, predict_batch

    torch.manual_seed(args.seed)
    bone = DEFAULT_BONE_MM if args.bone_mm is None else args.bone_mm
    if not (math.isfinite(bone) and 1.0 <= bone <= 200.0):
        raise UserError(f"--bone-mm {args.bone_mm}: expected a length in mm between 1 and 200")
    if not (math.isfinite(args.margin) and 1.0 <= args.margin <= 4.0):
        raise UserError(f"--margin {args.margin}: expected a number between 1 and 4")
    check_tta_deg(args.tta_deg)
    opt = PredictOptions(
        bbox=parse_bbox(args.bbox) if args.bbox is not None else None,
        K=parse_K(args.K) if args.K is not None else None,
        margin=args.margin, bone_mm=bone, hand=args.hand, hand_score=args.hand_score, tta_deg=args.tta_deg,
    )
    paths = collect_images(args.inputs)
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: exists and is not a folder")
    pred = Predictor(args.checkpoint, args.device, model=args.model, hand_probe=args.hand_probe)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if not k.startswith("_")}
    write_bytes_atomic(args.out / "predict_args.json", json.dumps({**settings, "bone_mm": bone}, indent=1).encode())
    records, failures = predict_batch(pred, paths, args.out, opt, progress=not args.no_progress)
    print(f"wrote {len(records)} prediction(s) to {args.out} (assumed middle MCP-PIP bone {bone:g} mm)")
    if failures:
        print(f"handvae predict: {len(failures)} of {len(paths)} image(s) failed:", file=sys.stderr)
        for _path, reason in failures:
            print(f"  {reason}", file=sys.stderr)
        return 1
    return 0
