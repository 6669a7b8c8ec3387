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
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from textgan.common.artifacts import save_tensors
from textgan.common.errors import InputError
from textgan.gan.config import GeneratorConfig
from textgan.gan.nets import Arch, Critic, Generator
from textgan.gan.objectives import wasserstein_d, wasserstein_g
from textgan.gan.penalties import r1_penalty
from textgan.gan.saved import SavedModel, load_weights, pick_generator, rng
from textgan.gan.trainer import Step, frozen_copy

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
class MEGConfig(GeneratorConfig):
    """Args:
    n_critic: energy updates per generator update.
    lr_g, lr_d: generator / energy learning rates (the statistics network uses lr_g); betas: Adam.
    penalty_weight: gamma of the zero-centred penalty (gamma/2) E_data|grad E|^2.
    entropy_weight: weight of the MI (entropy) term in the generator loss.
    energy_l2: optional E_data[E^2] weight, keeps the energy's offset from drifting.
    noise_dim, width, depth, arch, head, spectral_norm: networks (core `nets`).
    ema: generator EMA decay (0: off). mala_steps, mala_step_size, temperature: sampling defaults.
    """

    n_critic: int = 1
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    penalty_weight: float = 0.1
    entropy_weight: float = 1.0
    energy_l2: float = 0.0
    mala_steps: int = 0
    mala_step_size: float = 0.01
    temperature: float = 1.0


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


def _energy_and_generator(cfg: MEGConfig, dim: int) -> tuple[Critic, Generator]:
    return (Critic((dim,), cfg.width, cfg.depth, cfg.arch, cfg.spectral_norm),
            Generator((dim,), cfg.noise_dim, cfg.width, cfg.depth, cfg.arch, cfg.head))


class MEGStep(Step):
    kind = "meg"
    loss_keys = ("e_loss", "g_loss", "mi")

    def build(self) -> None:
        cfg = self.cfg
        self.energy, self.gen = _energy_and_generator(cfg, self.dim)
        self.stat = StatisticsNet(self.dim, cfg.noise_dim, cfg.width, cfg.depth, cfg.arch)
        self.g_ema = frozen_copy(self.gen)
        self.modules = {"E": self.energy, "G": self.gen, "T": self.stat, "G_ema": self.g_ema}
        adam = lambda net, lr: torch.optim.Adam(net.parameters(), lr=lr, betas=cfg.betas)  # noqa: E731
        self.optimizers = {"optE": adam(self.energy, cfg.lr_d), "optG": adam(self.gen, cfg.lr_g),
                           "optT": adam(self.stat, cfg.lr_g)}
        self.lr_fields = {"optE": "lr_d", "optG": "lr_g", "optT": "lr_g"}
        self.ema_pairs = [(self.g_ema, self.gen)] if cfg.ema > 0 else []

    def train_step(self, step: int) -> dict[str, float]:
        cfg, B = self.cfg, self.cfg.batch_size
        opt_e, opt_g, opt_t = self.optimizers["optE"], self.optimizers["optG"], self.optimizers["optT"]
        for _ in range(cfg.n_critic):
            x = self.rows()  # (B, D)
            with torch.no_grad():
                fake = self.gen(torch.randn(B, cfg.noise_dim))
            e_real, e_fake = self.energy(x), self.energy(fake)  # (B,), (B,)
            # with critic score v = -E this is the table's Wasserstein row: E_data[E] - E_G[E]
            loss_e = wasserstein_d(-e_real, -e_fake)
            pen = r1_penalty(self.energy, x, fake, e_real, e_fake, cfg.penalty_weight)
            reg = cfg.energy_l2 * (e_real**2).mean()
            opt_e.zero_grad(set_to_none=True)
            (loss_e + pen + reg).backward()
            opt_e.step()
        # generator: low energy + high entropy, entropy ~ I(z; G(z)) under the JSD bound
        z = torch.randn(B, cfg.noise_dim)
        x_f = self.gen(z)  # (B, D)
        z_bar = z[torch.randperm(B)]  # marginal pairs (x, z') with z' independent of x
        self.energy.requires_grad_(False)
        self.stat.requires_grad_(False)
        mi = jsd_mi(self.stat(x_f, z), self.stat(x_f, z_bar))
        loss_g = wasserstein_g(None, -self.energy(x_f)) - cfg.entropy_weight * mi  # E_G[E] - H
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        self.energy.requires_grad_(True)
        self.stat.requires_grad_(True)
        # statistics network: tighten the bound on the same (detached) samples
        x_d = x_f.detach()
        mi_t = jsd_mi(self.stat(x_d, z), self.stat(x_d, z_bar))
        opt_t.zero_grad(set_to_none=True)
        (-mi_t).backward()
        opt_t.step()
        return {"e_loss": loss_e.item(), "penalty": pen.item(), "g_loss": loss_g.item(), "mi": mi_t.item()}

    def save(self, out: Path) -> dict:
        save_tensors(self.energy.state_dict(), out / "energy.safetensors")
        save_tensors(self.gen.state_dict(), out / "generator.safetensors")
        if self.cfg.ema > 0:
            save_tensors(self.g_ema.state_dict(), out / "generator_ema.safetensors")
        save_tensors(self.stat.state_dict(), out / "statistics.safetensors")
        return {}


class SavedMEG(SavedModel):
    """A trained MEG: `.sample(n, seed)`, `.energy(x)`, `.score(x)` = -energy."""

    kind = "meg"
    score_name = "energy"

    def __init__(self, energy_net: Critic, net: Generator, config: MEGConfig, shape, meta: dict):
        self.energy_net, self.net, self.config, self.shape, self.meta = energy_net, net, config, tuple(shape), meta
        self.last_acceptance: float | None = None

    def energy(self, x) -> Tensor:
        """Energies (n,) of vectors x (n, D); lower = more like the training data."""
        return self._batched(self.energy_net, x)

    def score(self, vectors) -> Tensor:
        return -self.energy(vectors)

    def latent_potential(self, temperature: float) -> Callable[[Tensor], Tensor]:
        """U(z) = E(G(z)) / T + |z|^2 / 2: the latent target of MALA, (B, d) -> (B,)."""
        return lambda z: self.energy_net(self.net(z)) / temperature + 0.5 * (z**2).sum(1)

    def sample(self, n: int, seed: int | None = None, group: str | None = None, mala_steps: int | None = None,
               step_size: float | None = None, temperature: float | None = None) -> Tensor:
        """Args: n: samples; seed: private RNG (None: fresh); mala_steps / step_size / temperature:
        MALA refinement in latent space (None: the config's defaults; 0 steps: plain G(z))."""
        self._check_group(group)
        steps = self.config.mala_steps if mala_steps is None else mala_steps
        a = self.config.mala_step_size if step_size is None else step_size
        temp = self.config.temperature if temperature is None else temperature
        if temp <= 0:
            raise InputError(f"temperature must be > 0, got {temp}")
        gen = rng(seed)
        z = torch.randn(n, self.config.noise_dim, generator=gen)
        self.energy_net.requires_grad_(False)
        self.net.requires_grad_(False)
        if steps > 0 and n > 0:
            z, self.last_acceptance = mala(self.latent_potential(temp), z, steps, a, generator=gen)
        with torch.no_grad():
            return self.net(z).reshape(n, -1)

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedMEG":
        cfg = MEGConfig.from_dict(info["config"])
        dim = int(info["dim"])
        energy, gen = _energy_and_generator(cfg, dim)
        load_weights(energy, path / "energy.safetensors")
        load_weights(gen, pick_generator(path, ema))
        return cls(energy, gen, cfg, (dim,), info["meta"])
