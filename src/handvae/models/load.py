"""Load a trained model from a run folder, a checkpoint file or a released model file, with its config.

A released model file (:mod:`handvae.models.released`) holds only the RGB -> pose path; it loads
into a model with only those modules, which is all that RGB-only inference, evaluation and ONNX
export use.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from handvae.checkpoint import model_state, read_checkpoint
from handvae.config import ConfigError, config_from_dict
from handvae.errors import UserError
from handvae.files import file_sha256
from handvae.models.released import is_released_file, load_released_file, read_release
from handvae.schema import Config


def resolve_checkpoint(path: str | os.PathLike, which: str = "best") -> Path:
    """A run folder -> its ``checkpoints/{which}.safetensors`` (else ``last``); a file -> itself."""
    path = Path(path)
    if path.is_dir():
        for name in (which, "last"):
            cand = path / "checkpoints" / f"{name}.safetensors"
            if cand.is_file():
                return cand
        raise UserError(f"{path}: a folder without checkpoints/{which}.safetensors or last.safetensors; "
                        "expected a training run folder")
    if not path.exists():
        raise UserError(f"{path}: no such run folder or checkpoint file")
    if path.suffix != ".safetensors":
        raise UserError(f"{path}: expected a .safetensors checkpoint written by 'handvae train' (or a run folder)")
    return path


def trained_hands(checkpoint: str | os.PathLike) -> str:
    """Which hands a checkpoint was trained on: ``"right"`` (left hands mirrored, the default) or ``"both"``.

    Checkpoints written before the side was recorded say nothing and count as ``"both"``.
    """

    path = resolve_checkpoint(checkpoint)
    if is_released_file(path):
        return str(read_release(path)[1].get("hands", "both"))
    return str(read_checkpoint(path)[1].get("state", {}).get("hands", "both"))


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", which: str = "best"):
    """``(model in eval mode, Config, checkpoint path)`` from a run folder, checkpoint or released model file."""
    from handvae.models import build_model

    ckpt = resolve_checkpoint(path, which)
    if is_released_file(ckpt):
        model, cfg, _ = load_released_file(ckpt, device)
        return model, cfg, ckpt
    tensors, meta = read_checkpoint(ckpt)
    saved = meta.get("state", {}).get("config")
    if saved is None:
        raise UserError(f"{ckpt}: the checkpoint carries no config; expected one written by 'handvae train'")
    try:
        cfg = config_from_dict(Config, saved)
    except ConfigError as err:
        raise UserError(f"{ckpt}: its config does not fit this version of handvae ({err})") from None
    model = build_model(cfg)
    missing, unexpected = model.load_state_dict(model_state(tensors), strict=False)
    if missing or unexpected:
        raise UserError(f"{ckpt}: weights do not fit strategy {cfg.model.strategy}/{cfg.model.alignment} "
                        f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})")
    return model.to(device).eval(), cfg, ckpt


def init_weights(model: torch.nn.Module, source: str | os.PathLike, crop_size: int) -> dict:
    """Initialise ``model`` from the weights of another run: a run folder (its best checkpoint), a checkpoint or a
    released model file (``trainer.init_from``: fine-tuning on other data, or an S4 started from an S1).

    Every tensor of ``source`` whose name is in ``model`` is copied (float16 storage as float32); the model's
    other tensors keep their fresh initialisation (an S4's extra encoders and decoders, say), and the source's
    tensors that ``model`` lacks are ignored. UserError naming ``source`` when a shared tensor has another shape,
    when no tensor is shared, or when ``source`` was trained on crops of another size than ``crop_size``.
    Returns a JSON-able record: the file, its SHA-256, and the numbers of tensors copied, kept and ignored.
    """
    src_model, src_cfg, ckpt = load_model(source, "cpu")
    if int(src_cfg.data.crop_size) != int(crop_size):
        raise UserError(f"trainer.init_from={source}: trained on {src_cfg.data.crop_size} px crops, this run uses "
                        f"{crop_size}; set data.crop_size={src_cfg.data.crop_size} or start from scratch")
    have, own = src_model.state_dict(), model.state_dict()
    shared = [k for k in own if k in have]
    wrong = [f"{k} {tuple(have[k].shape)} (here {tuple(own[k].shape)})" for k in shared
             if have[k].shape != own[k].shape]
    if wrong or not shared:
        why = f"tensors of other shapes: {wrong[:3]}" if wrong else "no tensor name in common"
        raise UserError(f"trainer.init_from={source}: its weights do not fit this model ({why}); was it trained "
                        "with another model.rgb_width, latent_dim or width multiplier?")
    with torch.no_grad():
        for k in shared:
            own[k].copy_(have[k])  # copy_ casts to the model's dtype
    return {"checkpoint": str(ckpt), "sha256": file_sha256(ckpt), "strategy": src_cfg.model.strategy,
            "copied": len(shared), "kept_fresh": len(own) - len(shared),
            "ignored": len([k for k in have if k not in own])}


def load_model_or_released(run: str | os.PathLike | None, name: str | None, device: str | torch.device = "cpu"):
    """``(model in eval mode, Config, label)`` of a run / checkpoint or, when ``run`` is None, of released
    model ``name``; the label names what was loaded ("released s4" or the checkpoint's path)."""
    from handvae.models.released import load_released_file, released_path

    if run is not None:
        model, cfg, ckpt = load_model(run, device)
        return model, cfg, str(ckpt)
    if name is None:
        raise UserError("give a run (checkpoint) or the name of a released model")
    model, cfg, _ = load_released_file(released_path(name), device)
    return model, cfg, f"released {name}"


def add_model_arguments(parser) -> None:
    """``--model NAME | --run RUN`` (one required) on an ``argparse`` parser, for :func:`load_model_or_released`
    (``load_model_or_released(args.run, args.model)``): the scripts of benchmarks/ and tools/ share it."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a released model's name (s4, s1)")
    src.add_argument("--run", help="a run folder or checkpoint of 'handvae train'")
