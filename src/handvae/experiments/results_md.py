"""docs/RESULTS.md from a reproduction's ``results.json`` and the benchmarks' output: never typed by hand.

python -m handvae.experiments.results_md OUT/results.json --speed OUT/speed.txt --out docs/RESULTS.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

from handvae.eval.report import plot_pck_curves
from handvae.experiments.reproduce import all_runs, row_key
from handvae.files import atomic_write_text, save_figure


def _fmt(v, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def _plot_pck(rows: list[dict], path: Path) -> None:
    curves = {r["name"]: (r["pck_thresholds_mm"], r["pck_curve"], r["auc_20_50"]) for r in rows}
    plot_pck_curves(curves, path, figsize=(6, 4.2), legend_loc="upper left")


def _plot_weak(weak: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [100 * w["fraction"] for w in weak]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(xs, [w["semi"]["mean_epe_mm"] for w in weak], "o-", label="RC2CHP semi-supervised (all R, C)")
    ax.plot(xs, [w["alone"]["mean_epe_mm"] for w in weak], "s--", label="labelled m% alone")
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{x:g}" for x in xs])
    ax.set_xlabel("labelled fraction m (%)")
    ax.set_ylabel("mean EPE (mm)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    plt.close(fig)


def _s4_vs_s1(s4_epe: float, s1_epe: float) -> str:
    """``"+20.9% lower"`` when S4's EPE is below S1's, ``"3.0% higher"`` when above."""
    gain = 100 * (1 - s4_epe / s1_epe)
    return f"{gain:+.1f}% lower" if gain >= 0 else f"{-gain:.1f}% higher"


def _seed_lines(seeds: list[dict]) -> list[str]:
    """The seed-spread table: each retrained row's EPE per seed, mean and sample standard deviation."""
    if not seeds:
        return []

    n = max(len(s["seeds"]) for s in seeds)
    lines = [
        "",
        "## Seed spread",
        "",
        "The same runs retrained with other seeds (data order, initialisation, "
        "random draws): differences between rows smaller than this spread are not an ordering.",
        "",
        "| strategy | " + " | ".join(f"seed {i}" for i in range(n)) + " | mean | std |",
        "|---|" + "---:|" * (n + 2),
    ]
    means = {}
    for s in seeds:
        epes = [r["mean_epe_mm"] for r in s["runs"]]
        cells = [f"{e:.2f}" for e in epes] + ["-"] * (n - len(epes))
        std = statistics.stdev(epes) if len(epes) > 1 else 0.0
        means[s["name"].split(" ")[0]] = statistics.fmean(epes)
        lines.append(f"| {s['name']} | " + " | ".join(cells) + f" | {statistics.fmean(epes):.2f} | {std:.2f} |")
    if {"S1", "S4"} <= set(means):
        lines += ["", f"S4 vs S1 over the seeds: {_s4_vs_s1(means['S4'], means['S1'])} mean EPE."]
    return lines


def _selection_lines(rows: list[dict]) -> list[str]:
    """How each run's checkpoint was chosen, from the rows (results written before rows carried it: unknown)."""
    kinds = sorted({(r.get("val_split"), r.get("val_holdout")) for r in rows}, key=str)
    if not rows or any(split is None for split, _ in kinds):
        return ["- model selection: not recorded (results written before the validation-split protocol)"]
    described = [
        f"the last {n} samples of the training split, held out from training" if split == "holdout" and n
        else f"the `{split}` split" for split, n in kinds
    ]  # fmt: skip
    return [
        f"- model selection: each run's best checkpoint by validation EPE on {' / '.join(described)}; "
        "the test split is scored once per run, with that checkpoint"
    ]


def _table1_lines(rows: list[dict], out: Path) -> list[str]:
    """Table 1, the S4-vs-S1 verdict and the PCK plot (written beside ``out``)."""
    lines: list[str] = []
    if not rows:
        return lines
    p = rows[0]["protocol"]
    lines += [
        f"- protocol: root {p['root']}, scale {p['scale']}, "
        f"{'visible' if p['visible_only'] else 'all'} keypoints, PCK thresholds linspace(0, 50 mm, 20); "
        "AUC 20-50 integrates thresholds 21.05-50 mm",
        "",
        "## Table 1",
        "",
        "| strategy | mean EPE (mm) | median EPE (mm) | AUC 20-50 | mean-pose baseline EPE | train time (s) "
        "| paper, RHD mean EPE |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['mean_epe_mm']:.2f} | {r['median_epe_mm']:.2f} | {r['auc_20_50']:.3f} | "
            f"{r['baseline_mean_epe_mm']:.2f} | {r['train_seconds']:.0f} | {_fmt(r['paper_rhd_mean_epe_mm'])} |"
        )
    by = {row_key(r): r for r in rows}
    order = [k for k in ("S1", "S2-HP", "S2-CP", "S2-CHP", "S3", "S4") if k in by]
    if {"S1", "S4"} <= set(by):
        s1, s4 = by["S1"], by["S4"]
        s2s = [by[k] for k in ("S2-HP", "S2-CP", "S2-CHP") if k in by]
        s2_best = min(s2s, key=lambda r: r["mean_epe_mm"], default=None)
        seq = [s1, s2_best, by.get("S3"), s4]
        seq = [r for r in seq if r is not None]
        ordered = all(a["mean_epe_mm"] > b["mean_epe_mm"] for a, b in itertools.pairwise(seq))
        verdict = _s4_vs_s1(s4["mean_epe_mm"], s1["mean_epe_mm"])
        lines += [
            "",
            f"S4 vs S1: {verdict} mean EPE (paper: 20.9% lower on RHD). "
            f"Ordering S4 < S3 < best S2 < S1 {'holds' if ordered else 'does not hold'} here "
            f"(rows compared: {', '.join(r['name'] for r in seq)}; order of presets: {', '.join(order)}).",
        ]
    _plot_pck(rows, out.parent / "results_pck.png")
    lines += ["", "![3D PCK of every Table 1 row](results_pck.png)"]
    return lines


def _cloud_lines(cloud: list[dict]) -> list[str]:
    """The lambda_cloud rows."""
    lines: list[str] = []
    if cloud:
        lines += [
            "",
            "## Weight of the cloud terms",
            "",
            "The same budget with lambda_cloud lowered from the paper's 1 (every other setting as in Table 1).",
            "",
            "| run | mean EPE (mm) | median EPE (mm) | AUC 20-50 | train time (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['name']} | {r['mean_epe_mm']:.2f} | {r['median_epe_mm']:.2f} | {r['auc_20_50']:.3f} | "
            f"{r['train_seconds']:.0f} |"
            for r in cloud
        ]
    return lines


def _weak_lines(weak: list[dict], rows: list[dict], settings: dict, out: Path) -> list[str]:
    """The weak-supervision table and plot (written beside ``out``)."""
    lines: list[str] = []
    if weak:
        lines += [
            "",
            "## Weak supervision (paper Fig. 5, suppl. E)",
            "",
            "| labelled m | semi-supervised RC2CHP EPE (mm) | labelled m alone EPE (mm) | difference |",
            "|---:|---:|---:|---:|",
        ]
        for w in weak:
            a, b = w["semi"]["mean_epe_mm"], w["alone"]["mean_epe_mm"]
            lines.append(f"| {100 * w['fraction']:g}% | {a:.2f} | {b:.2f} | {100 * (a / b - 1):+.1f}% |")
        s1 = next((r for r in rows if row_key(r) == "S1"), None)
        quarter = next((w for w in weak if abs(w["fraction"] - 0.25) < 1e-9), None)
        if s1 and quarter:
            beats = quarter["semi"]["mean_epe_mm"] < s1["mean_epe_mm"]
            lines += [
                "",
                f"With 25% of the poses, semi-supervised RC2CHP ({quarter['semi']['mean_epe_mm']:.2f} mm, "
                f"{settings['weak_steps']} steps) {'beats' if beats else 'does not beat'} fully supervised S1 "
                f"({s1['mean_epe_mm']:.2f} mm, {settings['steps']} steps); the paper reports that it beats it.",
            ]
        _plot_weak(weak, out.parent / "results_weak.png")
        lines += ["", "![weak supervision](results_weak.png)"]
    return lines


def render(results: dict, speed: str | None, out: Path) -> str:
    """The Markdown text; writes the plots beside ``out``."""
    env = results["environment"]
    settings = results.get("settings") or results["plan"]  # "plan" in results written before the rename
    rows = results["table1"]
    lines = [
        "# Results on the synthetic benchmark",
        "",
        "Generated by `python -m handvae.experiments.results_md` from the outputs of `make reproduce`;",
        "do not edit by hand.",
        "",
        f"- commit `{env.get('git_commit')}`, handvae {env.get('handvae')}, torch {env.get('torch')}, "
        f"on {env.get('device_name') or 'CPU'} ({env.get('platform')})",
        f"- benchmark: {settings['train']} training / {settings['test']} test synthetic samples (RHD format, seed "
        f"{settings['seed']}, {settings['image_size']} px images), CPU preset (`configs/cpu/`), "
        f"{settings['steps']} steps of batch 32 per Table 1 row"
        + (f", {settings['weak_steps']} per weak-supervision run" if results.get("weak") else ""),
        f"- overrides on every run: {', '.join(f'`{o}`' for o in settings.get('overrides') or []) or 'none'}",
    ]
    if settings.get("only"):
        lines.append(f"- rows run: `--only {' '.join(settings['only'])}` (the others were not run)")
    for part in results.get("parts") or []:  # a results.json assembled from several invocations on one world
        lines.append(f"- part: {part}")
    commits = sorted({str(r["commit"]) for r in all_runs(results) if r.get("commit")})
    if commits:
        lines.append(f"- runs trained at {', '.join(f'`{c[:7]}{c[40:]}`' for c in commits)} (each run's env.json; "
                     "`+dirty`: uncommitted edits in the tree)")
    lines += _selection_lines(rows)
    if "train_seconds_sum" in results:
        lines.append(f"- training time of all runs together: {results['train_seconds_sum'] / 60:.1f} min")
    lines += _table1_lines(rows, out)
    lines += _seed_lines(results.get("seeds") or [])
    lines += _cloud_lines(results.get("cloud_weight") or [])
    lines += _weak_lines(results.get("weak") or [], rows, settings, out)
    if speed:
        lines += ["", "## Speed (benchmarks/run_all.py)", "", "```", speed.strip(), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", type=Path)
    p.add_argument("--speed", type=Path, help="text printed by benchmarks/run_all.py")
    p.add_argument("--out", type=Path, default=Path("docs/RESULTS.md"))
    args = p.parse_args(argv)
    results = json.loads(args.results.read_text())
    speed = args.speed.read_text() if args.speed and args.speed.is_file() else None
    atomic_write_text(args.out, render(results, speed, args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
