"""Schedules of the paper's training (docs/METHOD.md, section 6): beta annealing and lr drops on plateaus.

- beta rises from ``beta_start`` (1e-5) to ``beta_end`` (1e-3) geometrically (linear in log beta)
  over the first ``anneal_steps`` steps, then stays at ``beta_end``. The paper gives only the two
  end points; a log-linear ramp moves through each decade in equal time.
- :class:`Plateau`: the learning rate is divided by 10 when the validation EPE has not improved
  for ``patience`` validations, at most ``max_drops`` times; the next plateau after the last drop
  ends training ("lr divided by 10 twice, each time after convergence").
- :func:`cosine_lr`: the alternative, a linear warm-up then a cosine decay to 0 at the last step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


def beta_at(step: int, beta_start: float, beta_end: float, anneal_steps: int) -> float:
    """KL weight at optimiser step ``step`` (0-based)."""
    if anneal_steps <= 0 or step >= anneal_steps:
        return float(beta_end)
    if beta_start <= 0 or beta_end <= 0:
        return float(beta_start + (beta_end - beta_start) * step / anneal_steps)
    t = step / anneal_steps
    return float(math.exp(math.log(beta_start) + t * (math.log(beta_end) - math.log(beta_start))))


def cosine_lr(step: int, base_lr: float, warmup_steps: int, total_steps: int) -> float:
    """lr of optimiser step ``step`` (0-based): ``base_lr (step + 1) / warmup`` while warming up, then
    ``base_lr (1 + cos(pi t)) / 2`` with ``t`` going from 0 to 1 over the remaining steps."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))


@dataclass
class Plateau:
    """Track validation EPE; say when to divide the lr by 10 and when to stop."""

    patience: int = 5
    max_drops: int = 2
    min_delta: float = 0.0
    best: float = math.inf
    bad_evals: int = 0
    drops: int = 0

    def step(self, value: float) -> str:
        """Feed one validation value; returns ``"improved"``, ``"wait"``, ``"drop"`` or ``"stop"``."""
        if value < self.best - self.min_delta:
            self.best = value
            self.bad_evals = 0
            return "improved"
        self.bad_evals += 1
        if self.bad_evals < self.patience:
            return "wait"
        self.bad_evals = 0
        if self.drops < self.max_drops:
            self.drops += 1
            return "drop"
        return "stop"

    def state_dict(self) -> dict:
        d = asdict(self)
        d["best"] = None if math.isinf(self.best) else self.best
        return d

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            if key not in self.__dataclass_fields__:
                continue  # a field of an older version (``stopped``)
            setattr(self, key, math.inf if key == "best" and value is None else value)
