"""``handvae export-onnx``: the RGB -> pose graph with a dynamic batch axis, equal to PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import foreign_checkpoints
from handvae.cli import main

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

S = 32


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "s4.onnx"
    assert main(["export-onnx", str(tiny_checkpoint), str(out)]) == 0
    return out


def test_graph_signature(exported):
    proto = onnx.load(str(exported))
    (inp,), (outp,) = proto.graph.input, proto.graph.output
    assert (inp.name, outp.name) == ("rgb", "pose")
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in outp.type.tensor_type.shape.dim]
    assert isinstance(in_dims[0], str) and in_dims[1:] == [3, S, S]  # dynamic batch
    assert isinstance(out_dims[0], str) and out_dims[1:] == [21, 3]
    assert {p.key: p.value for p in proto.metadata_props}["crop_size"] == str(S)


@pytest.mark.parametrize("batch", [1, 3])
def test_parity_with_pytorch(exported, tiny_checkpoint, batch):
    from handvae.export import TOLERANCE
    from handvae.models.load import load_model

    model, _, _ = load_model(tiny_checkpoint)
    x = torch.rand(batch, 3, S, S, generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        want = model.predict_pose(x).numpy()
    got = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"]).run(["pose"], {"rgb": x.numpy()})[0]
    assert got.shape == (batch, 21, 3)
    assert np.abs(got - want).max() <= TOLERANCE
    assert np.abs(want).max() > 1e-3  # the comparison is not between two zeros


def test_cli_prints_the_difference(tiny_checkpoint, tmp_path, capsys):
    assert main(["export-onnx", str(tiny_checkpoint), str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "largest |difference|" in out and "batch 1:" in out and "batch 3:" in out and "tolerance 0.0001" in out


def test_failed_check_leaves_nothing(tiny_checkpoint, tmp_path):
    from handvae.export import export_onnx
    from handvae.models.load import load_model

    model, _, _ = load_model(tiny_checkpoint)
    with pytest.raises(RuntimeError, match="differs from PyTorch"):
        export_onnx(model, S, tmp_path / "m.onnx", tolerance=-1.0)  # no model can pass this
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["png", "junk", "other", "suffix"])
def test_bad_inputs(tiny_checkpoint, tmp_path, capsys, case):
    ckpt = tiny_checkpoint if case == "suffix" else foreign_checkpoints(tiny_checkpoint, tmp_path / "ck")[case]
    out = tmp_path / ("m.txt" if case == "suffix" else "m.onnx")
    assert main(["export-onnx", str(ckpt), str(out)]) == 2
    err = capsys.readouterr().err
    assert str(out if case == "suffix" else ckpt) in err
    assert not out.exists()


def test_parity_on_a_trained_checkpoint_and_real_crops(tiny_run, tiny_cache, tmp_path):
    """A trained model (BatchNorm running statistics moved off 0 / 1) on cached crops of real samples:
    ONNX Runtime gives what PyTorch gives, for the model loaded from the checkpoint on its own."""
    from handvae.data.cache import open_split
    from handvae.export import TOLERANCE, ort_session
    from handvae.models.load import load_model

    out = tmp_path / "trained.onnx"
    assert main(["export-onnx", str(tiny_run), str(out)]) == 0
    model, _, _ = load_model(tiny_run)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    moved = [m for m in norms if (m.running_mean.abs().max() > 1e-3 or (m.running_var - 1).abs().max() > 1e-3)]
    assert len(moved) == len(norms) > 10  # every BatchNorm: 4 training steps moved its statistics
    crops = np.array(open_split(tiny_cache / "test", ["image"])["image"][:8])
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255.0)
    with torch.no_grad():
        want = model.predict_pose(x).numpy()
    sess = ort_session(out)
    for batch in (x[:1], x):
        got = sess.run(["pose"], {"rgb": batch.numpy()})[0]
        assert np.abs(got - want[: len(batch)]).max() <= TOLERANCE
    assert np.abs(want).max() > 1e-2 and np.ptp(want, axis=0).max() > 1e-3  # non-trivial, differs per crop
