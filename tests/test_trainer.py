"""The trainer on a tiny synthetic world: learning, exact resume, NaN guard, torchrun/gloo, bad configs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import _by_hand as by_hand
from conftest import tiny_overrides
from handvae import checkpoint as ck
from handvae.cli import main
from handvae.config import load_config
from handvae.data.cache import open_split
from handvae.schema import Config
from handvae.train.guard import NonFiniteError
from handvae.train.trainer import Trainer


def _cfg(cache, out, strategy="S4", **extra):
    return load_config(Config, None, tiny_overrides(cache, out, **{"model.strategy": strategy, **extra}))


def _weights(path):
    return ck.model_state(ck.read_checkpoint(path)[0])


@pytest.mark.parametrize("strategy", ["S1", "S3", "S4", "RD2DHP"])
def test_every_strategy_trains_and_checkpoints(tiny_cache, tmp_path, strategy):
    cfg = _cfg(tiny_cache, tmp_path / strategy, strategy, **{"trainer.max_steps": 3})
    trainer = Trainer(cfg)
    summary = trainer.fit(progress=False)
    assert summary["steps"] == 3 and summary["skipped_steps"] == 0
    run = tmp_path / strategy
    assert (run / "checkpoints" / "last.safetensors").is_file() and (run / "checkpoints" / "best.safetensors").is_file()
    assert (run / "config.yaml").is_file() and (run / "env.json").is_file()
    records = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3]
    assert "beta" in train[0] and "lr" in train[0] and "R:pose" in train[0]
    # the validation after step 3: the trained model's RGB-only EPE on the held-out tail of the training split
    # (rows 80-95 of 96), worked out by hand from its predictions and the cache
    (val,) = [r for r in records if r["kind"] == "val"]
    cached = open_split(tiny_cache / "train")
    rows = slice(80, 96)
    pred_mm = by_hand.to_mm(by_hand.rgb_predictions(trainer.model, cached["image"][rows]), cached, rows)
    assert val["step"] == 3 and val["mean_epe_mm"] == pytest.approx(by_hand.mean_epe(pred_mm, cached, rows), rel=1e-5)


def test_iterative_baseline_alternates_pairs(tiny_cache, tmp_path):
    cfg = _cfg(tiny_cache, tmp_path / "it", "RC2CHP", **{"model.alignment": "none", "trainer.iterative": True,
                                                           "trainer.max_steps": 3})
    trainer = Trainer(cfg)
    assert trainer.pairs[:3] == [("R", "C"), ("R", "H"), ("R", "P")]
    trainer.fit(progress=False)
    records = [json.loads(x) for x in (tmp_path / "it" / "log.jsonl").read_text().splitlines() if '"train"' in x]
    losses = [sorted(k for k in r if ":" in k) for r in records]
    assert losses == [["R:chamfer", "R:emd", "R:kl"], ["R:heat", "R:kl"], ["R:kl", "R:pose"]]


@pytest.mark.slow  # ~60 s; `pytest -m slow`. The weighted-sum test of the loss guards the wiring in make test.
def test_tiny_s4_run_learns_far_below_the_mean_pose(tiny_cache, tmp_path):
    """S4 (RC2CHP, PoE) on the tiny world's 96 training samples, no augmentation, lr 3e-3, 300 steps of 16.

    Validation is RGB-only on those same 96 samples (``data.val_split=train``), against the mean-pose
    baseline scored on them: the loop must fit what it is shown. Generalisation to held-out samples
    takes thousands of steps on this world (``make demo``, ``make reproduce``), more than a test can afford.
    Measured (2-core CPU, about 65 s): 47.3, 41.0 and 35.5 mm at steps 100, 200, 300; baseline 51.8 mm.
    """
    from handvae.data.batches import build_loader
    from handvae.eval.scoring import mean_pose_baseline

    cfg = _cfg(tiny_cache, tmp_path / "fit", **{"trainer.max_steps": 300, "trainer.val_every": 100,
                                               "trainer.log_every": 50, "trainer.lr": 3e-3,
                                               "data.augment": False, "data.val_split": "train"})
    summary = Trainer(cfg).fit(progress=False)
    loader = build_loader(cfg.data, "train", 64, "cpu", train=False, modalities="R")
    baseline = mean_pose_baseline(tiny_cache / "train", loader, cfg).mean_epe_mm
    epes = [h["mean_epe_mm"] for h in summary["history"]]
    assert len(epes) == 3 and summary["skipped_steps"] == 0
    assert epes[-1] < epes[0]
    assert epes[-1] < 0.75 * baseline, (epes, baseline)


def _run_to(cache, out, steps, **extra):
    cfg = _cfg(cache, out, **{"trainer.max_steps": steps, "trainer.val_every": 2, **extra})
    return Trainer(cfg)


def test_resume_after_interruption_is_bit_identical(tiny_cache, tmp_path, monkeypatch):
    _run_to(tiny_cache, tmp_path / "full", 6).fit(progress=False)

    # Interrupted: the process dies during step 5, after the checkpoint of step 4.
    trainer = _run_to(tiny_cache, tmp_path / "cut", 6)
    original = trainer.train_step

    def dying(batch, beta):
        if trainer.step == 4:
            raise KeyboardInterrupt("simulated kill")
        return original(batch, beta)

    monkeypatch.setattr(trainer, "train_step", dying)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(progress=False)
    assert ck.read_checkpoint(tmp_path / "cut" / "checkpoints" / "last.safetensors")[1]["state"]["step"] == 4
    monkeypatch.undo()
    torch.manual_seed(12345)  # a fresh process would have other global RNG state: resume must restore it
    resumed = Trainer(_cfg(tiny_cache, tmp_path / "cut", **{"trainer.max_steps": 6, "trainer.val_every": 2}),
                      resume=True)
    assert resumed.step == 4
    resumed.fit(progress=False)
    a = _weights(tmp_path / "full" / "checkpoints" / "last.safetensors")
    b = _weights(tmp_path / "cut" / "checkpoints" / "last.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(x)["step"] for x in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()
             if '"train"' in x]
    assert steps == [1, 2, 3, 4, 5, 6]  # no duplicated lines from the interrupted attempt


def test_kill_minus_nine_then_resume_matches(tiny_cache, tmp_path):
    ref = tmp_path / "ref"
    _run_to(tiny_cache, ref, 8).fit(progress=False)
    run = tmp_path / "killed"
    argv = [sys.executable, "-m", "handvae", "train", os.devnull, *tiny_overrides(
        tiny_cache, run, **{"trainer.max_steps": 8, "trainer.val_every": 2, "model.strategy": "S4"}), "--no-progress"]
    argv[4] = str(_write_empty_yaml(tmp_path))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = run / "checkpoints" / "last.safetensors"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.exists() and proc.returncode == -signal.SIGKILL
    saved = ck.read_checkpoint(last)[1]["state"]["step"]
    assert 0 < saved < 8  # the kill landed mid-run
    # A resumed run keeps the log up to the saved step; a run that silently restarted would start a fresh log.
    with open(run / "log.jsonl", "a") as fh:
        fh.write(json.dumps({"step": saved, "kind": "marker"}) + "\n")
    assert main(["train", argv[4], *argv[5:], "--resume"]) == 0
    a, b = _weights(ref / "checkpoints" / "last.safetensors"), _weights(last)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert '"marker"' in (run / "log.jsonl").read_text()
    # and the remaining steps alone, from a fresh start, end elsewhere
    _run_to(tiny_cache, tmp_path / "rest", 8 - saved, **{"model.strategy": "S4"}).fit(progress=False)
    c = _weights(tmp_path / "rest" / "checkpoints" / "last.safetensors")
    assert any(not torch.equal(c[k], b[k]) for k in b if b[k].is_floating_point())


def _write_empty_yaml(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("{}\n")
    return path


def test_nan_guard_skips_then_stops_keeping_last_good_checkpoint(tiny_cache, tmp_path, monkeypatch):
    trainer = _run_to(tiny_cache, tmp_path / "nan", 12, **{"trainer.nan_limit": 3})
    criterion = trainer.criterion
    real = type(criterion).forward

    def poisoned(self, outputs, batch, beta=None, terms=None):
        out = real(self, outputs, batch, beta, terms)
        if trainer.step == 2 or trainer.step >= 5:  # one lone NaN step, then NaN for good
            out["R:pose"] = out["R:pose"] * float("nan")
        return out

    monkeypatch.setattr(type(criterion), "forward", poisoned)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(NonFiniteError, match="3 consecutive"):
        trainer.fit(progress=False)
    assert trainer.guard.skipped == 4  # step index 2, then 5, 6, 7
    meta = ck.read_checkpoint(tmp_path / "nan" / "checkpoints" / "last.safetensors")[1]
    # Checkpoints come every 2 steps; the one after step 6 (skips at 2 and 5 so far) is the last written.
    assert meta["state"]["step"] == 6 and meta["state"]["guard"]["skipped"] == 2
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert all(torch.isfinite(v).all() for v in trainer.model.state_dict().values() if v.is_floating_point())


def test_unknown_config_key_is_a_clear_error(tmp_path, capsys):
    assert main(["train", str(_write_empty_yaml(tmp_path)), "trainer.learning_rate=1e-3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trainer.learning_rate" in err[0] and "lr" in err[0]


# The DDP run and its one-process reference: everything random that differs between ranks is switched
# off (no augmentation, every cached point in every cloud, an encoder noise of std exp(-15)), and the lr is
# small, so that what remains is float rounding and near-tied EMD matches (see the test).
DDP_SETTINGS = {"trainer.max_steps": 3, "model.strategy": "S4", "data.augment": False, "data.n_points": 256,
                "model.init_logvar": -30.0, "trainer.lr": 1e-5}


def _split_step(self, batch, beta):
    """A training step on a batch of 2B as two ranks of B see it: each half (rank r gets samples r, r + 2, ...)
    goes through forward, BatchNorm and loss on its own; the gradients are averaged, then one Adam step."""

    def half(x, r):
        if isinstance(x, dict):
            return {k: half(v, r) for k, v in x.items()}
        return x[r::2] if torch.is_tensor(x) and x.ndim > 0 else x

    self.net.train()
    self.optimizer.zero_grad(set_to_none=True)
    for r in range(2):
        part = half(batch, r)
        terms = self.criterion(self.net(part), part, beta)
        (self.criterion.total({k: v.float() for k, v in terms.items()}, beta) / 2).backward()
    self.optimizer.step()
    return {"loss": 0.0}


def test_two_process_gloo_run(tiny_cache, tmp_path, monkeypatch):
    """torchrun, 2 processes on gloo: both ranks end with the same weights, those of one process on the
    doubled batch.

    The one-process reference must split its batch of 32 the way the ranks do: BatchNorm normalises
    each rank's 16 samples with their own statistics (there is no SyncBatchNorm), and with the whole
    32 in one BatchNorm the first-step gradient is another one altogether (cosine 0.19 to the
    two-halves gradient, measured). Adam then turns every small difference of the gradient into a
    step of the full lr in that element, so the weights agree in norm, not element by element:
    measured ``|w_ddp - w_ref| / |w_ref - w_init|`` = 0.02 (the reference against itself with other
    encoder noise: 0.022), without gradient synchronisation 0.64 (and the ranks then differ).
    """
    from handvae.models import build_model

    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           os.path.join(os.path.dirname(__file__), "_ddp_train.py"), str(_write_empty_yaml(tmp_path)),
           *tiny_overrides(tiny_cache, run, **DDP_SETTINGS), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = _cfg(tiny_cache, tmp_path / "fresh")
    model = build_model(cfg)
    meta = ck.load_checkpoint(run / "checkpoints" / "last.safetensors", model)
    assert meta["state"]["step"] == 3
    assert meta["state"]["loader"]["world_size"] == 2
    # the ranks agree exactly, and rank 0 is what was saved
    rank0, rank1 = torch.load(run / "params_rank0.pt"), torch.load(run / "params_rank1.pt")
    assert rank0.keys() == rank1.keys() and all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    saved = _weights(run / "checkpoints" / "last.safetensors")
    assert all(torch.equal(saved[k], rank0[k]) for k in rank0)
    # one process, batch 32, each half its own BatchNorm batch, gradients averaged
    ref = _cfg(tiny_cache, tmp_path / "one", **{**DDP_SETTINGS, "trainer.batch_size": 32})
    trainer = Trainer(ref)
    init = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
    monkeypatch.setattr(Trainer, "train_step", _split_step)
    trainer.fit(progress=False)
    one = dict(trainer.model.named_parameters())

    def flat(params):
        return torch.cat([params[k].detach().flatten() for k in sorted(rank0)])

    moved = (flat(one) - flat(init)).norm()
    assert moved > 0.01  # 3 steps of Adam at lr 1e-5 over 1.2 M weights: about 0.024
    assert (flat(rank0) - flat(one)).norm() < 0.1 * moved


def test_train_resumable_continues_an_interrupted_run(tiny_cache, tmp_path):
    """The pipeline's training step (benchmarks' arms): a second call resumes from the last
    checkpoint instead of starting again."""
    from handvae.config import resolve_config
    from handvae.experiments.pipeline import train_resumable

    over = tiny_overrides(tiny_cache, tmp_path / "run", **{"trainer.val_every": 2})
    first = train_resumable(resolve_config("cpu/s1"), [*over, "trainer.max_steps=2"])
    assert first["steps"] == 2
    second = train_resumable(resolve_config("cpu/s1"), [*over, "trainer.max_steps=4"])
    assert second["steps"] == 4 and [h["step"] for h in second["history"]] == [2, 4]
    assert second["history"][0] == first["history"][0]  # step 2 carried over, timing included: not trained again


@pytest.mark.parametrize(("amp", "want"), [("off", torch.float32), ("auto", torch.float32), ("bf16", torch.bfloat16)])
def test_cpu_autocast_only_when_asked_for_bf16(amp, want):
    """On the CPU only an explicit ``bf16`` runs the step in mixed precision; a linear layer's output shows it."""
    from handvae.train.trainer import autocast_context

    layer = torch.nn.Linear(4, 3)
    with autocast_context(amp, torch.device("cpu")):
        out = layer(torch.ones(2, 4))
    assert out.dtype == want


def test_cpu_fp16_is_refused_before_training(tiny_cache, tmp_path):
    from handvae.errors import UserError

    with pytest.raises(UserError, match=r"trainer.amp='fp16'.*CUDA.*'bf16'"):
        Trainer(_cfg(tiny_cache, tmp_path / "fp16", "S1", **{"trainer.amp": "fp16", "trainer.device": "cpu"}))


def test_a_bf16_step_on_the_cpu_learns(tiny_cache, tmp_path):
    """S4 under CPU bf16 autocast: every term finite, the weights move, and they stay float32."""
    trainer = Trainer(_cfg(tiny_cache, tmp_path / "bf16", "S4", **{"trainer.amp": "bf16", "trainer.device": "cpu"}))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    scalars = trainer.train_step(trainer.train_data.next_batch(), 1e-4)
    assert scalars is not None and all(torch.isfinite(torch.tensor(v)) for v in scalars.values())
    after = trainer.model.state_dict()
    assert all(v.dtype == before[k].dtype for k, v in after.items())
    assert any(not torch.equal(v, before[k]) for k, v in after.items() if v.is_floating_point())


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_on_the_cpu_changes_layout_not_results(tiny_cache, tmp_path, channels_last):
    """``trainer.channels_last`` lays the conv weights out NHWC on the CPU too; a step's loss is the same
    (to float rounding) as with the default NCHW layout, from the same seed."""
    over = {"trainer.device": "cpu", "trainer.channels_last": channels_last}
    trainer = Trainer(_cfg(tiny_cache, tmp_path / f"cl{channels_last}", "S4", **over))
    # (weights with one input channel or a 1x1 kernel are both layouts at once: left out)
    convs = [m.weight for m in trainer.model.modules()
             if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1 and m.kernel_size != (1, 1)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) == channels_last for w in convs)
    got = trainer.train_step(trainer.train_data.next_batch(), 1e-4)
    # built (and so seeded) after the first step: the same global RNG draws for its batch and latent samples
    reference = Trainer(_cfg(tiny_cache, tmp_path / f"ref{channels_last}", "S4",
                             **{"trainer.device": "cpu", "trainer.channels_last": False}))
    want = reference.train_step(reference.train_data.next_batch(), 1e-4)
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-4)


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


@pytest.mark.parametrize("device", DEVICES)
def test_resumed_adam_moments_keep_their_values_and_their_weights_layout(tiny_cache, tmp_path, device):
    """After --resume every Adam moment holds the values it had when saved, laid out in memory as its weight.

    Checkpoints store tensors contiguous (NCHW); with ``trainer.channels_last`` the weights come back NHWC,
    and fused Adam pairs a weight with its moments in memory order, so a moment left NCHW would update the
    weight with other elements' moments. Run on the GPU too when one is present (channels_last is the
    default there as well)."""
    over = {"trainer.device": device, "trainer.channels_last": True, "trainer.max_steps": 2}
    trainer = Trainer(_cfg(tiny_cache, tmp_path / "run", "S4", **over))
    trainer.fit(progress=False)
    saved = {name: {k: v.detach().cpu().clone() for k, v in trainer.optimizer.state[p].items()
                    if isinstance(v, torch.Tensor) and v.shape == p.shape}
             for name, p in trainer.model.named_parameters()}
    resumed = Trainer(_cfg(tiny_cache, tmp_path / "run", "S4", **over), resume=True)
    assert resumed.step == 2
    nhwc = 0
    for name, p in resumed.model.named_parameters():
        moments = {k: v for k, v in resumed.optimizer.state[p].items() if isinstance(v, torch.Tensor)
                   and v.shape == p.shape}
        assert moments.keys() == saved[name].keys() == {"exp_avg", "exp_avg_sq"}, name
        for k, v in moments.items():
            assert v.device == p.device and v.stride() == p.stride(), (name, k, v.stride(), p.stride())
            assert torch.equal(v.cpu(), saved[name][k]), (name, k)
        nhwc += p.dim() == 4 and p.shape[1] > 1 and p.shape[2:] != (1, 1) and not p.is_contiguous()
    assert nhwc > 0  # the case that matters was present: NHWC weights


def test_too_few_samples_for_one_batch_is_a_clear_error_not_an_endless_loop(tiny_cache, tmp_path):
    from handvae.errors import UserError

    cfg = _cfg(tiny_cache, tmp_path / "r", "S1", **{"data.max_samples": 10, "trainer.max_steps": 2})  # batch 16
    with pytest.raises(UserError, match=r"10 training samples from sample 0 make no full batch of 16"):
        Trainer(cfg)
