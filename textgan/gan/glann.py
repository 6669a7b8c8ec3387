"""GLANN: generative latent nearest neighbours, no adversary (Hoshen, Li & Malik CVPR 2019,
arXiv:1812.08985).

Two stages in one run of `steps` updates:
1. GLO (Bojanowski et al. 2018, arXiv:1707.05776), the first `glo_fraction` of the steps: a
   latent code z_i (projected onto the unit sphere of R^latent_dim) per training row, optimised
   jointly with the generator G to reconstruct it: min ||G(z_i) - x_i||^2.
2. IMLE (Li & Malik 2018, arXiv:1809.09087), the rest: a mapping T from Gaussian noise to the
   latent space. Each step draws a batch of codes and a pool of `imle_pool` x batch noise
   vectors; every code is assigned its nearest mapped noise vector and pulled onto it:
   min sum_i ||T(e_nn(i)) - z_i||^2, nn(i) = argmin_j ||T(e_j) - z_i||. Every code has a
   nearby sample, so no mode is dropped.
Sampling: G(T(e)). `score(x)` = the best cosine of x to a decoded training code G(z_i):
how close x lies to the manifold the model reconstructs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from textgan.common.artifacts import load_tensors, save_tensors
from textgan.common.errors import InputError
from textgan.gan.config import KindConfig, flag
from textgan.gan.nets import Generator, Head, trunk
from textgan.gan.saved import SavedModel, load_weights, rng
from textgan.gan.trainer import Step, make_optimizer

Tensor = torch.Tensor


@dataclass(frozen=True)
class GLANNConfig(KindConfig):
    """Args: latent_dim: GLO code size; noise_dim: IMLE noise size; glo_fraction: share of steps
    spent on GLO; imle_pool: noise candidates per code in a batch; lr_g, lr_z, lr_t: generator,
    code and mapping learning rates; width, depth, head: networks."""

    latent_dim: int = 32
    noise_dim: int = 32
    glo_fraction: float = 0.6
    imle_pool: int = 10
    width: int = 256
    depth: int = 2
    head: Head = "sphere"
    lr_g: float = 1e-3
    lr_z: float = 1e-2
    lr_t: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)

    def validate(self) -> None:
        if not 0 < self.glo_fraction < 1:
            raise InputError(f"{flag('glo_fraction')} must be in (0, 1), got {self.glo_fraction}")
        super().validate()


def imle_assign(targets: Tensor, candidates: Tensor) -> Tensor:
    """For each target (B, d), the index (B,) of its nearest candidate (M, d) in Euclidean distance."""
    return torch.cdist(targets, candidates).argmin(1)


class Codes(nn.Module):
    """The GLO latent codes, one per training row: (N, latent_dim), kept on the unit sphere."""

    def __init__(self, n: int, dim: int):
        super().__init__()
        self.z = nn.Parameter(nn.functional.normalize(torch.randn(n, dim), dim=1))

    @torch.no_grad()
    def project(self) -> None:
        self.z.copy_(nn.functional.normalize(self.z, dim=1))


def _nets(cfg: GLANNConfig, dim: int) -> tuple[Generator, nn.Module]:
    g = Generator((dim,), cfg.latent_dim, cfg.width, cfg.depth, "mlp", cfg.head)
    t = trunk(cfg.noise_dim, cfg.latent_dim, cfg.width, cfg.depth, "mlp", nn.ReLU, False)
    return g, t


class GLANNStep(Step):
    kind = "glann"
    loss_keys = ("glo_loss", "imle_loss")

    def build(self) -> None:
        cfg = self.cfg
        self.g, self.t = _nets(cfg, self.dim)
        self.codes = Codes(self.n, cfg.latent_dim)
        self.modules = {"G": self.g, "T": self.t, "Z": self.codes}
        self.optimizers = {"optG": make_optimizer(self.g.parameters(), cfg, cfg.lr_g),
                           "optZ": make_optimizer(self.codes.parameters(), cfg, cfg.lr_z),
                           "optT": make_optimizer(self.t.parameters(), cfg, cfg.lr_t)}
        self.lr_fields = {"optG": "lr_g", "optZ": "lr_z", "optT": "lr_t"}
        self.glo_steps = max(1, int(cfg.steps * cfg.glo_fraction))

    def train_step(self, step: int) -> dict[str, float]:
        cfg, B = self.cfg, self.cfg.batch_size
        if step < self.glo_steps:
            idx = torch.randint(self.n, (B,))
            loss = (self.g(self.codes.z[idx]) - self.data[idx]).pow(2).sum(1).mean()
            for name in ("optG", "optZ"):
                self.optimizers[name].zero_grad(set_to_none=True)
            loss.backward()
            self.optimizers["optG"].step()
            self.optimizers["optZ"].step()
            self.codes.project()
            return {"glo_loss": loss.item(), "imle_loss": 0.0}
        z = self.codes.z.detach()[torch.randint(self.n, (B,))]  # (B, d)
        mapped = self.t(torch.randn(B * cfg.imle_pool, cfg.noise_dim))  # (M, d)
        nn_idx = imle_assign(z, mapped.detach())
        loss = (mapped[nn_idx] - z).pow(2).sum(1).mean()
        opt = self.optimizers["optT"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"glo_loss": 0.0, "imle_loss": loss.item()}

    def save(self, out: Path) -> dict:
        save_tensors(self.g.state_dict(), out / "generator.safetensors")
        save_tensors(self.t.state_dict(), out / "mapping.safetensors")
        save_tensors({"codes": self.codes.z.detach()}, out / "codes.safetensors")
        return {}


class SavedGLANN(SavedModel):
    """A trained GLANN: `.sample(n, seed)` = G(T(e)); `.score(x)` = best cosine to a decoded code."""

    kind = "glann"
    score_name = "critic"

    def __init__(self, net, mapping, codes, config, shape, meta):
        self.net, self.mapping, self.codes, self.config, self.shape, self.meta = \
            net, mapping, codes, config, tuple(shape), meta
        self._manifold = None

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, group: str | None = None) -> Tensor:
        self._check_group(group)
        e = torch.randn(n, self.config.noise_dim, generator=rng(seed))
        return self.net(self.mapping(e)).reshape(n, -1)

    def score(self, vectors) -> Tensor:
        if self._manifold is None:
            self._manifold = nn.functional.normalize(self.net(self.codes), dim=1)  # (N, D)
        return self._batched(lambda x: (nn.functional.normalize(x, dim=1) @ self._manifold.T).max(1).values,
                             vectors)

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedGLANN":
        cfg = GLANNConfig.from_dict(info["config"])
        dim = int(info["dim"])
        g, t = _nets(cfg, dim)
        load_weights(g, path / "generator.safetensors")
        load_weights(t, path / "mapping.safetensors")
        t.eval()
        codes = load_tensors(path / "codes.safetensors", floats=True)["codes"]
        return cls(g, t, codes, cfg, (dim,), info["meta"])
