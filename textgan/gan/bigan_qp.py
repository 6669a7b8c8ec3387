"""BiGAN-QP: an encoder E and a generator G trained against one critic of joint pairs (x, z) with the
GAN-QP objective, plus reconstruction (BiGAN / ALI: Donahue et al. 2017, Dumoulin et al. 2017;
GAN-QP: Su 2018, arXiv:1811.07296; Su's BiGAN-QP adds the reconstruction terms).

Real pairs are (x, E(x)), fake pairs (G(z), z); the critic T sees their concatenation (B, D + nz):
    critic:              min  T(fake) - T(real) + (T(real) - T(fake))^2 / (2 lam d(real, fake))
    generator + encoder: min  T(real) - T(fake) + rec_x ||x - G(E(x))||^2 + rec_z ||z - E(G(z))||^2
with d the rms distance of the joint pairs (the `gan-qp-l2` row and `qp-l2` penalty of the
objectives table, applied to joint vectors). `encode(x)` and `reconstruct(x)` use E and G;
`score(x)` = T(x, E(x)).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from textgan.common.artifacts import save_tensors
from textgan.gan.config import SentenceNetsConfig
from textgan.gan.nets import Generator, trunk
from textgan.gan.objectives import make_objective
from textgan.gan.penalties import make_penalty
from textgan.gan.saved import SavedModel, as_input, load_weights, pick_generator, rng
from textgan.gan.trainer import Step, frozen_copy, make_optimizer

Tensor = torch.Tensor


@dataclass(frozen=True)
class BiGANQPConfig(SentenceNetsConfig):
    """Args: penalty_weight: lam of the QP term; rec_x, rec_z: reconstruction weights in data and
    noise space; noise_dim, width, depth, head: networks; lr_g (G and E), lr_d, betas: Adam; ema."""

    penalty_weight: float = 10.0
    rec_x: float = 1.0
    rec_z: float = 0.1


OBJECTIVE, PENALTY = make_objective("gan-qp-l2"), make_penalty("qp-l2")


def joint(x: Tensor, z: Tensor) -> Tensor:
    """The critic's input: (B, D), (B, nz) -> (B, D + nz)."""
    return torch.cat([x, z], 1)


def joint_critic_loss(critic, x, ex, gz, z, weight: float) -> tuple[Tensor, Tensor]:
    """(GAN-QP critic loss, its quadratic term) on real pairs (x, E(x)) and fake pairs (G(z), z)."""
    real, fake = joint(x, ex), joint(gz, z)
    v_r, v_f = critic(real), critic(fake)
    pen = PENALTY(critic, real, fake, v_r, v_f, weight)
    return OBJECTIVE.d_loss(v_r, v_f) + pen, pen


class JointCritic(nn.Module):
    def __init__(self, dim: int, noise_dim: int, width: int, depth: int):
        super().__init__()
        self.net = trunk(dim + noise_dim, 1, width, depth, "mlp", lambda: nn.LeakyReLU(0.2), False)

    def forward(self, xz: Tensor) -> Tensor:
        return self.net(xz).squeeze(1)


def _nets(cfg: BiGANQPConfig, dim: int):
    g = Generator((dim,), cfg.noise_dim, cfg.width, cfg.depth, "mlp", cfg.head)
    e = trunk(dim, cfg.noise_dim, cfg.width, cfg.depth, "mlp", nn.ReLU, False)
    return g, e, JointCritic(dim, cfg.noise_dim, cfg.width, cfg.depth)


class BiGANQPStep(Step):
    kind = "bigan-qp"
    loss_keys = ("d_loss", "g_loss", "rec_x", "rec_z")

    def build(self) -> None:
        cfg = self.cfg
        self.g, self.e, self.d = _nets(cfg, self.dim)
        self.g_ema = frozen_copy(self.g) if cfg.ema > 0 else None
        self.modules = {"G": self.g, "Enc": self.e, "D": self.d,
                        **({"E": self.g_ema} if self.g_ema is not None else {})}
        ge = list(self.g.parameters()) + list(self.e.parameters())
        self.optimizers = {"optG": make_optimizer(ge, cfg, cfg.lr_g),
                           "optD": make_optimizer(self.d.parameters(), cfg, cfg.lr_d)}
        self.lr_fields = {"optG": "lr_g", "optD": "lr_d"}
        self.ema_pairs = [(self.g_ema, self.g)] if self.g_ema is not None else []

    def train_step(self, step: int) -> dict[str, float]:
        cfg, B = self.cfg, self.cfg.batch_size
        x, z = self.rows(), torch.randn(B, cfg.noise_dim)
        with torch.no_grad():
            ex, gz = self.e(x), self.g(z)
        d_loss, _ = joint_critic_loss(self.d, x, ex, gz, z, cfg.penalty_weight)
        opt = self.optimizers["optD"]
        opt.zero_grad(set_to_none=True)
        d_loss.backward()
        opt.step()
        self.d.requires_grad_(False)
        x, z = self.rows(), torch.randn(B, cfg.noise_dim)
        ex, gz = self.e(x), self.g(z)
        g_adv = OBJECTIVE.g_loss(self.d(joint(x, ex)), self.d(joint(gz, z)))
        rec_x = (self.g(ex) - x).pow(2).sum(1).mean()
        rec_z = (self.e(gz) - z).pow(2).mean(1).mean()
        g_loss = g_adv + cfg.rec_x * rec_x + cfg.rec_z * rec_z
        opt = self.optimizers["optG"]
        opt.zero_grad(set_to_none=True)
        g_loss.backward()
        opt.step()
        self.d.requires_grad_(True)
        return {"d_loss": d_loss.item(), "g_loss": g_adv.item(), "rec_x": rec_x.item(), "rec_z": rec_z.item()}

    def save(self, out: Path) -> dict:
        save_tensors(self.g.state_dict(), out / "generator.safetensors")
        if self.g_ema is not None:
            save_tensors(self.g_ema.state_dict(), out / "generator_ema.safetensors")
        save_tensors(self.e.state_dict(), out / "encoder.safetensors")
        save_tensors(self.d.state_dict(), out / "critic.safetensors")
        return {}


class SavedBiGANQP(SavedModel):
    """A trained BiGAN-QP: `.sample`, `.encode(x)`, `.reconstruct(x)`, `.score(x)` = T(x, E(x))."""

    kind = "bigan-qp"
    score_name = "critic"

    def __init__(self, net, encoder, critic, config, shape, meta):
        self.net, self.encoder, self.critic, self.config, self.shape, self.meta = \
            net, encoder, critic, config, tuple(shape), meta

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, group: str | None = None) -> Tensor:
        self._check_group(group)
        return self.net(torch.randn(n, self.config.noise_dim, generator=rng(seed))).reshape(n, -1)

    @torch.no_grad()
    def encode(self, vectors) -> Tensor:
        return self.encoder(as_input(vectors, self.dim))

    @torch.no_grad()
    def reconstruct(self, vectors) -> Tensor:
        return self.net(self.encode(vectors))

    def score(self, vectors) -> Tensor:
        return self._batched(lambda x: self.critic(joint(x, self.encoder(x))), vectors)

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedBiGANQP":
        cfg = BiGANQPConfig.from_dict(info["config"])
        dim = int(info["dim"])
        g, e, d = _nets(cfg, dim)
        load_weights(g, pick_generator(path, ema))
        load_weights(e, path / "encoder.safetensors")
        load_weights(d, path / "critic.safetensors")
        return cls(g, e, d, cfg, (dim,), info["meta"])
