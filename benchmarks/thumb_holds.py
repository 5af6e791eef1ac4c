"""Where the world's thumbs are, with and without the thumb holds (``poses.THUMB_HOLDS``).

For each family whose thumb folds (fist, point, victory, horns, three, four), drawn in the default
proportions: how far (mm) the thumb tip stands in front of the palm beyond the long fingers' farthest
joint (a thumb that lies on the fingers it holds is within a thumb's and a finger's thickness of
them), without and with the holds. Then the natural sampler's thumb tip over ``--samples`` poses: its
height in front of the palm (along the normal of the wrist, index MCP, little MCP triangle, made
perpendicular to the wrist -> middle MCP axis) in units of the wrist -> middle MCP length, median and
quartiles (and, with ``--realdev``, the same for the real set's labels, left hands: a description of
the photos, not a target). With ``--png`` a side view of each family,
before (dashed) and after.

    PYTHONPATH=src python benchmarks/thumb_holds.py --png docs/thumb_holds.png --realdev ../shared/realdev
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from handvae.skeleton import BONES, ROOT_JOINT, WRIST, finger_joints
from handvae.synth.hand import HandProportions, forward_kinematics
from handvae.synth.poses import THUMB_HOLDS, sample_pose, solve_contact_gestures
from realdev_errors import hand_frames

THUMB = set(finger_joints(0))


def side_frame(joints: np.ndarray) -> np.ndarray:
    """``(21, 3)`` -> ``(21, 2)`` mm: (along wrist -> middle MCP, towards the palm) from the wrist; the
    along and palmar axes of ``realdev_errors.hand_frames`` (either hand)."""
    along, _, palmar = hand_frames(joints[None])[0]
    rel = joints - joints[WRIST]
    return np.stack([rel @ along, rel @ palmar], axis=-1)


def gesture_joints(table: dict[str, np.ndarray], name: str) -> np.ndarray:
    """``(21, 3)`` mm: gesture ``name`` of a table (gesture -> (5, 4) degrees) in the default proportions."""
    return forward_kinematics(HandProportions(), np.radians(table[name])).joints


def excess_mm(joints: np.ndarray) -> float:
    """How far the thumb tip stands in front of the palm beyond the long fingers' farthest joint (mm)."""
    h = side_frame(joints)[:, 1]
    return float(h[finger_joints(0)[0]] - h[5:].max())


def thumb_height(joints: np.ndarray) -> float:
    """A hand's ``(21, 3)`` thumb-tip height in front of the palm (:func:`side_frame`), in wrist ->
    middle MCP units."""
    return float(side_frame(joints)[finger_joints(0)[0], 1] / np.linalg.norm(joints[ROOT_JOINT] - joints[WRIST]))


def sampled_heights(n: int, thumb_holds: bool, seed: int) -> np.ndarray:
    """:func:`thumb_height` of ``n`` poses of the natural sampler (default proportions), ``(n,)``."""
    rng, prop = np.random.default_rng(seed), HandProportions()
    return np.array([thumb_height(forward_kinematics(prop, sample_pose(rng, "natural", thumb_holds)[0]).joints)
                     for _ in range(n)])


def quartiles(h: np.ndarray) -> str:
    """``(n,)`` -> 'median [first quartile, third quartile]'."""
    q1, med, q3 = np.percentile(h, [25, 50, 75])
    return f"{med:.2f} [{q1:.2f}, {q3:.2f}]"


def plot(tables: dict[bool, dict[str, np.ndarray]], path: str) -> None:
    """Side views (along the hand against towards the palm, mm) of each held family, both tables
    (``thumb_holds`` -> gesture -> (5, 4) degrees), written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(THUMB_HOLDS), figsize=(2.2 * len(THUMB_HOLDS), 3.2), sharey=True)
    for ax, name in zip(axes, THUMB_HOLDS):
        for holds, style in ((False, "--"), (True, "-")):
            q = side_frame(gesture_joints(tables[holds], name))
            for a, b in BONES:
                thumb = a in THUMB or b in THUMB
                if thumb or holds:
                    ax.plot(q[[a, b], 1], q[[a, b], 0], style, color="C3" if thumb else "C0", lw=1.5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("towards the palm (mm)", fontsize=7)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("along the hand (mm)", fontsize=7)
    fig.suptitle("thumb (red) without the holds (dashed) and with them (solid); fingers in blue", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=3000, help="natural poses drawn for the distribution")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--png", help="write the side views here")
    ap.add_argument("--realdev", help="the real development set's folder (annotations.npz; left hands)")
    args = ap.parse_args()
    tables = {holds: solve_contact_gestures(holds) for holds in (False, True)}
    print("thumb tip in front of the long fingers' farthest joint (mm): without / with the holds")
    for name in THUMB_HOLDS:
        before, after = (excess_mm(gesture_joints(tables[h], name)) for h in (False, True))
        print(f"  {name:8s} {before:6.1f} / {after:5.1f}")
    print(f"natural sampler, {args.samples} poses (seed {args.seed}): thumb tip over the palm plane, "
          "wrist -> middle MCP units, median [quartiles]")
    for holds in (False, True):
        print(f"  thumb_holds={str(holds).lower():5s} {quartiles(sampled_heights(args.samples, holds, args.seed))}")
    if args.realdev and Path(args.realdev, "annotations.npz").is_file():
        xyz = np.load(Path(args.realdev, "annotations.npz"))["xyz_mm"].astype(np.float64)  # left hands
        print(f"  the real set's labels ({len(xyz)}) {quartiles(np.array([thumb_height(j) for j in xyz]))}")
    if args.png:
        plot(tables, args.png)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
