"""Diagonal Gaussian latents: sampling, KL divergences and the product of Gaussian experts.

A latent is a :class:`Gaussian` ``(mu, logvar)``, both ``(B, Z)``, in the model's latent units
(``z`` is dimensionless, the prior is ``N(0, I)``). Everything is element-wise over the ``Z``
dimensions, as in the paper (Eq. 5-6).

The product of experts works with log-variances only: the precision of expert ``i`` is
``T_i = exp(-logvar_i)``, so the joint log-variance is ``-logsumexp_i(-logvar_i)`` and the joint mean
is ``sum_i softmax_i(-logvar_i) * mu_i``. No precision is ever formed explicitly, so the result is
finite for log-variances anywhere in float range, and experts can be switched off per sample
with a boolean mask (an absent modality is simply not a factor of the product).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor


class Gaussian(NamedTuple):
    """A diagonal Gaussian ``N(mu, diag(exp(logvar)))``; ``mu, logvar: (B, Z)``."""

    mu: Tensor
    logvar: Tensor


def reparameterize(q: Gaussian, generator: torch.Generator | None = None) -> Tensor:
    """One sample ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``: ``(B, Z)``."""
    eps = torch.randn(q.mu.shape, dtype=q.mu.dtype, device=q.mu.device, generator=generator)
    return q.mu + torch.exp(0.5 * q.logvar) * eps


def kl_to_standard_normal(q: Gaussian) -> Tensor:
    """``KL(q || N(0, I))`` per sample, summed over latent dimensions: ``(B,)``."""
    return 0.5 * (q.mu.pow(2) + q.logvar.exp() - 1.0 - q.logvar).sum(dim=-1)


def kl_gaussians(q: Gaussian, p: Gaussian) -> Tensor:
    """``KL(q || p)`` of two diagonal Gaussians per sample, summed over dimensions: ``(B,)``.

    ``0.5 * sum(logvar_p - logvar_q + (var_q + (mu_q - mu_p)^2) / var_p - 1)``, written with
    ``exp(logvar_q - logvar_p)`` and ``exp(-logvar_p)`` so no variance is divided by.
    """
    diff = q.logvar - p.logvar
    return 0.5 * (-diff + diff.exp() + (q.mu - p.mu).pow(2) * torch.exp(-p.logvar) - 1.0).sum(dim=-1)


def floor_variance(q: Gaussian, floor: float) -> Gaussian:
    """``q`` with every variance below ``floor`` raised to it (no gradient to those log-variances)."""
    if floor <= 0.0:
        return q
    return Gaussian(q.mu, q.logvar.clamp_min(math.log(floor)))


def product_of_experts(
    experts: list[Gaussian], present: Tensor | None = None, prior_expert: bool = False
) -> Gaussian:
    """The product of Gaussian experts (paper Eq. 5-6), element-wise, in log-precision form.

    experts: K Gaussians with ``(B, Z)`` parameters.
    present: ``(B, K)`` bool, which experts take part for each sample (default: all).
    prior_expert: also multiply by the prior ``N(0, I)`` (MVAE form; the paper has none).

    Returns ``N(mu, var)`` with ``1/var = sum_k T_k`` and ``mu = sum_k T_k mu_k / sum_k T_k`` over the
    present experts. A sample with no present expert gets the prior ``N(0, I)`` (with or without
    ``prior_expert``), which keeps every output finite.
    """
    if not experts:
        raise ValueError("product_of_experts needs at least one expert")
    mu = torch.stack([e.mu for e in experts], dim=1)  # (B, K, Z)
    neg_logvar = -torch.stack([e.logvar for e in experts], dim=1)  # log-precisions
    batch = mu.shape[0]
    if present is None:
        present = torch.ones(batch, len(experts), dtype=torch.bool, device=mu.device)
    if present.shape != (batch, len(experts)):
        raise ValueError(f"present must be (B, K) = {(batch, len(experts))}, got {tuple(present.shape)}")
    if prior_expert:
        mu = torch.cat([mu, torch.zeros_like(mu[:, :1])], dim=1)
        neg_logvar = torch.cat([neg_logvar, torch.zeros_like(neg_logvar[:, :1])], dim=1)
        present = torch.cat([present, torch.ones_like(present[:, :1])], dim=1)
    any_present = present.any(dim=1)  # (B,)
    # Rows with no expert: pretend the prior is the only one, so softmax/logsumexp stay finite.
    mask = torch.where(any_present[:, None], present, torch.zeros_like(present))
    mu = torch.cat([mu, torch.zeros_like(mu[:, :1])], dim=1)
    neg_logvar = torch.cat([neg_logvar, torch.zeros_like(neg_logvar[:, :1])], dim=1)
    mask = torch.cat([mask, (~any_present)[:, None]], dim=1)[:, :, None]  # (B, K+1, 1)
    logits = neg_logvar.masked_fill(~mask, float("-inf"))
    joint_neg_logvar = torch.logsumexp(logits, dim=1)  # log sum_k T_k
    weights = torch.softmax(logits, dim=1)  # T_k / sum T
    joint_mu = (weights * mu).sum(dim=1)
    return Gaussian(joint_mu, -joint_neg_logvar)


def with_prior(q: Gaussian) -> Gaussian:
    """``q`` times the prior ``N(0, I)`` in closed form (traceable, no masks).

    Precision ``T = exp(-logvar)`` becomes ``T + 1``: ``logvar' = -softplus(-logvar)`` and
    ``mu' = mu * T / (T + 1) = mu * sigmoid(-logvar)``. Equals ``product_of_experts([q], prior_expert=True)``.
    """
    return Gaussian(q.mu * torch.sigmoid(-q.logvar), -torch.nn.functional.softplus(-q.logvar))
