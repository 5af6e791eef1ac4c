"""``handvae export-onnx CHECKPOINT OUT.onnx`` or ``handvae export-onnx --model NAME OUT.onnx``.

The RGB -> pose path as ONNX, checked with ONNX Runtime; ``--model NAME`` exports a released
model (:mod:`handvae.models.released`). Examples::

    handvae export-onnx runs/cpu/s4 s4.onnx
    handvae export-onnx --model s4 s4.onnx

Input ``rgb (batch, 3, S, S)`` float32 in [0, 1]; output ``pose (batch, 21, 3)`` in normalised
units (multiply by scale_mm = 2 |middle MCP - PIP| for mm); the batch axis is dynamic. See
:mod:`handvae.export` for the parity check and its tolerance.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "export the RGB -> 3D pose network to ONNX (dynamic batch) and check it against PyTorch"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", nargs="?", help="a run folder or a .safetensors checkpoint of 'handvae train' "
                                                 "(leave it out with --model)")
    p.add_argument("out", nargs="?", type=Path, help="the .onnx file to write")
    p.add_argument("--model", metavar="NAME", help="a released model shipped with handvae, such as s4, in place of "
                                                   "CHECKPOINT")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random check input (default 0)")


def run(args: argparse.Namespace) -> int:
    import sys

    import torch

    from handvae.errors import UserError
    from handvae.export import TOLERANCE, TYPICAL_SCALE_MM, export_onnx, metadata_of, require_onnx
    from handvae.models.load import load_model
    from handvae.models.released import released_path

    if args.model is not None:
        if args.out is not None:
            raise UserError(f"give CHECKPOINT or --model {args.model}, not both (got {args.checkpoint})")
        if args.checkpoint is None:
            raise UserError(f"--model {args.model}: expected the .onnx file to write after it")
        args.checkpoint, args.out = released_path(args.model), Path(args.checkpoint)
    if args.checkpoint is None or args.out is None:
        raise UserError("expected CHECKPOINT OUT.onnx, or --model NAME OUT.onnx")
    if args.out.suffix.lower() != ".onnx":
        raise UserError(f"{args.out}: expected an output file name ending in .onnx")
    if args.out.is_dir():
        raise UserError(f"{args.out}: is a folder; expected an output file name ending in .onnx")
    require_onnx()
    torch.manual_seed(args.seed)
    model, cfg, ckpt = load_model(args.checkpoint, "cpu")
    size = int(cfg.data.crop_size)
    try:
        path, diffs = export_onnx(model, size, args.out, metadata_of(cfg, ckpt), opset=args.opset, seed=args.seed)
    except RuntimeError as err:
        print(f"handvae export-onnx: failed: {err}", file=sys.stderr)
        return 1
    worst = max(diffs.values())
    per = ", ".join(f"batch {b}: {d:.2e}" for b, d in diffs.items())
    print(f"wrote {path}: rgb (batch, 3, {size}, {size}) -> pose (batch, 21, 3), {cfg.model.strategy} from {ckpt}")
    print(f"ONNX Runtime vs PyTorch, largest |difference| {worst:.2e} normalised units ({per}); "
          f"tolerance {TOLERANCE:g} (= {TOLERANCE * TYPICAL_SCALE_MM:.3g} mm at scale_mm "
          f"{TYPICAL_SCALE_MM:g} mm)")
    return 0
