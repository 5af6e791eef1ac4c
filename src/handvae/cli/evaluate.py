"""``handvae evaluate RUN [RUN ...] --data CACHE``: RGB-only scores under the pinned protocol, with report and plots.

``--model NAME`` (repeatable) evaluates a released model (:mod:`handvae.models.released`) beside or
instead of runs; its default output folder is ``eval_NAME_<split>`` in the current folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from handvae.cli.predict import check_tta_deg

HELP = ("evaluate trained runs on a prepared split (headline protocol and PA-EPE): metrics JSON, Markdown report, "
        "PCK and per-joint plots")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from handvae.eval.metrics import ROOTS, SCALES

    p.add_argument("runs", nargs="*", type=Path, help="run folders (best checkpoint) or checkpoint files")
    p.add_argument("--model", action="append", default=[], metavar="NAME",
                   help="a released model shipped with handvae, such as s4 (repeatable; in place of or beside runs)")
    p.add_argument("--data", type=Path, help="prepared cache (default: the run's data.cache)")
    p.add_argument("--split", default="test", help="split of the cache (default test)")
    p.add_argument("--out", type=Path, help="output folder (default: RUN/eval_<split>)")
    p.add_argument("--root", choices=ROOTS, help="override the protocol's root joint (default: the run's, mcp)")
    p.add_argument("--scale", choices=SCALES, help="override the protocol's scale (default: the run's, gt_bone)")
    p.add_argument("--all-joints", action="store_true", help="count invisible keypoints too")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--no-baseline", action="store_true", help="leave out the mean-pose baseline")
    p.add_argument("--tta-deg", type=float, default=0.0, metavar="DEG",
                   help="test-time rolls: average each pose with those of the crop rotated by +-DEG degrees "
                        "(default 0: one pass, the protocol; handvae predict uses 30)")


def run(args: argparse.Namespace) -> int:
    from handvae.errors import UserError
    from handvae.eval.evaluate import evaluate_runs
    from handvae.eval.metrics import Protocol
    from handvae.models.released import released_path

    protocol = None
    if args.root or args.scale or args.all_joints:
        protocol = Protocol(root=args.root or "mcp", scale=args.scale or "gt_bone", visible_only=not args.all_joints)
    if not args.runs and not args.model:
        raise UserError("nothing to evaluate: give run folders or checkpoints, or --model NAME")
    runs = list(args.runs) + [released_path(name) for name in args.model]
    if args.out:
        out = args.out
    elif args.runs:
        first = args.runs[0]
        out = (first if first.is_dir() else first.parent.parent) / f"eval_{args.split}"
    else:
        out = Path(f"eval_{args.model[0]}_{args.split}")
    check_tta_deg(args.tta_deg)
    results = evaluate_runs(runs, args.data, out, args.split, protocol, args.device, baseline=not args.no_baseline,
                            tta_deg=args.tta_deg)
    for name, r in results.items():
        pa = "" if r.pa is None else f"  PA-EPE {r.pa.mean_epe_mm:7.2f} mm"
        print(f"{name:<28} mean EPE {r.mean_epe_mm:7.2f} mm  median {r.median_epe_mm:7.2f} mm  "
              f"AUC(20-50) {r.auc_20_50:.3f}{pa}")
    print("protocol: " + Protocol(**{k: next(iter(results.values())).protocol[k]
                                     for k in ("root", "scale", "visible_only")}).describe())
    if any(r.pa is not None for r in results.values()):
        print("PA-EPE: the same predictions after per-sample Procrustes (similarity) alignment to the ground truth")
    print(f"report: {out / 'report.md'}")
    return 0
