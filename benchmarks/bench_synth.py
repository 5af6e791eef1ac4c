"""Synthetic world speed: samples per second per core at 320x320 with every modality written.

Runs ``generate_dataset`` (RHD layout: colour, depth, mask PNGs and the annotation pickle) on one
worker and prints samples/s/core, plus the share of time spent in rendering vs. writing.
Usage: ``PYTHONPATH=src python benchmarks/bench_synth.py [--n 200] [--size 320] [--format rhd]
[--world hand_model=capsule]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from handvae.machine import summary
from handvae.synth.appearance import natural_images_u8
from handvae.synth.generate import generate_dataset, make_sample, scene_options


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--format", choices=("rhd", "stb"), default="rhd")
    ap.add_argument("--world", action="append", default=[], metavar="KEY=VALUE",
                    help="world overrides as in 'handvae synth --world' (e.g. hand_model=capsule)")  # fmt: skip
    args = ap.parse_args()
    world = dict(item.split("=", 1) for item in args.world)
    opt = scene_options(args.format, args.size, world)
    # warm the per-process caches: a worker loads the natural images once, not per sample
    natural_images_u8()
    make_sample(0, "training" if args.format == "rhd" else "train", 0, opt)
    t0 = time.perf_counter()
    for i in range(args.n):
        make_sample(1, "training" if args.format == "rhd" else "train", i, opt)
    t_make = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        generate_dataset(args.format, Path(tmp) / "ds", args.n, 0, seed=1, workers=1, world=world)
        t_all = time.perf_counter() - t0
    w, h = (opt.width, opt.height)
    print(summary())
    print(f"format {args.format}, {w}x{h}, hand {opt.hand_model}, {args.n} samples, 1 worker")
    print(f"render only (no files): {args.n / t_make:.1f} samples/s/core")
    print(f"all modalities written:  {args.n / t_all:.1f} samples/s/core (target >= 20)")
    print(f"writing share: {max(0.0, 1 - t_make / t_all):.0%}")


if __name__ == "__main__":
    main()
