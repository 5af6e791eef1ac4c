"""CPU latency at batch 1 of the RGB -> pose path: PyTorch eager vs ONNX Runtime, same model.

Prints the median of ``--runs`` calls (after warm-up) in ms for each, and their ratio, for the
CPU-preset model (``--crop 64 --width 16``, configs/cpu/) and, unless ``--no-full``, for the
paper-size model (256 px crops, full-width ResNet-18). Both runtimes get the same thread count.
The weights are random (``--checkpoint`` to time a trained run instead): latency depends on the
architecture, not on the values.

    PYTHONPATH=src python benchmarks/bench_onnx.py
    PYTHONPATH=src python benchmarks/bench_onnx.py --crop 128 --width 32 --runs 100 --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from handvae.export import PosePath, export_onnx, ort_session


def median_ms(fn, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1000.0


def build(crop: int, width: int, checkpoint: str | None):
    if checkpoint:
        from handvae.models.load import load_model

        model, cfg, _ = load_model(checkpoint)
        return model, int(cfg.data.crop_size), f"{checkpoint} ({cfg.model.strategy})"
    from handvae.config import load_config
    from handvae.models import build_model
    from handvae.schema import Config

    cfg = load_config(Config, None, ["model.strategy=S4", f"data.crop_size={crop}", f"model.rgb_width={width}"])
    return build_model(cfg).eval(), crop, f"S4, {crop} px, ResNet-18 width {width}"


def bench(label: str, model, crop: int, runs: int, warmup: int, threads: int) -> None:
    module = PosePath(model).eval()
    x = torch.rand(1, 3, crop, crop, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp:
        path, diffs = export_onnx(model, crop, Path(tmp) / "m.onnx")
        sess = ort_session(path, threads)
        feed = {"rgb": x.numpy()}
        with torch.inference_mode():
            t_torch = median_ms(lambda: module(x), runs, warmup)
        t_ort = median_ms(lambda: sess.run(["pose"], feed), runs, warmup)
    print(f"{label}: batch 1, {threads} thread(s), median of {runs}")
    print(f"  PyTorch eager   {t_torch:8.2f} ms")
    print(f"  ONNX Runtime    {t_ort:8.2f} ms   ({t_torch / t_ort:.2f}x PyTorch's speed; "
          f"max |diff| {max(diffs.values()):.1e} normalised units)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crop", type=int, default=64, help="crop size in px (default 64, the CPU preset)")
    ap.add_argument("--width", type=int, default=16, help="ResNet-18 base width (default 16, the CPU preset)")
    ap.add_argument("--checkpoint", help="time this trained model instead of random weights")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for both runtimes (default 1: stable on a shared machine; more threads on a busy "
                         "machine wait on each other)")
    ap.add_argument("--no-full", action="store_true", help="skip the 256 px full-width model")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, crop, label = build(args.crop, args.width, args.checkpoint)
    bench(label, model, crop, args.runs, args.warmup, args.threads)
    if not args.no_full:
        model, crop, label = build(256, 64, None)
        bench(label + " (the paper's size)", model, crop, max(10, args.runs // 5), 2, args.threads)


if __name__ == "__main__":
    main()
