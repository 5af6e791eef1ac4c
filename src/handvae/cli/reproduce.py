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
    p.add_argument("--configs", type=Path, default=None,
                   help="a configs folder (default: the configs shipped in the package, the repository's configs/)")
    p.add_argument("--preset", choices=["cpu", "paper"], default="cpu", help="configs/cpu/* (CPU) or configs/*")
    p.add_argument("--train", type=int, default=10000, help="synthetic training samples (default 10000)")
    p.add_argument("--test", type=int, default=500, help="synthetic test samples (default 500)")
    p.add_argument("--steps", type=int, default=4000, help="training steps per Table 1 row (default 4000)")
    p.add_argument("--weak-steps", type=int, default=None,
                   help="training steps per weak-supervision run (default: --steps, Table 1's budget)")
    p.add_argument("--weak", default="0.05,0.1,0.25,0.5,1.0", help="labelled fractions, comma-separated")
    p.add_argument(
        "--extra-seeds", default="1,2", help="S1 is retrained with these seeds to measure the seed spread ('' for none)"
    )
    p.add_argument("--no-cloud-weight", action="store_true", help="skip the lambda_cloud 0.01 rows")
    p.add_argument("--only", nargs="*", default=[], help="only these rows (S1, S4, weak, ...)")
    p.add_argument(
        "--set",
        nargs="*",
        default=None,
        metavar="KEY=VALUE",
        help="config overrides for every run (default: none, the CPU presets as they are)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    from handvae.errors import UserError
    from handvae.experiments.reproduce import BENCHMARK_OVERRIDES, ReproduceSettings, reproduce

    try:
        weak = tuple(float(x) for x in args.weak.split(",") if x.strip())
    except ValueError:
        raise UserError(f"--weak: expected comma-separated fractions (0.05,0.25,1.0), got {args.weak!r}") from None
    try:
        seeds = tuple(int(x) for x in args.extra_seeds.split(",") if x.strip())
    except ValueError:
        raise UserError(f"--extra-seeds: expected comma-separated integers (1,2), got {args.extra_seeds!r}") from None
    if args.seed in seeds:
        raise UserError(f"--extra-seeds {args.extra_seeds!r} repeats --seed {args.seed}")
    if any(not 0 < m <= 1 for m in weak):
        raise UserError(f"--weak: fractions must lie in (0, 1], got {args.weak!r}")
    from handvae.config import packaged_configs_dir

    configs = args.configs if args.configs is not None else packaged_configs_dir()
    if not (configs / "s4.yaml").is_file():
        raise UserError(f"{configs}: not a configs folder (no s4.yaml); pass --configs")
    settings = ReproduceSettings(
        out=args.out,
        configs=configs,
        train=args.train,
        test=args.test,
        steps=args.steps,
        weak_steps=args.steps if args.weak_steps is None else args.weak_steps,
        seed=args.seed,
        workers=args.workers,
        weak=weak,
        only=args.only,
        extra_seeds=seeds,
        cloud_weight_rows=not args.no_cloud_weight,
        overrides=BENCHMARK_OVERRIDES if args.set is None else tuple(args.set),
    )
    reproduce(settings, preset="cpu" if args.preset == "cpu" else "")
    return 0
