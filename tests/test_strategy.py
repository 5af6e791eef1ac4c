"""Strategy strings and presets compile to the paper's ELBO terms."""

import pytest
import torch

from handvae.errors import UserError
from handvae.models.registry import DECODERS, ENCODERS, STRATEGIES
from handvae.models.strategy import STRATEGY_PRESETS, compile_strategy, parse_strategy
from handvae.schema import Config


def test_parse_splits_encoders_and_decoders():
    assert parse_strategy("RC2CHP") == (("R", "C"), ("C", "H", "P"))
    assert parse_strategy("r2p") == (("R",), ("P",))


@pytest.mark.parametrize("bad", ["RCCHP", "R2", "2P", "RX2P", "R2PP", "C2CP", "R2CH", "R2C2P"])
def test_bad_strategy_strings_are_user_errors(bad):
    with pytest.raises(UserError, match=r"model\.strategy"):
        parse_strategy(bad)


def test_presets_are_table1_and_the_ablation():
    assert STRATEGY_PRESETS["S1"] == ("R2P", "none")
    assert STRATEGY_PRESETS["S3"] == ("RC2CHP", "kl")
    assert STRATEGY_PRESETS["S4"] == ("RC2CHP", "poe")
    assert STRATEGY_PRESETS["RD2DHP"] == ("RD2DHP", "poe")
    assert sorted(STRATEGIES.names()) == sorted(STRATEGY_PRESETS)


def test_s1_s2_are_single_elbos_with_kl():
    plan = compile_strategy("S2-CHP", "poe")  # a preset overrides the alignment
    assert plan.alignment == "none"
    assert [(e.name, e.kind, e.kl_prior) for e in plan.elbos] == [("R", "single", True)]
    assert plan.decoders == ("C", "H", "P") and plan.align is None


def test_kl_alignment_has_rgb_and_joint_elbos_and_the_alignment_term():
    plan = compile_strategy("RC2CHP", "kl")
    assert [(e.name, e.kind, e.kl_prior) for e in plan.elbos] == [("R", "single", True), ("RC", "joint", True)]
    assert plan.encoders == ("R",)  # the joint encoder has its own trunks
    assert plan.align == ("RC", "R")


def test_poe_has_one_elbo_per_expert_and_a_product_without_kl():
    plan = compile_strategy("CR2CHP", "poe")  # R is put first whatever the written order
    assert [(e.name, e.kind, e.kl_prior) for e in plan.elbos] == [
        ("R", "single", True), ("C", "single", True), ("RC", "product", False)
    ]
    assert plan.encoders == ("R", "C")


def test_none_with_two_encoders_gives_independent_elbos_for_the_iterative_baseline():
    plan = compile_strategy("RC2CHP", "none")
    assert [e.name for e in plan.elbos] == ["R", "C"] and plan.align is None


def test_alignment_needs_two_encoders_and_a_known_name():
    with pytest.raises(UserError, match="two encoders"):
        compile_strategy("R2CHP", "poe")
    with pytest.raises(UserError, match=r"model\.alignment"):
        compile_strategy("RC2CHP", "sum")


def test_registries_cover_every_letter_and_reject_unknown_keys():
    assert set(ENCODERS.names()) == {"R", "C", "D"}
    assert set(DECODERS.names()) == {"P", "H", "C", "D"}
    with pytest.raises(UserError, match="unknown decoder 'X'"):
        DECODERS["X"]
    cfg = Config()
    cfg.model.point_width = 0.125
    assert ENCODERS["C"].tanh_mu and not ENCODERS["R"].tanh_mu
    assert DECODERS["P"](cfg)(torch.zeros(2, 64)).shape == (2, 21, 3)


def test_a_registered_strategy_compiles_by_name():
    from handvae.models.strategy import compile_strategy

    STRATEGIES.register("S2-DPX")(("R2DP", "none"))
    try:
        plan = compile_strategy("S2-DPX", "kl")  # the preset's alignment wins over the argument
        assert (plan.encoders, plan.decoders, plan.alignment) == (("R",), ("D", "P"), "none")
    finally:
        del STRATEGY_PRESETS["S2-DPX"]


def test_the_modality_table_is_the_one_home_of_the_letters():
    from handvae.data.batches import _FIELDS
    from handvae.modalities import MODALITIES, decoder_of_term
    from handvae.models.criterion import RECON_TERMS
    from handvae.schema import LossConfig

    assert "".join(MODALITIES) == "RDCHP"
    assert RECON_TERMS == {"D": ("depth",), "C": ("chamfer", "emd"), "H": ("heat",), "P": ("pose",)}
    assert _FIELDS["C"] == ["cloud", "has_cloud"] and _FIELDS["H"] == ["uv"]
    assert decoder_of_term("emd") == "C" and decoder_of_term("heat") == "H"
    loss = LossConfig()
    for m in MODALITIES.values():  # every decoded modality's weight is a real config field
        assert (m.weight == "") == (not m.decoded) and (not m.decoded or hasattr(loss, m.weight))
