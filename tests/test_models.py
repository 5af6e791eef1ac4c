"""Every registered strategy: forward, backward, shapes, masks, RGB-only inference."""

from __future__ import annotations

import math

import pytest
import torch

from handvae.config import ConfigError, load_config
from handvae.models import build_criterion, build_model
from handvae.models.latent import Gaussian
from handvae.models.registry import STRATEGIES
from handvae.models.strategy import compile_strategy
from handvae.schema import Config

B, S, N = 4, 32, 64  # tiny batch, crop (px) and cloud size (a square for FoldingNet)


def tiny_cfg(strategy: str, **model) -> Config:
    cfg = Config()
    cfg.model.strategy = strategy
    cfg.model.rgb_width = 8
    cfg.model.point_width = 0.125
    cfg.model.depth_width = 4
    for k, v in model.items():
        setattr(cfg.model, k, v)
    cfg.data.crop_size = S
    cfg.data.n_points = N
    cfg.data.heatmap_size = 16
    return cfg


def tiny_batch(seed: int = 0, p_present: list[bool] | None = None) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "R": torch.rand(B, 3, S, S, generator=g),
        "D": torch.randn(B, 1, S, S, generator=g),
        "C": torch.randn(B, N, 3, generator=g),
        "H": torch.rand(B, 21, 16, 16, generator=g),
        "P": torch.randn(B, 21, 3, generator=g),
        "present": {"P": torch.tensor(p_present or [True] * B)},
    }


EXPECTED_SHAPES = {"P": (B, 21, 3), "H": (B, 21, 16, 16), "C": (B, N, 3), "D": (B, 1, S, S)}


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_forward_backward_shapes_and_finite_gradients(name):
    torch.manual_seed(0)
    cfg = tiny_cfg(name)
    model, criterion = build_model(cfg), build_criterion(cfg)
    plan = compile_strategy(name, "none")
    batch = tiny_batch(p_present=[True, True, False, True])
    out = model(batch)
    assert set(out["latent"]) == set(plan.elbo_names)
    for elbo, q in out["latent"].items():
        assert q.mu.shape == (B, 64) and q.logvar.shape == (B, 64)
        assert out["z"][elbo].shape == (B, 64)
        assert set(out["recon"][elbo]) == set(plan.decoders)
        for letter, y in out["recon"][elbo].items():
            assert y.shape == EXPECTED_SHAPES[letter], (elbo, letter)
    terms = criterion(out, batch, beta=1e-3)
    assert list(terms) == criterion.term_names()
    assert set(criterion.weights(1e-3)) == set(terms)
    assert all(t.dim() == 0 and torch.isfinite(t) for t in terms.values())
    criterion.total(terms, 1e-3).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: {pname} gets no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: {pname} has a non-finite gradient"
    for part in [*model.encoders.values(), *model.decoders.values(), *model.joint.values()]:
        assert any(p.grad.abs().sum() > 0 for p in part.parameters())


def test_term_names_and_weights_of_s4_and_s3():
    cfg = tiny_cfg("S4")
    crit = build_criterion(cfg)
    assert crit.term_names() == [
        "R:chamfer", "R:emd", "R:heat", "R:pose", "R:kl",
        "C:chamfer", "C:emd", "C:heat", "C:pose", "C:kl",
        "RC:chamfer", "RC:emd", "RC:heat", "RC:pose",
    ]
    w = crit.weights(beta=2e-4)
    assert w["R:kl"] == 2e-4 and w["RC:heat"] == 0.01 and w["C:emd"] == 1.0 and w["R:pose"] == 1.0
    s3 = build_criterion(tiny_cfg("S3"))
    assert "align:kl" in s3.term_names() and s3.weights(1e-3)["align:kl"] == 1.0
    assert "RC:kl" in s3.term_names()


def test_absent_pose_half_gets_no_pose_gradient_and_nan_placeholders_do_not_leak():
    torch.manual_seed(0)
    cfg = tiny_cfg("S4")
    model, criterion = build_model(cfg).eval(), build_criterion(cfg)  # eval: BN does not mix samples
    present = [True, False, True, False]
    batch = tiny_batch(p_present=present)
    batch["P"][1] = float("nan")
    batch["P"][3] = 1e6
    batch["R"].requires_grad_(True)
    out = model(batch, sample=False)
    terms = criterion(out, batch, beta=1e-3, terms=["R:pose", "C:pose", "RC:pose"])
    sum(terms.values()).backward()
    g = batch["R"].grad.abs().flatten(1).sum(1)
    assert g[1] == 0 and g[3] == 0
    assert g[0] > 0 and g[2] > 0
    # the term is the mean over the present half only, computed by hand
    pred = out["recon"]["R"]["P"].detach()
    ref = torch.stack([(pred[i] - batch["P"][i]).pow(2).sum().sqrt() for i in (0, 2)]).mean()
    torch.testing.assert_close(terms["R:pose"].detach(), ref)


def test_no_present_target_gives_zero_term_not_nan():
    cfg = tiny_cfg("S1")
    model, criterion = build_model(cfg), build_criterion(cfg)
    batch = tiny_batch(p_present=[False] * B)
    out = model(batch)
    terms = criterion(out, batch, beta=1e-3)
    assert terms["R:pose"].item() == 0.0
    torch.testing.assert_close(terms["R:kl"], _kl_by_hand(out["latent"]["R"]).mean())  # R itself is present


def _kl_by_hand(q) -> torch.Tensor:
    """KL(N(mu, var) || N(0, 1)) summed over dimensions: 0.5 (mu^2 + var - 1 - log var)."""
    return 0.5 * (q.mu**2 + q.logvar.exp() - 1.0 - q.logvar).sum(-1)


def _kl_pair_by_hand(q, p) -> torch.Tensor:
    """KL(q || p) of diagonal Gaussians: 0.5 sum(log var_p - log var_q + (var_q + (mu_q - mu_p)^2) / var_p - 1)."""
    return 0.5 * (p.logvar - q.logvar + (q.logvar.exp() + (q.mu - p.mu) ** 2) / p.logvar.exp() - 1.0).sum(-1)


def _recon_by_hand(loss: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample reconstruction losses written out (Eq. 7-10), brute force over point pairs."""
    from scipy.optimize import linear_sum_assignment

    if loss == "pose":
        return ((pred - target) ** 2).sum((1, 2)).sqrt()
    if loss == "heat":
        return ((pred - target) ** 2).sum((2, 3)).sqrt().sum(1)
    if loss == "depth":
        return ((pred - target) ** 2).sum((1, 2, 3)).sqrt()
    d = ((pred[:, :, None] - target[:, None]) ** 2).sum(-1).sqrt()  # (B, N, M)
    if loss == "chamfer":
        return d.min(2).values.mean(1) + d.min(1).values.mean(1)
    rows = [linear_sum_assignment(d[b].double().numpy()) for b in range(len(d))]  # loss == "emd"
    return torch.stack([d[b][r, c].mean() for b, (r, c) in enumerate(rows)])


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_term_is_its_loss_averaged_over_the_samples_it_applies_to(name):
    """Each term by hand: a reconstruction term over the samples whose ELBO is valid and whose target is
    present, a KL term over the samples whose ELBO is valid, the alignment over both."""
    torch.manual_seed(0)
    cfg = tiny_cfg(name)
    model, criterion = build_model(cfg).eval(), build_criterion(cfg)
    second = "D" if name == "RD2DHP" else "C"
    batch = tiny_batch(p_present=[True, False, True, True])
    batch["present"][second] = torch.tensor([True, True, False, True])
    with torch.no_grad():
        out = model(batch, sample=False)
        terms = criterion(out, batch, beta=1e-3)
    p_pres, s_pres = batch["present"]["P"], batch["present"][second]
    everyone = torch.ones(B, dtype=torch.bool)
    # which samples each ELBO covers: R always; the second modality's own ELBO where it is present; the
    # product where either is; the KL alignment's joint encoder where both are
    valid = {"R": everyone, second: s_pres, "R" + second: s_pres if name == "S3" else everyone}
    target_present = {"P": p_pres, "H": everyone, "C": s_pres, "D": s_pres}
    decoder = {"pose": "P", "heat": "H", "chamfer": "C", "emd": "C", "depth": "D"}
    assert set(terms) == set(criterion.term_names())
    for term, value in terms.items():
        if term == "align:kl":
            q, p = out["latent"]["RC"], out["latent"]["R"]
            want = _kl_pair_by_hand(q, p)[s_pres].mean()
        else:
            elbo, loss = term.split(":")
            if loss == "kl":
                want = _kl_by_hand(out["latent"][elbo])[valid[elbo]].mean()
            else:
                letter = decoder[loss]
                keep = valid[elbo] & target_present[letter]
                want = _recon_by_hand(loss, out["recon"][elbo][letter][keep], batch[letter][keep]).mean()
        torch.testing.assert_close(value, want, rtol=1e-5, atol=1e-6, msg=f"{name} {term}")


def test_sinkhorn_emd_terms_solved_together_match_each_term_alone_and_the_exact_emd():
    """With ``loss.emd=sinkhorn`` (the GPU's ``auto``) S4's three EMD terms share one Sinkhorn run: each
    agrees with the term solved alone within 1%, and with the exact EMD by hand within 5%."""
    torch.manual_seed(0)
    cfg = tiny_cfg("S4")
    cfg.loss.emd = "sinkhorn"
    model, criterion = build_model(cfg).eval(), build_criterion(cfg)
    batch = tiny_batch(p_present=[True, True, True, True])
    with torch.no_grad():
        out = model(batch, sample=False)
        together = criterion(out, batch, beta=1e-3)
    names = [n for n in criterion.term_names() if n.endswith(":emd")]
    assert len(names) == 3
    for name in names:
        alone = criterion(out, batch, beta=1e-3, terms=[name])[name]
        torch.testing.assert_close(together[name], alone, rtol=1e-2, atol=0, msg=name)
        elbo = name.split(":")[0]
        exact = _recon_by_hand("emd", out["recon"][elbo]["C"], batch["C"]).mean()
        assert exact <= together[name] * (1 + 1e-4) and together[name] <= 1.05 * exact, (name, together[name], exact)


def test_missing_cloud_expert_falls_back_to_rgb_alone_in_the_product():
    torch.manual_seed(0)
    cfg = tiny_cfg("S4")
    model = build_model(cfg).eval()
    batch = tiny_batch()
    batch["present"]["C"] = torch.tensor([True, False, True, False])
    out = model(batch, sample=False)
    joint, rgb = out["latent"]["RC"], out["latent"]["R"]
    torch.testing.assert_close(joint.mu[1], rgb.mu[1])
    torch.testing.assert_close(joint.logvar[3], rgb.logvar[3])
    assert out["valid"]["C"].tolist() == [True, False, True, False]
    assert out["valid"]["RC"].all()


def test_restricted_forward_and_criterion_for_the_iterative_baseline():
    cfg = tiny_cfg("RC2CHP", alignment="none")
    model, criterion = build_model(cfg), build_criterion(cfg)
    batch = tiny_batch()
    out = model(batch, elbos=["C"], decoders=["P"])
    assert set(out["latent"]) == {"C"} and set(out["recon"]["C"]) == {"P"}
    terms = criterion(out, batch, beta=1e-3)
    assert set(terms) == {"C:pose", "C:kl"} == set(criterion.terms_for(elbos=["C"], decoders=["P"]))
    criterion.total(terms, 1e-3).backward()
    assert all(p.grad is None for p in model.encoders["R"].parameters())
    assert all(p.grad is None for p in model.decoders["C"].parameters())


@pytest.mark.parametrize("prior_expert", [False, True])
def test_predict_pose_uses_the_rgb_mean_and_exports(prior_expert):
    torch.manual_seed(0)
    cfg = tiny_cfg("S4", prior_expert=prior_expert)
    model = build_model(cfg).eval()
    rgb = torch.rand(2, 3, 48, 48)
    pose = model.predict_pose(rgb)
    assert pose.shape == (2, 21, 3)
    batch = {"R": rgb, "C": torch.randn(2, N, 3), "present": {}}
    out = model(batch, elbos=["R"], decoders=["P"], sample=False)
    torch.testing.assert_close(pose, out["recon"]["R"]["P"])

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.predict_pose(x)

    # torch.export is what the ONNX (dynamo) exporter traces; the batch size stays dynamic
    batch_dim = torch.export.Dim("batch", min=1, max=64)
    exported = torch.export.export(Wrapper(model), (rgb,), dynamic_shapes={"x": {0: batch_dim}})
    other = torch.rand(3, 3, 48, 48)
    torch.testing.assert_close(exported.module()(other), model.predict_pose(other))


def test_training_forward_samples_and_eval_uses_the_mean():
    torch.manual_seed(0)
    model = build_model(tiny_cfg("S1"))
    batch = tiny_batch()
    out = model(batch)
    assert not torch.allclose(out["z"]["R"], out["latent"]["R"].mu)
    model.eval()
    out = model(batch)
    torch.testing.assert_close(out["z"]["R"], out["latent"]["R"].mu)


def test_alignment_with_a_variance_floor_is_half_the_squared_mean_distance_while_both_posteriors_are_sharp():
    """loss.align_var_floor = 1: sample 0 (both variances under 1) gives 0.5 ||mu_q - mu_p||^2; sample 1
    (both over 1) the ordinary KL; the term is their mean. Floor 0 is the paper's KL; a negative floor is refused."""
    cfg = tiny_cfg("S3")
    mu_q = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.0, -1.0]])
    mu_p = torch.tensor([[0.0, 1.0, 0.5], [1.3, 2.0, 0.0]])
    q = Gaussian(mu_q, torch.tensor([[-3.0] * 3, [0.5] * 3]))  # the joint posterior q(z|R,C)
    p = Gaussian(mu_p, torch.tensor([[-5.0] * 3, [1.0] * 3]))  # the RGB posterior q(z|R)
    outputs = {"latent": {"RC": q, "R": p}, "recon": {}, "valid": {"RC": torch.ones(2, dtype=torch.bool),
                                                                   "R": torch.ones(2, dtype=torch.bool)}}
    batch = {"R": torch.zeros(2, 3, S, S)}
    # by hand: sample 0 -> 0.5 * (1 + 9 + 0) = 5; sample 1 -> 0.5 * sum(log e^1 / e^0.5 + (e^0.5 + d^2) / e - 1)
    d2 = torch.tensor([1.0, 4.0, 1.0])
    sample1 = 0.5 * (0.5 + (math.exp(0.5) + d2) / math.e - 1.0).sum()
    cfg.loss.align_var_floor = 1.0
    got = build_criterion(cfg)(outputs, batch, terms=["align:kl"])["align:kl"]
    torch.testing.assert_close(got, (5.0 + sample1) / 2)
    cfg.loss.align_var_floor = 0.0
    got = build_criterion(cfg)(outputs, batch, terms=["align:kl"])["align:kl"]
    torch.testing.assert_close(got, _kl_pair_by_hand(q, p).mean())
    assert got > 300  # the paper's KL divides by the RGB variance e^-5: the scale that holds S3 at the floor
    for bad in ("-1", "inf", "nan"):
        with pytest.raises(ConfigError, match="align_var_floor"):
            load_config(Config, None, [f"loss.align_var_floor={bad}"])


@pytest.mark.parametrize("detach", [False, True])
def test_a_detached_joint_posterior_gets_no_alignment_gradient(detach):
    """loss.align_detach_joint: the alignment's gradient reaches q(z|R) only. By hand, for the mean over B
    samples of KL(q || p): d/d mu_p = -(mu_q - mu_p) / var_p / B and d/d mu_q = +(mu_q - mu_p) / var_p / B."""
    cfg = tiny_cfg("S3")
    cfg.loss.align_detach_joint = detach
    gen = torch.Generator().manual_seed(3)
    q = Gaussian(torch.randn(B, 5, generator=gen).requires_grad_(), torch.randn(B, 5, generator=gen))
    p = Gaussian(torch.randn(B, 5, generator=gen).requires_grad_(), torch.randn(B, 5, generator=gen))
    everyone = torch.ones(B, dtype=torch.bool)
    outputs = {"latent": {"RC": q, "R": p}, "recon": {}, "valid": {"RC": everyone, "R": everyone}}
    build_criterion(cfg)(outputs, {"R": torch.zeros(B, 3, S, S)}, terms=["align:kl"])["align:kl"].backward()
    pull = ((q.mu - p.mu) * torch.exp(-p.logvar) / B).detach()
    torch.testing.assert_close(p.mu.grad, -pull)
    if detach:
        assert q.mu.grad is None
    else:
        torch.testing.assert_close(q.mu.grad, pull)
