"""An energy-based model sampled by Langevin dynamics in data space, no generator network.

Du & Mordatch 2019, "Implicit Generation and Generalization in Energy-Based Models"
(arXiv:1903.08689): negatives come from K steps of stochastic gradient Langevin dynamics
x <- x - step_size * grad E(x) + noise * eps, started 95% of the time from a replay
buffer of past negatives and 5% from noise; the energy minimises
E(x+) - E(x-) + alpha (E(x+)^2 + E(x-)^2) (their eq. 3 with the L2 energy regulariser).

Data are standardised per dimension first (mean/std stored with the model) so that the
step size and noise have the same meaning on any data. With `head="sphere"` samples are
projected back onto the unit sphere after each step (L2-normalised embeddings).
The replay buffer is saved: `.sample()` starts chains from it, as the paper does.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from torch import nn

from textgan.artifacts import atomic_dir, load_tensors, save_json, save_tensors
from textgan.errors import InputError
from textgan.gan.kind_utils import (FORMAT, batched_energy, config_from_dict, load_weights, prepare_run,
                                    read_kind_config, write_metrics_png)
from textgan.gan.nets import Arch, Critic

Tensor = torch.Tensor


def langevin(energy: Callable[[Tensor], Tensor], x: Tensor, n_steps: int, step_size: float, noise: float,
             generator: torch.Generator | None = None, project: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """SGLD x <- x - step_size grad E(x) + noise eps, `n_steps` times (Du & Mordatch 2019, eq. 2).

    Args:
        energy: (B, ...) -> (B,). x: start (B, ...). generator: private RNG (None: global).
        project: optional map applied after every step (e.g. back onto a sphere).
    Returns:
        The final points (B, ...), detached.
    """
    x = x.detach().clone()
    for _ in range(n_steps):
        x.requires_grad_(True)
        (g,) = torch.autograd.grad(energy(x).sum(), x)
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        x = (x.detach() - step_size * g + noise * eps).detach()
        if project is not None:
            x = project(x)
    return x


@dataclass(frozen=True)
class EBMConfig:
    """Args:
    steps: energy updates; batch_size; lr_e, betas: Adam (the paper's betas (0.0, 0.999)).
    n_langevin, step_size, noise: SGLD chain per update (in standardised units).
    buffer_size, reinit_prob: replay buffer size and share of chains restarted from noise.
    alpha: L2 energy regulariser weight; width, depth, arch, spectral_norm: energy net.
    head: "linear" or "sphere" (project samples onto the unit sphere in data space).
    sample_steps: SGLD steps at sampling time, from the saved buffer.
    """

    steps: int = 2000
    batch_size: int = 256
    lr_e: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.999)
    n_langevin: int = 20
    step_size: float = 0.1
    noise: float = 0.01
    buffer_size: int = 10000
    reinit_prob: float = 0.05
    alpha: float = 1.0
    width: int = 256
    depth: int = 3
    arch: Arch = "mlp"
    spectral_norm: bool = False
    head: Literal["linear", "sphere", "tanh"] = "linear"
    sample_steps: int = 60
    seed: int = 0
    log_every: int = 50

    def validate(self) -> "EBMConfig":
        for name in ("steps", "batch_size", "n_langevin", "buffer_size", "width", "depth", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.step_size <= 0 or self.noise < 0 or not 0 <= self.reinit_prob <= 1:
            raise InputError("need step_size > 0, noise >= 0 and reinit_prob in [0, 1]")
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EBMConfig":
        return config_from_dict(cls, d)


class StandardisedEnergy(nn.Module):
    """E(x) = net((x - mean) / std): the net works in standardised units, callers in data units."""

    def __init__(self, dim: int, cfg: EBMConfig):
        super().__init__()
        self.net = Critic((dim,), cfg.width, cfg.depth, cfg.arch, cfg.spectral_norm)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def to_unit(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def from_unit(self, u: Tensor) -> Tensor:
        return u * self.std + self.mean

    def forward(self, x: Tensor) -> Tensor:  # data units (B, D) -> (B,)
        return self.net(self.to_unit(x))


def _projector(head: str, model: StandardisedEnergy) -> Callable[[Tensor], Tensor] | None:
    """Projection in standardised units that keeps data-space samples on the data's manifold."""
    if head == "sphere":
        return lambda u: model.to_unit(nn.functional.normalize(model.from_unit(u), dim=1))
    if head == "tanh":
        return lambda u: model.to_unit(model.from_unit(u).clamp(-1, 1))
    return None


def train_ebm(data, config=None, out_dir: str | Path = "runs/ebm", meta: dict | None = None,
              progress: bool = True) -> Path:
    """Train a Langevin-sampled EBM on (N, D) vectors; save energy net + replay buffer to `out_dir`.

    Args:
        data: float tensor or array (N, D), finite.
        config: `EBMConfig`, or a core `GANConfig` whose shared fields are carried over.
        out_dir: new folder: config.json, energy.safetensors, buffer.safetensors,
            metrics.jsonl, losses.png.
        meta: JSON-able dict saved with the model.
        progress: show a tqdm bar.
    """
    from tqdm.auto import tqdm

    cfg, data, out = prepare_run(EBMConfig, config, data, out_dir)
    n, dim, B = data.shape[0], data.shape[1], cfg.batch_size
    model = StandardisedEnergy(dim, cfg)
    model.mean.copy_(data.mean(0))
    model.std.copy_(data.std(0).clamp_min(1e-6))
    units = model.to_unit(data)  # (N, D) standardised
    project = _projector(cfg.head, model)
    buffer = torch.randn(cfg.buffer_size, dim)  # (S, D) standardised negatives
    if project is not None:
        buffer = project(buffer)
    opt = torch.optim.Adam(model.net.parameters(), lr=cfg.lr_e, betas=cfg.betas)

    rows, t0 = [], time.perf_counter()
    for step in tqdm(range(cfg.steps), disable=not progress, desc="ebm-langevin"):
        pos = units[torch.randint(n, (B,))]  # (B, D)
        idx = torch.randint(cfg.buffer_size, (B,))
        start = buffer[idx]
        fresh = torch.rand(B) < cfg.reinit_prob
        if fresh.any():
            noise0 = torch.randn(int(fresh.sum()), dim)
            start[fresh] = project(noise0) if project is not None else noise0
        model.net.requires_grad_(False)
        neg = langevin(model.net, start, cfg.n_langevin, cfg.step_size, cfg.noise, project=project)
        model.net.requires_grad_(True)
        buffer[idx] = neg
        e_pos, e_neg = model.net(pos), model.net(neg)  # (B,), (B,)
        loss = e_pos.mean() - e_neg.mean()
        reg = cfg.alpha * (e_pos**2 + e_neg**2).mean()
        opt.zero_grad(set_to_none=True)
        (loss + reg).backward()
        opt.step()
        vals = [loss.item(), reg.item()]
        if not all(np.isfinite(vals)):
            raise InputError(f"EBM loss became non-finite at step {step + 1} ({vals}); lower lr_e or step_size")
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            rows.append({"step": step + 1, "e_loss": vals[0], "reg": vals[1],
                         "e_pos": e_pos.mean().item(), "e_neg": e_neg.mean().item(),
                         "seconds": round(time.perf_counter() - t0, 3)})
    with atomic_dir(out) as tmp:
        save_tensors(model.state_dict(), tmp / "energy.safetensors")
        save_tensors({"buffer": buffer}, tmp / "buffer.safetensors")
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        write_metrics_png(rows, ("e_loss", "e_pos", "e_neg"), tmp / "losses.png", "Langevin EBM")
        save_json({"format": FORMAT, "kind": "ebm-langevin", "config": cfg.to_dict(), "shape": [dim],
                   "dim": dim, "steps_done": cfg.steps, "meta": meta or {}}, tmp / "config.json")
    return out


@dataclass
class SavedEBM:
    """A trained Langevin EBM: `.sample(n, seed)`, `.energy(x)`, `.dim`, `.meta`; kind "ebm-langevin"."""

    model: StandardisedEnergy
    buffer: Tensor  # (S, D) standardised
    config: EBMConfig
    shape: tuple[int, ...]
    meta: dict
    kind: str = "ebm-langevin"

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    def energy(self, x) -> Tensor:
        """Energies (n,) of vectors x (n, D) in data units; lower = more like the training data."""
        return batched_energy(self.model, x, self.dim)

    def sample(self, n: int, seed: int | None = None, steps: int | None = None, init: str = "buffer") -> Tensor:
        """Args: n: samples; seed: private RNG (None: fresh); steps: SGLD steps (None: config's
        sample_steps); init: "buffer" (saved negatives, as in the paper) or "noise"."""
        if n < 0:
            raise InputError(f"n must be >= 0, got {n}")
        if init not in ("buffer", "noise"):
            raise InputError(f"unknown init {init!r}; valid: buffer, noise")
        gen = torch.Generator().manual_seed(int(seed) if seed is not None else int(torch.seed() % 2**63))
        project = _projector(self.config.head, self.model)
        if init == "buffer":
            start = self.buffer[torch.randint(len(self.buffer), (n,), generator=gen)]
        else:
            start = torch.randn(n, self.dim, generator=gen)
            start = project(start) if project is not None else start
        self.model.requires_grad_(False)
        k = self.config.sample_steps if steps is None else steps
        u = langevin(self.model.net, start, k, self.config.step_size, self.config.noise, gen, project)
        with torch.no_grad():
            return self.model.from_unit(u)


def load_ebm(path: str | Path, ema: bool = True) -> SavedEBM:
    """Args: path: folder written by `train_ebm`; ema: ignored (no generator), accepted for dispatch."""
    path = Path(path)
    info = read_kind_config(path, "ebm-langevin")
    cfg = EBMConfig.from_dict(info["config"])
    dim = int(info["dim"])
    model = load_weights(StandardisedEnergy(dim, cfg), path / "energy.safetensors")
    buf = load_tensors(path / "buffer.safetensors").get("buffer")
    if buf is None or buf.dim() != 2 or buf.shape[1] != dim:
        raise InputError("buffer.safetensors has no (S, D) tensor 'buffer'", path)
    return SavedEBM(model, buf, cfg, (dim,), info.get("meta", {}))
