"""Training strategies in the paper's notation, compiled into a plan of ELBO terms.

A strategy is ``"<encoders>2<decoders>"`` (``R2P``, ``R2CHP``, ``RC2CHP``, ``RD2DHP``) plus an
alignment (``none``, ``kl``, ``poe``). The plan lists the ELBO terms; every ELBO decodes every
decoder letter through the same (shared) decoders:

- ``none``: one ELBO per encoder, ``ELBO(x; decoders)`` with ``beta * KL(q(z|x) || p)`` (Eq. 1-2).
  With one encoder this is S1/S2; with several (``RC2CHP``) the encoders share the latent space
  and decoders but are not aligned: Spurr et al.'s setting, trained iteratively by the trainer.
- ``kl`` (Alg. 2, Eq. 3): the unimodal ELBO of the first encoder (``R``) and the ELBO of a joint
  encoder of all encoders (``RC``), both with their KL to the prior, plus
  ``lambda' * KL(q(z|R,C) || q(z|R))``.
- ``poe`` (Alg. 3, Eq. 4): one unimodal ELBO per encoder, each with its KL to the prior, and the
  ELBO of the product of the experts (``RC``) with no KL term of its own.

``STRATEGY_PRESETS`` names the paper's Table 1 rows and the RD2DHP ablation. RD2DHP pairs with
``poe``: supplementary D replaces the point clouds of "our S4" (RC2CHP, poe) by depth maps.
"""

from __future__ import annotations

from dataclasses import dataclass

from handvae.errors import UserError
from handvae.modalities import DECODER_LETTERS, ENCODER_LETTERS

ALIGNMENTS = ("none", "kl", "poe")

STRATEGY_PRESETS: dict[str, tuple[str, str]] = {
    "S1": ("R2P", "none"),
    "S2-HP": ("R2HP", "none"),
    "S2-CP": ("R2CP", "none"),
    "S2-CHP": ("R2CHP", "none"),
    "S3": ("RC2CHP", "kl"),
    "S4": ("RC2CHP", "poe"),
    "RD2DHP": ("RD2DHP", "poe"),
}


@dataclass(frozen=True)
class ElboSpec:
    """One ELBO term: its latent comes from ``inputs`` by ``kind``.

    kind: ``single`` (one unimodal encoder), ``joint`` (the KL alignment's joint encoder) or
    ``product`` (product of the unimodal experts). ``kl_prior``: the ELBO has ``beta * KL(q || p)``.
    """

    name: str
    inputs: tuple[str, ...]
    kind: str
    kl_prior: bool


@dataclass(frozen=True)
class StrategyPlan:
    """What a strategy trains: encoders, decoders, ELBO terms and the alignment KL, if any.

    ``encoders`` are the unimodal encoders the model builds; ``align`` is ``(joint, single)``: the
    ELBO names in ``KL(q_joint || q_single)`` (alignment ``kl`` only).
    """

    strategy: str
    alignment: str
    inputs: tuple[str, ...]
    encoders: tuple[str, ...]
    decoders: tuple[str, ...]
    elbos: tuple[ElboSpec, ...]
    align: tuple[str, str] | None = None

    def elbo(self, name: str) -> ElboSpec:
        for e in self.elbos:
            if e.name == name:
                return e
        raise KeyError(f"strategy {self.strategy}/{self.alignment} has no ELBO {name!r}; has {self.elbo_names}")

    @property
    def elbo_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.elbos)


def parse_strategy(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``"RC2CHP"`` -> ``(("R", "C"), ("C", "H", "P"))``; raises :class:`UserError` on bad input."""
    parts = text.strip().upper().split("2")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise UserError(f"model.strategy: expected '<encoders>2<decoders>' such as 'RC2CHP', got {text!r}")
    enc, dec = tuple(parts[0]), tuple(parts[1])
    for letters, allowed, side in ((enc, ENCODER_LETTERS, "encoder"), (dec, DECODER_LETTERS, "decoder")):
        bad = [c for c in letters if c not in allowed]
        if bad:
            raise UserError(f"model.strategy {text!r}: {side} letter(s) {bad} not in {list(allowed)}")
        if len(set(letters)) != len(letters):
            raise UserError(f"model.strategy {text!r}: repeated {side} letter")
    if "R" not in enc or "P" not in dec:
        raise UserError(f"model.strategy {text!r}: needs encoder R and decoder P (RGB-only inference)")
    return enc, dec


def resolve(strategy: str, alignment: str) -> tuple[str, str]:
    """A preset name (``S1`` ... ``S4``, ``S2-HP``, ``RD2DHP``) overrides ``alignment``."""
    key = strategy.strip().upper()
    if key in STRATEGY_PRESETS:
        return STRATEGY_PRESETS[key]
    return key, alignment.strip().lower()


def compile_strategy(strategy: str, alignment: str = "none") -> StrategyPlan:
    """Compile a strategy string (or preset) and an alignment into a :class:`StrategyPlan`."""
    strategy, alignment = resolve(strategy, alignment)
    if alignment not in ALIGNMENTS:
        raise UserError(f"model.alignment: expected one of {list(ALIGNMENTS)}, got {alignment!r}")
    enc, dec = parse_strategy(strategy)
    # The RGB encoder first: it is the one aligned to (kl) and the one used at test time.
    enc = ("R", *[c for c in enc if c != "R"])
    if alignment != "none" and len(enc) < 2:
        raise UserError(f"model.alignment={alignment!r} needs at least two encoders, strategy {strategy!r} has one")
    joint_name = "".join(enc)
    align = None
    if alignment == "none":
        elbos = tuple(ElboSpec(c, (c,), "single", True) for c in enc)
        encoders = enc
    elif alignment == "kl":
        elbos = (ElboSpec("R", ("R",), "single", True), ElboSpec(joint_name, enc, "joint", True))
        encoders = ("R",)
        align = (joint_name, "R")
    else:
        elbos = (*(ElboSpec(c, (c,), "single", True) for c in enc), ElboSpec(joint_name, enc, "product", False))
        encoders = enc
    return StrategyPlan(strategy, alignment, enc, encoders, dec, elbos, align)
