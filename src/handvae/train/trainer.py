"""The trainer: any strategy on a prepared cache, the paper's way (docs/METHOD.md, section 6).

Adam (lr 1e-4, batch 32); beta annealed log-linearly from 1e-5 to 1e-3 over ``beta_anneal_steps``;
validation of the RGB-only path every ``val_every`` steps with the pinned metrics, on the samples
held out from the training split (``data.val_split: holdout``); lr / 10 on plateaus of the
validation EPE at most twice, then stop (or, with ``trainer.schedule: cosine``, a warm-up and a
cosine decay). ``trainer.max_minutes`` ends a run after that much training time (validation
excluded); every validation records the training time and the samples seen so far, for
time-to-accuracy curves. Checkpoints (``last``, ``best``) are written atomically at every
validation and at the end; ``resume=True`` continues bit-identically on the CPU.
The iterative baseline (Spurr et al.) trains one encoder/decoder pair per batch, in turn.
Multi-GPU through torchrun (see :mod:`handvae.train.distributed`).
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from handvae import checkpoint as ck
from handvae import machine
from handvae.config import to_dict
from handvae.data.batches import build_loader
from handvae.errors import UserError
from handvae.eval.scoring import evaluate_split
from handvae.files import atomic_write_text
from handvae.schema import Config
from handvae.train.clock import PausableClock
from handvae.train.distributed import DistInfo, all_reduce_min, broadcast_value, setup
from handvae.train.guard import NanGuard
from handvae.train.runlog import RunLogger, init_run_dir
from handvae.train.schedule import Plateau, beta_at, cosine_lr


def autocast_context(amp: str, device: torch.device):
    """Mixed precision of a training step's forward pass and losses.

    On a GPU: bf16 or fp16 (``auto`` = bf16 where supported, else fp16). On the CPU only an explicit ``bf16``
    turns it on (``auto`` and ``off`` keep float32): it pays only on CPUs with native bf16 instructions
    (AVX512-BF16 or AMX; docs/LEARNING.md section 7); ``fp16`` has no CPU autocast and is refused.
    """
    if amp == "off" or (device.type != "cuda" and amp == "auto"):
        return contextlib.nullcontext()
    if device.type != "cuda":
        if amp != "bf16":
            raise UserError(f"trainer.amp={amp!r} needs a CUDA device; on the CPU use 'bf16' or 'off'")
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    if amp == "auto" and not torch.cuda.is_bf16_supported():
        dtype = torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def cpu_bf16_warning(amp: str, device: torch.device, cpuinfo: str | None = None) -> str | None:
    """The warning for ``trainer.amp=bf16`` on a CPU whose flags show no native bfloat16 (no AVX512-BF16, AMX
    or Arm BF16; ``cpuinfo``: the text of /proc/cpuinfo, read when None), else None. There oneDNN emulates
    it: S1 trained at 0.50-0.55 times float32's speed on a 2-core Intel Xeon without it, against 1.34 times
    on an AMD EPYC with it (channels_last both; docs/LEARNING.md section 7)."""
    if device.type != "cpu" or amp != "bf16":
        return None
    info = machine.read_cpuinfo() if cpuinfo is None else cpuinfo
    if machine.native_bf16(info) is not False:
        return None
    return (f"trainer.amp=bf16 on a CPU without native bfloat16 ({machine.cpu_model(info) or 'unknown CPU'}: "
            "no avx512_bf16, amx_bf16 or bf16 flag): it is emulated and trains about half as fast as float32 "
            "here; trainer.amp=off is faster on this machine")


def check_amp(amp: str, device: torch.device) -> None:
    """At start-up, not at step 1: a UserError for an amp this device cannot run, a warning for bf16 emulated."""
    autocast_context(amp, device)
    if (slow := cpu_bf16_warning(amp, device)) is not None:
        warnings.warn(slow, stacklevel=3)


def trained_hands(manifest: dict) -> str:
    """``"right"`` when the training cache mirrored left hands to right ones, else ``"both"``."""
    return "right" if manifest.get("config", {}).get("mirror") == "left" else "both"


class InfiniteBatches:
    """Endless batches from a :class:`handvae.data.batches.BatchLoader`, epoch after epoch."""

    def __init__(self, loader) -> None:
        if len(loader) == 0:  # every epoch would be empty: next_batch would never return
            raise UserError(f"{loader.split_dir}: {loader.n} training samples from sample {loader.start} make no "
                            f"full batch of {loader.batch_size} per rank (x{loader.world_size}); lower "
                            "trainer.batch_size or use more samples")
        self.loader = loader
        self._it = None

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def next_batch(self) -> dict:
        while True:
            if self._it is None:
                self._it = iter(self.loader)
            try:
                return next(self._it)
            except StopIteration:
                self._it = None

    def state_dict(self) -> dict:
        state = self.loader.state_dict()
        state.pop("generator", None)  # re-seeded per step from (seed, epoch, position, rank)
        return state

    def load_state_dict(self, state: dict) -> None:
        self.loader.load_state_dict(state)
        self._it = None


def build_optimizer(params: Iterable[torch.nn.Parameter], lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam, fused where this torch has the kernel (CUDA; the CPU from torch 2.4): one pass over every tensor
    (an S4 step's update on 2 CPU cores 1.5 ms against 6.6 for the per-tensor loop; the same update rule,
    not bit-identical). A resumed run keeps the kind its checkpoint was trained with."""
    fused = device.type == "cuda" or (device.type == "cpu" and torch.__version__ >= "2.4")
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


class Trainer:
    """Train ``cfg`` into ``cfg.out_dir``. Build once, then :meth:`fit`."""

    def __init__(self, cfg: Config, resume: bool = False, dist_info: DistInfo | None = None) -> None:
        from handvae.models import build_criterion, build_model, compile_strategy

        self.cfg = cfg
        self.dist = dist_info or setup(cfg.trainer.device)
        self.device = self.dist.device
        check_amp(cfg.trainer.amp, self.device)
        self.run_dir = Path(cfg.out_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        torch.manual_seed(cfg.seed + self.dist.rank)
        if not cfg.data.cache:
            raise UserError("data.cache is empty: give the prepared cache folder (handvae prepare ... --out CACHE)")

        self.plan = compile_strategy(cfg.model.strategy, cfg.model.alignment)
        letters = "".join(c for c in "RDCHP" if c in set(self.plan.inputs) | set(self.plan.decoders))
        # Iterative baseline: one (encoder ELBO, decoder) pair per step, in turn.
        self.pairs = [(e, d) for e in self.plan.elbo_names for d in self.plan.decoders]
        self.train_data = InfiniteBatches(build_loader(
            cfg.data, cfg.data.train_split, cfg.trainer.batch_size, self.device, seed=cfg.seed, train=True,
            modalities=letters, rank=self.dist.rank, world_size=self.dist.world_size))
        self.hands = trained_hands(self.train_data.loader.manifest)
        if resume:  # before the run folder is rewritten with this config
            self._check_resumable()
        if self.dist.is_main:  # only once the data is known to load: a bad cache leaves no run folder behind
            init_run_dir(self.run_dir, cfg)
        self.val_data = None
        if self.dist.is_main:
            self.val_data = build_loader(cfg.data, cfg.data.val_split, cfg.trainer.val_batch_size, self.device,
                                         seed=cfg.seed, train=False, modalities="R")

        self.model = build_model(cfg)
        if not resume:
            self._init_from(cfg.trainer.init_from)
        self.model = self.model.to(self.device)
        if cfg.trainer.channels_last:  # NHWC convolutions: faster on GPUs and on oneDNN CPUs (LEARNING section 7)
            self.model = self.model.to(memory_format=torch.channels_last)
        self.criterion = build_criterion(cfg)
        self.optimizer = build_optimizer(self.model.parameters(), cfg.trainer.lr, self.device)
        self.net: torch.nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids,
                                                                 find_unused_parameters=True)
        if cfg.trainer.compile:
            self.net = torch.compile(self.net)

        self.steps_per_epoch = self.train_data.steps_per_epoch
        self.total_steps = cfg.trainer.max_steps or cfg.trainer.epochs * self.steps_per_epoch
        self.anneal_steps = int(cfg.trainer.beta_anneal_steps)
        self.plateau = Plateau(patience=cfg.trainer.plateau_patience, max_drops=cfg.trainer.max_lr_drops)
        self.guard = NanGuard(cfg.trainer.nan_limit)
        self.step = 0
        self.best_epe = math.inf
        self.history: list[dict] = []
        self.train_seconds = 0.0  # wall time in training steps, summed over resumes (validation excluded)
        self.samples_seen = 0
        if resume:
            self._resume()
        elif self.dist.is_main:
            self._truncate_log(0)  # a fresh run in an old folder starts a fresh log
        self.logger = RunLogger(self.run_dir, enabled=self.dist.is_main)  # after _resume trimmed the log

    # --- checkpoints -------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "lr": self.optimizer.param_groups[0]["lr"],
            "plateau": self.plateau.state_dict(),
            "guard": self.guard.state_dict(),
            "best_epe_mm": None if math.isinf(self.best_epe) else self.best_epe,
            "train_seconds": self.train_seconds,
            "samples_seen": self.samples_seen,
            "loader": self.train_data.state_dict(),
            "history": self.history,
            "hands": self.hands,
            "strategy": self.cfg.model.strategy,
            "alignment": self.cfg.model.alignment,
            "config": to_dict(self.cfg),  # a lone checkpoint file rebuilds its model (handvae.models.load)
        }

    def save(self, name: str) -> Path:
        path = self.ckpt_dir / f"{name}.safetensors"
        if self.dist.is_main:
            ck.save_checkpoint(path, self.model, self.optimizer, self._state())
        return path

    def _init_from(self, source: str) -> None:
        """Start from the weights of run ``source`` (:func:`handvae.models.load.init_weights`; "" = from scratch);
        what was copied is recorded in ``init_from.json`` beside the resolved config."""
        from handvae.models.load import init_weights

        path = self.run_dir / "init_from.json"
        if not source:
            if self.dist.is_main:
                path.unlink(missing_ok=True)  # an earlier run's, in this folder
            return
        record = init_weights(self.model, source, self.cfg.data.crop_size)
        if self.dist.is_main:
            atomic_write_text(path, json.dumps(record, indent=2) + "\n")

    def _check_resumable(self) -> None:
        """UserError when there is no last checkpoint or it drew other training samples than this config."""
        last = self.ckpt_dir / "last.safetensors"
        if not last.is_file():
            raise UserError(f"--resume: no checkpoint at {last}")
        ck.check_same_draw(ck.saved_config(last), self.cfg, str(last))

    def _resume(self) -> None:
        path = self.ckpt_dir / "last.safetensors"
        if not path.is_file():
            raise UserError(f"--resume: no checkpoint at {path}")
        meta = ck.load_checkpoint(path, self.model, self.optimizer, restore_rng=True)
        st = meta["state"]
        self.step = int(st["step"])
        self.plateau.load_state_dict(st["plateau"])
        self.guard.load_state_dict(st["guard"])
        self.best_epe = math.inf if st["best_epe_mm"] is None else float(st["best_epe_mm"])
        self.history = list(st.get("history", []))
        self.train_seconds = float(st.get("train_seconds", 0.0))
        self.samples_seen = int(st.get("samples_seen", 0))
        self.train_data.load_state_dict(st["loader"])
        if self.dist.is_main:
            self._truncate_log(self.step)

    def _truncate_log(self, step: int) -> None:
        """Drop log lines written after the checkpoint (a killed run may have logged beyond it)."""
        log = self.run_dir / "log.jsonl"
        if not log.is_file():
            return
        keep = [ln for ln in log.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]

        atomic_write_text(log, "".join(k + "\n" for k in keep))

    # --- one step ----------------------------------------------------------------------------
    def _pair_for_step(self) -> dict:
        """Iterative baseline: forward only one encoder/decoder pair this step; else everything."""
        if not self.cfg.trainer.iterative:
            return {}
        elbo, decoder = self.pairs[self.step % len(self.pairs)]
        return {"elbos": [elbo], "decoders": [decoder]}

    def train_step(self, batch: dict, beta: float) -> dict[str, float] | None:
        self.net.train()
        with autocast_context(self.cfg.trainer.amp, self.device):
            out = self.net(batch, **self._pair_for_step())
            terms = self.criterion(out, batch, beta)
        loss = self.criterion.total({k: v.float() for k, v in terms.items()}, beta)
        self.optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(loss).item())
        if finite:
            loss.backward()
            finite = NanGuard.grads_finite(self.model.parameters())
        finite = all_reduce_min(float(finite), self.dist) > 0.5  # skip on every rank or none
        if not self.guard.ok(finite, self.step):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        scalars = {k: float(v.detach()) for k, v in terms.items()}
        scalars["loss"] = float(loss.detach())
        return scalars

    # --- validation --------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:

        result, _ = evaluate_split(self.model, self.val_data, self.cfg)
        return {"mean_epe_mm": result.mean_epe_mm, "median_epe_mm": result.median_epe_mm,
                "auc_20_50": result.auc_20_50}

    # --- the loop ----------------------------------------------------------------------------
    def fit(self, progress: bool = True) -> dict:
        """Train until ``total_steps``, the time budget or the last plateau; returns a summary dict.

        ``kill -TSTP`` pauses the run and ``kill -CONT`` resumes it without the pause counting as
        training time (:class:`handvae.train.clock.PausableClock`).
        """
        from tqdm import tqdm

        cfg = self.cfg.trainer
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not (progress and self.dist.is_main),
                   unit="step", dynamic_ncols=True)
        clock = PausableClock()
        stop = False
        t0, n0 = clock.now(), 0
        try:
            while self.step < self.total_steps and not stop:
                t_step = clock.now()
                scalars, n = self._one_step()
                n0 += n
                self.train_seconds += clock.now() - t_step
                bar.update(1)
                if scalars is not None and self.step % cfg.log_every == 0:
                    rate = n0 / max(clock.now() - t0, 1e-9)
                    scalars.update(samples_per_s=rate, skipped_steps=self.guard.skipped)
                    self.logger.log(self.step, scalars)
                    bar.set_postfix(loss=f"{scalars['loss']:.4f}", sps=f"{rate:.1f}")
                    t0, n0 = clock.now(), 0
                out_of_time = self._out_of_time()
                if self.step % cfg.val_every == 0 or self.step == self.total_steps or out_of_time:
                    stop = self._validate_and_checkpoint() or out_of_time
                    t0, n0 = clock.now(), 0
        finally:
            clock.close()
            bar.close()
            self.logger.close()
        return {"steps": self.step, "best_epe_mm": self.best_epe, "skipped_steps": self.guard.skipped,
                "lr_drops": self.plateau.drops, "history": self.history}

    def _one_step(self) -> tuple[dict[str, float] | None, int]:
        """One optimiser step on the next batch (beta and, for ``cosine``, the lr of this step).

        Returns the step's scalars (None when the NaN guard skipped it) and the samples it used.
        """
        cfg = self.cfg.trainer
        batch = self.train_data.next_batch()
        beta = beta_at(self.step, cfg.beta_start, cfg.beta_end, self.anneal_steps)
        if cfg.align_warmup_steps > 0:  # a function of the step alone, so exact resume needs no extra state
            self.criterion.align_scale = min(1.0, self.step / cfg.align_warmup_steps)
        if cfg.schedule == "cosine":
            for group in self.optimizer.param_groups:
                group["lr"] = cosine_lr(self.step, cfg.lr, cfg.warmup_steps, self.total_steps)
        scalars = self.train_step(batch, beta)
        self.step += 1
        n = batch["R"].shape[0] * self.dist.world_size
        self.samples_seen += n
        if scalars is not None:
            scalars.update(beta=beta, lr=self.optimizer.param_groups[0]["lr"])
            if cfg.align_warmup_steps > 0:
                scalars["align_scale"] = self.criterion.align_scale
        return scalars, n

    def _out_of_time(self) -> bool:
        """Whether ``trainer.max_minutes`` of training time are spent (decided by rank 0 for every rank)."""
        limit = self.cfg.trainer.max_minutes
        if limit <= 0:  # the same config on every rank: no collective needed
            return False
        return broadcast_value(float(self.train_seconds >= 60.0 * limit), self.dist) > 0.5

    def _validate_and_checkpoint(self) -> bool:
        stop = False
        if self.dist.is_main:
            metrics = self.validate()
            progress = {"train_seconds": round(self.train_seconds, 2), "samples": self.samples_seen}
            self.history.append({"step": self.step, **progress, **metrics})
            self.logger.log(self.step, {**progress, **metrics}, kind="val")
            verdict = self.plateau.step(metrics["mean_epe_mm"])
            if self.cfg.trainer.schedule == "cosine" and verdict in ("drop", "stop"):
                verdict = "wait"  # the cosine schedule owns the lr and the length of the run
            if verdict == "improved":
                self.best_epe = metrics["mean_epe_mm"]
            elif verdict == "drop":
                for group in self.optimizer.param_groups:
                    group["lr"] /= 10.0
            stop = verdict == "stop"
        if self.dist.enabled:
            lr = broadcast_value(self.optimizer.param_groups[0]["lr"], self.dist)  # rank 0 decides
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            stop = broadcast_value(float(stop), self.dist) > 0.5
        self.save("last")
        if self.dist.is_main and self.history and self.history[-1]["mean_epe_mm"] <= self.best_epe:
            self.save("best")
        return stop
