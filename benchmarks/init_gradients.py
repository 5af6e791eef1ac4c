"""What each loss term asks of the RGB encoder at initialisation, and how big each decoder's first guess is.

For each config, on one training batch of a prepared cache (train mode, the config's seed), prints:

1. every named loss term: its value, its weight and the norm of the gradient of ``weight x term``
   with respect to the RGB latent mean ``mu_R (B, Z)``: which term steers the shared encoder first;
2. every decoder's output rms about its per-sample mean against its target's (normalised units for P
   and C, heatmap values for H): a decoder whose first guess is far off its target's scale makes its
   term dominate by size alone.

    PYTHONPATH=src python benchmarks/init_gradients.py --cache CACHE configs/cpu/s1.yaml configs/cpu/s3.yaml \
        --set model.init_logvar=-4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from handvae.config import load_config
from handvae.data.batches import build_loader
from handvae.models import build_criterion, build_model
from handvae.schema import Config
from handvae.train.schedule import beta_at


def _rms(x: torch.Tensor) -> float:
    """rms about each sample's mean (over every axis but the batch)."""
    flat = x.detach().float().reshape(x.shape[0], -1, x.shape[-1]) if x.dim() == 3 else x.detach().float()
    return float((flat - flat.mean(dim=1, keepdim=True)).pow(2).mean().sqrt())


def diagnose(cfg: Config) -> dict:
    """Term values, weights, gradient norms at ``mu_R`` and decoder output scales on one batch."""
    torch.manual_seed(cfg.seed)
    model, criterion = build_model(cfg).train(), build_criterion(cfg)
    letters = "".join(c for c in "RDCHP" if c in set(model.plan.inputs) | set(model.plan.decoders))
    loader = build_loader(cfg.data, cfg.data.train_split, cfg.trainer.batch_size, seed=cfg.seed, modalities=letters)
    batch = next(iter(loader))
    out = model(batch)
    beta = beta_at(0, cfg.trainer.beta_start, cfg.trainer.beta_end, getattr(cfg.trainer, "beta_anneal_steps", 0))
    terms, weights = criterion(out, batch, beta), criterion.weights(beta)
    mu_r = out["latent"]["R"].mu
    rows = {}
    for name, value in terms.items():
        (grad,) = torch.autograd.grad(weights[name] * value, mu_r, retain_graph=True, allow_unused=True)
        rows[name] = {"value": float(value), "weight": weights[name],
                      "grad_mu_R": 0.0 if grad is None else float(grad.norm())}
    scales = {}
    for elbo, recon in out["recon"].items():
        for letter, pred in recon.items():
            scales[f"{elbo}->{letter}"] = {"pred_rms": _rms(pred), "target_rms": _rms(batch[letter])}
    return {"terms": rows, "scales": scales}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("configs", nargs="+", type=Path)
    p.add_argument("--cache", required=True)
    p.add_argument("--set", nargs="*", default=[], help="key=value overrides for every config")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    report = {}
    for path in args.configs:
        cfg = load_config(Config, path, [f"data.cache={args.cache}", "data.augment=false", *args.set])
        res = report[str(path)] = diagnose(cfg)
        print(f"\n{path} ({cfg.model.strategy}/{cfg.model.alignment}, init_logvar {cfg.model.init_logvar})")
        print(f"  {'term':<14}{'value':>10}{'weight':>10}{'|grad mu_R|':>14}")
        for name, r in res["terms"].items():
            print(f"  {name:<14}{r['value']:>10.4f}{r['weight']:>10.4g}{r['grad_mu_R']:>14.4g}")
        for name, s in res["scales"].items():
            print(f"  {name:<14} output rms {s['pred_rms']:.3f}   target rms {s['target_rms']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
