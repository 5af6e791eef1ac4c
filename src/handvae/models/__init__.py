"""Networks and objective of the paper: encoders, decoders, latent alignment, losses, strategies.

Entry points: :func:`build_model` (a :class:`HandVAE`) and :func:`build_criterion` (a
:class:`Criterion`), both from a :class:`handvae.schema.Config`.
"""

from handvae.models.criterion import Criterion, build_criterion
from handvae.models.model import HandVAE, build_model
from handvae.models.strategy import STRATEGY_PRESETS, StrategyPlan, compile_strategy

__all__ = [
    "STRATEGY_PRESETS",
    "Criterion",
    "HandVAE",
    "StrategyPlan",
    "build_criterion",
    "build_model",
    "compile_strategy",
]
