"""MEG, the Langevin EBM and O-GAN by name, with defaults for the benches (`bench/toy.py`,
`bench/generation.py`): `train(name, data, out_dir, steps=..., seed=...)` and `load(dir)`.

The defaults are one table row per model; `head="auto"` picks the unit sphere when every
training row has norm 1 (L2-normalised embeddings) and plain R^D otherwise.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from textgan.errors import InputError
from textgan.gan.config import GANConfig
from textgan.gan.energy import MEGConfig
from textgan.gan.kinds import ENERGY_TRAINERS, load_model
from textgan.gan.langevin import EBMConfig

# name -> default config (steps, seed and head are set per call)
DEFAULTS: dict[str, object] = {
    "meg": MEGConfig(batch_size=256, noise_dim=16, width=256, depth=3, lr_g=2e-4, lr_e=2e-4, gp_weight=0.1),
    "ebm-langevin": EBMConfig(batch_size=256, width=256, depth=3, n_langevin=20, step_size=0.1, noise=0.01),
    "ogan": GANConfig(objective="ogan", batch_size=256, noise_dim=16, width=256, depth=3),
}
NAMES: tuple[str, ...] = tuple(DEFAULTS)


def auto_head(data: torch.Tensor) -> str:
    """"sphere" when all rows are unit vectors, else "linear"."""
    norms = data.norm(dim=1)
    return "sphere" if bool(((norms - 1).abs() < 1e-3).all()) else "linear"


def train(name: str, data, out_dir: str | Path, steps: int | None = None, seed: int = 0, head: str = "auto",
          meta: dict | None = None, progress: bool = False, **overrides) -> Path:
    """Train model `name` on (N, D) vectors with the table's defaults.

    Args:
        name: one of `NAMES`. data: (N, D) array or tensor. out_dir: new folder.
        steps: training steps (None: the config default). seed: RNG seed.
        head: "auto", "linear", "sphere" or "tanh". meta: saved with the model.
        overrides: any other field of that model's config.
    """
    if name not in DEFAULTS:
        raise InputError(f"unknown model {name!r}; valid: {', '.join(DEFAULTS)}")
    x = data if torch.is_tensor(data) else torch.as_tensor(np.asarray(data, dtype=np.float32))
    x = x.float()
    fields = dict(seed=seed, head=auto_head(x) if head == "auto" else head, **overrides)
    if steps is not None:
        fields["steps"] = steps
    cfg = dataclasses.replace(DEFAULTS[name], **fields)
    return ENERGY_TRAINERS[name](x, cfg, out_dir, meta=meta, progress=progress)


def load(path: str | Path):
    """Load a folder written by `train` (any kind): `.sample(n, seed)`, `.dim`, `.meta`."""
    return load_model(path)
