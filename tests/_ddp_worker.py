"""Run under `torchrun --nproc_per_node 2` by test_distributed.py: trains the gan kind data-parallel
(fresh, then resumed from rank 0's checkpoint), then once with different data on each rank."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from helpers import leave_ddp

from textgan.common.errors import InputError
from textgan.gan import GANConfig, train_gan

torch.set_num_threads(1)
out = Path(sys.argv[1])
x = np.load(out / "v.npy")
cfg = dict(steps=30, batch_size=32, width=32, depth=2, noise_dim=8, objective="wgan-gp", penalty="gp",
           checkpoint_every=10)
train_gan(x, GANConfig(**cfg), out / "two", progress=False)
train_gan(x, GANConfig(**dict(cfg, steps=40)), out / "two", progress=False, resume=True)
rank = torch.distributed.get_rank()
try:
    train_gan(x + rank, GANConfig(**cfg), out / f"odd{rank}", progress=False)
    result = "trained"
except InputError as exc:
    result = str(exc)
(out / f"rank{rank}.json").write_text(json.dumps(result))
leave_ddp(out)  # the last line: both ranks meet, then mark that their work is done
