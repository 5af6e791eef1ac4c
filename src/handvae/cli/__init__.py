"""The ``handvae`` command line: a registry of verbs, each a module with ``add_arguments`` and ``run``.

A verb module defines ``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``. Verbs
are imported only when used, so ``handvae --help`` stays fast. Add a verb by adding a line to
:data:`VERBS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from handvae.config import ConfigError
from handvae.errors import UserError

VERBS: dict[str, str] = {
    "metrics": "handvae.cli.metrics",
    "train": "handvae.cli.train",
    "prepare": "handvae.cli.prepare",
    "synth": "handvae.cli.synth",
    "evaluate": "handvae.cli.evaluate",
    "demo": "handvae.cli.demo",
    "reproduce": "handvae.cli.reproduce",
    "figures": "handvae.cli.figures",
    "predict": "handvae.cli.predict",
    "export-onnx": "handvae.cli.export_onnx",
    "release-export": "handvae.cli.release_export",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handvae", description="3D hand pose from one RGB image, by aligned latent spaces."
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for name, module_name in VERBS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (UserError, ConfigError) as err:
        print(f"handvae {args.verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
