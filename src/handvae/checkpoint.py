"""Checkpoints: one safetensors file per checkpoint, written atomically.

The file holds the model's tensors under ``model.``, the optimiser's tensors under ``optim.``,
RNG tensors under ``rng.``, and a JSON trainer state (step, epoch, schedulers, config, loader
state, numbers of skipped steps ...) in the safetensors metadata under ``handvae``. Nothing is
unpickled when loading. A checkpoint is written to a temporary name and renamed into place, so
a run killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from handvae.errors import UserError
from handvae.files import atomic_path

FORMAT = "handvae-checkpoint-1"


def _flatten_optimizer(opt_state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors and a JSON-able skeleton."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton_state: dict[str, dict] = {}
    for pid, pstate in opt_state["state"].items():
        entry = {}
        for name, value in pstate.items():
            if torch.is_tensor(value):
                key = f"optim.{pid}.{name}"
                tensors[key] = value.detach().contiguous().cpu()
                entry[name] = {"tensor": key}
            else:
                entry[name] = value
        skeleton_state[str(pid)] = entry
    return tensors, {"state": skeleton_state, "param_groups": opt_state["param_groups"]}


def _unflatten_optimizer(skeleton: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state = {}
    for pid, entry in skeleton["state"].items():
        state[int(pid)] = {
            name: (tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v) for name, v in entry.items()
        }
    return {"state": state, "param_groups": skeleton["param_groups"]}


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """Global RNG states: torch (CPU and CUDA) as tensors; Python and NumPy as JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    py = random.getstate()
    np_state = np.random.get_state()
    meta = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    if "python" in meta:
        v, st, g = meta["python"]
        random.setstate((v, tuple(st), g))
    if "numpy" in meta:
        name, keys, pos, has_gauss, cached = meta["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    state: dict | None = None,
) -> None:
    """Write model (+ optimiser, RNG, trainer ``state``) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta: dict[str, Any] = {"format": FORMAT, "state": state or {}}
    if optimizer is not None:
        opt_tensors, meta["optimizer"] = _flatten_optimizer(optimizer.state_dict())
        tensors.update(opt_tensors)
    rng_tensors, meta["rng"] = rng_state()
    tensors.update(rng_tensors)
    _write(path, tensors, meta)


def _write(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """The checkpoint file: ``tensors`` and the JSON ``meta`` under ``handvae``, written atomically."""
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"handvae": json.dumps(meta)})


def read_safetensors(path: str | os.PathLike, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(all tensors by key, string metadata)`` of a safetensors file; UserError naming ``path`` and
    ``what`` was expected (for example "a handvae checkpoint") if it is missing, truncated or foreign."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; expected {what}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as err:  # safetensors raises several types for a truncated or foreign file
        msg = f"{path}: not a readable safetensors file, truncated or corrupt ({err}); expected {what}"
        raise UserError(msg) from None
    return tensors, meta


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Return (all tensors by key, metadata dict). Raises UserError for a file that is not ours."""
    tensors, raw = read_safetensors(path, "a handvae checkpoint written by 'handvae train'")
    meta_raw = raw.get("handvae")
    if meta_raw is None:
        raise UserError(f"{path}: a safetensors file without handvae metadata; expected a handvae checkpoint")
    meta = json.loads(meta_raw)
    if meta.get("format") != FORMAT:
        raise UserError(f"{path}: checkpoint format {meta.get('format')!r}, expected {FORMAT!r}")
    return tensors, meta


def saved_config(path: str | os.PathLike) -> dict:
    """The config (a dict) the checkpoint at ``path`` was trained with; UserError naming ``path`` when there is
    no checkpoint there."""
    return read_checkpoint(path)[1].get("state", {}).get("config") or {}


DRAW_KEYS = ("train_split", "val_split", "val_holdout", "max_samples", "labelled_fraction", "weak_batches")


def check_same_draw(saved: dict, cfg, where: str) -> None:
    """UserError when a run whose saved config (a dict: a checkpoint's or ``config.yaml``) is ``saved`` drew its
    training samples otherwise than ``cfg`` (a :class:`handvae.schema.Config`) would (:data:`DRAW_KEYS`): it
    can be neither resumed exactly nor reused as a run of ``cfg``. A missing key takes the schema's default,
    but ``weak_batches``, which runs from before it existed drew ``mixed`` (and with heatmap targets for their
    unlabelled samples: a run with labels missing and no ``weak_batches`` is refused either way)."""
    data, now = saved.get("data") or {}, cfg.data
    weak = float(data.get("labelled_fraction", 1.0)) < 1.0 or now.labelled_fraction < 1.0
    differ = []
    for key in DRAW_KEYS:
        if key == "weak_batches" and not weak:
            continue  # every sample labelled: both draws are the same
        old = data.get(key, "mixed" if key == "weak_batches" else getattr(type(now)(), key))
        if old != getattr(now, key):
            differ.append(f"data.{key}={old}, now {getattr(now, key)}")
    if differ:
        raise UserError(f"{where}: trained with {'; '.join(differ)}: it drew other samples; set them back to "
                        "continue it, or move the run aside")


def model_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}


def _match_param_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give every per-parameter state tensor (Adam's moments) its parameter's memory layout.

    Checkpoints store tensors contiguous (NCHW); a model in channels_last (NHWC) keeps its parameters so
    after loading, and fused or foreach optimiser kernels pair a parameter's elements with its moments'
    in memory order: without this, a resumed run would update each weight with another weight's moments.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                    optimizer.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def load_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    restore_rng: bool = False,
) -> dict:
    """Load weights (and optimiser, RNG) from ``path`` into the given objects; return the metadata."""
    tensors, meta = read_checkpoint(path)
    missing, unexpected = model.load_state_dict(model_state(tensors), strict=False)
    if missing or unexpected:
        raise UserError(
            f"{path}: weights do not fit this model (missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}); "
            "was it trained with another strategy or config?"
        )
    if optimizer is not None and meta.get("optimizer_stripped"):
        raise UserError(f"{path}: written without its optimiser state (strip_optimizer): it evaluates and exports, "
                        "but cannot resume a run exactly")
    if optimizer is not None and "optimizer" in meta:
        optimizer.load_state_dict(_unflatten_optimizer(meta["optimizer"], tensors))
        _match_param_layouts(optimizer)
    if restore_rng:
        set_rng_state(tensors, meta.get("rng", {}))
    return meta


def strip_optimizer(src: str | os.PathLike, dst: str | os.PathLike) -> int:
    """Write checkpoint ``src`` without its optimiser state to ``dst`` (atomically; ``dst`` may be ``src``).

    What is left (weights, RNG, trainer state) evaluates, predicts and exports as before, at about a
    third of the size with Adam; it cannot resume a run exactly. Returns the bytes written.
    """
    tensors, meta = read_checkpoint(src)
    tensors = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
    meta.pop("optimizer", None)
    meta["optimizer_stripped"] = True
    _write(Path(dst), tensors, meta)
    return Path(dst).stat().st_size
