"""The pipeline's resume rule: a complete world or cache is reused only when it was made with the
settings asked for; one made otherwise is a clear error, never silently trained on."""

from __future__ import annotations

import pytest

from handvae.errors import UserError
from handvae.experiments.pipeline import build_world, prepare_cache

# conftest.tiny_cache: build_world(root / "rhd", 96, 24, seed=0, size=96), prepare_cache(..., crop=32, points=256)
WORLD_ARGS = dict(n_train=96, n_test=24, seed=0, size=96)


def test_world_with_the_same_settings_is_reused(tiny_cache):
    world = tiny_cache.parent / "rhd"
    before = (world / "synth_config.yaml").stat().st_mtime_ns
    assert build_world(world, **WORLD_ARGS) == world
    assert build_world(world, **WORLD_ARGS, options={"thumb_holds": "true"}) == world  # the default, spelt out
    assert (world / "synth_config.yaml").stat().st_mtime_ns == before


@pytest.mark.parametrize(("change", "named"), [
    ({"seed": 1}, "seed: 0 there, 1 asked"),
    ({"n_train": 95}, "train: 96 there, 95 asked"),
    ({"size": 128}, "size: 96 there, 128 asked"),
    ({"options": {"thumb_holds": "false"}}, "thumb_holds: True there, False asked"),
    ({"options": {"pose_sampler": "uniform"}}, "pose_sampler: 'natural' there, 'uniform' asked"),
])  # fmt: skip
def test_world_made_otherwise_is_an_error(tiny_cache, change, named):
    world = tiny_cache.parent / "rhd"
    before = (world / "synth_config.yaml").read_text()
    with pytest.raises(UserError) as err:
        build_world(world, **{**WORLD_ARGS, **change})
    assert named in str(err.value) and "synth_config.yaml" in str(err.value)
    assert (world / "synth_config.yaml").read_text() == before  # nothing touched


def test_cache_with_the_same_settings_is_reused(tiny_cache):
    world = tiny_cache.parent / "rhd"
    before = (tiny_cache / "train" / "manifest.json").stat().st_mtime_ns
    assert prepare_cache(world, tiny_cache, crop=32, points=256, workers=2) == tiny_cache  # workers do not matter
    assert (tiny_cache / "train" / "manifest.json").stat().st_mtime_ns == before


@pytest.mark.parametrize(("change", "named"), [
    ({"crop": 64}, "size: 32 there, 64 asked"),
    ({"points": 1024}, "points: 256 there, 1024 asked"),
    ({"seed": 3}, "seed: 0 there, 3 asked"),
])  # fmt: skip
def test_cache_made_otherwise_is_an_error(tiny_cache, change, named):
    world = tiny_cache.parent / "rhd"
    with pytest.raises(UserError, match=r"manifest\.json") as err:
        prepare_cache(world, tiny_cache, **{"crop": 32, "points": 256, **change})
    assert named in str(err.value)


def test_cache_of_another_world_is_an_error(tiny_cache, tmp_path):
    with pytest.raises(UserError) as err:
        prepare_cache(tmp_path / "other_world", tiny_cache, crop=32, points=256)
    assert f"root: '{(tiny_cache.parent / 'rhd').resolve()}' there, '{(tmp_path / 'other_world').resolve()}' asked" \
        in str(err.value)
