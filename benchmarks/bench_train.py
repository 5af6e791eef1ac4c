"""Training throughput: samples/s of full training steps (data assembly on the device, forward,
backward, Adam) for S1 and S4, through the real trainer on a prepared synthetic world.

    python benchmarks/bench_train.py                        # configs/cpu presets: 128 px crops, batch 32
    python benchmarks/bench_train.py --preset paper --device cuda trainer.amp=bf16   # paper: 256 px
    python benchmarks/bench_train.py --cache CACHE          # an existing cache with a train split
    python benchmarks/bench_train.py --compare fp32=trainer.amp=off,trainer.channels_last=false bf16=trainer.amp=bf16

Without --cache it writes a small synthetic world (RHD format) and prepares it in a temporary
folder first. Figures are medians over timed steps after warm-up; S1 and S4 run in one process and take
turns in rounds, so their ratio is comparable on a busy machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from handvae.config import load_config
from handvae.machine import summary
from handvae.schema import Config


def make_cache(root: Path, crop: int, n: int) -> Path:
    from handvae.data.prepare import PrepareConfig, prepare
    from handvae.synth.generate import generate_dataset

    data = generate_dataset("rhd", root / "rhd", n, 16, seed=0, workers=1, size=max(96, 2 * crop))
    for split in ("train", "test"):
        prepare(PrepareConfig(source="rhd", root=str(data), split=split, size=crop, points=1024), root / "cache",
                progress=False)
    return root / "cache"


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def config_for(strategy: str, args, cache: Path | None = None, out: Path | None = None,
               extra: tuple[str, ...] = ()) -> Config:
    folder = CONFIGS / "cpu" if args.preset == "cpu" else CONFIGS
    # a throughput benchmark on a few dozen samples: validation (never reached) reads the test split, since
    # the default holdout of 500 training samples does not fit
    overrides = [f"trainer.batch_size={args.batch}", f"trainer.device={args.device}", "data.on_device=always",
                 "data.val_split=test", *args.overrides, *extra]
    if cache is not None:
        overrides += [f"data.cache={cache}", f"out_dir={out / strategy}"]
    return load_config(Config, folder / f"{strategy.lower()}.yaml", overrides)


def make_trainer(strategy: str, cache: Path, args, out: Path, extra: tuple[str, ...] = ()):
    from handvae.train.trainer import Trainer

    return Trainer(config_for(strategy, args, cache, out, extra))


def parse_variants(specs: list[str]) -> dict[str, tuple[str, ...]]:
    """``NAME=OVERRIDE[,OVERRIDE...]`` (``--compare``) -> {NAME: overrides}; none given: one unnamed variant."""
    out: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        name, sep, over = spec.partition("=")
        if not sep or not name:
            raise SystemExit(f"--compare {spec!r}: expected NAME=KEY=VALUE[,KEY=VALUE...], e.g. bf16=trainer.amp=bf16")
        out[name] = tuple(o for o in over.split(",") if o)
    return out or {"": ()}


def step_seconds(trainer, steps: int) -> list[float]:
    """Seconds of each of ``steps`` full training steps, the batch's assembly (augmentation) included."""
    dev, times = trainer.device, []
    for _ in range(steps):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        trainer.train_step(trainer.train_data.next_batch(), 1e-4)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t0)
    return times


def label(strategy: str, variant: str) -> str:
    """A trainer's name in the printed figures: ``S1``, or ``S1 bf16`` for a named variant."""
    return f"{strategy} {variant}".strip()


def measure(cache: Path, args, out: Path, strategies: tuple[str, ...] = ("S1", "S4"),
            variants: dict[str, tuple[str, ...]] | None = None) -> dict[str, float]:
    """Samples/s of each strategy (and variant: "S1 bf16"): after warm-up, ``args.rounds`` rounds of
    ``args.steps`` steps each, all of them taking turns, so that a machine whose speed drifts slows them
    alike; medians of all steps."""
    variants = variants or {"": ()}
    trainers = {label(s, v): make_trainer(s, cache, args, out / f"{s}_{v}", extra)
                for v, extra in variants.items() for s in strategies}
    times: dict[str, list[float]] = {name: [] for name in trainers}
    for trainer in trainers.values():
        step_seconds(trainer, args.warmup)
    for _ in range(args.rounds):
        for s, trainer in trainers.items():
            times[s] += step_seconds(trainer, args.steps)
    return {s: args.batch / statistics.median(t) for s, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. trainer.amp=bf16 model.point_width=1")
    p.add_argument("--preset", choices=["cpu", "paper"], default="cpu", help="configs/cpu/* or configs/*")
    p.add_argument("--cache", type=Path)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=8, help="timed steps per strategy and round")
    p.add_argument("--rounds", type=int, default=4, help="rounds in which the strategies take turns")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--samples", type=int, default=96, help="synthetic training samples when no --cache")
    p.add_argument("--compare", nargs="*", default=[], metavar="NAME=OVERRIDES",
                   help="variants measured in the same rounds, e.g. fp32=trainer.amp=off,trainer.channels_last=false "
                        "bf16=trainer.amp=bf16 (the first is the reference of the printed ratios)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = config_for("S4", args)
        cache = args.cache or make_cache(tmp, cfg.data.crop_size, args.samples)
        print(summary())
        print(f"preset {args.preset}, device {args.device}, crop {cfg.data.crop_size}, batch {args.batch}, "
              f"rgb_width {cfg.model.rgb_width}, point_width {cfg.model.point_width}, points {cfg.data.n_points}, "
              f"heatmaps {cfg.data.heatmap_size} (x{cfg.model.heat_width}, kernel {cfg.model.heat_kernel}), "
              f"amp {cfg.trainer.amp}, threads {torch.get_num_threads()}")
        variants = parse_variants(args.compare)
        rates = measure(cache, args, tmp / "runs", variants=variants)
    for s, r in rates.items():
        print(f"{s}: {r:8.1f} training samples/s")
    first = next(iter(variants))
    for v in variants:
        print(f"{label('S4 / S1 throughput', v)}: {rates[label('S4', v)] / rates[label('S1', v)]:.3f}")
        if v != first:
            for s in ("S1", "S4"):
                print(f"{label(s, v)} / {label(s, first)}: {rates[label(s, v)] / rates[label(s, first)]:.3f}")


if __name__ == "__main__":
    main()
