"""The one home of the modality letters R, D, C, H, P: what each is, what a batch carries for it,
whether it is encoded and/or decoded, its reconstruction loss terms and their weight in the config.

The letters mean the same in code, configs, logs and the paper (strategy strings such as ``RC2CHP``:
encoded letters, ``2``, decoded letters). Adding a modality means one entry here plus its networks in
:mod:`handvae.models.registry`, its loss in :mod:`handvae.models.criterion` and its batch assembly in
:mod:`handvae.data.batches`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Modality:
    """letter; what (batch tensor, shape and units); cache_fields: the prepared arrays a batch needs;
    encoded / decoded: whether it can be an input / an output of a strategy; loss_terms: its
    reconstruction terms when decoded; weight: the :class:`~handvae.schema.LossConfig` field that
    weights them."""

    letter: str
    what: str
    cache_fields: tuple[str, ...]
    encoded: bool
    decoded: bool
    loss_terms: tuple[str, ...] = ()
    weight: str = ""


MODALITIES: dict[str, Modality] = {
    m.letter: m
    for m in (
        Modality("R", "RGB crop (B, 3, S, S) in [0, 1]", ("image",), encoded=True, decoded=False),
        Modality("D", "depth crop (B, 1, S, S), normalised, background 1", ("depth",), encoded=True, decoded=True,
                 loss_terms=("depth",), weight="lambda_depth"),
        Modality("C", "hand-surface cloud (B, N, 3), normalised", ("cloud", "has_cloud"), encoded=True,
                 decoded=True, loss_terms=("chamfer", "emd"), weight="lambda_cloud"),
        Modality("H", "2D keypoint heatmaps (B, 21, h, h) in [0, 1]", ("uv",), encoded=False, decoded=True,
                 loss_terms=("heat",), weight="lambda_heat"),
        Modality("P", "3D pose (B, 21, 3), normalised", ("pose",), encoded=False, decoded=True,
                 loss_terms=("pose",), weight="lambda_pose"),
    )
}  # fmt: skip

ENCODER_LETTERS: tuple[str, ...] = ("R", "C", "D")  # the order encoders are listed in a strategy
DECODER_LETTERS: tuple[str, ...] = ("P", "H", "C", "D")  # the order decoders are listed in a strategy
assert set(ENCODER_LETTERS) == {k for k, m in MODALITIES.items() if m.encoded}
assert set(DECODER_LETTERS) == {k for k, m in MODALITIES.items() if m.decoded}


def decoder_of_term(term: str) -> str:
    """The decoded modality whose reconstruction loss is ``term`` (``"emd"`` -> ``"C"``)."""
    return next(k for k, m in MODALITIES.items() if term in m.loss_terms)
