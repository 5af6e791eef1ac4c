"""Shared fixtures: a tiny synthetic world, prepared once per test session."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """A prepared cache (train 96 / test 24 samples, 32 px crops, 256 points) of the synthetic world."""
    from handvae.experiments.pipeline import build_world, prepare_cache

    root = tmp_path_factory.mktemp("world")
    data = build_world(root / "rhd", 96, 24, seed=0, size=96)
    return prepare_cache(data, root / "cache", crop=32, points=256)


def tiny_overrides(cache, out_dir, **extra) -> list[str]:
    """Config overrides for a tiny, fast model on ``tiny_cache``."""
    base = {
        "data.cache": str(cache), "out_dir": str(out_dir), "data.crop_size": 32, "data.n_points": 64,
        "model.rgb_width": 8, "model.point_width": 0.125, "trainer.batch_size": 16, "trainer.val_every": 3,
        "trainer.log_every": 1, "trainer.device": "cpu", "trainer.lr": 1e-3, "trainer.beta_anneal_steps": 6,
        "data.val_holdout": 16,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


@pytest.fixture(scope="session")
def tiny_run(tiny_cache, tmp_path_factory):
    """A run folder of a 4-step S4 training on ``tiny_cache`` (checkpoints, config, logs)."""
    from handvae.config import load_config
    from handvae.schema import Config
    from handvae.train.trainer import Trainer

    out = tmp_path_factory.mktemp("runs") / "s4"
    cfg = load_config(Config, None, tiny_overrides(tiny_cache, out, **{"model.strategy": "S4",
                                                                        "trainer.max_steps": 4}))
    Trainer(cfg).fit(progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A checkpoint of an untrained tiny S4 model (32 px crops) with its config, written in ~1 s."""
    import torch

    from handvae.checkpoint import save_checkpoint
    from handvae.config import load_config, to_dict
    from handvae.models import build_model
    from handvae.schema import Config

    torch.manual_seed(0)
    cfg = load_config(Config, None, ["model.strategy=S4", "data.crop_size=32", "model.rgb_width=8",
                                     "model.point_width=0.125"])
    model = build_model(cfg).eval()
    path = tmp_path_factory.mktemp("ckpt") / "s4.safetensors"
    save_checkpoint(path, model, state={"config": to_dict(cfg)})
    return path


def foreign_checkpoints(tiny_checkpoint, folder):
    """{name: path} of files that are not this kind of checkpoint: PNG, junk .safetensors, another strategy's."""
    import json

    from PIL import Image
    from safetensors import safe_open
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    png = folder / "weights.png"
    Image.new("RGB", (4, 4)).save(png)
    junk = folder / "junk.safetensors"
    junk.write_bytes(b"certainly not safetensors")
    with safe_open(str(tiny_checkpoint), framework="pt") as fh:
        meta = json.loads(fh.metadata()["handvae"])
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    meta["state"]["config"]["model"]["strategy"] = "S1"  # S4 weights labelled as an S1 model
    other = folder / "other.safetensors"
    save_file(tensors, str(other), metadata={"handvae": json.dumps(meta)})
    return {"png": png, "junk": junk, "other": other}


# --- released models: the tiny S4 run exported (tests/test_released.py, tests/test_hand_auto.py) ----------
@pytest.fixture(scope="module")
def run_dir(tiny_run, tiny_cache, tmp_path_factory):
    """A copy of the 4-step S4 run (one per test module), evaluated (``eval_test/metrics.json``) so that export
    has metrics to record."""
    import shutil

    from handvae.cli import main

    run = tmp_path_factory.mktemp("release_run") / "s4"
    shutil.copytree(tiny_run, run)
    assert main(["evaluate", str(run), "--data", str(tiny_cache), "--no-baseline"]) == 0
    return run


@pytest.fixture(scope="module")
def released(run_dir, tmp_path_factory):
    """``{dtype: path}``: the run exported as ``s4`` (float32) and ``s4h`` (float16) into one released folder."""
    from handvae.cli import main

    folder = tmp_path_factory.mktemp("released")
    assert main(["release-export", str(run_dir), "--name", "s4", "--out", str(folder / "s4.safetensors")]) == 0
    assert main(["release-export", str(run_dir), "--name", "s4h", "--out", str(folder / "s4h.safetensors"),
                 "--fp16", "--data-note", "tiny world, seed 0"]) == 0
    return {"float32": folder / "s4.safetensors", "float16": folder / "s4h.safetensors"}


@pytest.fixture()
def released_env(released, monkeypatch):
    """``released``, with ``$HANDVAE_RELEASED_DIR`` pointing at its folder for the test and its ``s4`` the
    default model (whatever the package ships as its default)."""
    import handvae.models.released as rel

    monkeypatch.setenv(rel.ENV_DIR, str(released["float32"].parent))
    monkeypatch.setattr(rel, "DEFAULT_MODEL", "s4")
    return released


REPO = Path(__file__).resolve().parents[1]


def load_script(relpath: str, name: str | None = None) -> ModuleType:
    """Import a script of benchmarks/ or tools/ (not a package) as a module, by its path in the repository
    (for example ``"benchmarks/run_record.py"``)."""
    path = REPO / relpath
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_rotation(rng):
    """A random proper rotation ``(3, 3)`` (QR of a Gaussian matrix, determinant +1) from ``rng``, a numpy
    Generator."""
    import numpy as np

    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q
