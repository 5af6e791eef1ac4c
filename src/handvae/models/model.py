"""The multi-modal VAE: encoders -> Gaussian latents -> alignment -> shared decoders.

``build_model(cfg)`` compiles ``cfg.model.strategy`` + ``cfg.model.alignment`` (see
:mod:`handvae.models.strategy`) and builds the encoders and decoders from the registries.

Training forward, ``model(batch)``, returns a dict:

- ``latent[elbo]``: :class:`Gaussian` ``(B, Z)`` of each ELBO term (``"R"``, ``"C"``, ``"RC"``, ...);
- ``z[elbo]``: ``(B, Z)``, a reparameterised sample (training) or the mean (eval mode);
- ``recon[elbo][letter]``: decoded outputs, ``P (B, 21, 3)`` normalised units,
  ``H (B, 21, 64, 64)`` in [0, 1], ``C (B, N, 3)`` normalised units, ``D (B, 1, S, S)``;
- ``valid[elbo]``: ``(B,)`` bool, samples whose inputs for that ELBO are present
  (a product of experts is valid when any expert is present and uses only the present ones).

Each ELBO's latent goes through each decoder in its OWN call, so a decoder's BatchNorm batch
statistics are those of one ELBO's latents: a loss term of one ELBO sends no gradient to the
encoders of another (in S4 the ``C`` ELBO's Chamfer term does not reach the RGB encoder). ``model(batch, elbos=[...],
decoders=[...])`` computes only the named ELBO latents / decoders: the iterative (Spurr et al.)
baseline trains one encoder/decoder pair per batch with e.g. ``model(batch, elbos=["C"],
decoders=["P"])`` and the criterion then returns only the terms of what was computed.

RGB-only inference: ``model.predict_pose(rgb)`` uses the mean of ``q(z | R)`` (times the prior
expert in the MVAE form) and the pose decoder; traceable by ``torch.jit.trace`` / ONNX export.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn
from torch.profiler import record_function

from handvae.models.encoders import Encoder, JointEncoder
from handvae.models.latent import Gaussian, product_of_experts, reparameterize, with_prior
from handvae.models.registry import DECODERS, ENCODERS
from handvae.models.strategy import StrategyPlan, compile_strategy
from handvae.schema import Config


def presence(batch: Mapping, letter: str, batch_size: int, device: torch.device) -> Tensor:
    """``batch['present'][letter]`` as ``(B,)`` bool; all True when not given."""
    present = batch.get("present") or {}
    if letter in present:
        return torch.as_tensor(present[letter], device=device).to(torch.bool).reshape(batch_size)
    return torch.ones(batch_size, dtype=torch.bool, device=device)


class HandVAE(nn.Module):
    """Encoders, optional joint encoder, and shared decoders of one strategy (see module doc)."""

    def __init__(self, cfg: Config, plan: StrategyPlan) -> None:
        super().__init__()
        self.plan = plan
        self.latent_dim = cfg.model.latent_dim
        self.prior_expert = bool(cfg.model.prior_expert) and plan.alignment == "poe"
        zdim = cfg.model.latent_dim
        self.encoders = nn.ModuleDict()
        for letter in plan.encoders:
            entry = ENCODERS[letter]
            self.encoders[letter] = Encoder(
                entry.build_trunk(cfg), zdim, tanh_mu=entry.tanh_mu, init_logvar=cfg.model.init_logvar
            )
        self.joint = nn.ModuleDict()
        for e in plan.elbos:
            if e.kind == "joint":
                self.joint[e.name] = JointEncoder(
                    {k: ENCODERS[k].build_trunk(cfg) for k in e.inputs}, zdim, init_logvar=cfg.model.init_logvar
                )
        self.decoders = nn.ModuleDict({letter: DECODERS[letter](cfg) for letter in plan.decoders})

    def forward(
        self,
        batch: Mapping,
        elbos: Iterable[str] | None = None,
        decoders: Iterable[str] | None = None,
        sample: bool | None = None,
    ) -> dict:
        """Training forward of the ELBO terms (all, or those named in ``elbos``); see module doc."""
        plan = self.plan
        wanted = plan.elbo_names if elbos is None else tuple(elbos)
        specs = [plan.elbo(name) for name in wanted]
        dec_letters = plan.decoders if decoders is None else tuple(decoders)
        for d in dec_letters:
            if d not in self.decoders:
                raise KeyError(f"decoder {d!r} not in strategy {plan.strategy}; has {list(plan.decoders)}")
        sample = self.training if sample is None else sample
        rgb = batch["R"]
        bsz, device = rgb.shape[0], rgb.device
        pres = {k: presence(batch, k, bsz, device) for k in plan.inputs}

        needed = []
        for e in specs:
            if e.kind in ("single", "product"):
                needed += [k for k in e.inputs if k not in needed]
        raw: dict[str, Gaussian] = {}  # encoder outputs, before any prior expert
        for letter in needed:
            if letter not in batch:
                raise KeyError(f"batch has no {letter!r}, needed by the {letter} encoder of {plan.strategy}")
            with record_function(f"encoder:{letter}"):
                raw[letter] = self.encoders[letter](batch[letter])

        latents: dict[str, Gaussian] = {}
        valid: dict[str, Tensor] = {}
        for e in specs:
            if e.kind == "single":
                q = raw[e.inputs[0]]
                latents[e.name] = with_prior(q) if self.prior_expert else q
                valid[e.name] = pres[e.inputs[0]]
            elif e.kind == "joint":
                with record_function(f"encoder:{e.name}"):
                    latents[e.name] = self.joint[e.name]({k: batch[k] for k in e.inputs})
                valid[e.name] = torch.stack([pres[k] for k in e.inputs], 1).all(dim=1)
            else:
                mask = torch.stack([pres[k] for k in e.inputs], dim=1)
                experts = [raw[k] for k in e.inputs]
                latents[e.name] = product_of_experts(experts, mask, prior_expert=self.prior_expert)
                valid[e.name] = mask.any(dim=1)
        zs = {n: (reparameterize(q) if sample else q.mu) for n, q in latents.items()}

        recon: dict[str, dict[str, Tensor]] = {n: {} for n in zs}
        for n in wanted:
            for d in dec_letters:
                with record_function(f"decoder:{d}"):
                    recon[n][d] = self.decoders[d](zs[n])
        return {"latent": latents, "z": zs, "recon": recon, "valid": valid}

    def encode_rgb(self, rgb: Tensor) -> Gaussian:
        """``rgb (B, 3, S, S)`` in [0, 1] -> ``q(z | R)`` (with the prior expert in the MVAE form)."""
        q = self.encoders["R"](rgb)
        return with_prior(q) if self.prior_expert else q

    def decode(self, z: Tensor, letter: str) -> Tensor:
        """Decode ``z (B, Z)`` to modality ``letter`` (shapes as in the module doc)."""
        return self.decoders[letter](z)

    def predict_pose(self, rgb: Tensor) -> Tensor:
        """RGB-only inference: ``rgb (B, 3, S, S)`` float in [0, 1] -> pose ``(B, 21, 3)`` normalised units."""
        return self.decoders["P"](self.encode_rgb(rgb).mu)


def build_model(cfg: Config) -> HandVAE:
    """The :class:`HandVAE` of ``cfg.model.strategy`` / ``cfg.model.alignment``.

    Loads ``cfg.model.pretrained`` (torchvision ResNet-18 weights) into every RGB trunk if set.
    """
    plan = compile_strategy(cfg.model.strategy, cfg.model.alignment)
    model = HandVAE(cfg, plan)
    if cfg.model.pretrained:
        from handvae.models.encoders import RGBTrunk
        from handvae.models.resnet import load_torchvision_weights

        state = load_torchvision_weights(cfg.model.pretrained)
        for module in model.modules():
            if isinstance(module, RGBTrunk):
                module.resnet.load_torchvision_state(state, source=cfg.model.pretrained)
    return model
