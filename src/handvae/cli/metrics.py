"""``handvae metrics PRED GT``: score any method's 3D poses against ground truth, pinned protocol."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "score predicted 3D poses (npy/npz/json, N x 21 x 3) against ground truth under the pinned protocol"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from handvae.eval.metrics import ROOTS, SCALES
    from handvae.skeleton import ORDERS

    p.add_argument("pred", type=Path, help="predicted poses (.npy, .npz or .json), shaped (N, 21, 3)")
    p.add_argument("gt", type=Path, help="ground-truth poses in mm; an npz/json may carry 'vis' (N, 21)")
    orders = ", ".join(ORDERS)
    p.add_argument("--pred-order", default="rhd", help=f"joint order of PRED: {orders} (default rhd)")
    p.add_argument("--gt-order", default="rhd", help=f"joint order of GT: {orders} (default rhd; stb's palm -> wrist)")
    p.add_argument("--root", default="mcp", choices=ROOTS, help="root joint (default: middle MCP, the paper's)")
    p.add_argument(
        "--scale",
        default="gt_bone",
        choices=SCALES,
        help="gt_bone (default, the paper's): PRED in units of the middle MCP-PIP bone, multiplied by "
        "GT's bone; none: PRED in mm; procrustes: similarity-aligned",
    )
    p.add_argument("--all-joints", action="store_true", help="count invisible keypoints too")
    p.add_argument("--vis", type=Path, help="visibility file (N, 21) overriding GT's 'vis'")
    p.add_argument("--json", type=Path, help="also write the result as JSON here")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from handvae.errors import UserError
    from handvae.eval.metrics import Protocol, evaluate
    from handvae.eval.posefile import load_poses
    from handvae.files import atomic_write_text
    from handvae.skeleton import bone_length

    pred, _ = load_poses(args.pred, args.pred_order)
    gt, vis = load_poses(args.gt, args.gt_order)
    if args.vis is not None:
        vis = _load_vis(args.vis, gt.shape[:2])
    if pred.shape[0] != gt.shape[0]:
        raise UserError(f"{args.pred} holds {pred.shape[0]} poses but {args.gt} holds {gt.shape[0]}; expected equal")
    if args.scale == "gt_bone":
        bone = float(np.median(bone_length(pred)))
        if bone > 5.0:
            raise UserError(
                f"{args.pred}: with --scale gt_bone predictions are in units of the middle MCP-PIP bone "
                f"(about 1), but their median bone is {bone:.1f}: they look like mm; use --scale none"
            )
    protocol = Protocol(root=args.root, scale=args.scale, visible_only=not args.all_joints)
    result = evaluate(pred, gt, vis, protocol)
    print(result.table())
    doc = json.dumps(result.as_dict(), indent=2)
    print(doc)
    if args.json is not None:
        atomic_write_text(args.json, doc + "\n")
    return 0


def _load_vis(path: Path, shape: tuple[int, int]):
    import numpy as np

    from handvae.errors import UserError

    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        vis = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: could not be read as .npy ({err})") from None
    if vis.shape != shape:
        raise UserError(f"{path}: visibility must be shaped {shape}, got {vis.shape}")
    return vis.astype(bool)
