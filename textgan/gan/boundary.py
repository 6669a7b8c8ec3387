"""Boundary GAN: a generator of low-density samples on the edge of the data (Lee et al., ICLR 2018,
"Training confidence-calibrated classifiers for detecting out-of-distribution samples",
arXiv:1711.09325, eq. 3).

Three networks on labelled vectors (B, D): a generator G(z), a critic D(x) trained with any
row of the objectives table, and a classifier C(x) -> K group logits. The generator
minimises
    L_G = GAN generator loss (stay close to the data)
          + beta * E_z KL(U || C(G(z)))      (go where the classifier cannot tell groups apart),
so its samples sit in the low-density gaps between and around the groups; the classifier
minimises CE on real rows + beta * E_z KL(U || C(G(z))) (be unsure off the data). Samples
are the pseudo-outliers of `textgan.ood.outlier`; `score` is the critic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from textgan.common.artifacts import save_json, save_tensors
from textgan.common.errors import InputError
from textgan.gan.config import GANConfig, flag
from textgan.gan.gan import GANStep, SavedGAN, build_networks
from textgan.gan.nets import trunk
from textgan.gan.saved import load_weights, pick_generator, read_label_names
from textgan.gan.trainer import make_optimizer

Tensor = torch.Tensor


@dataclass(frozen=True)
class BoundaryConfig(GANConfig):
    """A `GANConfig` (default objective gan-ns, as in the paper) plus beta: weight of the
    KL(uniform || classifier) term in the generator's and the classifier's losses."""

    objective: str = "gan-ns"
    beta: float = 1.0

    def validate(self) -> None:
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise InputError(f"{flag('beta')} must be a finite number >= 0, got {self.beta}")
        if self.one_loss:
            raise InputError("kind 'boundary' trains with alternating updates; drop --one-loss")
        super().validate()


def kl_uniform(logits: Tensor) -> Tensor:
    """Mean over rows of KL(U || softmax(logits)) = -log K - mean_k log p_k; logits (B, K)."""
    return (-math.log(logits.shape[1]) - F.log_softmax(logits, dim=1).mean(1)).mean()


def _classifier(cfg: BoundaryConfig, dim: int, k: int) -> nn.Sequential:
    return trunk(dim, k, cfg.width, cfg.depth, "mlp", nn.ReLU, False)  # (B, D) -> (B, K)


class BoundaryStep(GANStep):
    kind = "boundary"
    needs_labels = True
    images = False
    loss_keys = ("d_loss", "g_loss", "c_loss", "kl_fake")

    def build(self) -> None:
        super().build()
        self.clf = _classifier(self.cfg, self.dim, len(self.label_names))
        self.modules["C"] = self.clf
        self.optimizers["optC"] = make_optimizer(self.clf.parameters(), self.cfg, self.cfg.lr_d)
        self.lr_fields["optC"] = "lr_d"

    def train_step(self, step: int) -> dict[str, float]:
        cfg, B = self.cfg, self.cfg.batch_size
        for _ in range(cfg.n_critic):
            x, y = self.rows_and_labels()  # (B, D), (B,)
            with torch.no_grad():
                fake = self.g(self.noise(B))
            loss, pen, _ = self.critic_losses(x, fake)
            self.critic_update(loss + pen)
            c_loss = F.cross_entropy(self.clf(x), y) + cfg.beta * kl_uniform(self.clf(fake))
            opt = self.optimizers["optC"]
            opt.zero_grad(set_to_none=True)
            c_loss.backward()
            opt.step()
        self.d.requires_grad_(False)
        self.clf.requires_grad_(False)
        fake = self.g(self.noise(B))
        with torch.no_grad():
            v_r = self.d(self.rows()) if self.g_uses_real else None
        kl = kl_uniform(self.clf(fake))
        g_loss = self.obj.g_loss(v_r, self.d(fake)) + cfg.beta * kl
        self.generator_update(g_loss)
        self.d.requires_grad_(True)
        self.clf.requires_grad_(True)
        return {"d_loss": loss.item(), "g_loss": g_loss.item(), "penalty": pen.item(), "c_loss": c_loss.item(),
                "kl_fake": kl.item()}

    def save(self, out: Path) -> dict:
        self.save_generator_critic(out)
        save_tensors(self.clf.state_dict(), out / "classifier.safetensors")
        save_json(self.label_names, out / "labels.json")
        return {"n_classes": len(self.label_names)}


class SavedBoundary(SavedGAN):
    """A trained boundary GAN: `.sample(n, seed)` (boundary samples, unconditional), `.score(x)`
    (critic), `.confidence(x)` (the classifier's max softmax probability, Lee et al.'s detector)."""

    kind = "boundary"

    def __init__(self, net, critic, clf, config, shape, meta, uses_ema, groups: list[str]):
        super().__init__(net, critic, config, shape, meta, uses_ema)
        self.clf, self.group_names = clf, groups

    def confidence(self, vectors) -> Tensor:
        return self._batched(lambda x: F.softmax(self.clf(x), dim=1).max(1).values, vectors)

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedBoundary":
        cfg, shape = BoundaryConfig.from_dict(info["config"]), tuple(info["shape"])
        names = read_label_names(path, info.get("n_classes"))
        g, d = build_networks(cfg, shape)
        wfile = pick_generator(path, ema)
        load_weights(g, wfile)
        load_weights(d, path / "critic.safetensors")
        clf = load_weights(_classifier(cfg, math.prod(shape), len(names)), path / "classifier.safetensors")
        return cls(g, d, clf, cfg, shape, info["meta"], wfile.name.endswith("_ema.safetensors"),
                   [str(s) for s in names])
