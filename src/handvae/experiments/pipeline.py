"""The one pipeline: synthesise -> prepare -> train -> evaluate, each step skipped when its output is
complete (so an interrupted experiment resumes). A complete world or cache is reused only when its
record (``synth_config.yaml``, the cache's ``manifest.json``) matches the settings asked for; one made
otherwise (an older world, another seed or size) is a UserError that names what differs. ``handvae
demo``, ``handvae reproduce``, the benchmarks and the tests' fixtures all build their data and runs
through these functions.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import yaml

from handvae.data.cache import read_manifest
from handvae.data.prepare import PrepareConfig, prepare
from handvae.errors import UserError
from handvae.synth.generate import generate_dataset, scene_options, synth_config


def _check_same(path: Path, found: dict, wanted: dict) -> None:
    """Raise a UserError naming ``path`` and every key whose recorded value differs from the asked one."""
    diffs = [f"{k}: {found.get(k, '(absent)')!r} there, {v!r} asked" for k, v in wanted.items() if found.get(k) != v]
    if diffs:
        raise UserError(f"{path}: made with other settings ({'; '.join(diffs)}); delete its folder or choose "
                        "another output folder")  # fmt: skip


def _flat(cfg: dict) -> dict:
    """``synth_config``'s nesting flattened: the scene's options beside the dataset's own keys."""
    return {k: v for k, v in cfg.items() if k != "scene"} | cfg.get("scene", {})


def build_world(world: Path, n_train: int, n_test: int, seed: int = 0, workers: int = 1, size: int = 320,
                options: dict[str, str] | None = None, overwrite: bool = False,
                progress: bool = False) -> Path:  # fmt: skip
    """Render the synthetic world (RHD layout) into ``world`` unless it is already complete (its
    ``synth_config.yaml`` is written last) or ``overwrite``; ``options``: ``--world`` overrides. A
    complete folder rendered with other settings (counts, seed, size, any world option) is a UserError,
    never silently reused."""
    done = Path(world) / "synth_config.yaml"
    if overwrite or not done.is_file():
        generate_dataset("rhd", world, n_train, n_test, seed=seed, workers=workers, overwrite=True, size=size,
                         progress=progress, world=options)  # fmt: skip
    else:
        wanted = synth_config("rhd", n_train, n_test, seed, size, scene_options("rhd", size, options))
        _check_same(done, _flat(yaml.safe_load(done.read_text()) or {}), _flat(wanted))
    return Path(world)


def prepare_cache(root: Path, cache: Path, crop: int, seed: int = 0, workers: int = 1, points: int = 1024,
                  splits: tuple[str, ...] = ("train", "test"), source: str = "rhd", overwrite: bool = False,
                  progress: bool = False) -> Path:  # fmt: skip
    """Prepare ``splits`` of ``source`` at ``root`` into ``cache/<split>`` (``crop`` px crops, left hands
    mirrored), skipping a split that is already prepared unless ``overwrite``; an existing split prepared
    from another source or with other settings is a UserError."""
    for split in splits:
        cfg = PrepareConfig(source=source, root=str(root), split=split, size=crop, points=points, seed=seed,
                            workers=workers)  # fmt: skip
        if overwrite or not (Path(cache) / split / "manifest.json").is_file():
            prepare(cfg, cache, overwrite=True, progress=progress)
            continue
        found = dict(read_manifest(Path(cache) / split).get("config", {}))
        if "root" in found:  # the same world however its path was spelt
            found["root"] = str(Path(found["root"]).resolve())
        wanted = {k: v for k, v in asdict(cfg).items() if k != "workers"} | {"root": str(Path(root).resolve())}
        _check_same(Path(cache) / split / "manifest.json", found, wanted)
    return Path(cache)


def budget_overrides(cache: Path, run_dir: Path, minutes: float, val_every: int) -> list[str]:
    """Overrides that train on ``cache`` into ``run_dir`` for ``minutes`` of training time (no step
    limit), validating every ``val_every`` steps. With no last step known, the lr follows the plateau
    rule (a cosine decay needs one); overrides placed after these may set ``trainer.schedule=cosine``
    with a ``trainer.max_steps`` that fits the budget."""
    return [f"data.cache={cache}", f"out_dir={run_dir}", f"trainer.max_minutes={minutes}",
            "trainer.max_steps=10000000", f"trainer.val_every={val_every}", "trainer.schedule=plateau"]  # fmt: skip


def train_resumable(cfg_file: Path, overrides: list[str], progress: bool = False) -> dict:
    """Train ``cfg_file`` with ``overrides``, resuming from the run folder's last checkpoint when it
    has one; returns the trainer's summary (steps, best_epe_mm, history, ...)."""
    from handvae.config import load_config
    from handvae.schema import Config
    from handvae.train.trainer import Trainer

    cfg = load_config(Config, cfg_file, overrides)
    resume = (Path(cfg.out_dir) / "checkpoints" / "last.safetensors").is_file()
    return Trainer(cfg, resume=resume).fit(progress=progress)
