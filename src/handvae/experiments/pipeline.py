"""The one pipeline: synthesise -> prepare -> train -> evaluate, each step skipped when its output is
complete (so an interrupted experiment resumes). ``handvae demo``, ``handvae reproduce``, the
benchmarks and the tests' fixtures all build their data and runs through these functions.
"""

from __future__ import annotations

from pathlib import Path

from handvae.data.prepare import PrepareConfig, prepare
from handvae.synth.generate import generate_dataset


def build_world(world: Path, n_train: int, n_test: int, seed: int = 0, workers: int = 1, size: int = 320,
                options: dict[str, str] | None = None, overwrite: bool = False,
                progress: bool = False) -> Path:  # fmt: skip
    """Render the synthetic world (RHD layout) into ``world`` unless it is already complete (its
    ``synth_config.yaml`` is written last) or ``overwrite``; ``options``: ``--world`` overrides."""
    if overwrite or not (Path(world) / "synth_config.yaml").is_file():
        generate_dataset("rhd", world, n_train, n_test, seed=seed, workers=workers, overwrite=True, size=size,
                         progress=progress, world=options)  # fmt: skip
    return Path(world)


def prepare_cache(root: Path, cache: Path, crop: int, seed: int = 0, workers: int = 1, points: int = 1024,
                  splits: tuple[str, ...] = ("train", "test"), source: str = "rhd", overwrite: bool = False,
                  progress: bool = False) -> Path:  # fmt: skip
    """Prepare ``splits`` of ``source`` at ``root`` into ``cache/<split>`` (``crop`` px crops, left hands
    mirrored), skipping a split that is already prepared unless ``overwrite``."""
    for split in splits:
        if overwrite or not (Path(cache) / split / "manifest.json").is_file():
            cfg = PrepareConfig(source=source, root=str(root), split=split, size=crop, points=points, seed=seed,
                                workers=workers)  # fmt: skip
            prepare(cfg, cache, overwrite=True, progress=progress)
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
