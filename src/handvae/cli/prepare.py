"""``handvae prepare {rhd,stb,realdev} PATH --out CACHE --split train``: make a cached split.

``realdev`` (real photos, evaluation only) has one split: ``--split test``.
``handvae prepare cache SPLIT_DIR... --out CACHE --split train`` joins prepared splits in order
(for example a benchmark's training split and more samples of the same world).
"""

from __future__ import annotations

import argparse

HELP = "crop, viewpoint-correct and normalise a dataset (RHD, STB or realdev format) into a cache"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from handvae.data.prepare import SOURCES

    parser.add_argument("source", choices=[*SOURCES, "cache"],
                        help="dataset format: rhd, stb, realdev (real photos, evaluation only), or cache "
                             "(join prepared splits)")
    parser.add_argument("path", nargs="+",
                        help="dataset root (RHD_published_v2 folder, the STB folder, or the realdev folder with "
                             "annotations.npz and images/); for cache, the prepared split folders to join, in order")
    parser.add_argument("--out", required=True, help="cache folder; the split is written to OUT/SPLIT")
    parser.add_argument("--split", default="train",
                        help="train | test (RHD also: training | evaluation; realdev: test only)")
    parser.add_argument("--size", type=int, default=256, help="crop size in px (paper: 256)")
    parser.add_argument("--points", type=int, default=1024, help="cloud points stored per sample")
    parser.add_argument("--margin", type=float, default=1.25,
                        help="crop box = longer mask side x margin (realdev: the projected joints' box)")
    parser.add_argument("--mirror", choices=["none", "left"], default="left",
                        help="left (default): mirror left hands to right ones, so the model learns one side; "
                             "none: keep both sides as they are")
    parser.add_argument("--camera", choices=["sk", "bb"], default="sk", help="STB camera (sk: colour+depth)")
    parser.add_argument("--radius-mm", type=float, default=20.0, help="STB hand segmentation radius")
    parser.add_argument("--limit", type=int, default=0, help="only the first N samples (0 = all)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stored point subsets")
    parser.add_argument("--skip-bad", action="store_true", help="skip bad samples (counted in the manifest)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing split")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import json

    from handvae.data.cache import concat_splits
    from handvae.data.prepare import PrepareConfig, prepare
    from handvae.errors import UserError

    if args.source == "cache":
        out = concat_splits(args.path, args.out, args.split, overwrite=args.overwrite)
        print(f"wrote {out}: {json.loads((out / 'manifest.json').read_text())['count']} samples "
              f"from {len(args.path)} splits")
        return 0
    if len(args.path) != 1:
        raise UserError(f"prepare {args.source} takes one dataset root, got {len(args.path)}: {args.path}")
    cfg = PrepareConfig(
        source=args.source, root=args.path[0], split=args.split, size=args.size, points=args.points,
        margin=args.margin, mirror=args.mirror, camera=args.camera, radius_mm=args.radius_mm,
        limit=args.limit, seed=args.seed, skip_bad=args.skip_bad, workers=max(1, args.workers),
    )
    out = prepare(cfg, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    print(f"wrote {out}: {counts['written']} samples, {counts['skipped']} skipped")
    return 0
