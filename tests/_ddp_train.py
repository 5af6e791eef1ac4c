"""A torchrun entry point for the DDP test: ``handvae train ARGS...``, then each rank's parameters.

Run as ``python -m torch.distributed.run --nproc_per_node 2 tests/_ddp_train.py CONFIG OVERRIDES...``.
It is ``handvae train`` (the CLI, unchanged), except that after training every rank writes its
model's parameters to ``OUT_DIR/params_rank<R>.pt``: only rank 0 writes checkpoints, so this is
how the test sees what the other ranks ended with.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from handvae.cli import main
from handvae.train.trainer import Trainer

_fit = Trainer.fit


def _fit_and_dump(self, *args, **kwargs):
    out = _fit(self, *args, **kwargs)
    params = {name: p.detach().cpu().clone() for name, p in self.model.named_parameters()}
    torch.save(params, Path(self.cfg.out_dir) / f"params_rank{self.dist.rank}.pt")
    return out


Trainer.fit = _fit_and_dump

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
