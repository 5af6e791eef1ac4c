"""How much a keypoint convention alone costs on a labelled set: move the MCPs of the ground truth
along the MCP -> PIP bone by ``d`` mm (the set's joints in another convention, otherwise perfect) and
score that "perfect model" under the headline protocol (root middle MCP, ground-truth bone scale)
and after Procrustes alignment (PA-EPE). Reads an ``annotations.npz`` with ``xyz_mm (N, 21, 3)`` in
RHD order, such as the real development set's (evaluation only).

    PYTHONPATH=src python benchmarks/convention_gap.py ../shared/realdev/annotations.npz
"""

from __future__ import annotations

import argparse

import numpy as np

from handvae.eval.metrics import Protocol, evaluate
from handvae.skeleton import SCALE_BONE, finger_joints
from handvae.synth.hand import DEFAULT_BASE_DIST, DEFAULT_BONES


def shift_mcps(xyz: np.ndarray, d_mm: float) -> np.ndarray:
    """``xyz (N, 21, 3)`` with each long finger's MCP moved ``d_mm`` towards its PIP."""
    out = xyz.copy()
    for f in range(1, 5):
        _, _, pip, mcp = finger_joints(f)
        u = xyz[:, pip] - xyz[:, mcp]
        out[:, mcp] = xyz[:, mcp] + d_mm * u / np.linalg.norm(u, axis=-1, keepdims=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("annotations")
    args = p.parse_args()
    gt = np.load(args.annotations)["xyz_mm"].astype(np.float64)
    a, b = SCALE_BONE
    bone = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
    palm = np.linalg.norm(gt[:, a] - gt[:, 0], axis=-1)
    print(f"{len(gt)} poses: middle MCP->PIP {bone.mean():.1f} mm (the synthetic default {DEFAULT_BONES[2][0]:.1f}), "
          f"wrist->middle MCP {palm.mean():.1f} mm (default {DEFAULT_BASE_DIST[2]:.1f})")
    print("| MCPs moved towards the PIP (mm) | headline EPE (mm) | PA-EPE (mm) |\n|---:|---:|---:|")
    for d in (0.0, 5.0, 10.0, 13.0, 16.0):
        x = shift_mcps(gt, d)
        norm = (x - x[:, a : a + 1]) / np.linalg.norm(x[:, a] - x[:, b], axis=-1)[:, None, None]
        head = evaluate(norm, gt, protocol=Protocol()).mean_epe_mm
        pa = evaluate(x, gt, protocol=Protocol(scale="procrustes")).mean_epe_mm
        print(f"| {d:.0f} | {head:.2f} | {pa:.2f} |")


if __name__ == "__main__":
    main()
