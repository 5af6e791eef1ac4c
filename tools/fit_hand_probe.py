"""Fit the hand probe of ``--hand auto`` (:mod:`handvae.predict.hand_probe`) for one model, and score it.

    PYTHONPATH=src python tools/fit_hand_probe.py --model s4 --data ~/.cache/handvae/s4mesh/cache50k \\
        --realdev ~/.cache/handvae/sim2real/realdev128 --out src/handvae/released/hand/s4.safetensors

``--data``: a prepared cache whose ``train`` split holds crops of the side the model was trained on (a
cache prepared with left hands mirrored, the default; ``--realdev`` too). The probe is fitted on the
first crops of that split and scored on its last ``--holdout`` crops (held out from the fit);
``--realdev``, a prepared real-photo cache (its ``test`` split), is scored once, after the fit, for
the record. Every score is the fraction of crops for which ``--hand auto`` picks the side the photo
shows, beside the label-free ``stability`` score of :mod:`handvae.predict.handedness` on the same
crops. The probe's settings
(``--hidden``, ``--weight-decay``, ``--epochs``) were chosen on synthetic crops (docs/MODELS.md).
The written file records the model, the data, the settings, the seed and these scores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def stability_accuracy(model, images: np.ndarray) -> float:
    """Fraction of crops for which ``--hand auto`` by the ``stability`` score picks the right side."""
    from handvae.predict.handedness import choose_hand

    return float(np.mean([choose_hand(model, np.ascontiguousarray(im), "stability").hand == "right" for im in images]))


def training_side_crops(split: Path, crop_size: int) -> np.ndarray:
    """The crops of a cache split prepared with left hands mirrored (so every crop shows a right hand, the
    side the model was trained on); SystemExit naming the split otherwise."""
    from handvae.data.cache import open_split, read_manifest

    mirror = read_manifest(split).get("config", {}).get("mirror")
    if mirror != "left":
        raise SystemExit(f"{split}: prepared with --mirror {mirror}; expected left hands mirrored (--mirror left, "
                         "the default), so that every crop shows the side the model was trained on")
    images = open_split(split, ["image"])["image"]
    if images.shape[1] != crop_size:
        raise SystemExit(f"{split}: crops of {images.shape[1]} px, the model wants {crop_size}")
    return images


def main(argv: list[str] | None = None) -> int:
    from handvae.models.load import add_model_arguments, load_model_or_released

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(p)
    p.add_argument("--data", type=Path, required=True, help="a prepared cache (its train split: the fit and holdout)")
    p.add_argument("--holdout", type=int, default=500, help="the last N crops of the split, scored, not fitted")
    p.add_argument("--max-samples", type=int, default=0, help="fit on at most N crops (0: all before the holdout)")
    p.add_argument("--realdev", type=Path, default=None, help="a prepared real-photo cache, scored once")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--weight-decay", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-compare", action="store_true", help="skip the stability score (six passes per crop)")
    p.add_argument("--out", type=Path, required=True, help="the probe file to write (safetensors)")
    args = p.parse_args(argv)

    from handvae.data.cache import read_manifest
    from handvae.files import git_commit
    from handvae.predict.hand_probe import fit_hand_probe, save_hand_probe, side_accuracy

    model, cfg, label = load_model_or_released(args.run, args.model)
    name = args.model or label
    split = args.data / "train"
    images = training_side_crops(split, cfg.data.crop_size)
    n = len(images)
    if not 0 < args.holdout < n:
        raise SystemExit(f"--holdout {args.holdout}: expected between 1 and {n - 1} ({split} has {n} crops)")
    stop = n - args.holdout
    start = max(0, stop - args.max_samples) if args.max_samples > 0 else 0
    fit_images, held = images[start:stop], np.asarray(images[stop:])  # the fit's crops stay memory-mapped
    probe = fit_hand_probe(model, fit_images, args.hidden, args.weight_decay, args.epochs, seed=args.seed)
    scores = {"synthetic_holdout": {"crops": len(held), "probe": side_accuracy(model, probe, held)}}
    if args.realdev is not None:
        real = training_side_crops(args.realdev / "test", cfg.data.crop_size)
        scores["realdev"] = {"crops": len(real), "probe": side_accuracy(model, probe, np.asarray(real))}
    if not args.no_compare:
        scores["synthetic_holdout"]["stability"] = stability_accuracy(model, held)
        if args.realdev is not None:
            scores["realdev"]["stability"] = stability_accuracy(model, np.asarray(real))
    manifest = read_manifest(split)
    fit = {"model": name, "data": str(split), "data_checksum": manifest.get("checksum"), "crops": [start, stop],
           "hidden": args.hidden, "weight_decay": args.weight_decay, "epochs": args.epochs, "seed": args.seed,
           "commit": git_commit() or "unknown", "accuracy": scores}
    save_hand_probe(probe, args.out, name, fit)
    print(f"wrote {args.out}: fitted on crops {start}..{stop - 1} of {split} (and their mirror images)")
    for where, s in scores.items():
        line = ", ".join(f"{k} {v:.1%}" for k, v in s.items() if k != "crops")
        print(f"  picks the right side on {where} ({s['crops']} crops): {line}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    raise SystemExit(main())
