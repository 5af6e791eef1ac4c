"""Gaussian latents: KL against torch.distributions, product of experts against the closed form."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from handvae.models.latent import (
    Gaussian,
    kl_gaussians,
    kl_to_standard_normal,
    product_of_experts,
    reparameterize,
    with_prior,
)


def _rand_gaussian(gen: torch.Generator, b: int = 5, z: int = 7, spread: float = 2.0) -> Gaussian:
    mu = torch.randn(b, z, generator=gen, dtype=torch.float64) * 2
    logvar = (torch.rand(b, z, generator=gen, dtype=torch.float64) - 0.5) * 2 * spread
    return Gaussian(mu, logvar)


def _normal(q: Gaussian) -> Normal:
    return Normal(q.mu, torch.exp(0.5 * q.logvar))


def test_kl_to_prior_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    q = _rand_gaussian(gen)
    ref = kl_divergence(_normal(q), Normal(torch.zeros_like(q.mu), torch.ones_like(q.mu))).sum(-1)
    torch.testing.assert_close(kl_to_standard_normal(q), ref)


def test_kl_between_gaussians_matches_torch_distributions_and_is_zero_on_itself():
    gen = torch.Generator().manual_seed(1)
    q, p = _rand_gaussian(gen), _rand_gaussian(gen)
    ref = kl_divergence(_normal(q), _normal(p)).sum(-1)
    torch.testing.assert_close(kl_gaussians(q, p), ref)
    torch.testing.assert_close(kl_gaussians(q, q), torch.zeros(5, dtype=torch.float64))


def _closed_form(experts, prior: bool):
    """Eq. 5-6 written with precisions directly: T_i = 1 / var_i."""
    t = [torch.exp(-e.logvar) for e in experts]
    num = sum(ti * e.mu for ti, e in zip(t, experts))
    den = sum(t)
    if prior:
        den = den + 1.0  # the N(0, I) expert: precision 1, mean 0
    return num / den, 1.0 / den


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("prior", [False, True])
def test_product_of_experts_equals_precision_weighted_closed_form(k, prior):
    gen = torch.Generator().manual_seed(10 + k)
    experts = [_rand_gaussian(gen) for _ in range(k)]
    joint = product_of_experts(experts, prior_expert=prior)
    mu, var = _closed_form(experts, prior)
    torch.testing.assert_close(joint.mu, mu)
    torch.testing.assert_close(joint.logvar.exp(), var)


def test_two_equal_experts_halve_the_variance_and_keep_the_mean():
    q = Gaussian(torch.tensor([[1.5, -2.0]]), torch.log(torch.tensor([[4.0, 0.5]])))
    joint = product_of_experts([q, q])
    torch.testing.assert_close(joint.mu, q.mu)
    torch.testing.assert_close(joint.logvar.exp(), torch.tensor([[2.0, 0.25]]))
    # with the prior expert: precision 1/4 + 1/4 + 1 = 1.5 -> var 2/3, mean 1.5 * 0.5 / 1.5
    joint_p = product_of_experts([q, q], prior_expert=True)
    torch.testing.assert_close(joint_p.logvar.exp()[0, 0], torch.tensor(2.0 / 3.0))
    torch.testing.assert_close(joint_p.mu[0, 0], torch.tensor(1.5 * 0.5 / 1.5))


def test_absent_experts_drop_out_per_sample_and_none_present_gives_the_prior():
    gen = torch.Generator().manual_seed(3)
    a, b = _rand_gaussian(gen, b=4), _rand_gaussian(gen, b=4)
    present = torch.tensor([[True, True], [True, False], [False, True], [False, False]])
    joint = product_of_experts([a, b], present)
    both = product_of_experts([a, b])
    torch.testing.assert_close(joint.mu[0], both.mu[0])
    torch.testing.assert_close(joint.mu[1], a.mu[1])
    torch.testing.assert_close(joint.logvar[1], a.logvar[1])
    torch.testing.assert_close(joint.mu[2], b.mu[2])
    torch.testing.assert_close(joint.mu[3], torch.zeros_like(a.mu[3]))
    torch.testing.assert_close(joint.logvar[3], torch.zeros_like(a.logvar[3]))
    # with the prior expert an absent expert leaves the product of the other and the prior
    joint_p = product_of_experts([a, b], present, prior_expert=True)
    mu, var = _closed_form([Gaussian(a.mu[1:2], a.logvar[1:2])], prior=True)
    torch.testing.assert_close(joint_p.mu[1:2], mu)
    torch.testing.assert_close(joint_p.logvar[1:2].exp(), var)


def test_product_is_exact_for_extreme_log_variances_and_so_are_its_gradients():
    """Precisions e^80 and e^85 overflow float32 if formed; worked in log form by hand instead: with
    log-variances a (present) and b, the joint log-variance is -log(e^-a + e^-b) and the joint mean
    w mu_a + (1 - w) mu_b with w = e^-a / (e^-a + e^-b) = sigmoid(b - a)."""
    gen = torch.Generator().manual_seed(6)
    mu = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor([[-80.0, 0.0, 80.0], [80.0, 80.0, -80.0]], dtype=torch.float64, requires_grad=True)
    other = Gaussian(torch.randn(2, 3, generator=gen, dtype=torch.float64),
                     torch.tensor([[-85.0, 85.0, 85.0], [0.0, 80.0, -80.0]], dtype=torch.float64))
    present = torch.tensor([[True, True], [False, True]])
    joint = product_of_experts([Gaussian(mu, logvar), other], present)
    # row 0, both present: b - a = -5, 85, 5; the larger precision's log factored out of the sum
    w = torch.tensor([1 / (1 + math.exp(5.0)), 1 / (1 + math.exp(-85.0)), 1 / (1 + math.exp(-5.0))],
                     dtype=torch.float64)
    want_logvar = torch.tensor([-85.0 - math.log1p(math.exp(-5.0)), -math.log1p(math.exp(-85.0)),
                                80.0 - math.log1p(math.exp(-5.0))], dtype=torch.float64)
    torch.testing.assert_close(joint.logvar[0], want_logvar, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(joint.mu[0], w * mu[0].detach() + (1 - w) * other.mu[0])
    # row 1, only the other expert: it is the product
    torch.testing.assert_close(joint.mu[1], other.mu[1], rtol=0, atol=0)
    torch.testing.assert_close(joint.logvar[1], other.logvar[1], rtol=0, atol=0)
    (joint.mu.sum() + joint.logvar.sum()).backward()
    # d mu_joint / d mu_a = w; the absent expert (row 1) gets no gradient
    torch.testing.assert_close(mu.grad, torch.stack([w, torch.zeros(3, dtype=torch.float64)]))
    # d logvar_joint / d a = w; d mu_joint / d a = -w (1 - w) (mu_a - mu_b)
    dmu = -w * (1 - w) * (mu[0].detach() - other.mu[0])
    torch.testing.assert_close(logvar.grad, torch.stack([w + dmu, torch.zeros(3, dtype=torch.float64)]))


def test_with_prior_closed_form_equals_product_with_prior_expert():
    gen = torch.Generator().manual_seed(4)
    q = _rand_gaussian(gen, spread=6.0)
    a, b = with_prior(q), product_of_experts([q], prior_expert=True)
    torch.testing.assert_close(a.mu, b.mu)
    torch.testing.assert_close(a.logvar, b.logvar)


def test_reparameterize_has_the_requested_moments():
    q = Gaussian(torch.full((20000, 2), 3.0), torch.log(torch.tensor([[0.25, 4.0]])).expand(20000, 2))
    z = reparameterize(q, torch.Generator().manual_seed(5))
    torch.testing.assert_close(z.mean(0), torch.tensor([3.0, 3.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(z.var(0), torch.tensor([0.25, 4.0]), atol=0, rtol=0.05)
