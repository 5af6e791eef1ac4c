"""trainer.init_from: a run started from another run's weights (fine-tuning, an S4 from an S1)."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from safetensors import safe_open

from conftest import tiny_overrides
from handvae.config import load_config
from handvae.errors import UserError
from handvae.models.load import init_weights, load_model
from handvae.schema import Config
from handvae.train.trainer import Trainer


def _trainer(cache, out, **extra) -> Trainer:
    return Trainer(load_config(Config, None, tiny_overrides(cache, out, **extra)))


def test_s1_from_an_s4_run_copies_every_tensor_it_has_and_records_the_source(tiny_cache, tiny_run, tmp_path):
    trainer = _trainer(tiny_cache, tmp_path / "s1", **{"model.strategy": "S1", "trainer.init_from": str(tiny_run)})
    source, _, ckpt = load_model(tiny_run)
    have, got = source.state_dict(), trainer.model.state_dict()
    assert set(got) < set(have)  # S1's RGB encoder and pose decoder are part of S4
    for key, value in got.items():
        assert torch.equal(value, have[key]), key
    record = json.loads((tmp_path / "s1" / "init_from.json").read_text())
    assert record["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert (record["copied"], record["kept_fresh"], record["ignored"]) == (len(got), 0, len(have) - len(got))
    assert record["strategy"] == "S4"
    # a fresh run in the same folder says nothing of the earlier run's source
    _trainer(tiny_cache, tmp_path / "s1", **{"model.strategy": "S1"})
    assert not (tmp_path / "s1" / "init_from.json").exists()


def test_s4_from_a_float16_released_file_keeps_its_other_modules_fresh(tiny_cache, released, tmp_path):
    path = released["float16"]
    started = _trainer(tiny_cache, tmp_path / "a", **{"model.strategy": "S4", "trainer.init_from": str(path)})
    fresh = _trainer(tiny_cache, tmp_path / "b", **{"model.strategy": "S4"})  # the same seed, from scratch
    with safe_open(str(path), framework="pt") as fh:
        stored = {k: fh.get_tensor(k) for k in fh.keys()}
    assert any(v.dtype == torch.float16 for v in stored.values())
    got, scratch = started.model.state_dict(), fresh.model.state_dict()
    for key, value in got.items():
        if key in stored:
            assert value.dtype == scratch[key].dtype
            assert torch.equal(value, stored[key].to(value.dtype)), key
        else:
            assert torch.equal(value, scratch[key]), key
    record = json.loads((tmp_path / "a" / "init_from.json").read_text())
    assert record["copied"] == len(stored) and record["kept_fresh"] == len(got) - len(stored) > 0


def test_weights_of_another_width_are_refused_naming_the_source(tiny_cache, tiny_run, tmp_path):
    with pytest.raises(UserError, match=r"init_from=.*other shapes.*rgb_width"):
        _trainer(tiny_cache, tmp_path / "w", **{"model.rgb_width": 16, "trainer.init_from": str(tiny_run)})


def test_weights_of_another_crop_size_are_refused(tiny_run):
    model, _, _ = load_model(tiny_run)
    with pytest.raises(UserError, match=r"trained on 32 px crops, this run uses 64"):
        init_weights(model, tiny_run, crop_size=64)


def test_a_missing_source_is_a_clear_error(tiny_cache, tmp_path):
    with pytest.raises(UserError, match="no such run folder or checkpoint"):
        _trainer(tiny_cache, tmp_path / "m", **{"trainer.init_from": str(tmp_path / "nowhere")})
