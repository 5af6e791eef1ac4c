"""Multi-GPU and multi-node training through ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node 8 -m handvae train configs/s4.yaml`` sets RANK, WORLD_SIZE and
LOCAL_RANK; :func:`setup` then joins the process group (NCCL on GPUs, gloo on the CPU) and picks
this process's device. Without those variables everything runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this process's GPU when CUDA is available, else the CPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device(f"cuda:{local_rank}")
    return dev


def setup(device: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun; return rank, world size and device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _scalar(value: float, info: DistInfo) -> torch.Tensor:
    return torch.tensor([float(value)], dtype=torch.float64, device=info.device)


def all_reduce_min(value: float, info: DistInfo) -> float:
    """Minimum of ``value`` over all processes (itself in one process)."""
    if not info.enabled:
        return float(value)
    t = _scalar(value, info)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return float(t.item())


def broadcast_value(value: float, info: DistInfo) -> float:
    """Rank 0's ``value`` on every rank (for decisions taken on rank 0: lr drops, stopping)."""
    if not info.enabled:
        return float(value)
    t = _scalar(value, info)
    dist.broadcast(t, src=0)
    return float(t.item())
