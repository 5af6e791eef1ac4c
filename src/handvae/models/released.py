"""Released models: the RGB -> pose path of a trained model in one safetensors file, shipped in the package.

A released file holds only what RGB-only inference runs: the RGB encoder (``encoders.R.*``: ResNet-18
trunk, mean and log-variance heads) and the pose decoder (``decoders.P.*``), under the same tensor
names as in a training checkpoint's model. Floating tensors are stored as float32 or float16
(``dtype`` below) and are always loaded into float32 modules. Nothing is unpickled.

The safetensors string metadata (JSON where said):

- ``format``: :data:`RELEASE_FORMAT`; ``name``: the model's name (``s4``);
- ``config`` (JSON): the resolved training config, which rebuilds the modules;
- ``commit``: ``git rev-parse HEAD`` at export (``unknown`` outside a git checkout);
  ``training_commit``: the run's ``env.json`` commit, when the run folder was there;
- ``training_data`` (JSON): the training cache, its split and manifest (source, sample count, checksum);
- ``metrics`` (JSON): the run's ``eval_*/metrics.json`` headlines and the checkpoint's best validation EPE;
- ``hands``: ``right`` (trained on right hands, left ones mirrored) or ``both``;
- ``dtype``: ``float32`` or ``float16``, the storage type of the floating tensors;
- ``reference_input``: how :func:`reference_input` makes the fixed input;
- ``recorded_outputs`` (JSON, ``(2, 21, 3)``): the shipped weights' poses on that input, normalised units;
- ``fp32_outputs`` (JSON, ``(2, 21, 3)``): the source model's (float32 weights) poses on the same input;
- ``source`` (JSON): the checkpoint exported, its step.

Released models live in ``src/handvae/released/NAME.safetensors`` (package data), or in the folder
named by the environment variable :data:`ENV_DIR`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from handvae.checkpoint import read_safetensors
from handvae.config import ConfigError, config_from_dict
from handvae.data.rgb import rgb_input
from handvae.errors import UserError
from handvae.schema import Config

RELEASE_FORMAT = "handvae-released-1"
ENV_DIR = "HANDVAE_RELEASED_DIR"
POSE_PATH_PREFIXES = ("encoders.R.", "decoders.P.")
# handvae predict's model when none is named: the released S4 (issue 15), the one best on real photos (docs/MODELS.md)
DEFAULT_MODEL = "s4w32hc"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
JSON_FIELDS = ("config", "training_data", "metrics", "recorded_outputs", "fp32_outputs", "source")
# Largest |shipped - recorded| output on the reference input (normalised units) for a file to load:
# 1e-4 x scale_mm = 0.007 mm at a typical 70 mm, room for another CPU's float32 kernels, far below a
# pose error, and far above what the same machine gives (0: the computation is the same).
REPRODUCE_TOLERANCE = 1e-4
HOW_TO_GET = ("train one with 'make release' and export it with 'handvae release-export RUN --name s4', "
              "or give a trained run with --checkpoint RUN")


def package_released_dir() -> Path:
    """The package's own folder of released models, ``handvae/released``."""
    return Path(__file__).resolve().parents[1] / "released"


def released_dir() -> Path:
    """Where released models are looked up: ``$HANDVAE_RELEASED_DIR`` if set, else the package folder."""
    env = os.environ.get(ENV_DIR)
    return Path(env) if env else package_released_dir()


def released_models(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """``{name: path}`` of the ``NAME.safetensors`` files in ``folder`` (default :func:`released_dir`)."""
    folder = Path(folder) if folder is not None else released_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.safetensors")) if p.is_file()}


def released_path(name: str) -> Path:
    """The file of released model ``name``; UserError listing the available ones when there is none."""
    models = released_models()
    if name in models:
        return models[name]
    folder = released_dir()
    if not models:
        raise UserError(f"no released model is installed (no *.safetensors in {folder}), so there is no "
                        f"model {name!r}; {HOW_TO_GET}")
    raise UserError(f"no released model {name!r} in {folder}; available: {', '.join(models)}")


def released_probe_path(name: str) -> Path | None:
    """The hand probe shipped beside released model ``name`` (``hand/NAME.safetensors`` in
    :func:`released_dir`; :mod:`handvae.predict.hand_probe`), or None when it has none."""
    path = released_dir() / "hand" / f"{name}.safetensors"
    return path if path.is_file() else None


def check_name(name: str) -> str:
    """A released model's name: lower-case letters, digits, ``_ . -``; UserError otherwise."""
    if not NAME_PATTERN.match(name):
        raise UserError(f"--name {name!r}: expected lower-case letters, digits, '_', '.' or '-' (such as 's4')")
    return name


def reference_images(size: int) -> np.ndarray:
    """The fixed synthetic input: two ``(S, S, 3) uint8`` images of smooth sine patterns, ``(2, S, S, 3)``.

    Deterministic (numpy's ``linspace`` and ``sin`` only), neither image mirror-symmetric, every
    channel spanning most of [0, 255].
    """
    y, x = np.meshgrid(np.linspace(0.0, 1.0, size), np.linspace(0.0, 1.0, size), indexing="ij")
    first = [np.sin(2 * np.pi * (3 * x + 2 * y)), np.sin(2 * np.pi * 5 * x * y + 1.0), np.cos(7 * x - 3 * y * y)]
    second = [np.sin(9 * x * x + 4 * y), np.cos(2 * np.pi * (x - 2 * y) + 0.5), np.sin(11 * x * y - 2 * x)]
    images = np.stack([np.stack(first, -1), np.stack(second, -1)])
    return np.round(127.5 + 127.5 * images).clip(0, 255).astype(np.uint8)


def reference_input(size: int) -> torch.Tensor:
    """:func:`reference_images` as the model sees them: ``(2, 3, S, S)`` float32 in [0, 1] (``/ 255``)."""
    return rgb_input(reference_images(size))


REFERENCE_DESCRIPTION = ("handvae.models.released.reference_input(crop_size): two sine-pattern images, "
                         "(2, 3, S, S) float32 = uint8 / 255")


def pose_path_model(cfg) -> torch.nn.Module:
    """A :class:`~handvae.models.model.HandVAE` of ``cfg`` with only the RGB encoder and pose decoder.

    Its tensor names are the full model's (``encoders.R.*``, ``decoders.P.*``); ``predict_pose``,
    ``encode_rgb`` and ``decode(z, "P")`` work as on the full model (the prior expert included).
    """
    from handvae.models.model import HandVAE
    from handvae.models.strategy import ElboSpec, compile_strategy

    plan = compile_strategy(cfg.model.strategy, cfg.model.alignment)
    slim = replace(plan, inputs=("R",), encoders=("R",), decoders=("P",),
                   elbos=(ElboSpec("R", ("R",), "single", True),), align=None)
    return HandVAE(cfg, slim).eval()


def pose_path_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of ``model``'s RGB -> pose path (names under :data:`POSE_PATH_PREFIXES`), on the CPU."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
            if k.startswith(POSE_PATH_PREFIXES)}


def _parse_metadata(path: Path, raw: dict[str, str]) -> dict:
    if raw.get("format") != RELEASE_FORMAT:
        raise UserError(f"{path}: safetensors metadata format {raw.get('format')!r}, expected {RELEASE_FORMAT!r} "
                        "(a released model written by 'handvae release-export')")
    meta: dict = dict(raw)
    for key in JSON_FIELDS:
        if key not in raw:
            raise UserError(f"{path}: released model without {key!r} in its metadata; export it again")
        try:
            meta[key] = json.loads(raw[key])
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: metadata {key!r} is not valid JSON ({err}); the file is corrupt") from None
    return meta


def read_release(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors as stored, metadata with its JSON fields parsed)``; UserError naming ``path`` if unreadable."""

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such released model file; {HOW_TO_GET}")
    tensors, raw = read_safetensors(path, "a released model written by 'handvae release-export'")
    return tensors, _parse_metadata(path, raw)


def is_released_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a safetensors file with released-model metadata (False for anything unreadable)."""

    try:
        with safe_open(str(path), framework="pt") as fh:
            return (fh.metadata() or {}).get("format") == RELEASE_FORMAT
    except Exception:  # not a file, not safetensors: not a released model
        return False


def _config_of(path: Path, meta: dict):

    try:
        cfg = config_from_dict(Config, meta["config"])
    except (ConfigError, TypeError, AttributeError) as err:
        raise UserError(f"{path}: its config does not fit this version of handvae ({err})") from None
    cfg.model.pretrained = ""  # the file carries the weights
    return cfg


def check_fit(path: Path, tensors: dict[str, torch.Tensor], model: torch.nn.Module, cfg) -> None:
    """UserError naming ``path`` when ``tensors`` are not, by name and shape, ``model``'s state."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in want if k not in tensors]
    unexpected = [k for k in tensors if k not in want]
    shapes = [f"{k} {tuple(tensors[k].shape)} (expected {want[k]})" for k in want
              if k in tensors and tuple(tensors[k].shape) != want[k]]
    if missing or unexpected or shapes:
        raise UserError(
            f"{path}: tensors do not fit its config's RGB -> pose model ({cfg.model.strategy}/{cfg.model.alignment}, "
            f"crop {cfg.data.crop_size}, rgb_width {cfg.model.rgb_width}, latent {cfg.model.latent_dim}; expected "
            f"{len(want)} tensors under {', '.join(POSE_PATH_PREFIXES)}): missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shapes {shapes[:3]}")


def as_float32(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors (float16 or float32 storage) as float32; others (BatchNorm counters) unchanged."""
    return {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}


@torch.no_grad()
def output_difference(model: torch.nn.Module, cfg, outputs) -> float:
    """Largest |model's poses - ``outputs``| on :func:`reference_input` (normalised units)."""
    got = model.predict_pose(reference_input(int(cfg.data.crop_size))).double().numpy()
    want = np.asarray(outputs, np.float64)
    if want.shape != got.shape:
        return float("inf")
    return float(np.abs(got - want).max())


def load_released_file(path: str | os.PathLike, device: str | torch.device = "cpu", verify: bool = True):
    """``(model in eval mode, Config, metadata)`` of a released file, float32 weights on ``device``.

    ``verify``: run :func:`reference_input` on the CPU and require the recorded outputs within
    :data:`REPRODUCE_TOLERANCE` (catches corrupt tensor values that a readable header hides).
    """
    path = Path(path)
    tensors, meta = read_release(path)
    cfg = _config_of(path, meta)
    model = pose_path_model(cfg)
    check_fit(path, tensors, model, cfg)
    bad = [k for k, v in tensors.items() if v.is_floating_point() and v.dtype not in (torch.float16, torch.float32)]
    if bad:
        raise UserError(f"{path}: tensors stored as {tensors[bad[0]].dtype} ({bad[:3]}); expected float16 or float32")
    model.load_state_dict(as_float32(tensors), strict=True)
    if verify:
        diff = output_difference(model, cfg, meta["recorded_outputs"])
        if not diff <= REPRODUCE_TOLERANCE:
            raise UserError(f"{path}: the weights do not reproduce the outputs recorded at export (largest "
                            f"difference {diff:.3g} normalised units, tolerance {REPRODUCE_TOLERANCE:g}); "
                            "the file is corrupt")
    return model.to(device).eval(), cfg, meta


def load_released(name: str = DEFAULT_MODEL, device: str | torch.device = "cpu"):
    """``(model, Config)`` of released model ``name``, ready for RGB-only inference (eval mode, float32)."""
    model, cfg, _ = load_released_file(released_path(name), device)
    return model, cfg
