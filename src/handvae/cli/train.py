"""``handvae train CONFIG [key=value ...]``: train a strategy on a prepared cache.

Examples::

    handvae train configs/cpu/s4.yaml data.cache=data/synth_cache out_dir=runs/s4 seed=1
    handvae train cpu/s4 data.cache=data/synth_cache      # the same config, packaged: from any folder
    handvae train configs/s4.yaml data.cache=/data/rhd_cache --resume
    torchrun --nproc_per_node 8 -m handvae train configs/s4.yaml data.cache=/data/rhd_cache
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "train a strategy (S1..S4, ablations, weak supervision) on a prepared cache"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="a YAML config file, or a packaged config by name: s4, cpu/s4, release/s4 ...")
    p.add_argument("overrides", nargs="*", help="dotted overrides such as trainer.lr=1e-4 data.cache=DIR")
    p.add_argument("--resume", action="store_true", help="continue the run in out_dir from its last checkpoint")
    p.add_argument("--seed", type=int, help="shortcut for seed=N")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from handvae.config import load_config, resolve_config
    from handvae.schema import Config
    from handvae.train.distributed import cleanup
    from handvae.train.guard import NonFiniteError
    from handvae.train.trainer import Trainer

    overrides = list(args.overrides) + ([f"seed={args.seed}"] if args.seed is not None else [])
    cfg = load_config(Config, resolve_config(args.config), overrides)
    try:
        trainer = Trainer(cfg, resume=args.resume)
        summary = trainer.fit(progress=not args.no_progress)
    except NonFiniteError as err:
        print(f"handvae train: stopped: {err}", file=sys.stderr)
        return 3
    finally:
        cleanup()
    if trainer.dist.is_main:
        summary = {k: v for k, v in summary.items() if k != "history"}
        print(json.dumps({"run": str(cfg.out_dir), **summary}, indent=2))
    return 0
