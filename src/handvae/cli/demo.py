"""``handvae demo``: the whole flow on a fresh machine, on the CPU, in about ten minutes.

First the released model (shipped in the package) on photos: the real development set's first frames
when ``--photos`` (default ``../shared/realdev/images``) exists, else a few synthetic renders; skeleton
overlays, 3D plots and JSON in ``OUT/released/``. Then a short training of its own: synthetic world
(RHD format, 320 px) -> prepare (the preset's crops) -> S4 training (CPU preset) -> evaluation beside
the mean-pose baseline -> figures. Everything lands in ``--out`` (default ``demo/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("end-to-end demo on the CPU: the released model on photos, then a synthetic world, prepare, short S4 "
        "training, evaluation, figures")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("demo"), help="output folder (default demo/)")
    p.add_argument("--train", type=int, default=3000, help="synthetic training samples (default 3000)")
    p.add_argument("--val", type=int, default=200,
                   help="more synthetic samples, held out from training for model selection (default 200)")
    p.add_argument("--test", type=int, default=200, help="synthetic test samples (default 200)")
    p.add_argument("--steps", type=int, default=2500, help="training steps of batch 32 (default 2500)")
    p.add_argument("--config", type=Path, default=None, help="training config (default configs/cpu/s4.yaml)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--overwrite", action="store_true", help="start again in an existing --out")
    p.add_argument("--photos", type=Path, default=Path("../shared/realdev/images"),
                   help="photos of LEFT hands for the released model (default ../shared/realdev/images; "
                        "synthetic renders when absent)")
    p.add_argument("--photo-count", type=int, default=8, help="photos shown with the released model (default 8)")


def run(args: argparse.Namespace) -> int:
    from handvae.experiments.demo import run_demo

    return run_demo(args)
