"""ONNX export of the RGB -> pose path, checked against PyTorch with ONNX Runtime.

The exported graph is ``model.predict_pose``: input ``rgb (B, 3, S, S)`` float32 in [0, 1] (the
ImageNet normalisation is inside the model), output ``pose (B, 21, 3)`` float32 in normalised
units (``x_norm = R_vc (x_mm - centroid) / scale_mm``, RHD joint order), with a dynamic batch
axis ``B``. The file is written under a temporary name, checked with ONNX Runtime at batch 1 and
3 on random input, and renamed into place only when the largest absolute difference to PyTorch
is at most :data:`TOLERANCE` (normalised units; 1e-4 x scale_mm = 0.007 mm at a typical
scale_mm of 70 mm, far below any pose error). Needs the ``onnx`` extra (``onnx``, ``onnxruntime``).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from handvae.errors import UserError
from handvae.files import atomic_path

TOLERANCE = 1e-4  # normalised units
TYPICAL_SCALE_MM = 70.0
OPSET = 17


class PosePath(nn.Module):
    """``rgb (B, 3, S, S)`` in [0, 1] -> ``pose (B, 21, 3)`` normalised units (the model's RGB-only path)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.model.predict_pose(rgb)


def require_onnx():
    """Import ``onnx`` and ``onnxruntime``, or say how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise UserError(f"ONNX export needs the 'onnx' extra: pip install 'handvae[onnx]' ({err})") from None
    return onnx, onnxruntime


def ort_session(path: str | os.PathLike, threads: int = 0):
    """An ONNX Runtime CPU session for ``path`` (``threads`` 0 = ONNX Runtime's default)."""
    _, ort = require_onnx()
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def max_difference(module: nn.Module, path: str | os.PathLike, size: int, batches=(1, 3), seed: int = 0) -> dict:
    """Largest |ONNX Runtime - PyTorch| (normalised units) on uniform random input, per batch size."""
    sess = ort_session(path)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for b in batches:
        x = torch.rand(b, 3, size, size, generator=gen)
        with torch.no_grad():
            ref = module(x).numpy()
        got = sess.run(["pose"], {"rgb": x.numpy()})[0]
        if got.shape != ref.shape:
            raise RuntimeError(f"ONNX output shape {got.shape} at batch {b}, PyTorch gives {ref.shape}")
        out[b] = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    return out


def export_onnx(model: nn.Module, size: int, out: str | os.PathLike, metadata: dict | None = None,
                opset: int = OPSET, tolerance: float = TOLERANCE, seed: int = 0) -> tuple[Path, dict]:
    """Export ``model``'s RGB -> pose path for ``size`` px crops to ``out``; returns (path, max diffs).

    Raises RuntimeError (and leaves nothing at ``out``) when ONNX Runtime differs from PyTorch by
    more than ``tolerance`` normalised units.
    """
    onnx, _ = require_onnx()
    out = Path(out)
    module = PosePath(model.float().cpu().eval()).eval()
    with atomic_path(out) as tmp_path:
        tmp = str(tmp_path)
        dummy = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: no onnxscript needed
            torch.onnx.export(module, (dummy,), tmp, input_names=["rgb"], output_names=["pose"],
                              dynamic_axes={"rgb": {0: "batch"}, "pose": {0: "batch"}},
                              opset_version=opset, dynamo=False, do_constant_folding=True)
        proto = onnx.load(tmp)
        meta = {"producer": "handvae", "input": f"rgb (batch, 3, {size}, {size}) float32 in [0, 1]",
                "output": "pose (batch, 21, 3) float32, normalised units x_norm = R_vc (x_mm - centroid) / scale_mm, "
                          "RHD joint order", "crop_size": str(size), **{k: str(v) for k, v in (metadata or {}).items()}}
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
        diffs = max_difference(module, tmp, size, seed=seed)
        worst = max(diffs.values())
        if not worst <= tolerance:
            raise RuntimeError(f"ONNX Runtime differs from PyTorch by {worst:.3g} normalised units "
                               f"(tolerance {tolerance:g}); nothing written to {out}")
    return out, diffs


def metadata_of(cfg, checkpoint) -> dict:
    """What to record in the ONNX file about where it came from."""
    return {"checkpoint": str(checkpoint), "strategy": cfg.model.strategy, "alignment": cfg.model.alignment,
            "config": json.dumps({"data.crop_size": cfg.data.crop_size, "model.rgb_width": cfg.model.rgb_width,
                                  "model.latent_dim": cfg.model.latent_dim})}
