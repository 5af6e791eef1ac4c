"""Speed of the model: one S4 training step vs the bare ResNet-18 step, where the time goes, and EMD.

Prints (one run, so the ratios are comparable even on a busy machine):
1. ms per training step (forward, backward, Adam) of the bare ResNet-18 (RGB -> 63 values, L2)
   and of the full S4 model (RC2CHP, product of experts, every loss term), at the same batch and
   crop size, and the ratio of their throughputs (target >= 0.8);
2. a breakdown of the S4 step by part (each part timed alone, forward + backward), with its
   forward FLOPs, plus the top operators of a torch.profiler trace;
3. exact EMD (Hungarian, CPU) vs the Sinkhorn approximation: agreement and time; and S4's three exact
   assignments per step (one per ELBO) solved one after the other vs as one threaded batch.

    PYTHONPATH=src python benchmarks/bench_model.py --batch 8 --crop 128
    PYTHONPATH=src python benchmarks/bench_model.py --device cuda --batch 32 --crop 256
    PYTHONPATH=src python benchmarks/bench_model.py --config configs/cpu/s4.yaml --batch 32 --skip-emd
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from handvae.config import load_config
from handvae.models import build_criterion, build_model
from handvae.models import losses as L
from handvae.models.resnet import ResNet18
from handvae.schema import Config
from handvae.train.trainer import build_optimizer


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], None], device: torch.device, steps: int, warmup: int) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def gflops(fn: Callable[[], object]) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def make_batch(args, cfg: Config, device: torch.device) -> dict:
    """A random batch at the shapes of ``cfg``: R (B, 3, crop, crop), C (B, n_points, 3), H, P (B, 21, 3)."""
    g = torch.Generator().manual_seed(args.seed)
    b, s, n, hs = args.batch, cfg.data.crop_size, cfg.data.n_points, cfg.data.heatmap_size
    batch = {
        "R": torch.rand(b, 3, s, s, generator=g),
        "C": torch.randn(b, n, 3, generator=g) * 0.7,
        "H": torch.rand(b, 21, hs, hs, generator=g) * 0.1,
        "P": torch.randn(b, 21, 3, generator=g),
    }
    batch = {k: v.to(device) for k, v in batch.items()}
    batch["present"] = {k: torch.ones(b, dtype=torch.bool, device=device) for k in "RCHP"}
    return batch


def s4_config(args) -> Config:
    """S4 from ``--config`` (a YAML config, for example configs/cpu/s4.yaml) or from the shape flags."""
    if args.config:
        cfg = load_config(Config, args.config)
        if (cfg.model.strategy, cfg.model.alignment) != ("RC2CHP", "poe"):
            raise SystemExit(f"--config {args.config}: expected an S4 config (RC2CHP, poe), got "
                             f"{cfg.model.strategy} with alignment {cfg.model.alignment}")
        args.width, args.point_width, args.crop = cfg.model.rgb_width, cfg.model.point_width, cfg.data.crop_size
        return cfg
    cfg = Config()
    cfg.model.strategy, cfg.model.alignment = "RC2CHP", "poe"
    cfg.model.rgb_width = args.width
    cfg.model.point_width = args.point_width
    cfg.data.crop_size = args.crop
    cfg.loss.emd = args.emd
    return cfg


def bench_steps(args, device: torch.device) -> None:
    cfg = s4_config(args)
    batch = make_batch(args, cfg, device)
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    beta = 1e-3

    bare = ResNet18(width=args.width, num_classes=63).to(device, memory_format=mf)
    opt_bare = build_optimizer(bare.parameters(), 1e-4, device)  # as the trainer builds it
    rgb = batch["R"].contiguous(memory_format=mf)
    target = batch["P"].flatten(1)

    def bare_step() -> None:
        opt_bare.zero_grad(set_to_none=True)
        loss = L.safe_norm(bare(rgb) - target).mean()
        loss.backward()
        opt_bare.step()

    model = build_model(cfg).to(device, memory_format=mf).train()
    crit = build_criterion(cfg)
    opt = build_optimizer(model.parameters(), 1e-4, device)
    s4_batch = dict(batch, R=rgb)

    def s4_step() -> None:
        opt.zero_grad(set_to_none=True)
        out = model(s4_batch)
        crit.total(crit(out, s4_batch, beta), beta).to(device).backward()
        opt.step()

    t_bare = timeit(bare_step, device, args.steps, args.warmup)
    t_s4 = timeit(s4_step, device, args.steps, args.warmup)
    print(f"\n== training step, batch {args.batch}, crop {args.crop}px, ResNet width {args.width}, "
          f"point width x{args.point_width}, EMD {args.emd}, {device} ({torch.get_num_threads()} threads)")
    print(f"bare ResNet-18 : {1e3 * t_bare:8.1f} ms/step  {args.batch / t_bare:7.1f} samples/s  "
          f"{gflops(lambda: bare(rgb)):7.2f} GFLOP fwd")
    print(f"S4 (RC2CHP poe): {1e3 * t_s4:8.1f} ms/step  {args.batch / t_s4:7.1f} samples/s  "
          f"{gflops(lambda: model(s4_batch)):7.2f} GFLOP fwd")
    print(f"throughput ratio S4 / bare = {t_bare / t_s4:.3f}  (target >= 0.8)")

    print_breakdown(args, device, cfg.model.latent_dim, model, crit, opt, batch, s4_batch, t_s4)
    if args.profile:
        print_profile(s4_step, device, args.profile_rows)


def print_breakdown(
    args, device: torch.device, latent_dim: int, model, crit, opt, batch: dict, s4_batch: dict, t_s4: float
) -> None:
    """Each part of an S4 step alone, forward + backward, at the shapes it has inside the step."""
    beta = 1e-3
    parts: dict[str, Callable[[], object]] = {}
    z3 = torch.randn(3 * args.batch, latent_dim, device=device, requires_grad=True)

    def enc(letter: str, x: torch.Tensor) -> Callable[[], object]:
        return lambda: model.encoders[letter](x)

    parts["encoder R (ResNet-18)"] = enc("R", s4_batch["R"])
    parts["encoder C (ResPEL)"] = enc("C", batch["C"])
    for letter, name in (("C", "FoldingNet"), ("H", "DCGAN heatmaps"), ("P", "pose MLP")):
        parts[f"decoder {letter} ({name}) x3 latents"] = (lambda d: lambda: model.decoders[d](z3))(letter)
    with torch.no_grad():
        out = model(s4_batch)
    detached = {
        "latent": out["latent"], "valid": out["valid"],
        "recon": {e: {d: v.detach().requires_grad_(True) for d, v in r.items()} for e, r in out["recon"].items()},
    }
    for loss in ("chamfer", "emd", "heat", "pose"):
        names = [n for n in crit.term_names() if n.endswith(":" + loss)]
        parts[f"loss {loss} x3"] = (lambda ns: lambda: sum(crit(detached, s4_batch, beta, terms=ns).values()))(names)

    def fwd_bwd(f: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            res = f()
            value = res.mu.sum() + res.logvar.sum() if hasattr(res, "mu") else res.float().sum()
            value.backward()
        return run

    print("\n-- where the time goes (each part alone, forward + backward; median ms)")
    total = 0.0
    rows = []
    for name, f in parts.items():
        t = timeit(fwd_bwd(f), device, args.steps, 1)
        total += t
        rows.append((name, t, gflops(f)))
    t_opt = timeit(lambda: opt.step(), device, args.steps, 1)
    rows.append(("Adam step (all parameters)", t_opt, 0.0))
    total += t_opt
    for name, t, gf in rows:
        print(f"  {name:36s} {1e3 * t:8.1f} ms  {100 * t / total:5.1f}%  {gf:7.2f} GFLOP fwd")
    print(f"  {'sum of parts':36s} {1e3 * total:8.1f} ms  (full step {1e3 * t_s4:.1f} ms)")


def print_profile(step: Callable[[], None], device: torch.device, rows: int) -> None:
    """torch.profiler's top operators of one training step."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        step()
        sync(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print("\n-- torch.profiler, one S4 step, top operators")
    print(prof.key_averages().table(sort_by=key, row_limit=rows))


def bench_emd(args, device: torch.device) -> None:
    g = torch.Generator().manual_seed(args.seed)
    b, n = args.emd_batch, args.emd_points
    print(f"\n== EMD, batch {b} x {n} points (normalised units, target spread ~0.7), sinkhorn on {device}")
    print(f"  {'noise':>6s} {'exact':>8s} {'sinkhorn':>9s} {'rel.err mean':>13s} {'max':>7s} "
          f"{'exact ms':>9s} {'sinkhorn ms':>12s}")
    for noise in (0.01, 0.05, 0.2, 0.5, 1.0):
        q = torch.randn(b, n, 3, generator=g) * 0.7
        p = q[:, torch.randperm(n, generator=g)] + noise * torch.randn(b, n, 3, generator=g)
        t0 = time.perf_counter()
        exact = L.emd_exact(p, q)
        t_exact = time.perf_counter() - t0
        pd, qd = p.to(device), q.to(device)
        L.emd_sinkhorn(pd, qd)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        approx = L.emd_sinkhorn(pd, qd).cpu()
        t_sk = time.perf_counter() - t0
        rel = (approx - exact) / exact
        print(f"  {noise:6.2f} {exact.mean():8.4f} {approx.mean():9.4f} {rel.mean():13.4%} {rel.abs().max():7.2%} "
              f"{1e3 * t_exact:9.1f} {1e3 * t_sk:12.1f}")


def bench_joint_assignment(args) -> None:
    """S4 solves three assignments per step (the R, C and RC ELBOs' clouds against one target)."""
    g = torch.Generator().manual_seed(args.seed)
    b, n = args.emd_batch, args.joint_points
    print(f"\n== S4's three exact EMD assignments per step, batch {b} x {n} points, "
          f"{torch.get_num_threads()} threads: one after the other vs one batch (losses.emd_assignments)")
    for noise in (0.2, 1.0):
        q = torch.randn(b, n, 3, generator=g) * 0.7
        pairs = [(q[:, torch.randperm(n, generator=g)] + noise * torch.randn(b, n, 3, generator=g), q)
                 for _ in range(3)]
        t_sep = timeit(lambda ps=pairs: [L.emd_assignment(p, t) for p, t in ps], torch.device("cpu"), 20, 2)
        t_joint = timeit(lambda ps=pairs: L.emd_assignments(ps), torch.device("cpu"), 20, 2)
        print(f"  noise {noise:4.2f}: one after the other {1e3 * t_sep:6.2f} ms, one batch {1e3 * t_joint:6.2f} ms "
              f"({t_sep / t_joint:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--config", help="an S4 YAML config whose shapes to time (e.g. configs/cpu/s4.yaml); "
                    "it replaces --crop, --width and --point-width")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--width", type=int, default=64, help="ResNet-18 base width (64 = torchvision's)")
    ap.add_argument("--point-width", type=float, default=1.0, help="ResPEL/FoldingNet width multiplier")
    ap.add_argument("--emd", default="auto", choices=["auto", "exact", "sinkhorn"])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--profile-rows", type=int, default=12)
    ap.add_argument("--emd-batch", type=int, default=32)
    ap.add_argument("--emd-points", type=int, default=256)
    ap.add_argument("--joint-points", type=int, default=64, help="cloud size of the three-assignment comparison")
    ap.add_argument("--skip-steps", action="store_true", help="only the EMD comparison")
    ap.add_argument("--skip-emd", action="store_true", help="only the training steps")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if not args.skip_steps:
        bench_steps(args, device)
    if not args.skip_emd:
        bench_emd(args, device)
        bench_joint_assignment(args)


if __name__ == "__main__":
    main()
