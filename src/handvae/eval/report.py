"""Reports of evaluation results: Markdown tables, 3D PCK curves (overlaying runs), per-joint bars.

Every report prints the protocol its numbers were computed under.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from handvae.eval.metrics import Protocol, Result
from handvae.files import save_figure
from handvae.skeleton import JOINT_NAMES


def _protocol_line(result: Result) -> str:
    p = result.protocol
    return Protocol(root=p["root"], scale=p["scale"], visible_only=p["visible_only"]).describe()


def markdown_report(results: Mapping[str, Result], title: str = "Evaluation", notes: str = "") -> str:
    """A Markdown report: one row per named result (with PA-EPE where scored), per-joint errors, the protocol."""
    if not results:
        raise ValueError("no results to report")
    lines = [f"# {title}", ""]
    if notes:
        lines += [notes, ""]
    with_pa = any(r.pa is not None for r in results.values())
    lines += [
        "| run | samples | mean EPE (mm) |" + (" PA-EPE (mm) |" if with_pa else "")
        + " median EPE (mm) | AUC 0-50 | AUC 20-50 |",
        "|---|---:|---:|" + ("---:|" if with_pa else "") + "---:|---:|---:|",
    ]
    for name, r in results.items():
        pa = ("-" if r.pa is None else f"{r.pa.mean_epe_mm:.2f}") + " | " if with_pa else ""
        lines.append(
            f"| {name} | {r.num_samples} | {r.mean_epe_mm:.2f} | {pa}{r.median_epe_mm:.2f} | {r.auc_0_50:.3f} | "
            f"{r.auc_20_50:.3f} |"
        )
    protocols = {_protocol_line(r) for r in results.values()}
    lines += ["", "Protocol: " + "; ".join(sorted(protocols)) + ". AUC 20-50 integrates thresholds 21.05-50 mm."]
    if with_pa:
        lines.append("PA-EPE: mean EPE of the same predictions after per-sample Procrustes alignment (rotation, "
                     "scale, translation) to the ground truth.")
    lines.append("")
    names = list(results)
    lines += ["## Per-joint mean error (mm)", "", "| joint | " + " | ".join(names) + " |",
              "|---|" + "---:|" * len(names)]
    for j, joint in enumerate(JOINT_NAMES):
        cells = []
        for r in results.values():
            v = r.per_joint_mean_mm[j]
            cells.append("-" if v is None else f"{v:.2f}")
        lines.append(f"| {joint} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_pck_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], float]],
    path: str | os.PathLike,
    title: str = "",
    figsize: tuple[float, float] = (5.5, 4.2),
    legend_loc: str = "lower right",
) -> None:
    """3D PCK curves ``name -> (thresholds mm, PCK, AUC 20-50)`` on one plot (the paper's Fig. 3 style)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    for name, (thresholds, curve, auc_hi) in curves.items():
        ax.plot(thresholds, curve, marker="o", ms=3, label=f"{name} (AUC 20-50 = {auc_hi:.3f})")
    ax.set_xlabel("error threshold (mm)")
    ax.set_ylabel("3D PCK")
    ax.set_xlim(0, 50)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc=legend_loc)
    if title:
        ax.set_title(title, fontsize=10)
    save_figure(fig, path)
    plt.close(fig)


def plot_pck(results: Mapping[str, Result], path: str | os.PathLike, title: str = "3D PCK") -> None:
    """3D PCK curves of several evaluated runs on one plot, AUC 20-50 in the legend."""
    plot_pck_curves({n: (r.pck_thresholds_mm, r.pck_curve, r.auc_20_50) for n, r in results.items()}, path, title)


def plot_per_joint(result: Result, path: str | os.PathLike, title: str = "Per-joint mean error") -> None:
    """Bar chart of each joint's mean (bar) and median (dot) error in mm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = [float("nan") if v is None else v for v in result.per_joint_mean_mm]
    medians = [float("nan") if v is None else v for v in result.per_joint_median_mm]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    xs = range(len(JOINT_NAMES))
    ax.bar(xs, means, color="#4C72B0", label="mean")
    ax.plot(xs, medians, "o", color="#DD8452", ms=4, label="median")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(JOINT_NAMES, rotation=70, fontsize=7)
    ax.set_ylabel("error (mm)")
    ax.legend(fontsize=8)
    ax.set_title(f"{title}\n{_protocol_line(result)}", fontsize=8)
    save_figure(fig, path)
    plt.close(fig)
