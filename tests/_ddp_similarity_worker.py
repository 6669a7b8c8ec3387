"""Run under `torchrun --nproc_per_node 2` by test_distributed.py: trains the similarity encoder
data-parallel on the sample FAQ (distilled, 2 epochs then resumed to 3; then Partial FC with
the class centres sharded), then once with different data on each rank."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from helpers import leave_ddp

import similarity
from textgan.common import distributed as ddp
from textgan.common.errors import InputError

torch.set_num_threads(1)
out, data = Path(sys.argv[1]), sys.argv[2]
texts, groups = similarity.load_groups(data, "text", "group")
cfg = similarity.TrainConfig(epochs=2, batch_size=40, lr_decay="constant")
similarity.train(cfg, texts, groups, out / "two", progress=False, cache_dir=out / "cache")
similarity.train(similarity.TrainConfig(epochs=3, batch_size=40, lr_decay="constant"), texts, groups, out / "two",
                 progress=False, resume=True, cache_dir=out / "cache")
pfc = similarity.TrainConfig(epochs=2, batch_size=40, teacher="none", partial_fc=0.3)
similarity.train(pfc, texts, groups, out / "pfc2", progress=False)
try:
    similarity.train(pfc, texts[ddp.rank():], groups[ddp.rank():], out / f"odd{ddp.rank()}", progress=False)
    result = "trained"
except InputError as exc:
    result = str(exc)
(out / f"rank{ddp.rank()}.json").write_text(json.dumps(result))
leave_ddp(out)  # the last line: both ranks meet, then mark that their work is done
