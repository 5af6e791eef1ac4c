"""Data pipeline speed: batch assembly vs one ResNet-18 training step, and prepare throughput.

Prints (ratios measured in one run, so a busy machine affects both sides alike):
- prepare throughput in samples/s (320x320 RHD-format inputs written here, crop S, 1024 points);
- the time to assemble one batch of 32 on the device (point subsets, augmentation, heatmaps)
  divided by one training step (forward, backward, Adam) of a bare ResNet-18 at the same crop size
  and batch. Target: <= 0.1.

Usage: PYTHONPATH=src python benchmarks/bench_data.py [--size 128] [--n 64] [--workers 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from handvae.data.augment import AugmentConfig
from handvae.data.batches import BatchLoader
from handvae.data.formats import encode_rhd_depth
from handvae.data.prepare import PrepareConfig, prepare
from handvae.train.trainer import build_optimizer


def write_rhd_like(root: Path, n: int, size: int = 320, seed: int = 0) -> None:
    """n RHD-format samples: a right-hand ellipse blob on noise, a depth plane, 42 annotation rows."""
    g = np.random.default_rng(seed)
    d = root / "training"
    for sub in ("color", "depth", "mask"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    K = np.array([[280.0, 0, 160.0], [0, 280.0, 160.0], [0, 0, 1]])
    vv, uu = np.mgrid[0:size, 0:size]
    anno = {}
    for i in range(n):
        cu, cv = g.uniform(90, 230, 2)
        blob = ((uu - cu) / 35.0) ** 2 + ((vv - cv) / 50.0) ** 2 < 1
        labels = np.where(blob, 20, 1).astype(np.uint8)
        img = g.integers(0, 255, (size, size, 3), dtype=np.uint8)
        img[blob] = (200, 150, 120)
        z = g.uniform(0.4, 0.8)
        Image.fromarray(img).save(d / "color" / f"{i:05d}.png")
        Image.fromarray(encode_rhd_depth(np.full((size, size), z))).save(d / "depth" / f"{i:05d}.png")
        Image.fromarray(labels).save(d / "mask" / f"{i:05d}.png")
        uv = np.c_[g.normal(cu, 20, 42), g.normal(cv, 30, 42)]
        xyz = np.c_[(uv - 160.0) / 280.0 * z, np.full(42, z)]
        anno[i] = {"xyz": xyz.astype(np.float32), "uv_vis": np.c_[uv, np.ones(42)].astype(np.float32), "K": K}
    (d / "anno_training.pickle").write_bytes(pickle.dumps(anno, protocol=2))


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout else nn.Identity()
        )

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(y)) + self.down(x))


def resnet18(out: int = 63) -> nn.Module:
    """The project's ResNet-18 when present, else a minimal one (same layer plan)."""
    try:
        from handvae.models.resnet import ResNet18

        return ResNet18(num_classes=out)
    except ImportError:
        pass
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for i, c in enumerate((64, 128, 256, 512)):
        layers += [_Block(cin, c, 1 if i == 0 else 2), _Block(c, c, 1)]
        cin = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, out))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--n", type=int, default=64, help="samples to write and prepare")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_rhd_like(tmp / "rhd", args.n)
        cfg = PrepareConfig("rhd", str(tmp / "rhd"), size=args.size, points=1024, workers=args.workers)
        t0 = time.perf_counter()
        split = prepare(cfg, tmp / "cache", progress=False)
        dt = time.perf_counter() - t0
        print(f"prepare: {args.n / dt:.1f} samples/s (320x320 -> {args.size}px crops, workers {args.workers})")

        loader = BatchLoader(split, batch_size=args.batch, device=device, modalities="RCHP", n_points=256,
                             augment=AugmentConfig(), on_device="always", drop_last=False)
        loader.batch_size = min(args.batch, loader.n)
        times = []
        for k in range(args.steps + 1):
            loader.set_epoch(k)
            it = iter(loader)
            sync(device)
            t0 = time.perf_counter()
            batch = next(it)
            sync(device)
            times.append(time.perf_counter() - t0)
            it.close()
        t_batch = float(np.median(times[1:]))
        # scale to a batch of args.batch if the prepared set is smaller
        t_batch *= args.batch / batch["R"].shape[0]

        net = resnet18().to(device)
        opt = build_optimizer(net.parameters(), 1e-4, device)  # as the trainer builds it
        x = torch.rand(args.batch, 3, args.size, args.size, device=device)
        y = torch.randn(args.batch, 63, device=device)
        steps = []
        for _ in range(max(2, args.steps // 2) + 1):
            sync(device)
            t0 = time.perf_counter()
            loss = ((net(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sync(device)
            steps.append(time.perf_counter() - t0)
        t_step = float(np.median(steps[1:]))
        print(f"batch of {args.batch} at {args.size}px on {device}: {t_batch * 1e3:.1f} ms; "
              f"ResNet-18 train step: {t_step * 1e3:.1f} ms; ratio {t_batch / t_step:.3f} (target <= 0.1)")


if __name__ == "__main__":
    main()
