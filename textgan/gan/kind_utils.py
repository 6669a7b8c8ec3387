"""Plumbing shared by the extra model kinds (MEG, Langevin EBM, O-GAN, conditional GAN).

Configs from JSON / from a core GANConfig, input checks, seeding, EMA, loss PNGs and the
model-folder conventions: the core's `config.json` format plus a `kind` field.
"""
from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from textgan.artifacts import load_json, load_tensors
from textgan.errors import InputError
from textgan.gan.config import config_from_dict  # noqa: F401  (re-exported for the kind loaders)

Tensor = torch.Tensor
FORMAT = "textgan-gan/1"  # same folder format as the core; `kind` tells the loaders apart


# GANConfig field -> field of the energy configs, for `train-gan --objective meg|ebm-langevin`
_GAN_ALIASES = {"lr_d": "lr_e", "n_critic": "n_energy", "penalty_weight": "gp_weight"}


def config_from_gan(cls, gan_config) -> object:
    """Carry the shared fields of a core `GANConfig` (steps, batch, nets, seed, lr...) over.

    Fields left None in the GANConfig, or unknown to `cls`, keep `cls`'s defaults, so a
    CLI that builds a GANConfig can dispatch to the energy trainers unchanged.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    kw = {}
    for f in dataclasses.fields(gan_config):
        key = _GAN_ALIASES.get(f.name, f.name)
        val = getattr(gan_config, f.name)
        if key in names and val is not None:
            kw[key] = tuple(val) if key == "betas" else val
    return cls(**kw)


def prepare_run(cls, config, data, out_dir) -> tuple:
    """(config, data, out folder) for a trainer: the config may be `cls`, a core GANConfig or None;
    the data and folder are checked and every RNG is seeded."""
    cfg = config if isinstance(config, cls) else (cls() if config is None else config_from_gan(cls, config))
    cfg = cfg.validate()
    data = check_vectors(data, cfg.batch_size)
    out = Path(out_dir)
    check_out_dir(out)
    seed_all(cfg.seed)
    return cfg, data, out


def batched_energy(fn, x, dim: int) -> Tensor:
    """Energies (n,) of vectors x (n, dim) under `fn`, in chunks; wrong shapes are an InputError."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x.float()
    if x.dim() != 2 or x.shape[1] != dim:
        raise InputError(f"vectors have shape {tuple(x.shape)}, this model scores (n, {dim})")
    with torch.no_grad():
        return torch.cat([fn(c) for c in x.split(8192)]) if len(x) else x.new_zeros(0)


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def check_vectors(data, batch_size: int) -> Tensor:
    """(N, D) finite float tensor with at least one batch of rows, else InputError."""
    if not torch.is_tensor(data):
        data = torch.as_tensor(np.asarray(data, dtype=np.float32))
    if data.dim() != 2:
        raise InputError(f"training vectors must have shape (N, D), got {tuple(data.shape)}")
    if data.shape[0] < batch_size:
        raise InputError(f"only {data.shape[0]} rows, fewer than one batch ({batch_size}); lower --batch-size")
    data = data.detach().float().contiguous()
    if not torch.isfinite(data).all():
        raise InputError("training vectors contain NaN or inf")
    return data


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float, step: int) -> None:
    """ema <- d ema + (1-d) net, d warmed up as min(decay, (1+t)/(10+t))."""
    d = min(decay, (1 + step) / (10 + step))
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.lerp_(p, 1 - d)


def write_metrics_png(rows: list[dict], keys: tuple[str, ...], png: Path, title: str) -> None:
    """Loss curves as a PNG (Agg backend) beside the model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in keys:
        ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=key)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("output folder is not empty (choose a new --out)", out)


def read_kind_config(path: str | Path, kind: str) -> dict:
    """config.json of a model folder of the given kind, else InputError."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("not a folder (expected a trained model folder)", path)
    info = load_json(path / "config.json")
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError("not a textgan GAN folder (config.json has no textgan-gan format)", path)
    if info.get("kind", "gan") != kind:
        raise InputError(f"expected a {kind!r} model, this folder holds a {info.get('kind', 'gan')!r} model", path)
    return info


def load_weights(net: nn.Module, file: Path) -> nn.Module:
    try:
        net.load_state_dict(load_tensors(file))
    except RuntimeError as exc:
        raise InputError(f"weights do not match config.json ({str(exc).splitlines()[0][:200]})", file) from None
    return net.eval()
