"""An energy-based model sampled by Langevin dynamics in data space, no generator network.

Du & Mordatch 2019, "Implicit Generation and Generalization in Energy-Based Models"
(arXiv:1903.08689): negatives come from K steps of Langevin dynamics
x <- x - a grad E(x) + sqrt(2 a T) eps, started 95% of the time from a replay buffer of past
negatives and 5% from noise; the energy minimises E(x+) - E(x-) + alpha (E(x+)^2 + E(x-)^2)
(their eq. 3 with the L2 energy regulariser).

The chain samples exp(-E(x) / T): with step size a, Langevin's noise scale is
sigma = sqrt(2 a T) (noise^2 = 2 * step * T), so the temperature is an explicit config value
rather than a by-product of two step sizes. The paper's practice of a small noise relative to
the step (a = 0.1, sigma = 0.01) is a low temperature, T = 5e-4, the default here.

Data are standardised per dimension first (mean/std stored with the model) so that the
step size and temperature mean the same on any data. With `head="sphere"` samples are
projected back onto the unit sphere after each step (L2-normalised embeddings).
The replay buffer is saved: `.sample()` starts chains from it, as the paper does.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from textgan.common.artifacts import load_tensors, save_tensors
from textgan.common.errors import InputError
from textgan.gan.config import NetConfig, flag
from textgan.gan.nets import Critic
from textgan.gan.saved import SavedModel, load_weights, rng
from textgan.gan.trainer import Step

Tensor = torch.Tensor


def langevin(energy: Callable[[Tensor], Tensor], x: Tensor, n_steps: int, step_size: float, temperature: float,
             generator: torch.Generator | None = None, project: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """Unadjusted Langevin x <- x - a grad E(x) + sqrt(2 a T) eps, `n_steps` times, targeting exp(-E/T).

    Args:
        energy: (B, ...) -> (B,). x: start (B, ...). step_size: a. temperature: T.
        generator: private RNG (None: global).
        project: optional map applied after every step (e.g. back onto a sphere).
    Returns:
        The final points (B, ...), detached.
    """
    noise = math.sqrt(2 * step_size * temperature)
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
class EBMConfig(NetConfig):
    """Args:
    steps: energy updates; lr_d, betas: Adam for the energy net (the paper's betas (0.0, 0.999)).
    n_langevin, step_size, temperature: Langevin chain per update (standardised units);
        the chain samples exp(-E/T) with noise scale sqrt(2 * step_size * temperature).
    buffer_size, reinit_prob: replay buffer size and share of chains restarted from noise.
    alpha: L2 energy regulariser weight; width, depth, arch, spectral_norm: energy net.
    head: "linear" or "sphere" (project samples onto the unit sphere in data space).
    sample_steps: Langevin steps at sampling time, from the saved buffer.
    sample_temperature: T of the sampling chains (None: `temperature`). A lower T concentrates
        samples at the energy's minima, the EBM's analogue of a GAN's truncation trick.
    """

    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.999)
    n_langevin: int = 20
    step_size: float = 0.1
    temperature: float = 5e-4
    buffer_size: int = 10000
    reinit_prob: float = 0.05
    alpha: float = 1.0
    sample_steps: int = 60
    sample_temperature: float | None = None

    def validate(self) -> None:
        if not 0 <= self.reinit_prob <= 1:
            raise InputError(f"reinit_prob must be in [0, 1], got {self.reinit_prob}")
        if self.buffer_size < self.batch_size:  # a batch of chains would restart from repeated buffer rows
            raise InputError(f"{flag('buffer_size')} ({self.buffer_size}) must be at least {flag('batch_size')} "
                             f"({self.batch_size})")
        super().validate()


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


class EBMStep(Step):
    kind = "ebm-langevin"
    loss_keys = ("e_loss", "e_pos", "e_neg")

    def build(self) -> None:
        cfg = self.cfg
        self.model = StandardisedEnergy(self.dim, cfg)
        self.model.mean.copy_(self.data.mean(0))
        self.model.std.copy_(self.data.std(0).clamp_min(1e-6))
        self.units = self.model.to_unit(self.data)  # (N, D) standardised
        self.project = _projector(cfg.head, self.model)
        buffer = torch.randn(cfg.buffer_size, self.dim)  # (S, D) standardised negatives
        self.buffer = self.project(buffer) if self.project is not None else buffer
        self.modules = {"E": self.model}
        self.optimizers = {"optE": torch.optim.Adam(self.model.net.parameters(), lr=cfg.lr_d, betas=cfg.betas)}
        self.lr_fields = {"optE": "lr_d"}
        self.state = {"buffer": self.buffer}

    def train_step(self, step: int) -> dict[str, float]:
        cfg, B = self.cfg, self.cfg.batch_size
        pos = self.units[torch.randint(self.n, (B,))]  # (B, D)
        idx = torch.randint(cfg.buffer_size, (B,))
        start = self.buffer[idx]
        fresh = torch.rand(B) < cfg.reinit_prob
        if fresh.any():
            noise0 = torch.randn(int(fresh.sum()), self.dim)
            start[fresh] = self.project(noise0) if self.project is not None else noise0
        net = self.model.net
        net.requires_grad_(False)
        neg = langevin(net, start, cfg.n_langevin, cfg.step_size, cfg.temperature, project=self.project)
        net.requires_grad_(True)
        self.buffer[idx] = neg
        e_pos, e_neg = net(pos), net(neg)  # (B,), (B,)
        loss = e_pos.mean() - e_neg.mean()
        reg = cfg.alpha * (e_pos**2 + e_neg**2).mean()
        opt = self.optimizers["optE"]
        opt.zero_grad(set_to_none=True)
        (loss + reg).backward()
        opt.step()
        return {"e_loss": loss.item(), "reg": reg.item(), "e_pos": e_pos.mean().item(), "e_neg": e_neg.mean().item()}

    def save(self, out: Path) -> dict:
        save_tensors(self.model.state_dict(), out / "energy.safetensors")
        save_tensors({"buffer": self.buffer}, out / "buffer.safetensors")
        return {}


def _legacy(conf: dict) -> dict:
    """Folders of format textgan-gan/1 had `lr_e`, `noise` (not a temperature) and no checkpoint_every;
    they still load (tests/test_kinds.py::test_folders_of_textgan_0_1_still_load)."""
    conf = dict(conf)
    if "lr_e" in conf:
        conf["lr_d"] = conf.pop("lr_e")
    if "noise" in conf:
        conf["temperature"] = conf.pop("noise") ** 2 / (2 * conf.get("step_size", 0.1))
    return conf


class SavedEBM(SavedModel):
    """A trained Langevin EBM: `.sample(n, seed)`, `.energy(x)`, `.score(x)` = -energy."""

    kind = "ebm-langevin"
    score_name = "energy"

    def __init__(self, model: StandardisedEnergy, buffer: Tensor, config: EBMConfig, shape, meta: dict):
        self.model, self.buffer, self.config, self.shape, self.meta = model, buffer, config, tuple(shape), meta

    def energy(self, x) -> Tensor:
        """Energies (n,) of vectors x (n, D) in data units; lower = more like the training data."""
        return self._batched(self.model, x)

    def score(self, vectors) -> Tensor:
        return -self.energy(vectors)

    def sample(self, n: int, seed: int | None = None, group: str | None = None, steps: int | None = None,
               init: str = "buffer", temperature: float | None = None) -> Tensor:
        """Args: n: samples; seed: private RNG (None: fresh); steps: Langevin steps (None: config's
        sample_steps); init: "buffer" (saved negatives, as in the paper) or "noise";
        temperature: of the chains (None: config's sample_temperature, else its temperature)."""
        self._check_group(group)
        if init not in ("buffer", "noise"):
            raise InputError(f"unknown init {init!r}; valid: buffer, noise")
        gen = rng(seed)
        project = _projector(self.config.head, self.model)
        if init == "buffer":
            start = self.buffer[torch.randint(len(self.buffer), (n,), generator=gen)]
        else:
            start = torch.randn(n, self.dim, generator=gen)
            start = project(start) if project is not None else start
        self.model.requires_grad_(False)
        k = self.config.sample_steps if steps is None else steps
        t = temperature if temperature is not None else self.config.sample_temperature or self.config.temperature
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not (math.isfinite(t) and t > 0):
            raise InputError(f"temperature must be a finite number > 0, got {t!r}")
        u = langevin(self.model.net, start, k, self.config.step_size, t, gen, project)
        with torch.no_grad():
            return self.model.from_unit(u)

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedEBM":
        cfg = EBMConfig.from_dict(_legacy(info["config"]))
        dim = int(info["dim"])
        model = load_weights(StandardisedEnergy(dim, cfg), path / "energy.safetensors")
        buf = load_tensors(path / "buffer.safetensors", floats=True).get("buffer")
        if buf is None or buf.dim() != 2 or buf.shape[1] != dim:
            raise InputError("buffer.safetensors has no (S, D) tensor 'buffer'", path)
        return cls(model, buf, cfg, (dim,), info["meta"])
