"""Training batches from a prepared split, assembled on the training device.

:class:`BatchLoader` holds the split on the device when it fits (images stay uint8) and otherwise
streams each batch from the memory-mapped cache (a background thread reads the next batch). Every
step is assembled on the device: random 256-of-1024 point subsets, augmentation and heatmaps
(:mod:`handvae.data.augment`). Batches follow the package convention: 'R' (B,3,S,S) in [0,1],
'D' (B,1,S,S), 'C' (B,N,3), 'H' (B,21,64,64), 'P' (B,21,3) normalised, 'present' letter -> (B,)
bool, 'scale_mm' (B,), 'centroid_mm' (B,3), 'R_vc' (B,3,3), 'index' (B,) long.

Order and randomness: the epoch's order follows DistributedSampler (a permutation seeded by
``seed + epoch``, padded to a multiple of ``world_size``, rank r takes every world_size-th entry
from r); the augmentation generator is re-seeded from (seed, epoch, step, rank) at every step, so
(epoch, position) fully determine what comes next and ``load_state_dict`` resumes exactly.
Weak supervision: the first round(labelled_fraction * N) samples of the range keep P and H (the
heatmaps are drawn from the 2D keypoints, a pose label; present['P'], present['H']). With
``weak_batches="paired"`` (the paper's protocol, suppl. E) a training step holds ``batch_size`` labelled
samples, in the order the supervised run on them alone would see them (an epoch is one pass over the
labelled part), followed by ``batch_size`` unlabelled ones (a permutation of the unlabelled part per
epoch, repeated where it is shorter); ``"mixed"`` draws each batch from the whole split.
A loader may cover a range of the split (``start``, ``max_samples``): the trainer validates on the
tail of the training split (:func:`sample_range`) and trains on the rest; indices stay the split's.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from handvae.data import augment as aug
from handvae.data.cache import open_split, read_manifest
from handvae.data.rgb import rgb_input
from handvae.errors import UserError
from handvae.modalities import MODALITIES

_FIELDS = {k: list(m.cache_fields) for k, m in MODALITIES.items()}
_META = ["centroid_mm", "scale_mm", "R_vc"]


def _step_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


class BatchLoader:
    """Batches of one prepared split. Iterate for the rest of the current epoch."""

    def __init__(
        self,
        split_dir: str | Path,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        seed: int = 0,
        train: bool = True,
        modalities: str = "RCHP",
        n_points: int = 256,
        heatmap_size: int = 64,
        heatmap_sigma: float = 2.0,
        augment: aug.AugmentConfig | None = None,
        labelled_fraction: float = 1.0,
        weak_batches: str = "paired",
        max_samples: int = 0,
        start: int = 0,
        on_device: str = "auto",
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool | None = None,
    ):
        self.split_dir = Path(split_dir)
        self.manifest = read_manifest(self.split_dir)
        unknown = set(modalities) - set(_FIELDS)
        if unknown:
            raise UserError(f"unknown modalities {sorted(unknown)}; expected letters of {''.join(_FIELDS)}")
        if not 0 <= rank < world_size:
            raise UserError(f"rank {rank} must be in [0, world_size={world_size})")
        if on_device not in ("auto", "always", "never"):
            raise UserError(f"on_device must be auto, always or never, got {on_device!r}")
        self.device = torch.device(device)
        self.modalities = modalities
        self.batch_size, self.seed, self.train = batch_size, seed, train
        self.n_points, self.heatmap_size, self.heatmap_sigma = n_points, heatmap_size, heatmap_sigma
        self.augment = augment if train else None
        self.rank, self.world_size = rank, world_size
        self.drop_last = train if drop_last is None else drop_last
        names = sorted({f for m in modalities for f in _FIELDS[m]} | set(_META))
        self.arrays = open_split(self.split_dir, names)
        total = int(self.manifest["count"])
        if not 0 <= start < total:
            raise UserError(f"{self.split_dir}: sample range starts at {start}, the split has {total} samples")
        self.start = start
        self.n = total - start if max_samples <= 0 else min(max_samples, total - start)
        self.size = int(self.arrays["image"].shape[1]) if "image" in self.arrays else int(self.manifest["crop_size"])
        if "C" in modalities and self.arrays["cloud"].shape[1] < n_points:
            raise UserError(f"{self.split_dir}: {self.arrays['cloud'].shape[1]} points stored, {n_points} asked")
        self._set_weak(labelled_fraction, weak_batches)
        self.resident = self._decide_resident(on_device)
        self.data: dict[str, torch.Tensor] = {}
        if self.resident:
            self.data = {k: torch.from_numpy(np.array(v[start : start + self.n])).to(self.device)
                         for k, v in self.arrays.items()}
        self.epoch, self.position = 0, 0
        self.generator = torch.Generator(device=self.device)

    def _set_weak(self, labelled_fraction: float, weak_batches: str) -> None:
        """``n_labelled``, ``paired`` and ``step_size`` (samples a step takes from the order)."""
        self.n_labelled = round(labelled_fraction * self.n)
        if weak_batches not in ("paired", "mixed"):
            raise UserError(f"weak_batches must be paired or mixed, got {weak_batches!r}")
        self.paired = self.train and weak_batches == "paired" and 0 < self.n_labelled < self.n
        if self.paired and not self.drop_last:
            raise UserError("weak_batches=paired needs drop_last: every step holds a full batch of each part")
        if self.paired and self.n_labelled < self.batch_size * self.world_size:
            raise UserError(f"{self.split_dir}: labelled_fraction={labelled_fraction} leaves {self.n_labelled} "
                            f"labelled samples, fewer than a batch of {self.batch_size} per rank (x{self.world_size})")
        self.step_size = 2 * self.batch_size if self.paired else self.batch_size

    # --- residency ------------------------------------------------------------------------------
    def nbytes(self) -> int:
        return sum(int(v[:1].nbytes) * self.n for v in self.arrays.values())

    def _decide_resident(self, mode: str) -> bool:
        if mode != "auto":
            return mode == "always"
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            budget = 0.5 * free
        else:
            budget = 0.25 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return self.nbytes() <= budget

    # --- order ------------------------------------------------------------------------------------
    def indices(self, epoch: int | None = None) -> torch.Tensor:
        """This rank's sample order for ``epoch`` (DistributedSampler semantics), (M,) long split indices;
        each step takes the next :attr:`step_size` of them (paired: ``batch_size`` labelled, then as many
        unlabelled)."""
        epoch = self.epoch if epoch is None else epoch
        if not self.paired:
            return self.start + self._rank_order(self.n, self.seed + epoch if self.train else None)
        labelled = self._rank_order(self.n_labelled, self.seed + epoch)
        steps = len(self)
        labelled = labelled[: steps * self.batch_size].view(steps, self.batch_size)
        # a key of its own: (seed, epoch, 0, 0, 1) is no step's augmentation key (seed, epoch, step, rank)
        unlabelled_seed = _step_seed(self.seed, epoch, 0, 0, 1)
        unlabelled = self.n_labelled + self._rank_order(self.n - self.n_labelled, unlabelled_seed)
        unlabelled = unlabelled.repeat(math.ceil(steps * self.batch_size / len(unlabelled)))
        unlabelled = unlabelled[: steps * self.batch_size].view(steps, self.batch_size)
        return self.start + torch.cat([labelled, unlabelled], dim=1).reshape(-1)

    def _rank_order(self, n: int, seed: int | None) -> torch.Tensor:
        """A permutation of ``range(n)`` seeded by ``seed`` (``None``: in order), padded by repetition to a
        multiple of ``world_size``, this rank's share."""
        if seed is None:
            order = torch.arange(n)
        else:
            g = torch.Generator()
            g.manual_seed(seed)
            order = torch.randperm(n, generator=g)
        total = math.ceil(n / self.world_size) * self.world_size
        if total > n:
            order = torch.cat([order] * math.ceil(total / n))[:total]
        return order[self.rank : total : self.world_size]

    def __len__(self) -> int:
        m = math.ceil((self.n_labelled if self.paired else self.n) / self.world_size)
        return m // self.batch_size if self.drop_last else math.ceil(m / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.position = int(epoch), 0

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "rank": self.rank,
            "world_size": self.world_size,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        if "generator" in state:
            self.generator.set_state(state["generator"])

    # --- iteration ------------------------------------------------------------------------------
    def _gather(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.resident:
            dev_idx = (idx - self.start).to(self.device)
            return {k: v[dev_idx] for k, v in self.data.items()}
        order = np.argsort(idx.numpy(), kind="stable")
        sorted_idx = idx.numpy()[order]
        inverse = torch.from_numpy(np.argsort(order, kind="stable"))
        out = {}
        for k, v in self.arrays.items():
            t = torch.from_numpy(np.ascontiguousarray(v[sorted_idx]))[inverse]
            if self.device.type == "cuda":
                t = t.pin_memory()
            out[k] = t.to(self.device, non_blocking=True)
        return out

    def __iter__(self):
        order = self.indices()
        steps = len(self)
        size = self.step_size
        starts = [i * size for i in range(self.position, steps)]
        pool = ThreadPoolExecutor(1) if not self.resident else None
        try:
            pending = pool.submit(self._gather, order[starts[0] : starts[0] + size]) if pool and starts else None
            for j, start in enumerate(starts):
                idx = order[start : start + size]
                if pool is not None:
                    raw = pending.result()
                    if j + 1 < len(starts):
                        nxt = starts[j + 1]
                        pending = pool.submit(self._gather, order[nxt : nxt + size])
                else:
                    raw = self._gather(idx)
                step = self.position
                self.generator.manual_seed(_step_seed(self.seed, self.epoch, step, self.rank))
                batch = self.assemble(raw, idx.to(self.device))
                self.position += 1
                yield batch
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        self.epoch, self.position = self.epoch + 1, 0

    def assemble(self, raw: dict[str, torch.Tensor], index: torch.Tensor) -> dict:
        """Gathered raw cache rows (on the device) -> a batch dict (see the module docstring)."""
        return assemble(
            raw,
            index,
            self.modalities,
            self.size,
            self.n_points,
            self.heatmap_size,
            self.heatmap_sigma,
            self.augment,
            self.generator if self.train else None,
            self.start + self.n_labelled,  # assemble compares the split's own indices
        )


def assemble(
    raw: dict[str, torch.Tensor],
    index: torch.Tensor,
    modalities: str,
    size: int,
    n_points: int = 256,
    heatmap_size: int = 64,
    heatmap_sigma: float = 2.0,
    augment: aug.AugmentConfig | None = None,
    generator: torch.Generator | None = None,
    n_labelled: int | None = None,
    params: dict | None = None,
) -> dict:
    """Assemble one batch on ``index.device``; ``params`` (augmentation) are drawn unless given; samples whose
    split index is ``n_labelled`` or more lack P and H (weak supervision; None: all keep them)."""
    dev = index.device
    b = index.shape[0]
    do_aug = params is not None or augment is not None
    if params is None:
        params = aug.sample_params(b, size, augment, generator, dev) if augment else aug.identity_params(b, dev)
    R_z = aug.rotation_z(params["angle"].float())
    batch: dict = {"present": {}}
    ones = torch.ones(b, dtype=torch.bool, device=dev)
    if "R" in modalities or "D" in modalities:
        chans = []
        if "R" in modalities:
            chans.append(rgb_input(raw["image"]))
        if "D" in modalities:
            chans.append(raw["depth"].float()[:, None] - 1.0)  # background 1 -> 0 so the warp pads with it
        img = torch.cat(chans, 1)
        if do_aug:
            img = aug.warp(img, params)
        if "R" in modalities:
            rgb = img[:, :3]
            batch["R"] = aug.hue_shift(rgb, params["hue"]) if do_aug else rgb.contiguous()
            if do_aug and "brightness" in params:
                batch["R"] = aug.color_jitter(batch["R"], params)
            batch["present"]["R"] = ones
        if "D" in modalities:
            batch["D"] = (img[:, -1:] + 1.0).contiguous()
            batch["present"]["D"] = ones
    if "C" in modalities:
        cloud = raw["cloud"].float()
        pick = aug.random_subsets(cloud.shape[1], n_points, b, generator, dev)
        cloud = torch.gather(cloud, 1, pick[..., None].expand(-1, -1, 3))
        batch["C"] = cloud @ R_z.transpose(1, 2)
        batch["present"]["C"] = raw["has_cloud"].bool()
    labelled = index < n_labelled if n_labelled is not None else ones  # weak supervision: P and H
    if "H" in modalities:
        uv = aug.transform_points_2d(raw["uv"].float(), params, size)
        batch["H"] = aug.heatmaps(uv, size, heatmap_size, heatmap_sigma)
        batch["present"]["H"] = labelled
    if "P" in modalities:
        batch["P"] = raw["pose"].float() @ R_z.transpose(1, 2)
        batch["present"]["P"] = labelled
    batch["scale_mm"] = raw["scale_mm"].float()
    batch["centroid_mm"] = raw["centroid_mm"].float()
    batch["R_vc"] = R_z @ raw["R_vc"].float()
    batch["index"] = index.long()
    return batch


HOLDOUT = "holdout"


def sample_range(cfg, split: str, train: bool) -> tuple[str, int, int]:
    """(split folder name, first sample, sample count or 0 = to the end) of a loader for ``cfg``.

    ``split == "holdout"`` is the last ``cfg.val_holdout`` samples of ``cfg.train_split``; while
    ``cfg.val_split`` is ``holdout`` the training loader stops before them (and ``max_samples``
    counts from the start of what is left).
    """
    if split == HOLDOUT:
        total = _count(cfg, cfg.train_split)
        return cfg.train_split, total - _holdout(cfg, total), 0
    if train and cfg.val_split == HOLDOUT and split == cfg.train_split:
        keep = _count(cfg, split) - _holdout(cfg, _count(cfg, split))
        return split, 0, keep if cfg.max_samples <= 0 else min(cfg.max_samples, keep)
    return split, 0, cfg.max_samples if train else 0


def _count(cfg, split: str) -> int:
    return int(read_manifest(Path(cfg.cache) / split)["count"])


def _holdout(cfg, total: int) -> int:
    if not 1 <= cfg.val_holdout <= total // 2:
        raise UserError(f"data.val_holdout={cfg.val_holdout}: expected 1 to half of the {total} samples of "
                        f"split {cfg.train_split!r} (or set data.val_split to another split, such as 'test')")
    return int(cfg.val_holdout)


def build_loader(
    cfg,
    split: str,
    batch_size: int,
    device="cpu",
    seed: int = 0,
    train: bool = True,
    modalities: str = "RCHP",
    rank: int = 0,
    world_size: int = 1,
) -> BatchLoader:
    """A :class:`BatchLoader` for ``cfg`` (a :class:`handvae.schema.DataConfig`) and a split name.

    ``split`` is a folder of the cache or ``"holdout"`` (see :func:`sample_range`).
    """
    folder, start, count = sample_range(cfg, split, train)
    split_dir = Path(cfg.cache) / folder
    loader = BatchLoader(
        split_dir,
        batch_size=batch_size,
        device=device,
        seed=seed,
        train=train,
        modalities=modalities,
        n_points=cfg.n_points,
        heatmap_size=cfg.heatmap_size,
        heatmap_sigma=cfg.heatmap_sigma,
        augment=aug.AugmentConfig(tuple(cfg.aug_scale), cfg.aug_translate_px, cfg.aug_rotate, cfg.aug_hue,
                                  cfg.aug_color)
        if (cfg.augment and train)
        else None,
        labelled_fraction=cfg.labelled_fraction if train else 1.0,
        weak_batches=cfg.weak_batches,
        max_samples=count,
        start=start,
        on_device=cfg.on_device,
        rank=rank,
        world_size=world_size,
    )
    if loader.size != cfg.crop_size:
        raise UserError(f"{split_dir}: cache crop size {loader.size} but data.crop_size is {cfg.crop_size}")
    return loader
