"""The hand probe of ``--hand auto`` (handvae.predict.hand_probe): it learns a side that its features
show, it is stored and read back exactly, bad files are clear errors, and the shipped probes fit the
shipped models (and pick the side of the real photos better than chance, when ../shared/realdev is there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from handvae.errors import UserError
from handvae.models.released import load_released, package_released_dir, released_models
from handvae.predict.hand_probe import (
    HandProbe,
    check_fits_model,
    fit_hand_probe,
    load_hand_probe,
    save_hand_probe,
    side_accuracy,
)

S = 16


class HalvesTrunk(nn.Module):
    """Features a side shows by construction: mean of the left half minus the right half, and their sum."""

    out_features = 2

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        left, right = rgb[..., : S // 2].mean((1, 2, 3)), rgb[..., S // 2 :].mean((1, 2, 3))
        return torch.stack([left - right, left + right], 1)


class ToyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict({"R": nn.Module()})
        self.encoders["R"].trunk = HalvesTrunk()


def right_side_crops(n: int, seed: int) -> np.ndarray:
    """``(n, S, S, 3) uint8`` noise whose left half is brighter: "the training side"; mirrored, the right half is."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 150, size=(n, S, S, 3))
    x[:, :, : S // 2] += rng.integers(20, 100, size=(n, 1, 1, 1))
    return x.astype(np.uint8)


def test_the_probe_learns_a_side_that_its_features_show():
    model = ToyModel()
    probe = fit_hand_probe(model, right_side_crops(64, 0), hidden=8, epochs=200, batch=32, seed=0)
    fresh = right_side_crops(50, 1)
    assert side_accuracy(model, probe, fresh) == 1.0  # every crop beats its mirror image
    with torch.no_grad():  # and the logit alone separates the sides
        from handvae.predict.hand_probe import trunk_features

        assert (probe(trunk_features(model, fresh)) > 0).all()
        assert (probe(trunk_features(model, fresh[:, :, ::-1])) < 0).all()


def test_fitting_is_deterministic_for_a_seed():
    model, crops = ToyModel(), right_side_crops(32, 2)
    a, b = (fit_hand_probe(model, crops, hidden=4, epochs=3, seed=5) for _ in range(2))
    c = fit_hand_probe(model, crops, hidden=4, epochs=3, seed=6)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert not torch.equal(a.hidden.weight, c.hidden.weight)


def test_save_and_load_give_the_same_logits(tmp_path):
    torch.manual_seed(0)
    probe = HandProbe(2, 4)
    probe.mean.copy_(torch.tensor([0.5, -1.0]))
    probe.std.copy_(torch.tensor([2.0, 0.25]))
    path = save_hand_probe(probe, tmp_path / "p.safetensors", "toy", {"seed": 0, "accuracy": {"x": 1.0}})
    back, meta = load_hand_probe(path)
    x = torch.randn(7, 2)
    assert torch.equal(back(x), probe(x))
    assert meta["model"] == "toy" and meta["fit"] == {"seed": 0, "accuracy": {"x": 1.0}}


def test_bad_probe_files_are_user_errors_naming_them(tmp_path):
    path = save_hand_probe(HandProbe(2, 4), tmp_path / "p.safetensors", "toy", {})
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(UserError, match=r"cut\.safetensors"):
        load_hand_probe(cut)
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"format": "something-else"})
    with pytest.raises(UserError, match=r"other\.safetensors.*expected 'handvae-hand-probe-1'"):
        load_hand_probe(other)
    with pytest.raises(UserError, match="hand probe for 3 trunk features; the model's RGB trunk has 2"):
        check_fits_model(HandProbe(3, 4), ToyModel(), "x")


def test_the_probe_score_needs_a_probe():
    from handvae.predict.handedness import view_score

    with pytest.raises(UserError, match="no hand probe"):
        view_score(ToyModel(), right_side_crops(1, 0)[0], "probe")


# --- the probes shipped beside the released models ---------------------------------------------------------
SHIPPED = released_models(package_released_dir())
PROBES = {p.stem: p for p in sorted((package_released_dir() / "hand").glob("*.safetensors"))}
REALDEV = Path(__file__).resolve().parents[1].parent / "shared" / "realdev"


@pytest.mark.skipif(not PROBES, reason="no hand probes shipped")
@pytest.mark.parametrize("name", sorted(PROBES))
def test_shipped_probes_fit_their_models(name):
    assert name in SHIPPED  # a probe ships only beside its model
    probe, meta = load_hand_probe(PROBES[name])
    model, _ = load_released(name)
    check_fits_model(probe, model, name)
    assert meta["model"] == name
    acc = meta["fit"]["accuracy"]["synthetic_holdout"]
    assert acc["probe"] > acc["stability"]  # the reason it is the default


@pytest.mark.skipif(not PROBES or not (REALDEV / "annotations.npz").is_file(),
                    reason="needs shipped probes and the real development set beside the repository")
def test_shipped_s4_probe_picks_the_side_of_real_photos_better_than_chance(tmp_path):
    from handvae.cli import main
    from handvae.data.cache import open_split

    assert main(["prepare", "realdev", str(REALDEV), "--out", str(tmp_path / "rd"), "--split", "test",
                 "--size", "128", "--mirror", "none"]) == 0  # fmt: skip
    photos = np.asarray(open_split(tmp_path / "rd" / "test", ["image"])["image"])  # all left hands, as taken
    model, _ = load_released("s4")
    probe, _ = load_hand_probe(PROBES["s4"])
    picks_left = 1.0 - side_accuracy(model, probe, photos)  # accuracy on the photos' mirror images (right hands)
    assert picks_left > 0.6, picks_left  # 102 photos: chance would exceed 0.6 with probability < 3%
