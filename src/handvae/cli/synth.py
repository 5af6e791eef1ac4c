"""``handvae synth``: write the synthetic hand world in RHD's or STB's format, or a preview sheet."""

from __future__ import annotations

import argparse

HELP = "generate the synthetic multimodal hand dataset (RHD or STB layout) or a preview contact sheet"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("rhd", "stb"), default="rhd", help="on-disk layout (default rhd)")
    parser.add_argument("--out", help="dataset root to create (RHD: holds training/ and evaluation/)")
    parser.add_argument("--train", type=int, default=256, help="training samples (default 256)")
    parser.add_argument("--test", type=int, default=64, help="test samples (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (output does not depend on it)")
    parser.add_argument("--size", type=int, default=320, help="RHD image size in pixels (default 320)")
    parser.add_argument(
        "--world", action="append", default=[], metavar="KEY=VALUE",
        help="override a world option (repeatable), e.g. hand_model=capsule, p_front_occluder=0, "
        "hand_span=0.5,0.9 (fields of handvae.synth.scene.SceneOptions; see docs/SIM2REAL.md)",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    parser.add_argument("--preview", metavar="PNG", help="write a contact sheet of training samples to PNG")
    parser.add_argument("--preview-count", type=int, default=8, help="samples in the contact sheet (default 8)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from handvae.errors import UserError
    from handvae.synth.generate import generate_dataset, preview_samples

    world = {}
    for item in args.world:
        if "=" not in item:
            raise UserError(f"--world {item}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        world[key.strip()] = value.strip()
    if args.out is None and args.preview is None:
        raise UserError("give --out DIR (a dataset) and/or --preview FILE.png (a contact sheet)")
    if args.preview is not None:
        from handvae.synth.preview import write_contact_sheet

        if args.preview_count < 1:
            raise UserError(f"--preview-count must be >= 1, got {args.preview_count}")
        samples = preview_samples(args.format, args.preview_count, args.seed, args.size, world)
        print(f"wrote {write_contact_sheet(samples, args.preview)}")
    if args.out is not None:
        path = generate_dataset(
            args.format, args.out, args.train, args.test, seed=args.seed, workers=args.workers,
            overwrite=args.overwrite, size=args.size, progress=not args.quiet, world=world,
        )  # fmt: skip
        print(f"wrote {args.format} dataset with {args.train} train / {args.test} test samples to {path}")
    return 0
