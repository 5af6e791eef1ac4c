"""A learned side score for ``--hand auto``: a small classifier on the RGB encoder's features.

A model trained on right hands (left ones mirrored) sees every training crop as a right hand. The
probe learns, from those crops alone, to tell a crop from its mirror image: positives are the
training crops as cached (right hands), negatives the same crops flipped left to right (left hands).
Its input is the frozen RGB trunk's pooled features ``(B, F)`` (``F`` = the trunk's width, 128 for
the CPU preset), standardised, then one hidden layer: ``logit = w2 . relu(W1 x + b1) + b2``, higher
for "the side the model was trained on". :func:`handvae.predict.handedness.choose_hand` uses it as
the score ``probe``: the crop as it is scores ``logit(crop)`` for "right", its mirror image
``logit(mirror(crop))`` for "left", so the decision keeps the mirror symmetry of every other score.

The probe belongs to one model's features: a released model's probe ships beside it as
``released/hand/NAME.safetensors`` (float32 tensors ``mean``, ``std``, ``hidden.weight``,
``hidden.bias``, ``out.weight``, ``out.bias``; string metadata ``format`` = :data:`PROBE_FORMAT`,
``model``, and JSON ``fit`` with how it was fitted and scored). ``tools/fit_hand_probe.py`` fits it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as save_tensors
from torch import nn

from handvae.checkpoint import read_safetensors
from handvae.data.rgb import rgb_input
from handvae.errors import UserError
from handvae.files import atomic_write_bytes

PROBE_FORMAT = "handvae-hand-probe-1"
TENSORS = ("mean", "std", "hidden.weight", "hidden.bias", "out.weight", "out.bias")


class HandProbe(nn.Module):
    """Features ``(B, F)`` -> logit ``(B,)`` that the crop shows the model's training side (right)."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))
        self.hidden = nn.Linear(features, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = (feats - self.mean) / self.std
        return self.out(torch.relu(self.hidden(x)))[:, 0]


@torch.no_grad()
def trunk_features(model: nn.Module, images: np.ndarray, batch: int = 64) -> torch.Tensor:
    """The RGB trunk's pooled features ``(N, F)`` float32 of crops ``images (N, S, S, 3) uint8``."""
    trunk = model.encoders["R"].trunk
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    out = []
    for i in range(0, len(images), batch):
        rgb = torch.cat([rgb_input(np.ascontiguousarray(im)) for im in images[i:i + batch]]).to(device)
        out.append(trunk(rgb).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def probe_logit(model: nn.Module, probe: HandProbe, pixels: np.ndarray) -> float:
    """The probe's logit for one crop ``pixels (S, S, 3) uint8`` as it is."""
    return float(probe(trunk_features(model, pixels[None]))[0])


def fit_hand_probe(model: nn.Module, images: np.ndarray, hidden: int = 256, weight_decay: float = 1e-3,
                   epochs: int = 300, batch: int = 256, lr: float = 1e-3, seed: int = 0) -> HandProbe:
    """Fit a :class:`HandProbe` on ``images (N, S, S, 3) uint8``, crops of the side ``model`` was trained
    on (a training cache's crops): each as it is (label 1) and mirrored (label 0). AdamW, full passes
    in a seeded order; deterministic on the CPU for a seed."""
    if len(images) < 2:
        raise UserError(f"fit_hand_probe: {len(images)} crop(s); expected at least 2")
    pos = trunk_features(model, images)
    neg = trunk_features(model, images[:, :, ::-1])
    x = torch.cat([pos, neg])
    y = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))])
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    probe = HandProbe(x.shape[1], hidden)
    probe.mean.copy_(x.mean(0))
    probe.std.copy_(x.std(0) + 1e-6)
    opt = torch.optim.AdamW([p for p in probe.parameters() if p.requires_grad], lr, weight_decay=weight_decay)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            j = order[i:i + batch]
            loss = nn.functional.binary_cross_entropy_with_logits(probe(x[j]), y[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return probe.eval()


@torch.no_grad()
def side_accuracy(model: nn.Module, probe: HandProbe, images: np.ndarray) -> float:
    """Fraction of crops ``images (N, S, S, 3) uint8`` of the training side (right) for which the probe
    does not score the mirror image higher, i.e. ``--hand auto`` with the probe picks the right side
    (ties go right, as in :func:`~handvae.predict.handedness.choose_hand`; for the original photo of a
    mirrored cache crop, as for the crop itself: the rule is symmetric)."""
    right = probe(trunk_features(model, images))
    left = probe(trunk_features(model, images[:, :, ::-1]))
    return float((~(left > right)).double().mean())


def save_hand_probe(probe: HandProbe, path: str | os.PathLike, model_name: str, fit: dict) -> Path:
    """Write ``probe`` to ``path`` (safetensors, atomically) with its model's name and ``fit`` record."""
    state = {k: v.detach().float().contiguous() for k, v in probe.state_dict().items()}
    meta = {"format": PROBE_FORMAT, "model": model_name, "fit": json.dumps(fit, sort_keys=True)}
    return atomic_write_bytes(path, save_tensors(state, metadata=meta))


def load_hand_probe(path: str | os.PathLike) -> tuple[HandProbe, dict]:
    """``(probe in eval mode, metadata with "fit" parsed)``; UserError naming ``path`` for a bad file."""
    path = Path(path)
    tensors, meta = read_safetensors(path, "a hand probe written by tools/fit_hand_probe.py")
    if meta.get("format") != PROBE_FORMAT:
        raise UserError(f"{path}: metadata format {meta.get('format')!r}, expected {PROBE_FORMAT!r} (a hand probe)")
    missing = [k for k in TENSORS if k not in tensors]
    if missing:
        raise UserError(f"{path}: hand probe without tensors {missing}; expected {list(TENSORS)}")
    hidden, features = tensors["hidden.weight"].shape
    probe = HandProbe(features, hidden)
    try:
        probe.load_state_dict({k: tensors[k].float() for k in TENSORS}, strict=True)
    except RuntimeError as err:
        raise UserError(f"{path}: hand probe tensors do not fit together ({err})") from None
    try:
        meta = {**meta, "fit": json.loads(meta.get("fit", "{}"))}
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: metadata 'fit' is not valid JSON ({err}); the file is corrupt") from None
    return probe.eval(), meta


def check_fits_model(probe: HandProbe, model: nn.Module, where: str) -> None:
    """UserError unless the probe's input width is ``model``'s RGB trunk width."""
    width = int(model.encoders["R"].trunk.out_features)
    if probe.mean.numel() != width:
        raise UserError(f"{where}: hand probe for {probe.mean.numel()} trunk features; the model's RGB trunk "
                        f"has {width}")
