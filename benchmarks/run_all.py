"""Every speed figure of the project, in one command: each benchmark runs in turn and its output is
printed (and collected into one text file for docs/RESULTS.md).

    python benchmarks/run_all.py                 # CPU figures
    python benchmarks/run_all.py --device cuda   # on a GPU machine: the same, on the GPU where it applies
    python benchmarks/run_all.py --out speed.txt

Figures: synthetic world samples/s/core (bench_synth), prepare samples/s and batch assembly / ResNet-18
step ratio (bench_data), S4 step / ResNet-18 step throughput ratio with a profile (bench_model),
training samples/s for S1 and S4 (bench_train), PyTorch and ONNX Runtime CPU latency (bench_onnx).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def jobs(device: str) -> list[tuple[str, list[str]]]:
    gpu = device != "cpu"
    return [
        ("synthetic world", ["bench_synth.py", "--n", "60"]),
        ("data pipeline", ["bench_data.py", "--size", "256" if gpu else "128", "--device", device]),
        ("model step", ["bench_model.py", "--device", device, "--batch", "32" if gpu else "8",
                        "--crop", "256" if gpu else "128"]),
        ("training (CPU preset)", ["bench_train.py", "--device", device]),
        *([("training (paper settings)", ["bench_train.py", "--preset", "paper", "--device", device,
                                          "trainer.amp=bf16"])] if gpu else []),
        ("ONNX export latency", ["bench_onnx.py"]),
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, help="also write everything printed to this file")
    args = p.parse_args()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    sys.path.insert(0, str(HERE.parent / "src"))
    from handvae.machine import summary

    header = f"{summary()}, {platform.platform()}, device {args.device}"
    chunks = [header]
    print(header, flush=True)
    failed = 0
    for title, argv in jobs(args.device):
        script = HERE / argv[0]
        if not script.is_file():
            chunks.append(f"\n## {title}: {argv[0]} missing")
            continue
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), *argv[1:]], capture_output=True, text=True, env=env)
        text = proc.stdout.strip() + (f"\n(exit code {proc.returncode}: {proc.stderr.strip()[-500:]})"
                                      if proc.returncode else "")
        failed += proc.returncode != 0
        chunk = f"\n## {title} ({' '.join(argv)}, {time.perf_counter() - t0:.0f} s)\n{text}"
        print(chunk, flush=True)
        chunks.append(chunk)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text("\n".join(chunks) + "\n")
        os.replace(tmp, args.out)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
