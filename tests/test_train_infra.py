"""Schedules and checkpoints: hand-computed values and exact round trips."""

import json
import math

import pytest
import torch

from handvae import checkpoint as ck
from handvae.errors import UserError
from handvae.train.schedule import Plateau, beta_at


def test_beta_is_log_linear_between_the_papers_end_points():
    assert beta_at(0, 1e-5, 1e-3, 100) == pytest.approx(1e-5)
    assert beta_at(50, 1e-5, 1e-3, 100) == pytest.approx(1e-4)  # half-way in log space
    assert beta_at(100, 1e-5, 1e-3, 100) == pytest.approx(1e-3)
    assert beta_at(10_000, 1e-5, 1e-3, 100) == pytest.approx(1e-3)
    assert beta_at(3, 1e-5, 1e-3, 0) == pytest.approx(1e-3)


def test_plateau_drops_twice_then_stops():
    p = Plateau(patience=2, max_drops=2)
    seq = [10, 9, 9.5, 9.2, 8, 8.5, 8.1, 8.3, 8.2, 8.9, 9.0]
    got = [p.step(v) for v in seq]
    assert got == ["improved", "improved", "wait", "drop", "improved", "wait", "drop", "wait", "stop", "wait", "stop"]
    assert p.drops == 2 and p.best == 8
    q = Plateau()
    q.load_state_dict(json.loads(json.dumps(p.state_dict())))
    assert q == p
    assert Plateau().state_dict()["best"] is None and math.isinf(Plateau(best=math.inf).best)


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _step(model, opt, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 4, generator=g)
    loss = model(x).pow(2).mean() + 0.1 * torch.randn(()).abs()  # uses the global RNG too
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_checkpoint_round_trip_continues_bit_identically(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for s in range(3):
        _step(model, opt, s)
    path = tmp_path / "last.safetensors"
    ck.save_checkpoint(path, model, opt, state={"step": 3, "note": "x"})
    _step(model, opt, 3)
    _step(model, opt, 4)
    reference = [p.detach().clone() for p in model.parameters()]

    model2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt2 = torch.optim.Adam(model2.parameters(), lr=1.0)
    meta = ck.load_checkpoint(path, model2, opt2, restore_rng=True)
    assert meta["state"] == {"step": 3, "note": "x"}
    assert opt2.param_groups[0]["lr"] == 1e-2
    _step(model2, opt2, 3)
    _step(model2, opt2, 4)
    for a, b in zip(reference, model2.parameters()):
        assert torch.equal(a, b)


def test_stripped_checkpoint_keeps_the_weights_and_refuses_to_resume(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for s in range(2):
        _step(model, opt, s)
    path, slim = tmp_path / "best.safetensors", tmp_path / "slim.safetensors"
    ck.save_checkpoint(path, model, opt, state={"step": 2})
    written = ck.strip_optimizer(path, slim)
    tensors, _ = ck.read_checkpoint(path)
    slim_tensors, slim_meta = ck.read_checkpoint(slim)
    assert written == slim.stat().st_size
    assert set(slim_tensors) == {k for k in tensors if not k.startswith("optim.")}
    assert slim_meta["state"] == {"step": 2} and "optimizer" not in slim_meta
    # Adam keeps two float32 moments per parameter: at least that much is gone
    moments = 2 * 4 * sum(p.numel() for p in model.parameters())
    assert path.stat().st_size - written >= moments
    fresh = _model()
    ck.load_checkpoint(slim, fresh)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(UserError, match=r"slim\.safetensors.*cannot resume"):
        ck.load_checkpoint(slim, fresh, torch.optim.Adam(fresh.parameters()))


def test_checkpoint_rejects_foreign_and_mismatched_files(tmp_path):
    bad = tmp_path / "weights.pth"
    torch.save({"a": torch.zeros(1)}, bad)
    with pytest.raises(UserError, match=r"weights\.pth"):
        ck.read_checkpoint(bad)
    with pytest.raises(UserError, match="no such file; expected a handvae checkpoint"):
        ck.read_checkpoint(tmp_path / "none.safetensors")
    path = tmp_path / "m.safetensors"
    ck.save_checkpoint(path, _model())
    with pytest.raises(UserError, match="another strategy"):
        ck.load_checkpoint(path, torch.nn.Linear(3, 3))


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    model = _model()
    ck.save_checkpoint(path, model, state={"step": 1})

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ck, "save_file", boom)
    with pytest.raises(RuntimeError):
        ck.save_checkpoint(path, model, state={"step": 2})
    assert ck.read_checkpoint(path)[1]["state"]["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]
