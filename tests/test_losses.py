"""Losses against brute-force references on tiny inputs."""

import itertools
import math

import numpy as np
import pytest
import torch

from handvae.models import losses


def _cloud(gen: torch.Generator, b: int, n: int) -> torch.Tensor:
    return torch.randn(b, n, 3, generator=gen, dtype=torch.float64)


def test_pose_and_heatmap_l2_by_hand():
    pred = torch.zeros(1, 21, 3)
    target = torch.zeros(1, 21, 3)
    target[0, 0] = torch.tensor([3.0, 0.0, 0.0])
    target[0, 5] = torch.tensor([0.0, 4.0, 0.0])
    assert losses.pose_l2(pred, target).item() == pytest.approx(5.0)  # sqrt(9 + 16)
    assert losses.pose_l2(pred, target, "squared").item() == pytest.approx(25.0)
    hp = torch.zeros(1, 2, 4, 4)
    ht = torch.zeros(1, 2, 4, 4)
    ht[0, 0, 0, :2] = torch.tensor([3.0, 4.0])  # joint 0: norm 5
    ht[0, 1, 3, 3] = 2.0  # joint 1: norm 2
    assert losses.heatmap_l2(hp, ht).item() == pytest.approx(7.0)
    assert losses.image_l2(hp[:, :1], ht[:, :1]).item() == pytest.approx(5.0)


def test_squared_forms_and_a_bad_form_by_hand():
    hp = torch.zeros(2, 2, 3, 3)
    ht = torch.zeros(2, 2, 3, 3)
    ht[0, 0, 1, :2] = torch.tensor([3.0, 4.0])  # sample 0, joint 0: squared norm 25
    ht[0, 1, 2, 2] = 2.0  # sample 0, joint 1: squared norm 4
    ht[1, 1, 0, 0] = -1.0  # sample 1: squared norm 1
    assert losses.heatmap_l2(hp, ht, "squared").tolist() == [29.0, 1.0]  # summed over joints
    assert losses.heatmap_l2(hp, ht).tolist() == pytest.approx([7.0, 1.0])
    # image_l2 takes every value of a sample together: squared 25 + 4, norm sqrt(29)
    assert losses.image_l2(hp, ht, "squared").tolist() == [29.0, 1.0]
    assert losses.image_l2(hp, ht).tolist() == pytest.approx([math.sqrt(29.0), 1.0])
    with pytest.raises(ValueError, match="'norm' or 'squared'"):
        losses.pose_l2(hp[:, 0], ht[:, 0], "l1")


def test_norm_gradient_is_zero_at_zero_and_the_unit_direction_elsewhere():
    pred = torch.zeros(2, 21, 3, requires_grad=True)
    losses.pose_l2(pred, torch.zeros(2, 21, 3)).sum().backward()
    assert torch.equal(pred.grad, torch.zeros(2, 21, 3))  # finite (zero) at zero, as documented
    # d||p - t|| / dp = (p - t) / ||p - t||; d||p - t||^2 / dp = 2 (p - t)
    gen = torch.Generator().manual_seed(9)
    target = torch.randn(2, 21, 3, generator=gen, dtype=torch.float64)
    p = torch.randn(2, 21, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    losses.pose_l2(p, target).sum().backward()
    diff = (p - target).detach()
    norm = diff.flatten(1).pow(2).sum(1).sqrt()[:, None, None]
    torch.testing.assert_close(p.grad, diff / norm)
    p.grad = None
    losses.pose_l2(p, target, "squared").sum().backward()
    torch.testing.assert_close(p.grad, 2 * diff)


def test_masked_mean_ignores_absent_samples_even_nan_and_is_zero_when_none():
    v = torch.tensor([1.0, 3.0, float("nan")], requires_grad=True)
    m = torch.tensor([True, True, False])
    out = losses.masked_mean(v, m)
    assert out.item() == pytest.approx(2.0)
    out.backward()
    assert v.grad.tolist() == [0.5, 0.5, 0.0]
    none = losses.masked_mean(torch.tensor([float("nan"), 2.0]), torch.tensor([False, False]))
    assert none.item() == 0.0
    assert losses.masked_mean(torch.tensor([1.0, 3.0, 8.0]), None).item() == 4.0  # no mask: the plain mean


def _chamfer_brute(p: np.ndarray, q: np.ndarray) -> float:
    a = np.mean([min(np.linalg.norm(x - y) for y in q) for x in p])
    b = np.mean([min(np.linalg.norm(x - y) for x in p) for y in q])
    return a + b


def test_chamfer_matches_brute_force_with_unequal_sizes():
    gen = torch.Generator().manual_seed(0)
    p, q = _cloud(gen, 3, 7), _cloud(gen, 3, 5)
    got = losses.chamfer(p, q)
    for b in range(3):
        assert got[b].item() == pytest.approx(_chamfer_brute(p[b].numpy(), q[b].numpy()), rel=1e-9)


def test_chamfer_is_zero_with_finite_gradient_for_identical_clouds():
    gen = torch.Generator().manual_seed(1)
    q = _cloud(gen, 2, 9)
    p = q.clone().requires_grad_(True)
    d = losses.chamfer(p, q)
    assert d.abs().max().item() < 1e-5
    d.sum().backward()
    assert torch.equal(p.grad, torch.zeros_like(p))  # every matched distance is 0: the safe norm's zero gradient


def _numeric_grad(fn, p: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """Central finite differences of ``fn(p).sum()`` with respect to every entry of ``p`` (float64)."""
    num = torch.zeros_like(p)
    flat = num.view(-1)
    for j in range(p.numel()):
        e = torch.zeros_like(p).view(-1)
        e[j] = h
        e = e.view_as(p)
        flat[j] = (fn(p.detach() + e).sum() - fn(p.detach() - e).sum()).item() / (2 * h)
    return num


def test_chamfer_gradient_matches_finite_differences():
    """Both directions carry gradient to ``pred``: each point through its own nearest neighbour and as the
    nearest neighbour of target points (a detached second term would halve some of these entries)."""
    gen = torch.Generator().manual_seed(7)
    p, q = _cloud(gen, 1, 5), _cloud(gen, 1, 7)
    p.requires_grad_(True)
    losses.chamfer(p, q).sum().backward()
    num = _numeric_grad(lambda x: losses.chamfer(x, q), p)
    assert num.abs().max() > 0.1
    torch.testing.assert_close(p.grad, num, atol=1e-6, rtol=1e-5)


def _emd_brute(p: np.ndarray, q: np.ndarray) -> float:
    n = len(p)
    return min(np.mean([np.linalg.norm(p[i] - q[s[i]]) for i in range(n)]) for s in itertools.permutations(range(n)))


def test_emd_exact_matches_all_permutations_of_six_points():
    gen = torch.Generator().manual_seed(2)
    p, q = _cloud(gen, 3, 6), _cloud(gen, 3, 6)
    got = losses.emd_exact(p, q)
    assert math.factorial(6) == 720
    for b in range(3):
        assert got[b].item() == pytest.approx(_emd_brute(p[b].numpy(), q[b].numpy()), rel=1e-9)


def test_emd_is_zero_for_a_permuted_copy_and_not_below_chamfer_half():
    gen = torch.Generator().manual_seed(3)
    q = _cloud(gen, 2, 32)
    p = q[:, torch.randperm(32, generator=gen)]
    assert losses.emd_exact(p, q).abs().max().item() < 1e-5
    assert losses.emd_sinkhorn(p.float(), q.float()).abs().max().item() < 1e-2
    # any bijection is one choice of neighbours, so EMD >= each one-sided nearest-neighbour mean
    r = _cloud(gen, 2, 32)
    assert (losses.emd_exact(r, q) >= losses.chamfer(r, q) / 2 - 1e-9).all()


def _permuted_copies(gen: torch.Generator, batch: int, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``p[b, i] = q[b, perm[b, i]]``: the optimal bijection of ``(p, q)`` is ``perm``, at cost 0."""
    q = _cloud(gen, batch, n)
    perm = torch.stack([torch.randperm(n, generator=gen) for _ in range(batch)])
    return torch.gather(q, 1, perm[..., None].expand(-1, -1, 3)), q, perm


def test_emd_assignment_of_a_permuted_copy_is_that_permutation_on_the_threaded_path():
    """64 points and a batch of 64 take the thread-pool branch (on more than one core): every sample's
    bijection must be the permutation that made it, none left unsolved."""
    gen = torch.Generator().manual_seed(8)
    p, q, perm = _permuted_copies(gen, 64, 64)
    assert 64 * 64**3 >= losses._THREADED_WORK
    assert torch.equal(losses.emd_assignment(p, q), perm)
    torch.testing.assert_close(losses.emd_exact(p, q), torch.zeros(64, dtype=torch.float64), atol=1e-5, rtol=0)


def test_emd_assignments_of_several_pairs_solve_each_pair_as_alone():
    """Three pairs solved as one (threaded) batch: each gets its own permutation back; the costs of
    six-point pairs are the brute-force optimum; pairs of different sizes are solved one by one."""
    gen = torch.Generator().manual_seed(9)
    triples = [_permuted_copies(gen, 32, 64) for _ in range(3)]
    got = losses.emd_assignments([(p, q) for p, q, _ in triples])
    assert 3 * 32 * 64**3 >= losses._THREADED_WORK > 32 * 64**3  # together threaded, alone not
    for perm, (_, _, want) in zip(got, triples, strict=True):
        assert torch.equal(perm, want)
    small = [(_cloud(gen, 2, 6), _cloud(gen, 2, 6)) for _ in range(2)] + [(_cloud(gen, 2, 5), _cloud(gen, 2, 5))]
    for perm, (p, q) in zip(losses.emd_assignments(small), small, strict=True):
        for b in range(2):
            cost = losses.emd_exact(p, q, perm)[b].item()
            assert cost == pytest.approx(_emd_brute(p[b].numpy(), q[b].numpy()), rel=1e-9)


def test_a_non_finite_cloud_gives_a_non_finite_emd_for_its_sample_only_and_no_error():
    """A diverged step's NaN or inf cloud must reach the trainer's NaN guard as a NaN loss, not crash the
    assignment; the other samples keep their exact EMD."""
    gen = torch.Generator().manual_seed(10)
    p, q = _cloud(gen, 3, 6), _cloud(gen, 3, 6)
    want = losses.emd_exact(p, q)
    p[1, 2, 0] = float("nan")
    p[2, 4, 1] = float("inf")
    got = losses.emd_exact(p, q)
    assert not got[1].isfinite() and not got[2].isfinite()
    assert got[0].item() == pytest.approx(want[0].item(), rel=1e-12)


def test_emd_exact_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(4)
    p, q = _cloud(gen, 1, 6), _cloud(gen, 1, 6)
    p.requires_grad_(True)
    losses.emd_exact(p, q).sum().backward()
    num = _numeric_grad(lambda x: losses.emd_exact(x, q), p)
    torch.testing.assert_close(p.grad, num, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("noise", [0.05, 0.5])
def test_sinkhorn_emd_is_a_close_upper_bound_of_the_exact_emd(noise):
    gen = torch.Generator().manual_seed(5)
    q = _cloud(gen, 4, 64).float()
    p = q[:, torch.randperm(64, generator=gen)] + noise * _cloud(gen, 4, 64).float()
    exact = losses.emd_exact(p, q)
    approx = losses.emd_sinkhorn(p, q)
    assert (approx >= exact * (1 - 1e-4)).all()  # a feasible plan never beats the optimum
    assert ((approx - exact) / exact).max().item() < 0.05


def test_sinkhorn_transports_of_several_pairs_match_each_pair_solved_alone():
    """Three pairs in one Sinkhorn run (a shared epsilon schedule): each plan has its pair's uniform
    marginals, and its EMD is within 1% of the pair solved alone and never below the exact optimum."""
    gen = torch.Generator().manual_seed(11)
    pairs = []
    for noise in (0.02, 0.2, 0.6):  # far-apart clouds make the shared schedule start higher than alone
        q = _cloud(gen, 8, 64).float()
        pairs.append((q[:, torch.randperm(64, generator=gen)] + noise * _cloud(gen, 8, 64).float(), q))
    plans = losses.sinkhorn_transports(pairs)
    for plan, (p, q) in zip(plans, pairs, strict=True):
        assert plan.shape == (8, 64, 64)
        torch.testing.assert_close(plan.sum(dim=2), torch.full((8, 64), 1 / 64), atol=1e-6, rtol=0)
        torch.testing.assert_close(plan.sum(dim=1), torch.full((8, 64), 1 / 64), atol=1e-6, rtol=0)
        together = losses.emd_sinkhorn(p, q, transport=plan)
        alone = losses.emd_sinkhorn(p, q)
        torch.testing.assert_close(together, alone, rtol=1e-2, atol=1e-4)
        assert (together >= losses.emd_exact(p, q).float() * (1 - 1e-4)).all()
    with pytest.raises(ValueError, match="transport must be"):
        losses.emd_sinkhorn(*pairs[0], transport=plans[0][:, :5])
    # emd_solutions dispatches as emd does: exact assignments, or transports
    assert [s.shape for s in losses.emd_solutions(pairs[:2], "exact")] == [(8, 64), (8, 64)]
    assert [s.shape for s in losses.emd_solutions(pairs[:2], "sinkhorn")] == [(8, 64, 64), (8, 64, 64)]


def test_emd_dispatch_and_bad_method():
    gen = torch.Generator().manual_seed(6)
    p, q = _cloud(gen, 1, 6), _cloud(gen, 1, 6)
    torch.testing.assert_close(losses.emd(p, q, "auto"), losses.emd_exact(p, q))
    with pytest.raises(ValueError, match="exact, sinkhorn or auto"):
        losses.emd(p, q, "fast")
    with pytest.raises(ValueError, match="equal size"):
        losses.emd_exact(p, q[:, :5])
