"""MEG: Maximum Entropy Generators for energy-based models (Kumar et al. 2019, arXiv:1901.08508).

Three networks on flat vectors (B, D):
  E(x) -> (B,)        energy, low on data; trained with E_data[E] - E_G[E] + a zero-centred
                      gradient penalty on real data (R1 form, Mescheder et al. 2018);
  G(z) -> (B, D)      generator, minimises E(G(z)) - H[p_G]; the entropy is the mutual
                      information I(z; G(z)) estimated by a statistics network T;
  T(x, z) -> (B,)     maximises the Jensen-Shannon MI bound of Deep InfoMax
                      (Hjelm et al. 2019, eq. 4): E_joint[-sp(-T)] - E_marginal[sp(T)].

At sampling time MALA can refine the latent code: target p(z) ∝ exp(-E(G(z))/T - |z|^2/2)
with Langevin proposals accepted by Metropolis-Hastings using the proposal density (`mala`).
With the critic score v = -E, the energy and generator losses are the objectives table's
Wasserstein row (reused below); only the entropy term and the penalty are MEG's own.
The saved folder is `config.json` (kind "meg") + safetensors; `load_meg(dir)` returns an
object with `.sample`, `.energy`, `.dim`, `.meta`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from textgan.artifacts import atomic_dir, save_json, save_tensors
from textgan.errors import InputError
from textgan.gan.kind_utils import (FORMAT, batched_energy, config_from_dict, ema_update, load_weights,
                                    prepare_run, read_kind_config, write_metrics_png)
from textgan.gan.nets import Arch, Critic, Generator, Head
from textgan.gan.objectives import wasserstein_d, wasserstein_g
from textgan.gan.penalties import r1_penalty

Tensor = torch.Tensor


# --- samplers ------------------------------------------------------------------------------

def _u_and_grad(U: Callable[[Tensor], Tensor], z: Tensor) -> tuple[Tensor, Tensor]:
    z = z.detach().requires_grad_(True)
    u = U(z)  # (B,)
    (g,) = torch.autograd.grad(u.sum(), z)
    return u.detach(), g.detach()


def mala(U: Callable[[Tensor], Tensor], z: Tensor, n_steps: int, step_size: float,
         generator: torch.Generator | None = None, metropolis: bool = True) -> tuple[Tensor, float]:
    """Metropolis-adjusted Langevin (Roberts & Tweedie 1996): z' = z - a grad U(z) + sqrt(2a) eps.

    Accepts z' with prob min(1, exp(U(z) - U(z')) q(z|z') / q(z'|z)), where
    q(z'|z) ∝ exp(-|z' - z + a grad U(z)|^2 / (4a)) is the (asymmetric) proposal density.
    `metropolis=False` gives the unadjusted Langevin algorithm (biased for a > 0).

    Args:
        U: potential (B, d) -> (B,), the negative log target density up to a constant.
        z: starting points (B, d).
        n_steps: proposals per chain; step_size: a.
        generator: private RNG (None: the global one).
    Returns:
        (final points (B, d), mean acceptance rate).
    """
    if step_size <= 0:
        raise InputError(f"MALA step size must be > 0, got {step_size}")
    z = z.detach().clone()
    u, g = _u_and_grad(U, z)
    accepted, a = 0.0, step_size
    for _ in range(n_steps):
        eps = torch.randn(z.shape, generator=generator, dtype=z.dtype)
        zp = z - a * g + math.sqrt(2 * a) * eps  # (B, d)
        up, gp = _u_and_grad(U, zp)
        if not metropolis:
            z, u, g = zp, up, gp
            accepted += 1.0
            continue
        dims = tuple(range(1, z.dim()))
        log_q_fwd = -((zp - z + a * g) ** 2).sum(dims) / (4 * a)  # log q(z'|z), (B,)
        log_q_bwd = -((z - zp + a * gp) ** 2).sum(dims) / (4 * a)  # log q(z|z'), (B,)
        log_alpha = (u - up) + log_q_bwd - log_q_fwd
        logr = torch.rand(u.shape, generator=generator, dtype=u.dtype).log()
        acc = (logr < log_alpha) & torch.isfinite(up)  # (B,)
        shape = (-1,) + (1,) * (z.dim() - 1)
        z = torch.where(acc.view(shape), zp, z)
        g = torch.where(acc.view(shape), gp, g)
        u = torch.where(acc, up, u)
        accepted += float(acc.float().mean())
    return z, accepted / max(n_steps, 1)


# --- MEG ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MEGConfig:
    """Args:
    steps: generator updates; batch_size; n_energy: energy updates per generator update.
    lr_g, lr_e: learning rates (the statistics network uses lr_g); betas: Adam.
    gp_weight: gamma of the zero-centred penalty (gamma/2) E_data|grad E|^2.
    entropy_weight: weight of the MI (entropy) term in the generator loss.
    energy_l2: optional E_data[E^2] weight, keeps the energy's offset from drifting.
    noise_dim, width, depth, arch, head, spectral_norm: networks (core `nets`).
    ema: generator EMA decay (0: off). mala_steps, mala_step_size, temperature: sampling defaults.
    """

    steps: int = 2000
    batch_size: int = 256
    n_energy: int = 1
    lr_g: float = 2e-4
    lr_e: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    gp_weight: float = 0.1
    entropy_weight: float = 1.0
    energy_l2: float = 0.0
    noise_dim: int = 16
    width: int = 256
    depth: int = 3
    arch: Arch = "mlp"
    head: Head = "linear"
    spectral_norm: bool = False
    ema: float = 0.999
    mala_steps: int = 0
    mala_step_size: float = 0.01
    temperature: float = 1.0
    seed: int = 0
    log_every: int = 50

    def validate(self) -> "MEGConfig":
        for name in ("steps", "batch_size", "n_energy", "noise_dim", "width", "depth", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.ema < 1:
            raise InputError(f"ema must be in [0, 1), got {self.ema}")
        if self.temperature <= 0 or self.mala_step_size <= 0 or self.mala_steps < 0:
            raise InputError("temperature and mala_step_size must be > 0 and mala_steps >= 0")
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MEGConfig":
        return config_from_dict(cls, d)


def jsd_mi(t_joint: Tensor, t_marginal: Tensor) -> Tensor:
    """Jensen-Shannon MI lower bound E_P[-sp(-T)] - E_{PxP}[sp(T)] (Hjelm et al. 2019, arXiv:1808.06670)."""
    return -F.softplus(-t_joint).mean() - F.softplus(t_marginal).mean()


class StatisticsNet(nn.Module):
    """T(x, z): (B, D), (B, d) -> (B,), an MLP on the concatenation."""

    def __init__(self, dim: int, noise_dim: int, width: int, depth: int, arch: Arch):
        super().__init__()
        self.net = Critic((dim + noise_dim,), width, depth, arch)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.net(torch.cat([x, z], 1))


def train_meg(data, config=None, out_dir: str | Path = "runs/meg", meta: dict | None = None,
              progress: bool = True) -> Path:
    """Train MEG on (N, D) vectors and save energy, generator and statistics nets to `out_dir`.

    Args:
        data: float tensor or array (N, D), finite.
        config: `MEGConfig`, or a core `GANConfig` whose shared fields are carried over.
        out_dir: new folder: config.json, energy/generator[_ema]/statistics.safetensors,
            metrics.jsonl, losses.png.
        meta: JSON-able dict saved with the model (e.g. the encoder fingerprint).
        progress: show a tqdm bar.
    """
    from tqdm.auto import tqdm

    cfg, data, out = prepare_run(MEGConfig, config, data, out_dir)
    n, dim, B = data.shape[0], data.shape[1], cfg.batch_size
    energy = Critic((dim,), cfg.width, cfg.depth, cfg.arch, cfg.spectral_norm)
    gen = Generator((dim,), cfg.noise_dim, cfg.width, cfg.depth, cfg.arch, cfg.head)
    stat = StatisticsNet(dim, cfg.noise_dim, cfg.width, cfg.depth, cfg.arch)
    g_ema = Generator((dim,), cfg.noise_dim, cfg.width, cfg.depth, cfg.arch, cfg.head)
    g_ema.load_state_dict(gen.state_dict())
    g_ema.requires_grad_(False)
    opt_e = torch.optim.Adam(energy.parameters(), lr=cfg.lr_e, betas=cfg.betas)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_t = torch.optim.Adam(stat.parameters(), lr=cfg.lr_g, betas=cfg.betas)

    rows, t0 = [], time.perf_counter()
    for step in tqdm(range(cfg.steps), disable=not progress, desc="meg"):
        for _ in range(cfg.n_energy):
            x = data[torch.randint(n, (B,))]  # (B, D)
            with torch.no_grad():
                fake = gen(torch.randn(B, cfg.noise_dim))
            e_real, e_fake = energy(x), energy(fake)  # (B,), (B,)
            # with critic score v = -E this is the table's Wasserstein row: E_data[E] - E_G[E]
            loss_e = wasserstein_d(-e_real, -e_fake)
            pen = r1_penalty(energy, x, fake, e_real, e_fake, cfg.gp_weight)
            reg = cfg.energy_l2 * (e_real**2).mean()
            opt_e.zero_grad(set_to_none=True)
            (loss_e + pen + reg).backward()
            opt_e.step()
        # generator: low energy + high entropy, entropy ~ I(z; G(z)) under the JSD bound
        z = torch.randn(B, cfg.noise_dim)
        x_f = gen(z)  # (B, D)
        z_bar = z[torch.randperm(B)]  # marginal pairs (x, z') with z' independent of x
        energy.requires_grad_(False)
        stat.requires_grad_(False)
        mi = jsd_mi(stat(x_f, z), stat(x_f, z_bar))
        loss_g = wasserstein_g(None, -energy(x_f)) - cfg.entropy_weight * mi  # E_G[E] - H
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        energy.requires_grad_(True)
        stat.requires_grad_(True)
        # statistics network: tighten the bound on the same (detached) samples
        x_d = x_f.detach()
        mi_t = jsd_mi(stat(x_d, z), stat(x_d, z_bar))
        opt_t.zero_grad(set_to_none=True)
        (-mi_t).backward()
        opt_t.step()
        if cfg.ema > 0:
            ema_update(g_ema, gen, cfg.ema, step)
        vals = [loss_e.item(), pen.item(), loss_g.item(), mi_t.item()]
        if not all(np.isfinite(vals)):
            raise InputError(f"MEG loss became non-finite at step {step + 1} ({vals}); lower the learning rates")
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            rows.append({"step": step + 1, "e_loss": vals[0], "penalty": vals[1], "g_loss": vals[2],
                         "mi": vals[3], "seconds": round(time.perf_counter() - t0, 3)})
    with atomic_dir(out) as tmp:
        save_tensors(energy.state_dict(), tmp / "energy.safetensors")
        save_tensors(gen.state_dict(), tmp / "generator.safetensors")
        if cfg.ema > 0:
            save_tensors(g_ema.state_dict(), tmp / "generator_ema.safetensors")
        save_tensors(stat.state_dict(), tmp / "statistics.safetensors")
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        write_metrics_png(rows, ("e_loss", "g_loss", "mi"), tmp / "losses.png", "MEG")
        save_json({"format": FORMAT, "kind": "meg", "config": cfg.to_dict(), "shape": [dim], "dim": dim,
                   "steps_done": cfg.steps, "meta": meta or {}}, tmp / "config.json")
    return out


@dataclass
class SavedMEG:
    """A trained MEG: `.sample(n, seed)`, `.energy(x)`, `.dim`, `.meta`, `.config`; kind "meg"."""

    energy_net: Critic
    net: Generator
    config: MEGConfig
    shape: tuple[int, ...]
    meta: dict
    kind: str = "meg"

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    def energy(self, x) -> Tensor:
        """Energies (n,) of vectors x (n, D); lower = more like the training data."""
        return batched_energy(self.energy_net, x, self.dim)

    def latent_potential(self, temperature: float) -> Callable[[Tensor], Tensor]:
        """U(z) = E(G(z)) / T + |z|^2 / 2: the latent target of MALA, (B, d) -> (B,)."""
        return lambda z: self.energy_net(self.net(z)) / temperature + 0.5 * (z**2).sum(1)

    def sample(self, n: int, seed: int | None = None, mala_steps: int | None = None,
               step_size: float | None = None, temperature: float | None = None) -> Tensor:
        """Args: n: samples; seed: private RNG (None: fresh); mala_steps / step_size / temperature:
        MALA refinement in latent space (None: the config's defaults; 0 steps: plain G(z))."""
        if n < 0:
            raise InputError(f"n must be >= 0, got {n}")
        steps = self.config.mala_steps if mala_steps is None else mala_steps
        a = self.config.mala_step_size if step_size is None else step_size
        temp = self.config.temperature if temperature is None else temperature
        if temp <= 0:
            raise InputError(f"temperature must be > 0, got {temp}")
        gen = torch.Generator().manual_seed(int(seed) if seed is not None else int(torch.seed() % 2**63))
        z = torch.randn(n, self.config.noise_dim, generator=gen)
        self.energy_net.requires_grad_(False)
        self.net.requires_grad_(False)
        if steps > 0 and n > 0:
            z, self.last_acceptance = mala(self.latent_potential(temp), z, steps, a, generator=gen)
        with torch.no_grad():
            return self.net(z).reshape(n, -1)


def load_meg(path: str | Path, ema: bool = True) -> SavedMEG:
    """Args: path: folder written by `train_meg`; ema: prefer the EMA generator."""
    path = Path(path)
    info = read_kind_config(path, "meg")
    cfg = MEGConfig.from_dict(info["config"])
    dim = int(info["dim"])
    energy = load_weights(Critic((dim,), cfg.width, cfg.depth, cfg.arch, cfg.spectral_norm),
                          path / "energy.safetensors")
    wfile = path / "generator_ema.safetensors"
    wfile = wfile if ema and wfile.is_file() else path / "generator.safetensors"
    gen = load_weights(Generator((dim,), cfg.noise_dim, cfg.width, cfg.depth, cfg.arch, cfg.head), wfile)
    return SavedMEG(energy, gen, cfg, (dim,), info.get("meta", {}))
