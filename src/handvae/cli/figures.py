"""``handvae figures RUN``: the paper's qualitative figures (decoded poses/clouds, latent interpolation).

Examples::

    handvae figures runs/s4
    handvae figures runs/s4/checkpoints/best.safetensors --data data/synth_cache --n 4 --pairs 3 --steps 9
"""

from __future__ import annotations

import argparse

HELP = "draw poses and clouds decoded from RGB latents beside ground truth, and latent interpolations"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder (uses checkpoints/best, else last) or a .safetensors checkpoint")
    p.add_argument("--data", help="prepared cache folder (default: the run config's data.cache)")
    p.add_argument("--split", default="test", help="split of the cache to draw from (default test)")
    p.add_argument("--n", type=int, default=6, help="samples in the reconstruction grid (default 6)")
    p.add_argument("--pairs", type=int, default=2, help="image pairs to interpolate between (default 2; 0: none)")
    p.add_argument("--steps", type=int, default=7, help="interpolation steps including t=0 and t=1 (default 7)")
    p.add_argument("--out", help="output folder (default RUN/figures)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample choice (default 0)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from handvae.eval.figures import FigureArgs, make_figures

    index = make_figures(FigureArgs(
        run=args.run, data=args.data, split=args.split, n=args.n, pairs=args.pairs, steps=args.steps,
        out=args.out, seed=args.seed, device=args.device,
    ))
    out = Path(index["out"])
    for name in index["files"].values():
        print(out / name)
    print(out / "figures.json")
    return 0
