"""The NaN guard: skip steps whose loss or gradients are not finite; stop after K in a row."""

from __future__ import annotations

import torch


class NonFiniteError(RuntimeError):
    """Too many consecutive non-finite steps: the run stops, the last good checkpoint stays."""


class NanGuard:
    """Counts skipped steps. ``limit`` consecutive skips raise :class:`NonFiniteError`."""

    def __init__(self, limit: int = 10) -> None:
        self.limit = limit
        self.consecutive = 0
        self.skipped = 0

    @staticmethod
    def grads_finite(params) -> bool:
        """True when every gradient present is finite (one fused check)."""
        norms = [p.grad.detach().float().norm() for p in params if p.grad is not None]
        if not norms:
            return True
        return bool(torch.isfinite(torch.stack(norms).sum()).item())

    def ok(self, finite: bool, step: int) -> bool:
        """Record one step's verdict; returns whether to apply it."""
        if finite:
            self.consecutive = 0
            return True
        self.consecutive += 1
        self.skipped += 1
        if self.consecutive >= self.limit:
            raise NonFiniteError(
                f"{self.consecutive} consecutive steps with non-finite loss or gradients (last at step {step}); "
                "stopping. The last good checkpoint is intact; try a lower trainer.lr or trainer.amp=off."
            )
        return False

    def state_dict(self) -> dict:
        return {"consecutive": self.consecutive, "skipped": self.skipped}

    def load_state_dict(self, state: dict) -> None:
        self.consecutive = int(state.get("consecutive", 0))
        self.skipped = int(state.get("skipped", 0))
