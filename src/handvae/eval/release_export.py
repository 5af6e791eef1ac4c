"""Write a released model (format: :mod:`handvae.models.released`) from a training run or checkpoint.

Only the RGB -> pose path is kept (:func:`~handvae.models.released.pose_path_state`). With ``fp16`` its
floating tensors are stored as float16: the recorded outputs are then those of the float16 weights
loaded into float32 modules (what a user gets), and ``fp32_outputs`` those of the source model, so
the metadata itself says what the rounding cost on the reference input.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save

from handvae.checkpoint import read_checkpoint
from handvae.config import to_dict
from handvae.data.cache import read_manifest
from handvae.errors import UserError
from handvae.files import atomic_write_bytes, git_commit
from handvae.models.load import load_model, resolve_checkpoint
from handvae.models.released import (
    REFERENCE_DESCRIPTION,
    RELEASE_FORMAT,
    as_float32,
    check_name,
    is_released_file,
    pose_path_model,
    pose_path_state,
    reference_input,
)
from handvae.schema import Config

FP16_MAX = 65504.0  # the largest finite float16


@dataclass
class ReleaseSummary:
    """What :func:`release_export` wrote. Differences in normalised units (x scale_mm for mm)."""

    path: Path
    checkpoint: Path
    bytes: int
    tensors: int
    parameters: int
    dtype: str
    fp16_difference: float  # largest |recorded - fp32 outputs| on the reference input (0 for float32)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def training_data(cfg: Config, note: str = "") -> dict:
    """The training data of ``cfg``: cache folder, splits, the train split's manifest when readable, and
    ``note``, a description in words when given (for a run trained elsewhere, whose cache is not at hand)."""

    desc: dict = {"cache": cfg.data.cache, "train_split": cfg.data.train_split, "val_split": cfg.data.val_split,
                  "val_holdout": cfg.data.val_holdout, "crop_size": cfg.data.crop_size}
    if note:
        desc["note"] = note
    if not cfg.data.cache:
        desc["manifest"] = "unknown: the config names no cache"
        return desc
    try:
        man = read_manifest(Path(cfg.data.cache) / cfg.data.train_split)
    except UserError as err:
        desc["manifest"] = f"unreadable at export: {err}"
        return desc
    desc["manifest"] = {k: man.get(k) for k in ("source", "root", "count", "counts", "checksum", "crop_size",
                                                "points", "versions")}
    desc["manifest"]["mirror"] = man.get("config", {}).get("mirror")
    desc["manifest"]["seed"] = man.get("config", {}).get("seed")
    return desc


def _headline(result: dict) -> dict:
    pa = result.get("pa") or {}
    return {"mean_epe_mm": result.get("mean_epe_mm"), "median_epe_mm": result.get("median_epe_mm"),
            "auc_20_50": result.get("auc_20_50"), "pa_epe_mm": pa.get("mean_epe_mm"),
            "num_samples": result.get("num_samples"), "protocol": result.get("protocol")}


def run_metrics(checkpoint: Path, state: dict) -> dict:
    """The checkpoint's validation figures and, beside a run folder, every ``eval_*/metrics.json`` headline."""
    metrics: dict = {"checkpoint": {"file": checkpoint.name, "step": state.get("step"),
                                    "best_val_epe_mm": state.get("best_epe_mm"),
                                    "samples_seen": state.get("samples_seen"),
                                    "train_seconds": state.get("train_seconds")}}
    if checkpoint.parent.name != "checkpoints":
        return metrics
    for path in sorted(checkpoint.parent.parent.glob("eval_*/metrics.json")):
        doc = _read_json(path)
        if isinstance(doc, dict):
            metrics[path.parent.name] = {name: _headline(r) for name, r in doc.items() if isinstance(r, dict)}
    return metrics


def _training_commit(checkpoint: Path) -> str:
    env = _read_json(checkpoint.parent.parent / "env.json") if checkpoint.parent.name == "checkpoints" else None
    return str((env or {}).get("git_commit") or "unknown")


def stored_tensors(model: torch.nn.Module, fp16: bool) -> dict[str, torch.Tensor]:
    """The pose path's tensors as they are stored; UserError when a value would not fit float16."""
    state = pose_path_state(model)
    if not fp16:
        return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    out = {}
    for k, v in state.items():
        if v.is_floating_point():
            big = float(v.abs().max()) if v.numel() else 0.0
            if not big <= FP16_MAX:
                raise UserError(f"tensor {k} holds {big:.3g}, beyond float16's range ({FP16_MAX:g}); export without "
                                "--fp16")
            v = v.half()
        out[k] = v.contiguous()
    return out


@torch.no_grad()
def _outputs(model: torch.nn.Module, size: int) -> np.ndarray:
    return model.predict_pose(reference_input(size)).float().numpy()


def release_metadata(name: str, cfg: Config, checkpoint: Path, state: dict, dtype: str, recorded: np.ndarray,
                     fp32: np.ndarray, data_note: str = "") -> dict[str, str]:
    """The safetensors string metadata of a released file (fields in :mod:`handvae.models.released`)."""

    return {
        "format": RELEASE_FORMAT, "name": name, "config": json.dumps(to_dict(cfg)),
        "commit": git_commit() or "unknown", "training_commit": _training_commit(checkpoint),
        "training_data": json.dumps(training_data(cfg, data_note)),
        "metrics": json.dumps(run_metrics(checkpoint, state)),
        "hands": str(state.get("hands", "both")), "dtype": dtype, "reference_input": REFERENCE_DESCRIPTION,
        "recorded_outputs": json.dumps(recorded.tolist()), "fp32_outputs": json.dumps(fp32.tolist()),
        "source": json.dumps({"checkpoint": str(checkpoint), "step": state.get("step"),
                              "strategy": cfg.model.strategy, "alignment": cfg.model.alignment}),
    }


def release_export(source: str | os.PathLike, name: str, out: str | os.PathLike, fp16: bool = False,
                   data_note: str = "") -> ReleaseSummary:
    """Export the RGB -> pose path of run or checkpoint ``source`` as released model ``name`` to ``out``.

    ``data_note`` describes the training data in words (recorded beside what the config's cache tells).
    The file is written under a temporary name and renamed into place. Returns what was written.
    """


    check_name(name)
    out = Path(out)
    if out.suffix != ".safetensors" or out.is_dir():
        raise UserError(f"--out {out}: expected a file name ending in .safetensors")
    ckpt = resolve_checkpoint(source)
    if is_released_file(ckpt):
        raise UserError(f"{ckpt}: already a released model; export from a training run or checkpoint")
    full, cfg, ckpt = load_model(ckpt, "cpu")
    state = read_checkpoint(ckpt)[1].get("state", {})
    tensors = stored_tensors(full, fp16)
    size = int(cfg.data.crop_size)
    slim = pose_path_model(cfg)
    slim.load_state_dict(as_float32(tensors), strict=True)
    fp32, recorded = _outputs(full, size), _outputs(slim, size)
    dtype = "float16" if fp16 else "float32"
    meta = release_metadata(name, cfg, ckpt, state, dtype, recorded, fp32, data_note)
    data = save(tensors, metadata=meta)
    atomic_write_bytes(out, data)
    return ReleaseSummary(path=out, checkpoint=ckpt, bytes=len(data), tensors=len(tensors),
                          parameters=sum(int(v.numel()) for v in tensors.values() if v.is_floating_point()),
                          dtype=dtype, fp16_difference=float(np.abs(recorded.astype(np.float64) - fp32).max()))
