"""BEGAN: an autoencoder as the critic, balanced by the k_t equilibrium controller (Berthelot et al.
2017, "BEGAN: Boundary Equilibrium Generative Adversarial Networks", arXiv:1703.10717).

L(v) = mean_d |v - AE(v)| is the autoencoder's reconstruction loss (per-dimension mean L1).
    critic:    L_D = L(x) - k_t L(G(z))
    generator: L_G = L(G(z))
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)
gamma = E[L(G(z))] / E[L(x)] at equilibrium trades diversity (high) for quality (low); the
convergence measure M = L(x) + |gamma L(x) - L(G(z))| is logged. `score(x)` = -L(x): low
reconstruction error = like the training data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from textgan.common.artifacts import save_tensors
from textgan.gan.config import SentenceNetsConfig, flag
from textgan.gan.nets import Generator, trunk
from textgan.gan.saved import SavedModel, load_weights, pick_generator, rng
from textgan.gan.trainer import Step, frozen_copy, make_optimizer

Tensor = torch.Tensor


@dataclass(frozen=True)
class BEGANConfig(SentenceNetsConfig):
    """Args: gamma: diversity ratio; lambda_k: k_t learning rate; code_dim: the autoencoder's
    bottleneck; noise_dim, width, depth, head: networks; lr_g, lr_d, betas: Adam; ema: generator EMA."""

    gamma: float = 0.7
    lambda_k: float = 0.001
    code_dim: int = 32

    def validate(self) -> None:
        from textgan.common.errors import InputError

        if not 0 < self.gamma <= 1:
            raise InputError(f"{flag('gamma')} must be in (0, 1], got {self.gamma}")
        if not self.lambda_k > 0:
            raise InputError(f"{flag('lambda_k')} must be > 0, got {self.lambda_k}")
        super().validate()


def k_update(k: Tensor, loss_real: Tensor, loss_fake: Tensor, gamma: float, lambda_k: float) -> Tensor:
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) (Berthelot et al. eq. in sec. 3.4)."""
    return (k + lambda_k * (gamma * loss_real - loss_fake)).clamp(0.0, 1.0)


class AutoEncoder(nn.Module):
    """x (B, D) -> reconstruction (B, D) through a (B, code_dim) bottleneck; `loss(x)` (B,) = mean_d |x - AE(x)|."""

    def __init__(self, dim: int, code_dim: int, width: int, depth: int):
        super().__init__()
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        self.enc = trunk(dim, code_dim, width, depth, "mlp", act, False)
        self.dec = trunk(code_dim, dim, width, depth, "mlp", act, False)

    def forward(self, x: Tensor) -> Tensor:
        return self.dec(self.enc(x))

    def loss(self, x: Tensor) -> Tensor:
        return (x - self(x)).abs().mean(1)


def _nets(cfg: BEGANConfig, dim: int) -> tuple[Generator, AutoEncoder]:
    return Generator((dim,), cfg.noise_dim, cfg.width, cfg.depth, "mlp", cfg.head), \
        AutoEncoder(dim, cfg.code_dim, cfg.width, cfg.depth)


class BEGANStep(Step):
    kind = "began"
    loss_keys = ("d_loss", "g_loss", "k", "convergence")

    def build(self) -> None:
        cfg = self.cfg
        self.g, self.d = _nets(cfg, self.dim)
        self.g_ema = frozen_copy(self.g) if cfg.ema > 0 else None
        self.modules = {"G": self.g, "D": self.d, **({"E": self.g_ema} if self.g_ema is not None else {})}
        self.optimizers = {"optG": make_optimizer(self.g.parameters(), cfg, cfg.lr_g),
                           "optD": make_optimizer(self.d.parameters(), cfg, cfg.lr_d)}
        self.lr_fields = {"optG": "lr_g", "optD": "lr_d"}
        self.ema_pairs = [(self.g_ema, self.g)] if self.g_ema is not None else []
        self.state["k"] = torch.zeros(())  # k_0 = 0, checkpointed

    def train_step(self, step: int) -> dict[str, float]:
        cfg, B = self.cfg, self.cfg.batch_size
        x = self.rows()
        fake = self.g(torch.randn(B, cfg.noise_dim))  # (B, D)
        l_real, l_fake = self.d.loss(x).mean(), self.d.loss(fake.detach()).mean()
        d_loss = l_real - self.state["k"] * l_fake
        opt = self.optimizers["optD"]
        opt.zero_grad(set_to_none=True)
        d_loss.backward()
        opt.step()
        self.d.requires_grad_(False)
        g_loss = self.d.loss(fake).mean()
        opt = self.optimizers["optG"]
        opt.zero_grad(set_to_none=True)
        g_loss.backward()
        opt.step()
        self.d.requires_grad_(True)
        lr, lf = l_real.detach(), l_fake.detach()
        self.state["k"] = k_update(self.state["k"], lr, lf, cfg.gamma, cfg.lambda_k)
        conv = lr + (cfg.gamma * lr - lf).abs()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "k": self.state["k"].item(),
                "convergence": conv.item()}

    def save(self, out: Path) -> dict:
        save_tensors(self.g.state_dict(), out / "generator.safetensors")
        if self.g_ema is not None:
            save_tensors(self.g_ema.state_dict(), out / "generator_ema.safetensors")
        save_tensors(self.d.state_dict(), out / "autoencoder.safetensors")
        return {"k": float(self.state["k"])}


class SavedBEGAN(SavedModel):
    """A trained BEGAN: `.sample(n, seed)`, `.score(x)` = -reconstruction error of the autoencoder critic."""

    kind = "began"
    score_name = "critic"

    def __init__(self, net, autoencoder, config, shape, meta):
        self.net, self.autoencoder, self.config, self.shape, self.meta = net, autoencoder, config, tuple(shape), meta

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, group: str | None = None) -> Tensor:
        self._check_group(group)
        return self.net(torch.randn(n, self.config.noise_dim, generator=rng(seed))).reshape(n, -1)

    def score(self, vectors) -> Tensor:
        return self._batched(lambda x: -self.autoencoder.loss(x), vectors)

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedBEGAN":
        cfg = BEGANConfig.from_dict(info["config"])
        dim = int(info["dim"])
        g, d = _nets(cfg, dim)
        load_weights(g, pick_generator(path, ema))
        load_weights(d, path / "autoencoder.safetensors")
        return cls(g, d, cfg, (dim,), info["meta"])
