"""The demo (``handvae demo``, ``make demo``): the whole flow on a fresh machine, on the CPU, in about ten minutes.

First the released model (shipped in the package) on photos: the real development set's first frames
when ``--photos`` (default ``../shared/realdev/images``) exists, else a few synthetic renders; skeleton
overlays, 3D plots and JSON in ``OUT/released/``. Then a short training of its own: synthetic world
(RHD format, 320 px) -> prepare (the preset's crops) -> S4 training (CPU preset) -> evaluation beside
the mean-pose baseline -> figures. Everything lands in ``--out`` (default ``demo/``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def show_released(out: Path, photos: Path, count: int, seed: int) -> None:
    """The released S4 on ``count`` photos (left hands) from ``photos``, else on synthetic renders
    (either side: the model decides, ``--hand auto``); writes ``out/released/``."""
    from handvae.errors import UserError
    from handvae.predict.run import PredictOptions, Predictor, predict_batch

    try:
        pred = Predictor()
    except UserError as err:
        print(f"no released model to show ({err}); skipping")
        return
    if photos.is_dir():
        paths = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
        hand = "left"
    else:
        from PIL import Image

        from handvae.data.crop import box_from_mask
        from handvae.synth.generate import preview_samples

        (out / "photos").mkdir(parents=True, exist_ok=True)
        paths = []
        for i, s in enumerate(preview_samples("rhd", count, seed=seed + 1000)):
            base = 2 if s.main_side == "left" else 18
            hand_px = (s.mask >= base) & (s.mask <= base + 15)
            if not hand_px.any():
                continue
            u, v, half = box_from_mask(hand_px, 1.25)  # a photo framed as training frames a hand
            box = (max(int(u - half), 0), max(int(v - half), 0), int(u + half) + 1, int(v + half) + 1)
            paths.append(out / "photos" / f"synthetic_{i}_{s.main_side}.png")
            Image.fromarray(s.rgb).crop(box).save(paths[-1])
        hand = "auto"
    records, _ = predict_batch(pred, paths, out / "released", PredictOptions(hand=hand), progress=False)
    print(f"released model {pred.released} on {len(records)} photo(s) from {paths[0].parent if paths else photos} "
          f"(--hand {hand}): overlays, 3D plots and JSON in {out / 'released'}")


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo with the options of ``handvae demo`` (see :mod:`handvae.cli.demo`)."""
    from handvae.config import load_config, resolve_config
    from handvae.errors import UserError
    from handvae.eval.evaluate import BASELINE, evaluate_runs
    from handvae.experiments.pipeline import build_world, prepare_cache
    from handvae.schema import Config
    from handvae.train.trainer import Trainer

    t0 = time.perf_counter()
    out: Path = args.out
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise UserError(f"{out} already holds files; pass --overwrite to start again or choose another --out")
    cfg_path = args.config or resolve_config("cpu/s4")

    def stage(text: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {text}", flush=True)

    # the training config first: a bad one fails before minutes of synthesis
    cfg = load_config(Config, cfg_path, [f"data.cache={out / 'cache'}", f"out_dir={out / 'run_s4'}",
                                         f"seed={args.seed}", f"trainer.max_steps={args.steps}",
                                         f"data.val_holdout={args.val}"])
    stage("0/5 the released model on photos")
    show_released(out, args.photos, args.photo_count, args.seed)
    stage(f"1/5 synthetic world: {args.train} train + {args.val} validation / {args.test} test samples")
    world = build_world(out / "world", args.train + args.val, args.test, seed=args.seed, workers=args.workers,
                        overwrite=True, progress=True)  # fmt: skip
    stage(f"2/5 prepare: {cfg.data.crop_size} px crops")
    prepare_cache(world, out / "cache", cfg.data.crop_size, seed=args.seed, workers=args.workers, overwrite=True,
                  progress=True)  # fmt: skip
    stage(f"3/5 train {cfg.model.strategy}/{cfg.model.alignment} for {args.steps} steps ({cfg_path})")
    Trainer(cfg).fit(progress=True)
    stage("4/5 evaluate on the test split")
    results = evaluate_runs([out / "run_s4"], out / "cache", out / "eval")
    stage("5/5 figures")
    from handvae.eval.figures import FigureArgs, make_figures

    make_figures(FigureArgs(run=str(out / "run_s4"), data=str(out / "cache"), out=str(out / "figures"),
                            seed=args.seed))
    ours, base = results["run_s4"], results[BASELINE]
    print()
    print(f"S4 (RGB only)      mean EPE {ours.mean_epe_mm:6.2f} mm   AUC(20-50) {ours.auc_20_50:.3f}")
    print(f"mean-pose baseline mean EPE {base.mean_epe_mm:6.2f} mm   AUC(20-50) {base.auc_20_50:.3f}")
    print(f"improvement over the baseline: {100 * (1 - ours.mean_epe_mm / base.mean_epe_mm):.1f}% lower EPE")
    print(f"report: {out / 'eval' / 'report.md'}   (done in {time.perf_counter() - t0:.0f} s)")
    return 0
