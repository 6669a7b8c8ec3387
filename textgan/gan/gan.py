"""The core GAN kind: any row of the objectives table, alternating (n_critic : 1) or one-loss updates.

Data is any float tensor (N, D) or (N, C, H, W). Saved: `generator[_ema].safetensors` and
`critic.safetensors`; `score(x)` is the critic's score (higher = judged more real).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.func import functional_call

from textgan.common.artifacts import save_tensors
from textgan.gan.config import GANConfig
from textgan.gan.nets import Critic, Generator
from textgan.gan.objectives import make_objective
from textgan.gan.penalties import clip_weights, make_penalty
from textgan.gan.saved import SavedModel, load_weights, pick_generator, rng
from textgan.gan.trainer import Step, frozen_copy, make_optimizer


def build_networks(config: GANConfig, shape: tuple[int, ...]) -> tuple[Generator, Critic]:
    g = Generator(shape, config.noise_dim, config.width, config.depth, config.arch, config.head)
    d = Critic(shape, config.width, config.depth, config.arch, config.spectral_norm, config.critic_fourier,
               config.critic_fourier_scale, config.pack)
    return g, d


class AdversarialStep(Step):
    """What the adversarial kinds (gan, conditional, ogan) share: the objective row, the penalty,
    the two optimisers and the EMA generator. Each kind builds its own networks and update."""

    loss_keys = ("d_loss", "g_loss", "penalty")

    def setup(self, g, d) -> None:
        cfg = self.cfg
        self.obj, self.penalty = make_objective(cfg.objective), make_penalty(cfg.penalty)
        self.g, self.d = g, d
        self.g_ema = frozen_copy(g) if cfg.ema > 0 else None
        self.modules = {"G": g, "D": d, **({"E": self.g_ema} if self.g_ema is not None else {})}
        self.optimizers = {"optG": make_optimizer(g.parameters(), cfg, cfg.lr_g),
                           "optD": make_optimizer(d.parameters(), cfg, cfg.lr_d)}
        self.lr_fields = {"optG": "lr_g", "optD": "lr_d"}
        self.ema_pairs = [(self.g_ema, g)] if self.g_ema is not None else []
        self.g_uses_real = self.obj.family == "gan-qp"  # GAN-QP's generator loss pairs real and fake

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.noise_dim)  # (B, noise_dim)

    def critic_update(self, loss: torch.Tensor) -> None:
        opt = self.optimizers["optD"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if self.cfg.penalty == "clip":
            clip_weights(self.d, self.cfg.penalty_weight)

    def generator_update(self, loss: torch.Tensor) -> None:
        opt = self.optimizers["optG"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def save_generator_critic(self, out: Path) -> None:
        save_tensors(self.g.state_dict(), out / "generator.safetensors")
        if self.g_ema is not None:
            save_tensors(self.g_ema.state_dict(), out / "generator_ema.safetensors")
        save_tensors(self.d.state_dict(), out / "critic.safetensors")


class GANStep(AdversarialStep):
    kind = "gan"
    images = True

    def build(self) -> None:
        self.setup(*build_networks(self.cfg, self.shape))

    def critic_losses(self, real, fake):
        v_r, v_f = self.d(real), self.d(fake)  # (S,), (S,)
        loss = self.obj.d_loss(v_r, v_f)
        pen = self.penalty(self.d, real, fake, v_r, v_f, self.cfg.penalty_weight)
        return loss, pen, v_r

    def train_step(self, step: int) -> dict[str, float]:
        if self.cfg.one_loss:
            return self.one_loss_step()
        for _ in range(self.cfg.n_critic):
            real = self.rows()
            with torch.no_grad():
                fake = self.g(self.noise(real.shape[0]))
            loss, pen, _ = self.critic_losses(real, fake)
            self.critic_update(loss + pen)
        self.d.requires_grad_(False)  # the generator's loss must not touch critic grads
        fake = self.g(self.noise(self.cfg.batch_size))
        with torch.no_grad():
            v_r = self.d(self.rows()) if self.g_uses_real else None
        g_loss = self.obj.g_loss(v_r, self.d(fake))
        self.generator_update(g_loss)
        self.d.requires_grad_(True)
        return {"d_loss": loss.item(), "g_loss": g_loss.item(), "penalty": pen.item()}

    def one_loss(self, real):
        """Su 2019 ("one loss for a GAN"): L_D(D, stopgrad G) + L_G(stopgrad D, G) in one backward.

        The critic sees detached fakes; the generator's loss runs the critic through
        `functional_call` with detached parameters, so in a single backward pass each
        player receives exactly the gradient of its own loss.
        """
        fake = self.g(self.noise(real.shape[0]))  # (B, *shape)
        d_loss, pen, v_r = self.critic_losses(real, fake.detach())
        frozen = {k: v.detach() for k, v in self.d.named_parameters()}
        frozen.update(dict(self.d.named_buffers()))
        v_f = functional_call(self.d, frozen, (fake,))
        g_loss = self.obj.g_loss(v_r.detach(), v_f)
        return d_loss, pen, g_loss

    def one_loss_step(self) -> dict[str, float]:
        d_loss, pen, g_loss = self.one_loss(self.rows())
        opt_g, opt_d = self.optimizers["optG"], self.optimizers["optD"]
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        (d_loss + pen + g_loss).backward()
        opt_d.step()
        opt_g.step()
        if self.cfg.penalty == "clip":
            clip_weights(self.d, self.cfg.penalty_weight)
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "penalty": pen.item()}

    def save(self, out: Path) -> dict:
        self.save_generator_critic(out)
        return {}


class SavedGAN(SavedModel):
    """A trained core GAN: `.sample(n, seed)`, `.score(x)` (critic), `.critic`, `.net` (generator)."""

    kind = "gan"
    score_name = "critic"

    def __init__(self, net: Generator, critic: Critic, config: GANConfig, shape, meta: dict, uses_ema: bool):
        self.net, self.critic, self.config, self.shape, self.meta, self.uses_ema = \
            net, critic, config, tuple(shape), meta, uses_ema

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, group: str | None = None, flat: bool = True,
               batch: int = 8192) -> torch.Tensor:
        """Args: n: number of samples; seed: private RNG seed (None: fresh); flat: (n, D) or (n, *shape)."""
        self._check_group(group)
        gen = rng(seed)
        out = [self.net(torch.randn(min(batch, n - i), self.config.noise_dim, generator=gen))
               for i in range(0, n, batch)]
        x = torch.cat(out) if out else torch.empty(0, *self.shape)
        return x.reshape(n, -1) if flat else x

    def score(self, vectors) -> torch.Tensor:
        """Critic scores (n,) of flat vectors (n, D); higher = judged more like the data."""
        self._unpacked_critic()
        return self._batched(self.critic, vectors)

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedGAN":
        config, shape = GANConfig.from_dict(info["config"]), tuple(info["shape"])
        g, d = build_networks(config, shape)
        wfile = pick_generator(path, ema)
        load_weights(g, wfile)
        load_weights(d, path / "critic.safetensors")
        return cls(g, d, config, shape, info["meta"], wfile.name.endswith("_ema.safetensors"))
