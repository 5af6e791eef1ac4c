"""``handvae reproduce``: the paper's Table 1 and weak-supervision curve on the synthetic benchmark.

Then ``benchmarks/run_all.py`` and ``python -m handvae.experiments.results_md`` make docs/RESULTS.md
(``make reproduce`` runs all three).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "reproduce Table 1 and the weak-supervision curve on the synthetic benchmark (results.json)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("results/synthetic"), help="output folder")
    p.add_argument("--configs", type=Path, default=Path("configs"), help="the configs/ folder")
    p.add_argument("--preset", choices=["cpu", "paper"], default="cpu", help="configs/cpu/* (CPU) or configs/*")
    p.add_argument("--train", type=int, default=3000, help="synthetic training samples")
    p.add_argument("--test", type=int, default=500, help="synthetic test samples")
    p.add_argument("--steps", type=int, default=600, help="training steps per Table 1 row")
    p.add_argument("--weak-steps", type=int, default=400, help="training steps per weak-supervision run")
    p.add_argument("--weak", default="0.05,0.1,0.25,0.5,1.0", help="labelled fractions, comma-separated")
    p.add_argument("--only", nargs="*", default=[], help="only these rows (S1, S4, weak, ...)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    from handvae.errors import UserError
    from handvae.experiments.reproduce import Plan, reproduce

    try:
        weak = tuple(float(x) for x in args.weak.split(",") if x.strip())
    except ValueError:
        raise UserError(f"--weak: expected comma-separated fractions (0.05,0.25,1.0), got {args.weak!r}") from None
    if any(not 0 < m <= 1 for m in weak):
        raise UserError(f"--weak: fractions must lie in (0, 1], got {args.weak!r}")
    if not (args.configs / "s4.yaml").is_file():
        raise UserError(f"{args.configs}: not the configs folder (no s4.yaml); run from the repository "
                        "or pass --configs")
    plan = Plan(out=args.out, configs=args.configs, train=args.train, test=args.test, steps=args.steps,
                weak_steps=args.weak_steps, seed=args.seed, workers=args.workers, weak=weak, only=args.only)
    reproduce(plan, preset="cpu" if args.preset == "cpu" else "")
    return 0
