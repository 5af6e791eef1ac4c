"""``handvae release-export RUN_OR_CHECKPOINT --name NAME [--out PATH.safetensors] [--fp16]``.

Examples::

    handvae release-export runs/release/s4 --name s4 --fp16       # into the package's released/ folder
    handvae release-export runs/s4/checkpoints/best.safetensors --name s4 --out /tmp/s4.safetensors

Writes the RGB -> pose path (RGB encoder, pose decoder) with its config, commit, training data,
metrics and recorded outputs (see :mod:`handvae.models.released`). ``handvae predict --model NAME``,
``evaluate --model NAME`` and ``export-onnx --model NAME`` then use it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write a trained model's RGB -> pose path as a released model (safetensors, with metadata)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="RUN_OR_CHECKPOINT", help="a run folder (its best checkpoint) or a checkpoint")
    p.add_argument("--name", required=True, help="the released model's name, such as s4 (lower case)")
    p.add_argument("--out", type=Path, help="the .safetensors file to write (default: released/NAME.safetensors "
                                            "in the package, or in $HANDVAE_RELEASED_DIR)")
    p.add_argument("--fp16", action="store_true", help="store the weights as float16 (loaded back as float32)")
    p.add_argument("--data-note", default="", metavar="TEXT",
                   help="the training data in words, recorded in the metadata (for a run trained on another "
                        "machine, whose prepared cache is not here to be described)")


def run(args: argparse.Namespace) -> int:
    from handvae.eval.release_export import release_export
    from handvae.export import TYPICAL_SCALE_MM
    from handvae.models.released import check_name, released_dir

    out = args.out or released_dir() / f"{check_name(args.name)}.safetensors"
    s = release_export(args.source, args.name, out, fp16=args.fp16, data_note=args.data_note)
    print(f"wrote {s.path}: {s.bytes / 1e6:.2f} MB, {s.tensors} tensors ({s.parameters:,} values) stored as "
          f"{s.dtype}, RGB -> pose path of {s.checkpoint}")
    if args.fp16:
        print(f"float16 storage: largest |fp16 - fp32| pose on the reference input {s.fp16_difference:.2e} "
              f"normalised units (= {s.fp16_difference * TYPICAL_SCALE_MM:.3g} mm at scale_mm {TYPICAL_SCALE_MM:g}); "
              "benchmarks/release_fp16.py measures the EPE")
    return 0
