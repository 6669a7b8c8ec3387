"""Semi-supervised K+1 GAN: a classifier over K groups + "generated", trained with a generator on
labelled and unlabelled vectors (Salimans et al. 2016, arXiv:1606.03498, sec. 5; GAN-BERT, Croce
et al. ACL 2020).

The classifier's K logits l(x) double as a discriminator: with the "generated" logit fixed at
0, p(real | x) = Z / (Z + 1), Z = sum_k exp l_k(x). Its loss is cross-entropy on labelled rows
plus the unsupervised GAN loss
    -log p(real | x_unl) - log(1 - p(real | G(z))) = softplus(-lse l(x_unl)) + softplus(lse l(G(z))).
The generator is trained by feature matching: || mean f(x_unl) - mean f(G(z)) ||^2 on the
classifier's last hidden layer f (Salimans et al. 2016, sec. 3.1). Unlabelled rows carry the
label -1 (`textgan.workflow.kplus1.train` passes them); every row serves as unlabelled data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from textgan.common.artifacts import save_json, save_tensors
from textgan.common.errors import InputError
from textgan.common.texts import known_groups
from textgan.gan.config import KindConfig, flag
from textgan.gan.nets import Generator, Head
from textgan.gan.saved import SavedModel, load_weights, read_label_names, rng
from textgan.gan.trainer import Step, make_optimizer

Tensor = torch.Tensor


@dataclass(frozen=True)
class KPlus1Config(KindConfig):
    """Args: noise_dim, width, depth, head: generator; width, depth, dropout, input_noise: classifier
    (Gaussian input noise and dropout regularise it, as in Salimans et al.); lr_g, lr_d, betas: Adam;
    unsup_weight: weight of the unsupervised GAN loss."""

    steps: int = 3000
    batch_size: int = 128
    noise_dim: int = 64
    width: int = 512
    depth: int = 2
    head: Head = "sphere"
    dropout: float = 0.3
    input_noise: float = 0.3
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    unsup_weight: float = 0.3

    def validate(self) -> None:
        if not 0 <= self.dropout < 1:
            raise InputError(f"{flag('dropout')} must be in [0, 1), got {self.dropout}")
        super().validate()


class KClassifier(nn.Module):
    """x (B, D) -> (logits (B, K), features (B, width))."""

    def __init__(self, dim: int, k: int, width: int, depth: int, dropout: float, input_noise: float):
        super().__init__()
        self.input_noise, self.gain = input_noise, dim ** 0.5  # unit vectors -> coordinates of unit scale
        layers, d = [], dim
        for _ in range(depth):
            layers += [nn.Dropout(dropout), nn.Linear(d, width), nn.LeakyReLU(0.2)]
            d = width
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, k)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = x * self.gain
        if self.training and self.input_noise:
            x = x + self.input_noise * torch.randn_like(x)
        h = self.body(x)
        return self.out(h), h


def k_plus_1_losses(l_lab: Tensor, y: Tensor, l_unl: Tensor, l_fake: Tensor) -> tuple[Tensor, Tensor]:
    """(supervised cross-entropy, unsupervised GAN loss) of the K+1 classifier (Salimans et al. eq. 5)."""
    sup = F.cross_entropy(l_lab, y)
    unsup = F.softplus(-torch.logsumexp(l_unl, 1)).mean() + F.softplus(torch.logsumexp(l_fake, 1)).mean()
    return sup, unsup


def feature_matching(f_real: Tensor, f_fake: Tensor) -> Tensor:
    """|| E f(x) - E f(G(z)) ||^2 over the batch (Salimans et al. sec. 3.1)."""
    return (f_real.mean(0) - f_fake.mean(0)).pow(2).sum()


def _nets(cfg: KPlus1Config, dim: int, k: int) -> tuple[Generator, KClassifier]:
    return (Generator((dim,), cfg.noise_dim, cfg.width, cfg.depth, "mlp", cfg.head),
            KClassifier(dim, k, cfg.width, cfg.depth, cfg.dropout, cfg.input_noise))


class KPlus1Step(Step):
    kind = "kplus1"
    needs_labels = True
    loss_keys = ("sup_loss", "unsup_loss", "g_loss")

    def build(self) -> None:
        cfg = self.cfg
        self.g, self.d = _nets(cfg, self.dim, len(self.label_names))
        self.modules = {"G": self.g, "D": self.d}
        self.optimizers = {"optG": make_optimizer(self.g.parameters(), cfg, cfg.lr_g),
                           "optD": make_optimizer(self.d.parameters(), cfg, cfg.lr_d)}
        self.lr_fields = {"optG": "lr_g", "optD": "lr_d"}
        self.labelled = (self.labels >= 0).nonzero().squeeze(1)  # (L,)
        if len(self.labelled) == 0:
            raise InputError("no labelled vectors: the K+1 classifier needs at least one per group")

    def train_step(self, step: int) -> dict[str, float]:
        B = self.cfg.batch_size
        lab = self.labelled[torch.randint(len(self.labelled), (B,))]
        x_lab, y = self.data[lab], self.labels[lab]
        x_unl = self.rows()
        z = torch.randn(B, self.cfg.noise_dim)
        fake = self.g(z)
        l_lab, _ = self.d(x_lab)
        l_unl, f_unl = self.d(x_unl)
        l_fake, _ = self.d(fake.detach())
        sup, unsup = k_plus_1_losses(l_lab, y, l_unl, l_fake)
        opt = self.optimizers["optD"]
        opt.zero_grad(set_to_none=True)
        (sup + self.cfg.unsup_weight * unsup).backward()
        opt.step()
        _, f_fake = self.d(fake)
        g_loss = feature_matching(f_unl.detach(), f_fake)
        opt = self.optimizers["optG"]
        opt.zero_grad(set_to_none=True)
        g_loss.backward()  # also fills the classifier's grads, cleared before its next update
        opt.step()
        return {"sup_loss": sup.item(), "unsup_loss": unsup.item(), "g_loss": g_loss.item()}

    def save(self, out: Path) -> dict:
        save_tensors(self.g.state_dict(), out / "generator.safetensors")
        save_tensors(self.d.state_dict(), out / "classifier.safetensors")
        save_json(self.label_names, out / "labels.json")
        return {"n_classes": len(self.label_names)}


class SavedKPlus1(SavedModel):
    """A trained K+1 model: `.classify(x)` -> (group ids, probabilities (n, K)), `.score(x)` = log Z
    (in-domain: the classifier's real-vs-generated evidence), `.sample(n, seed, group)`."""

    kind = "kplus1"
    score_name = "critic"

    def __init__(self, net, classifier, config, groups, shape, meta):
        self.net, self.classifier, self.config, self._groups, self.shape, self.meta = \
            net, classifier, config, groups, tuple(shape), meta

    @property
    def groups(self) -> list[str]:
        return self._groups

    @torch.no_grad()
    def probabilities(self, vectors) -> Tensor:
        """p(group | x, real): softmax over the K logits, (n, K)."""
        return self._batched(lambda x: self.classifier(x)[0].softmax(1), vectors)

    def score(self, vectors) -> Tensor:
        return self._batched(lambda x: torch.logsumexp(self.classifier(x)[0], 1), vectors)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, group: str | None = None) -> Tensor:
        """The n of 8n generated vectors the classifier finds most likely in `group`."""
        if group is None:
            raise InputError(f"this model is conditional: name a group to sample ("
                             f"{known_groups(self._groups)})", "--group")
        if str(group) not in self._groups:
            raise InputError(f"unknown group {group!r}; {known_groups(self._groups)}", "--group")
        x = self.net(torch.randn(8 * n, self.config.noise_dim, generator=rng(seed)))
        p = self.classifier(x)[0].log_softmax(1)[:, self._groups.index(str(group))]
        return x[p.topk(n).indices]

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedKPlus1":
        cfg = KPlus1Config.from_dict(info["config"])
        names = read_label_names(path, info.get("n_classes"))
        dim = int(info["dim"])
        g, d = _nets(cfg, dim, len(names))
        load_weights(g, path / "generator.safetensors")
        load_weights(d, path / "classifier.safetensors")
        return cls(g, d, cfg, [str(s) for s in names], (dim,), info["meta"])
