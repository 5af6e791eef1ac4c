"""The experiment config: one dataclass per section, composed into :class:`Config`.

Every command loads a :class:`Config` (defaults <- YAML <- ``key.sub=value`` overrides, see
:mod:`handvae.config`) and saves the resolved one beside its outputs. Letters R, D, C, H, P
are the paper's modalities; strategies are written as in the paper (``RC2CHP``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from handvae.config import ConfigError

# The choices of every enumerated setting, defined once: a bad value fails when the config is loaded,
# naming the key and the valid values (handvae.config).
Alignment = Literal["none", "kl", "poe"]
EmdMethod = Literal["auto", "exact", "sinkhorn"]
L2Form = Literal["norm", "squared"]
Amp = Literal["auto", "bf16", "fp16", "off"]
OnDevice = Literal["auto", "always", "never"]
WeakBatches = Literal["paired", "mixed"]
Schedule = Literal["plateau", "cosine"]
Root = Literal["mcp", "palm", "wrist"]
Scale = Literal["gt_bone", "none", "procrustes"]


@dataclass
class DataConfig:
    """Where the prepared data lives and how batches are made (docs/METHOD.md, section 7)."""

    cache: str = ""  # prepared cache folder (``handvae prepare``)
    train_split: str = "train"
    # Model selection and the lr schedule look at ``val_split``; ``holdout`` (default) is the last
    # ``val_holdout`` samples of ``train_split``, which training then never sees. The test split is
    # scored once, at the end, by ``handvae evaluate``.
    val_split: str = "holdout"
    val_holdout: int = 500
    crop_size: int = 256  # px; 256 in the paper, 64-128 for CPU presets
    n_points: int = 256  # points per cloud per step (fresh random subset each step)
    heatmap_size: int = 64
    heatmap_sigma: float = 2.0  # px on the heatmap grid
    augment: bool = True
    aug_scale: tuple[float, float] = (1.0, 1.2)
    aug_translate_px: float = 20.0  # at crop_size 256; scaled with the crop size
    aug_rotate: float = 3.141592653589793  # radians, uniform in [-a, a] about the camera axis
    aug_hue: float = 0.1
    aug_color: float = 0.0  # photometric jitter (brightness, contrast, saturation, grayscale); 0: off (paper)
    labelled_fraction: float = 1.0  # weak supervision: the first m of the training samples keep P and H
    # with labelled_fraction < 1: "paired" (the paper, suppl. E) gives every step a batch of labelled samples,
    # as the supervised run on them would have, plus a batch as large of unlabelled ones; "mixed" draws
    # one batch from the whole split, so a step holds about m of a batch labelled
    weak_batches: WeakBatches = "paired"
    max_samples: int = 0  # 0 = all; otherwise the first N of the training split (after the holdout)
    on_device: OnDevice = "auto"  # hold the split in device memory


@dataclass
class ModelConfig:
    """Networks and latent alignment (docs/METHOD.md, sections 2-3)."""

    strategy: str = "RC2CHP"  # paper notation: encoders 2 decoders
    alignment: Alignment = "poe"
    latent_dim: int = 64
    rgb_width: int = 64  # ResNet-18 base width (64 = torchvision's)
    init_logvar: float = -4.0  # initial log-variance of every encoder (not in the paper; 0 learns far slower)
    prior_expert: bool = False  # PoE with the N(0, I) expert (MVAE form); the paper has none
    point_width: float = 1.0  # width multiplier of ResPEL and FoldingNet (1 = the paper's)
    heat_width: float = 1.0  # width multiplier of the heatmap decoder (1 = the paper's 128, 64, 32 channels)
    heat_kernel: int = 5  # kernel of the heatmap decoder's stride-2 transposed convolutions (the paper's 5)
    depth_width: int = 32  # base channels of the depth encoder/decoder (RD2DHP ablation)
    pretrained: str = ""  # optional path to torchvision ResNet-18 weights (.pth / .safetensors)


@dataclass
class LossConfig:
    """Weights of the named loss terms (docs/METHOD.md, section 4)."""

    lambda_pose: float = 1.0
    lambda_heat: float = 0.01
    lambda_cloud: float = 1.0
    lambda_depth: float = 1.0
    lambda_align: float = 1.0  # lambda' of Eq. 3
    # S3: in the alignment KL, a posterior variance below this counts as this (0: the paper's KL). With 1, while
    # both posteriors are sharp, the term is half the squared distance of their means: it no longer divides by
    # the RGB posterior's shrinking variance (docs/LEARNING.md, section 4)
    align_var_floor: float = 0.0
    # S3: the alignment pulls only the RGB posterior towards the joint one (the joint posterior detached, a
    # teacher), instead of both towards each other as in the paper (false)
    align_detach_joint: bool = False
    emd: EmdMethod = "auto"  # auto: exact on the CPU, Sinkhorn on a GPU
    l2_form: L2Form = "norm"  # norm: the paper's ||x - y|| | squared: ||x - y||^2 (pose, heatmap, depth)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.align_var_floor) and self.align_var_floor >= 0.0):
            raise ConfigError(f"loss.align_var_floor: expected a finite value >= 0 (0: the paper's KL), "
                              f"got {self.align_var_floor!r}")


@dataclass
class TrainerConfig:
    """Optimisation schedule (docs/METHOD.md, section 6)."""

    lr: float = 1e-4
    batch_size: int = 32
    val_batch_size: int = 64
    epochs: int = 50
    max_steps: int = 0  # 0 = no step limit
    max_minutes: float = 0.0  # 0 = no limit; else stop (validate, checkpoint) after this much training wall time
    schedule: Schedule = "plateau"  # plateau: the paper's lr / 10 on plateaus | cosine: warm-up, then cosine to 0
    warmup_steps: int = 0  # cosine only: linear warm-up from 0
    beta_start: float = 1e-5
    beta_end: float = 1e-3
    # Steps of the log-linear beta ramp: the paper's 10 epochs of RHD (41,258 samples) at batch 32.
    # Given in steps so that a recipe means the same at any dataset size.
    beta_anneal_steps: int = 12890
    # KL alignment (S3): lambda' ramps linearly from 0 to loss.lambda_align over these steps; 0 = the paper's
    # constant lambda' from the first step (docs/LEARNING.md, section 4)
    align_warmup_steps: int = 0
    plateau_patience: int = 5  # validations without improvement before lr /= 10
    max_lr_drops: int = 2
    val_every: int = 500  # steps
    log_every: int = 50
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: Amp = "auto"  # GPU: auto = bf16 where supported, else fp16. CPU: only "bf16" turns it on
    channels_last: bool = True  # the model's 4-D weights in NHWC order, on the GPU and the CPU
    compile: bool = False
    nan_limit: int = 10  # consecutive non-finite steps before the run stops
    iterative: bool = False  # Spurr et al.'s alternating baseline
    # a run folder, checkpoint or released model file whose weights start this run where names and shapes match
    # (fine-tuning; an S4 started from an S1); the rest starts fresh. Ignored by --resume (the checkpoint wins)
    init_from: str = ""


@dataclass
class EvalConfig:
    """The evaluation protocol (see :mod:`handvae.eval.metrics`)."""

    root: Root = "mcp"
    scale: Scale = "gt_bone"
    visible_only: bool = True


@dataclass
class Config:
    """One experiment."""

    seed: int = 0
    out_dir: str = "runs/default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
