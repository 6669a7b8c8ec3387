"""O-GAN: the critic as an encoder (Su 2019, "O-GAN: Extremely Concise Approach for
Auto-Encoding Generative Adversarial Networks", arXiv:1903.01931).

The critic outputs a vector E(x) of the noise's size (B, d); its mean over the d units is
the score any row of the core objectives table is trained on. Both players also minimise
lam * (1 - rho(z, E(G(z)))), rho the per-sample Pearson correlation across the d units.
Since rho ignores each row's mean and scale, the score (the row mean) stays free while the
standardised E(x) learns to recover z: `encode(x)` = standardise(E(x)) and
`reconstruct(x)` = G(encode(x)), with no extra network.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from textgan.common.errors import InputError
from textgan.gan.config import GANConfig
from textgan.gan.gan import AdversarialStep
from textgan.gan.nets import Generator, trunk
from textgan.gan.objectives import Penalty
from textgan.gan.saved import SavedModel, as_input, load_weights, pick_generator, rng

Tensor = torch.Tensor


@dataclass(frozen=True)
class OGANConfig(GANConfig):
    """A `GANConfig` (any objectives-table row; Su's choice by default: non-saturating GAN + R1 0.1)
    plus corr_weight: lam of the correlation term lam * (1 - rho(z, E(G(z))))."""

    objective: str = "gan-ns"
    penalty: Penalty | None = "r1"
    penalty_weight: float | None = 0.1
    corr_weight: float = 0.5

    def validate(self) -> None:
        if self.pack != 1:  # the critic is also an encoder of single vectors: packs have no code
            raise InputError("kind 'ogan' has no packed critic (its critic encodes single vectors); drop --pack")
        super().validate()


def standardise(v: Tensor, eps: float = 1e-6) -> Tensor:
    """Per-row zero mean, unit (population) std over the last dim: (B, d) -> (B, d)."""
    v = v - v.mean(-1, keepdim=True)
    return v / (v.pow(2).mean(-1, keepdim=True).sqrt() + eps)


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample Pearson correlation across features: (B, d), (B, d) -> (B,) (Su 2019, eq. 9)."""
    return (standardise(a) * standardise(b)).mean(-1)


class CodeCritic(nn.Module):
    """E: (B, D) -> (B, d); `forward` returns the score mean_d E(x) (B,) so the core penalties apply."""

    def __init__(self, dim: int, code_dim: int, width: int, depth: int, arch: str, sn: bool):
        super().__init__()
        self.net = trunk(dim, code_dim, width, depth, arch, lambda: nn.LeakyReLU(0.2), sn)

    def code(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))  # (B, d)

    def forward(self, x: Tensor) -> Tensor:
        return self.code(x).mean(1)  # (B,)


def _nets(cfg: OGANConfig, dim: int) -> tuple[Generator, CodeCritic]:
    return (Generator((dim,), cfg.noise_dim, cfg.width, cfg.depth, cfg.arch, cfg.head),
            CodeCritic(dim, cfg.noise_dim, cfg.width, cfg.depth, cfg.arch, cfg.spectral_norm))


class OGANStep(AdversarialStep):
    kind = "ogan"
    loss_keys = ("d_loss", "g_loss", "one_minus_rho")

    def build(self) -> None:
        self.setup(*_nets(self.cfg, self.dim))

    def train_step(self, step: int) -> dict[str, float]:
        cfg, B, lam = self.cfg, self.cfg.batch_size, self.cfg.corr_weight
        for _ in range(cfg.n_critic):
            x = self.rows()  # (B, D)
            z = self.noise(B)
            with torch.no_grad():
                fake = self.g(z)
            code_f = self.d.code(fake)  # (B, d)
            v_r, v_f = self.d(x), code_f.mean(1)
            d_loss = self.obj.d_loss(v_r, v_f)
            pen = self.penalty(self.d, x, fake, v_r, v_f, cfg.penalty_weight)
            corr_d = (1 - pearson(z, code_f)).mean()
            self.critic_update(d_loss + pen + lam * corr_d)
        self.d.requires_grad_(False)
        z = self.noise(B)
        code_f = self.d.code(self.g(z))
        with torch.no_grad():
            v_r = self.d(self.rows()) if self.g_uses_real else None
        corr_g = (1 - pearson(z, code_f)).mean()
        g_loss = self.obj.g_loss(v_r, code_f.mean(1)) + lam * corr_g
        self.generator_update(g_loss)
        self.d.requires_grad_(True)
        return {"d_loss": d_loss.item(), "penalty": pen.item(), "g_loss": g_loss.item(),
                "one_minus_rho": corr_g.item()}

    def save(self, out: Path) -> dict:
        self.save_generator_critic(out)
        return {}


class SavedOGAN(SavedModel):
    """A trained O-GAN: `.sample`, `.encode(x) -> z`, `.reconstruct(x)`, `.score(x)` (critic)."""

    kind = "ogan"
    score_name = "critic"

    def __init__(self, net: Generator, critic: CodeCritic, config: OGANConfig, shape, meta: dict):
        self.net, self.critic, self.config, self.shape, self.meta = net, critic, config, tuple(shape), meta

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, group: str | None = None) -> Tensor:
        """Args: n: samples; seed: private RNG seed (None: fresh). Returns (n, D)."""
        self._check_group(group)
        return self.net(torch.randn(n, self.config.noise_dim, generator=rng(seed))).reshape(n, -1)

    @torch.no_grad()
    def encode(self, x) -> Tensor:
        """Latent codes (n, d): the critic's vector output, standardised per row like z ~ N(0, I)."""
        return standardise(self.critic.code(as_input(x, self.dim)))

    @torch.no_grad()
    def reconstruct(self, x) -> Tensor:
        """G(encode(x)): (n, D)."""
        return self.net(self.encode(x)).reshape(len(x), -1)

    def score(self, vectors) -> Tensor:
        """The critic's score mean_d E(x): (n,), higher = judged more real."""
        return self._batched(self.critic, vectors)

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedOGAN":
        cfg = OGANConfig.from_dict(info["config"])
        dim = int(info["dim"])
        g, d = _nets(cfg, dim)
        load_weights(g, pick_generator(path, ema))
        load_weights(d, path / "critic.safetensors")
        return cls(g, d, cfg, (dim,), info["meta"])


def reconstruction_report(model: SavedOGAN, x, seed: int = 0) -> dict[str, float]:
    """Mean cosine between held-out vectors and G(E(x)), vs G(z) with a random code z.

    Args:
        model: a loaded O-GAN. x: held-out vectors (n, D). seed: for the random codes.
    """
    x = as_input(x, model.dim)
    rec = model.reconstruct(x)
    rand = model.sample(len(x), seed=seed)
    cos = lambda a, b: float(nn.functional.cosine_similarity(a, b, dim=1).mean())  # noqa: E731
    out = {"cos_reconstruct": cos(x, rec), "cos_random_code": cos(x, rand)}
    # distance baseline that also works off the sphere: mean L2 error
    out["l2_reconstruct"] = float((x - rec).norm(dim=1).mean())
    out["l2_random_code"] = float((x - rand).norm(dim=1).mean())
    return out
