"""The training objective: named loss terms of every ELBO of a strategy and their weights.

Term names are ``"<elbo>:<loss>"``: for each ELBO (``R``, ``C``, ``RC``, ...) and each decoder,

- ``P`` -> ``pose`` (Eq. 10), ``H`` -> ``heat`` (Eq. 7), ``C`` -> ``chamfer`` and ``emd`` (Eq. 8-9),
  ``D`` -> ``depth``;
- ``"<elbo>:kl"``: ``KL(q || N(0, I))`` for ELBOs that carry it (all but the product of experts);
- ``"align:kl"``: ``KL(q(z|R,C) || q(z|R))`` of the KL alignment (Eq. 3); ``loss.align_var_floor`` > 0
  raises both posteriors' variances to at least that value inside it; ``loss.align_detach_joint`` lets it
  pull only ``q(z|R)`` (no gradient to the joint encoder).

Each term is a mean over the samples it applies to: a reconstruction term over the samples where
the ELBO is valid AND the target modality is present (``batch['present'][letter]``), a KL term
over the samples where the ELBO is valid. With no such sample the term is 0 (not NaN), and
absent targets may hold anything (even NaN): they are replaced before the loss is computed.

``weights(beta)``: ``pose`` lambda_pose, ``heat`` lambda_heat, ``chamfer``/``emd`` lambda_cloud,
``depth`` lambda_depth, ``kl`` beta, ``align:kl`` lambda_align. Total loss
``sum(weights[k] * terms[k])`` (:meth:`Criterion.total`).

Restricting the objective (iterative baseline): ``criterion(outputs, batch, beta, terms=[...])``
computes only the named terms; without ``terms`` it computes every term whose ELBO and decoder
are in ``outputs`` (so after ``model(batch, elbos=["C"], decoders=["P"])`` it returns
``C:pose`` and ``C:kl``). :meth:`Criterion.terms_for` lists the names for a set of ELBOs/decoders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn
from torch.profiler import record_function

from handvae.modalities import MODALITIES, decoder_of_term
from handvae.models import losses
from handvae.models.latent import Gaussian, floor_variance, kl_gaussians, kl_to_standard_normal
from handvae.models.model import presence
from handvae.models.strategy import StrategyPlan, compile_strategy
from handvae.schema import Config, LossConfig

RECON_TERMS: dict[str, tuple[str, ...]] = {k: m.loss_terms for k, m in MODALITIES.items() if m.decoded}
ALIGN_TERM = "align:kl"


def _sanitize(target: Tensor, mask: Tensor) -> Tensor:
    """Zero the rows of ``target`` whose sample is absent (so NaN placeholders cannot leak)."""
    m = mask.reshape(-1, *([1] * (target.dim() - 1)))
    return torch.where(m, target, torch.zeros_like(target))


class Criterion(nn.Module):
    """Named loss terms of a :class:`StrategyPlan` (see module doc)."""

    def __init__(self, plan: StrategyPlan, loss_cfg: LossConfig) -> None:
        super().__init__()
        self.plan = plan
        self.cfg = loss_cfg  # its choices are checked when the config is loaded (handvae.schema)
        self.align_scale = 1.0  # times lambda_align; the trainer's alignment warm-up sets it per step

    def term_names(self) -> list[str]:
        """Every term of the strategy, in a fixed order."""
        return self.terms_for()

    def terms_for(self, elbos: Iterable[str] | None = None, decoders: Iterable[str] | None = None) -> list[str]:
        """Term names of the given ELBOs and decoders (default all); ``align:kl`` needs both its ELBOs."""
        elbo_set = set(self.plan.elbo_names if elbos is None else elbos)
        dec_set = set(self.plan.decoders if decoders is None else decoders)
        names: list[str] = []
        for e in self.plan.elbos:
            if e.name not in elbo_set:
                continue
            for d in self.plan.decoders:
                if d in dec_set:
                    names += [f"{e.name}:{t}" for t in RECON_TERMS[d]]
            if e.kl_prior:
                names.append(f"{e.name}:kl")
        if self.plan.align is not None and set(self.plan.align) <= elbo_set:
            names.append(ALIGN_TERM)
        return names

    def weights(self, beta: float) -> dict[str, float]:
        """One weight per term of :meth:`term_names`."""
        c = self.cfg
        per_loss = {t: float(getattr(c, m.weight)) for m in MODALITIES.values() for t in m.loss_terms}
        per_loss["kl"] = float(beta)
        out = {}
        for name in self.term_names():
            out[name] = c.lambda_align * self.align_scale if name == ALIGN_TERM else per_loss[name.split(":")[1]]
        return out

    def total(self, terms: Mapping[str, Tensor], beta: float) -> Tensor:
        """``sum(weights[k] * terms[k])`` over the given terms."""
        w = self.weights(beta)
        return sum((w[k] * v for k, v in terms.items()), torch.zeros(()))

    def forward(
        self, outputs: Mapping, batch: Mapping, beta: float | None = None, terms: Iterable[str] | None = None
    ) -> dict[str, Tensor]:
        """Scalar terms by name. ``beta`` only enters through :meth:`weights` (accepted for symmetry)."""
        latents, recon, valid = outputs["latent"], outputs["recon"], outputs["valid"]
        if terms is None:
            wanted = [n for n in self.term_names() if self._computable(n, latents, recon)]
        else:
            wanted = list(terms)
            unknown = [n for n in wanted if n not in self.term_names()]
            if unknown:
                raise KeyError(f"unknown loss terms {unknown}; this strategy has {self.term_names()}")
        rgb = batch["R"]
        bsz, device = rgb.shape[0], rgb.device
        emd_solved = self._emd_solutions(wanted, recon, valid, batch, bsz, device)
        out: dict[str, Tensor] = {}
        for name in wanted:
            with record_function(f"loss:{name}"):
                out[name] = self._term(name, latents, recon, valid, batch, bsz, device, emd_solved.get(name))
        return out

    def _emd_solutions(self, wanted: list[str], recon, valid, batch, bsz: int, device) -> dict[str, Tensor]:
        """The EMD assignments (exact) or transports (Sinkhorn) of every wanted ``emd`` term, solved
        together: one threaded batch of assignments, or one Sinkhorn run instead of one per term."""
        names = [n for n in wanted if n.endswith(":emd")]
        if len(names) < 2:
            return {}
        pairs = [self._pred_target(n, recon, valid, batch, bsz, device)[:2] for n in names]
        with record_function("loss:emd_solutions"):
            return dict(zip(names, losses.emd_solutions(pairs, self.cfg.emd), strict=True))

    def _pred_target(self, name: str, recon, valid, batch, bsz: int, device) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruction term ``name``'s prediction, its sanitised target and the mask of samples it covers."""
        elbo, letter = name.split(":")[0], self._decoder_of(name)
        mask = valid[elbo] & presence(batch, letter, bsz, device)
        pred = recon[elbo][letter]
        return pred, _sanitize(batch[letter].to(pred.dtype), mask), mask

    def _computable(self, name: str, latents: Mapping, recon: Mapping) -> bool:
        """Whether ``outputs`` hold what term ``name`` needs (its latents and decoded modality)."""
        if name == ALIGN_TERM:
            return all(e in latents for e in self.plan.align or ())
        elbo, loss = name.split(":")
        if elbo not in latents:
            return False
        return loss == "kl" or self._decoder_of(name) in recon.get(elbo, {})

    @staticmethod
    def _decoder_of(name: str) -> str:
        return decoder_of_term(name.split(":")[1])

    def _term(self, name: str, latents, recon, valid, batch, bsz: int, device, solved: Tensor | None = None) -> Tensor:
        if name == ALIGN_TERM:
            joint, single = self.plan.align  # type: ignore[misc]
            mask = valid[joint] & valid[single]
            floor, teacher = self.cfg.align_var_floor, latents[joint]
            if self.cfg.align_detach_joint:
                teacher = Gaussian(teacher.mu.detach(), teacher.logvar.detach())
            kl = kl_gaussians(floor_variance(teacher, floor), floor_variance(latents[single], floor))
            return losses.masked_mean(kl, mask)
        elbo, loss = name.split(":")
        if loss == "kl":
            return losses.masked_mean(kl_to_standard_normal(latents[elbo]), valid[elbo])
        pred, target, mask = self._pred_target(name, recon, valid, batch, bsz, device)
        form = self.cfg.l2_form
        if loss == "pose":
            values = losses.pose_l2(pred, target, form)
        elif loss == "heat":
            values = losses.heatmap_l2(pred, target, form)
        elif loss == "depth":
            values = losses.image_l2(pred, target, form)
        elif loss == "chamfer":
            values = losses.chamfer(pred, target)
        else:
            values = losses.emd(pred, target, self.cfg.emd, solved)
        return losses.masked_mean(values, mask)


def build_criterion(cfg: Config) -> Criterion:
    """The :class:`Criterion` of ``cfg.model.strategy`` / ``cfg.model.alignment`` with ``cfg.loss`` weights."""
    return Criterion(compile_strategy(cfg.model.strategy, cfg.model.alignment), cfg.loss)
