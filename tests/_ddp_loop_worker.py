"""Run under `torchrun --nproc_per_node 2` by test_loop.py: trains with Gaussian virtual outliers and
real outliers data-parallel (class centres sharded across the ranks), 1 epoch then resumed to 3."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from helpers import leave_ddp

import similarity

torch.set_num_threads(1)
out, data = Path(sys.argv[1]), sys.argv[2]
texts, groups = similarity.load_groups(data, "text", "group")
real = ["what is the capital of peru", "play some jazz music", "how tall is mount everest", "book a flight to rome"]
cfg = similarity.TrainConfig(epochs=3, batch_size=40, lr_decay="constant", teacher="none", hidden_size=32,
                             embed_dim=32, virtual_outliers="gaussian", vo_start=2, vo_weight=1.0)
similarity.train(cfg.__class__(**{**cfg.__dict__, "epochs": 2}), texts, groups, out / "two", progress=False,
                 outliers=real)
similarity.train(cfg, texts, groups, out / "two", progress=False, resume=True, outliers=real)
leave_ddp(out)  # the last line: both ranks meet, then mark that their work is done
