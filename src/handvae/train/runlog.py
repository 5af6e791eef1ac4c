"""A run's folder and logs: resolved config, environment, JSONL scalars, TensorBoard.

Layout of a run folder::

    RUN/config.yaml      the resolved config
    RUN/env.json         git commit, package versions, command line, host
    RUN/log.jsonl        one JSON object per logged step (every named loss term, beta, lr, metrics)
    RUN/tb/              TensorBoard event files with the same scalars
    RUN/checkpoints/     last.safetensors, best.safetensors
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from handvae.config import save_config
from handvae.files import atomic_write_text, git_commit


def environment() -> dict[str, Any]:
    """Versions and provenance to save beside every output."""
    import numpy
    import torch

    import handvae
    from handvae import machine

    cpu = machine.describe()
    return {
        "handvae": handvae.__version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else cpu["cpu"],
        "machine": cpu,
        "platform": platform.platform(),
        "argv": sys.argv,
    }


def init_run_dir(run_dir: str | os.PathLike, cfg: Any) -> Path:
    """Create the run folder and save the resolved config and environment."""
    run_dir = Path(run_dir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    atomic_write_text(run_dir / "env.json", json.dumps(environment(), indent=2) + "\n")
    return run_dir


class RunLogger:
    """Scalars to JSONL and TensorBoard. Only rank 0 should create one (others pass ``enabled=False``)."""

    def __init__(self, run_dir: str | os.PathLike, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self._tb = None
        self._fh = None
        if not enabled:
            return
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self._fh = open(run_dir / "log.jsonl", "a", buffering=1)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(run_dir / "tb"))
            except ImportError:  # tensorboard missing: JSONL still has everything
                self._tb = None

    def log(self, step: int, scalars: dict[str, float], kind: str = "train") -> None:
        if not self.enabled:
            return
        record = {"step": int(step), "kind": kind, **{k: float(v) for k, v in scalars.items()}}
        self._fh.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(f"{kind}/{k}", float(v), step)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._tb is not None:
            self._tb.close()
