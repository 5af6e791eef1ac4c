"""Latency at batch 1 on this CPU: a handvae model (PyTorch eager and ONNX Runtime) beside MediaPipe
Hands, measured in one run on the same images.

handvae times the RGB -> pose path on its crop size (the crop is given; cropping and drawing are not
timed). MediaPipe Hands (``static_image_mode``: palm detection + landmarks on every image, its bundled
models) runs in another Python environment, since it is not a handvae dependency: pass its
interpreter with ``--mediapipe-python`` (``python -m venv mp && mp/bin/pip install mediapipe``).
Images: every ``*.jpg``/``*.png`` of ``--images`` (for example the real development set's), resized
to the model's crop for handvae and given as they are to MediaPipe.

    PYTHONPATH=src python benchmarks/latency_vs_mediapipe.py --model s4 --images ../shared/realdev/images \\
        --mediapipe-python /tmp/mpenv/bin/python --threads 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench_onnx import median_ms  # benchmarks/ is the script's folder, so on sys.path

MEDIAPIPE_SCRIPT = r"""
import json, sys, time
import cv2, mediapipe as mp
paths, runs, warmup = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
images = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in paths]
with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1, model_complexity=1) as hands:
    for i in range(warmup):
        hands.process(images[i % len(images)])
    times, found = [], 0
    for i in range(runs):
        t = time.perf_counter()
        res = hands.process(images[i % len(images)])
        times.append(1000 * (time.perf_counter() - t))
        found += res.multi_hand_landmarks is not None
median = sorted(times)[len(times) // 2]
print(json.dumps({"median_ms": median, "found": found, "runs": runs, "version": mp.__version__}))
"""


def handvae_latency(args: argparse.Namespace, images: list[Path]) -> dict[str, float]:
    from PIL import Image

    from handvae.data.rgb import rgb_input
    from handvae.export import PosePath, export_onnx, ort_session
    from handvae.models.load import load_model
    from handvae.models.released import load_released_file, released_path

    if args.run:
        model, cfg, _ = load_model(args.run, "cpu")
    else:
        model, cfg, _ = load_released_file(released_path(args.model))
    size = int(cfg.data.crop_size)
    crops = [np.array(Image.open(p).convert("RGB").resize((size, size))) for p in images]
    batch = [rgb_input(c) for c in crops]
    path = PosePath(model.float().eval()).eval()
    it = iter(range(10**9))
    with torch.no_grad():
        torch_ms = median_ms(lambda: path(batch[next(it) % len(batch)]), args.runs, args.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, _ = export_onnx(model, size, Path(tmp) / "m.onnx")
        sess = ort_session(onnx_path, threads=args.threads)
        name = sess.get_inputs()[0].name
        arrays = [b.numpy() for b in batch]
        onnx_ms = median_ms(lambda: sess.run(None, {name: arrays[next(it) % len(arrays)]}), args.runs, args.warmup)
    return {"crop": size, "torch_ms": torch_ms, "onnx_ms": onnx_ms}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", default="s4", help="a released model name (default s4)")
    src.add_argument("--run", help="a run folder or checkpoint instead")
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--mediapipe-python", help="a Python interpreter with mediapipe installed")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="threads for torch and ONNX Runtime (default 1)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    images = sorted(q for q in args.images.iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not images:
        raise SystemExit(f"{args.images}: no .jpg or .png images")
    ours = handvae_latency(args, images)
    print(f"handvae {args.run or args.model} ({ours['crop']} px crops), batch 1, {args.threads} thread(s), "
          f"median of {args.runs}: PyTorch {ours['torch_ms']:.2f} ms, ONNX Runtime {ours['onnx_ms']:.2f} ms")
    if args.mediapipe_python:
        env = {"OMP_NUM_THREADS": str(args.threads)}
        out = subprocess.run([args.mediapipe_python, "-c", MEDIAPIPE_SCRIPT, json.dumps([str(q) for q in images]),
                              str(args.runs), str(args.warmup)], capture_output=True, text=True, env=env,
                             check=True)  # fmt: skip
        mp_res = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"MediaPipe Hands {mp_res['version']} (static images, model_complexity 1), same images: "
              f"{mp_res['median_ms']:.2f} ms median, a hand found in {mp_res['found']}/{mp_res['runs']}")
        print(f"ONNX Runtime / MediaPipe latency: {ours['onnx_ms'] / mp_res['median_ms']:.2f} (target <= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
