"""Reconstruction losses of the paper (Eq. 7-10), each per sample ``(B,)``, plus a masked mean.

- :func:`pose_l2`: ``||y_hat - y||`` over the 63 values (Eq. 10).
- :func:`heatmap_l2`: ``sum_j ||H_hat_j - H_j||`` over the 21 heatmaps (Eq. 7).
- :func:`image_l2`: ``||D_hat - D||`` over all pixels (depth maps, RD2DHP ablation).
- :func:`chamfer`: Eq. 8, Euclidean (not squared) distances, means both ways.
- :func:`emd_exact`: Eq. 9 with the optimal bijection from ``scipy``'s Hungarian solver (CPU).
- :func:`emd_sinkhorn`: a GPU-friendly approximation: entropic optimal transport solved in the
  log domain with epsilon scaling, the transport rounded onto the exact marginals (Altschuler et al.
  2017), and ``sum_ij P_ij ||p_i - q_j||`` returned. A feasible transport can only cost more than the
  optimal bijection, so it is an upper bound of the exact EMD; ``benchmarks/bench_model.py``
  prints the agreement (about 0.1% for near-identical clouds, a few % for far ones).

``form="norm"`` is the paper's ``||.||``; ``form="squared"`` gives the squared norm (a common
variant). Norms are safe at zero: ``sqrt(max(s, eps))`` has a finite (zero) gradient there.
Gradients of the nearest-neighbour and assignment losses flow through the matched distances
only (the matching itself is piecewise constant, and for Sinkhorn the transport is held fixed: the
envelope theorem gives the same gradient as differentiating the solver).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

EPS = 1e-12


def safe_norm(x: Tensor, dim: int | tuple[int, ...] = -1) -> Tensor:
    """Euclidean norm over ``dim`` with a finite gradient at zero."""
    return x.pow(2).sum(dim=dim).clamp_min(EPS).sqrt()


def _l2(diff: Tensor, dim: int | tuple[int, ...], form: str) -> Tensor:
    if form == "norm":
        return safe_norm(diff, dim)
    if form == "squared":
        return diff.pow(2).sum(dim=dim)
    raise ValueError(f"loss form must be 'norm' or 'squared', got {form!r}")


def masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of ``values (B,)`` over samples where ``mask (B,)`` is True; 0 (not NaN) if none are.

    Values of masked-out samples are dropped with ``where`` (so a NaN there does not leak).
    """
    if mask is None:
        return values.mean()
    mask = mask.to(device=values.device, dtype=torch.bool)
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / mask.sum().clamp_min(1).to(values.dtype)


def pose_l2(pred: Tensor, target: Tensor, form: str = "norm") -> Tensor:
    """``pred, target: (B, 21, 3)`` normalised units -> ``(B,)``."""
    return _l2(pred - target, (1, 2), form)


def heatmap_l2(pred: Tensor, target: Tensor, form: str = "norm") -> Tensor:
    """``pred, target: (B, J, h, w)`` -> ``(B,)``: per-joint L2 over pixels, summed over joints."""
    return _l2(pred - target, (2, 3), form).sum(dim=1)


def image_l2(pred: Tensor, target: Tensor, form: str = "norm") -> Tensor:
    """``pred, target: (B, c, h, w)`` -> ``(B,)``: L2 over every value of each sample."""
    return _l2(pred - target, (1, 2, 3), form)


def _check_clouds(pred: Tensor, target: Tensor, same_size: bool) -> None:
    if pred.dim() != 3 or target.dim() != 3 or pred.shape[0] != target.shape[0]:
        raise ValueError(f"clouds must be (B, N, 3) and (B, M, 3), got {tuple(pred.shape)}, {tuple(target.shape)}")
    if same_size and pred.shape[1] != target.shape[1]:
        raise ValueError(f"EMD needs clouds of equal size, got {pred.shape[1]} and {target.shape[1]} points")


def _gather_points(points: Tensor, index: Tensor) -> Tensor:
    """``points (B, M, 3)``, ``index (B, N)`` -> ``(B, N, 3)``."""
    return torch.gather(points, 1, index[..., None].expand(-1, -1, points.shape[-1]))


def chamfer(pred: Tensor, target: Tensor) -> Tensor:
    """Chamfer distance (Eq. 8): ``pred (B, N, 3)``, ``target (B, M, 3)`` -> ``(B,)``, same units.

    ``mean_p min_q ||q - p|| + mean_q min_p ||q - p||``. The nearest neighbours are found without
    gradient; the distances to them are recomputed with gradient.
    """
    _check_clouds(pred, target, same_size=False)
    with torch.no_grad():
        d = torch.cdist(pred.detach().float(), target.detach().float())  # (B, N, M)
        nn_of_pred = d.argmin(dim=2)  # (B, N) index into target
        nn_of_target = d.argmin(dim=1)  # (B, M) index into pred
    a = safe_norm(pred - _gather_points(target, nn_of_pred)).mean(dim=1)
    b = safe_norm(target - _gather_points(pred, nn_of_target)).mean(dim=1)
    return a + b


_ASSIGN_THREADS = min(8, os.cpu_count() or 1)
_BAD_COST = 1e30  # stands in for a non-finite distance in the assignment
_THREADED_WORK = 2**24  # problems x points^3 (the solver is cubic) from which threads share the assignment
_ASSIGN_POOL: ThreadPoolExecutor | None = None  # made once: a pool per call cost more than 64-point problems


def _assign_pool() -> ThreadPoolExecutor:
    global _ASSIGN_POOL
    if _ASSIGN_POOL is None:
        _ASSIGN_POOL = ThreadPoolExecutor(_ASSIGN_THREADS, thread_name_prefix="emd")
    return _ASSIGN_POOL


def emd_assignment(pred: Tensor, target: Tensor) -> Tensor:
    """The optimal bijection for Eq. 9: ``(B, N)`` long, ``target[b, perm[b, i]]`` matches ``pred[b, i]``."""
    _check_clouds(pred, target, same_size=True)
    with torch.no_grad():
        cost = torch.cdist(pred.detach().double().cpu(), target.detach().double().cpu()).numpy()
    # a non-finite cloud (a diverged step) must not crash the solver: its sample gets some bijection, and its
    # distance, computed from the clouds themselves, stays non-finite for the trainer's NaN guard to skip
    cost = np.nan_to_num(cost, nan=_BAD_COST, posinf=_BAD_COST, neginf=_BAD_COST)
    perm = np.empty(cost.shape[:2], dtype=np.int64)

    def solve(batch_rows: range) -> None:
        for b in batch_rows:
            rows, cols = linear_sum_assignment(cost[b])
            perm[b, rows] = cols

    n, k = cost.shape[0], _ASSIGN_THREADS
    # scipy releases the GIL: one contiguous share of the batch per core, where the batch holds enough work
    # to pay for the threads (measured on 2 cores, 64 points: no gain at 32 problems, 1.9x faster at 96)
    if n > 1 and k > 1 and n * cost.shape[1] ** 3 >= _THREADED_WORK:
        list(_assign_pool().map(solve, [range(i * n // k, (i + 1) * n // k) for i in range(k)]))
    else:
        solve(range(n))
    return torch.from_numpy(perm).to(pred.device)


def emd_assignments(pairs: Sequence[tuple[Tensor, Tensor]]) -> list[Tensor]:
    """:func:`emd_assignment` of several ``(pred, target)`` pairs of one cloud size, solved as one batch.

    One pass over all problems shares them among the threads where a single pair would not (an S4 step
    has three pairs of 32 problems: 1.9x faster together on 2 cores than one after the other).
    """
    return _solve_together(pairs, emd_assignment)


def _solve_together(pairs: Sequence[tuple[Tensor, Tensor]], solve: Callable[[Tensor, Tensor], Tensor]) -> list[Tensor]:
    """``solve(pred, target)`` of every pair, as one call on the concatenated batches where the pairs'
    clouds have one size (else pair by pair); each pair gets its own rows back."""
    for p, t in pairs:
        _check_clouds(p, t, same_size=True)
    if len(pairs) <= 1 or len({p.shape[1:] for p, _ in pairs}) > 1:
        return [solve(p, t) for p, t in pairs]
    out = solve(torch.cat([p.detach() for p, _ in pairs]), torch.cat([t.detach() for _, t in pairs]))
    return list(out.split([p.shape[0] for p, _ in pairs]))


def emd_exact(pred: Tensor, target: Tensor, perm: Tensor | None = None) -> Tensor:
    """Earth mover's distance (Eq. 9) with the exact assignment: ``(B, N, 3)`` x2 -> ``(B,)``.

    ``min over bijections phi of mean_i ||pred_i - target_phi(i)||``; the assignment runs on the
    CPU (about 4 ms per 256-point pair), the distances keep their gradient on ``pred``'s device.
    ``perm``: the assignment when already solved (:func:`emd_assignments`), else it is solved here.
    """
    if perm is None:
        perm = emd_assignment(pred, target)
    else:
        _check_clouds(pred, target, same_size=True)
    if perm.shape != pred.shape[:2]:
        raise ValueError(f"perm must be (B, N) = {tuple(pred.shape[:2])}, got {tuple(perm.shape)}")
    return safe_norm(pred - _gather_points(target, perm)).mean(dim=1)


def round_plan(transport: Tensor) -> Tensor:
    """Round ``transport (B, N, M)`` onto the uniform marginals (rows 1/N, columns 1/M), Altschuler et al."""
    n, m = transport.shape[1], transport.shape[2]
    transport = transport * torch.clamp((1.0 / n) / transport.sum(dim=2).clamp_min(1e-30), max=1.0)[:, :, None]
    transport = transport * torch.clamp((1.0 / m) / transport.sum(dim=1).clamp_min(1e-30), max=1.0)[:, None, :]
    err_r = 1.0 / n - transport.sum(dim=2)
    err_c = 1.0 / m - transport.sum(dim=1)
    return transport + err_r[:, :, None] * err_c[:, None, :] / err_r.sum(dim=1).clamp_min(1e-30)[:, None, None]


@torch.no_grad()
def sinkhorn_plan(
    cost: Tensor, eps: float = 0.005, scaling: float = 0.95, final_iters: int = 20, max_iters: int = 400
) -> Tensor:
    """Transport transport between two uniform clouds: ``cost (B, N, M)`` -> ``P (B, N, M)``.

    Log-domain Sinkhorn with epsilon scaling: epsilon starts at the largest cost and shrinks by
    ``scaling`` per iteration down to ``eps`` (in the units of ``cost``), then ``final_iters`` more
    iterations at ``eps``; finally :func:`round_plan` makes rows sum to 1/N and columns to 1/M.
    """
    cost = cost.float()
    n, m = cost.shape[1], cost.shape[2]
    log_a = -torch.log(torch.tensor(float(n), device=cost.device))
    log_b = -torch.log(torch.tensor(float(m), device=cost.device))
    f = torch.zeros(cost.shape[:2], device=cost.device)
    g = torch.zeros(cost.shape[0], m, device=cost.device)
    e = max(float(cost.max()), eps)
    schedule: list[float] = []
    while e > eps and len(schedule) < max_iters:
        schedule.append(e)
        e *= scaling
    schedule += [eps] * final_iters
    for e in schedule:
        f = -e * torch.logsumexp((g[:, None, :] - cost) / e + log_b, dim=2)
        g = -e * torch.logsumexp((f[:, :, None] - cost) / e + log_a, dim=1)
    e = schedule[-1]
    return round_plan(torch.exp((f[:, :, None] + g[:, None, :] - cost) / e + log_a + log_b))


def _pairwise(pred: Tensor, target: Tensor) -> Tensor:
    """``||pred_i - target_j||``: ``(B, N, 3)``, ``(B, M, 3)`` -> ``(B, N, M)``, with gradient."""
    return safe_norm(pred[:, :, None, :] - target[:, None, :, :])


def sinkhorn_transports(pairs: Sequence[tuple[Tensor, Tensor]]) -> list[Tensor]:
    """:func:`sinkhorn_plan` of several ``(pred, target)`` pairs of one cloud size, solved as one batch.

    The solver is a few hundred small tensor operations whatever the batch: on a GPU their launches, not
    the arithmetic, are its cost, so an S4 step's three pairs take a third of the time together. The
    epsilon schedule starts at the largest cost of all pairs (not of each): the plans agree with those
    solved pair by pair to the final blur ``eps`` (tests/test_losses.py).
    """
    return _solve_together(pairs, lambda p, t: sinkhorn_plan(_pairwise(p.detach(), t.detach())))


def emd_sinkhorn(pred: Tensor, target: Tensor, eps: float = 0.005, scaling: float = 0.95,
                 transport: Tensor | None = None) -> Tensor:
    """Approximate EMD: ``sum_ij P_ij ||pred_i - target_j||`` with the Sinkhorn transport ``P``: ``(B,)``.

    ``eps`` is the final entropic blur in cloud units; runs on any device (GPU-friendly: no host
    round trip). Equal cloud sizes as in Eq. 9. ``transport``: ``P (B, N, M)`` when already solved
    (:func:`sinkhorn_transports`), else it is solved here.
    """
    _check_clouds(pred, target, same_size=True)
    dist = _pairwise(pred, target)
    if transport is None:
        transport = sinkhorn_plan(dist.detach(), eps=eps, scaling=scaling)
    elif transport.shape != dist.shape:
        raise ValueError(f"transport must be (B, N, M) = {tuple(dist.shape)}, got {tuple(transport.shape)}")
    return (transport.to(dist.dtype) * dist).sum(dim=(1, 2))


def emd_method(method: str, device: torch.device) -> str:
    """``loss.emd`` resolved on ``device``: ``auto`` is ``exact`` on the CPU and ``sinkhorn`` elsewhere."""
    if method == "auto":
        return "exact" if device.type == "cpu" else "sinkhorn"
    if method in ("exact", "sinkhorn"):
        return method
    raise ValueError(f"loss.emd must be exact, sinkhorn or auto, got {method!r}")


def emd_solutions(pairs: Sequence[tuple[Tensor, Tensor]], method: str = "auto") -> list[Tensor]:
    """What :func:`emd` needs of each ``(pred, target)`` pair, all pairs solved as one batch: the exact
    assignments ``(B, N)`` (:func:`emd_assignments`) or the Sinkhorn transports ``(B, N, M)``."""
    if not pairs:
        return []
    if emd_method(method, pairs[0][0].device) == "exact":
        return emd_assignments(pairs)
    return sinkhorn_transports(pairs)


def emd(pred: Tensor, target: Tensor, method: str = "auto", solved: Tensor | None = None) -> Tensor:
    """EMD by ``method`` (:func:`emd_method`); ``solved``: that method's assignment or transport, when
    already solved (:func:`emd_solutions`)."""
    if emd_method(method, pred.device) == "exact":
        return emd_exact(pred, target, solved)
    return emd_sinkhorn(pred, target, transport=solved)
