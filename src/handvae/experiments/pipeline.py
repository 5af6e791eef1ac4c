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
