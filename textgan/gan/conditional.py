"""Class-conditional GANs on labelled vectors: G(z, y) and D(x, y) for any row of the objectives table.

The generator sees a learned label embedding concatenated to its noise (Mirza & Osindero
2014). The critic is a projection discriminator, D(x, y) = psi(phi(x)) + <emb(y), phi(x)>
(Miyato & Koyama 2018, arXiv:1802.05637), or, with `critic_cond="concat"`, an MLP on
[x, emb(y)]. Fakes in a critic step reuse the real batch's labels, so the core penalties
(gradient penalty at interpolates, R1, ...) apply unchanged to D(., y) with y held fixed.
The saved folder stores the label names in `labels.json`; sampling asks for one by name.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from torch import nn

from textgan.artifacts import atomic_dir, load_json, save_json, save_tensors
from textgan.errors import InputError
from textgan.gan.config import GANConfig
from textgan.gan.kind_utils import (FORMAT, check_out_dir, check_vectors, ema_update, load_weights,
                                    read_kind_config, seed_all, write_metrics_png)
from textgan.gan.nets import Arch, Head, trunk
from textgan.gan.objectives import make_objective
from textgan.gan.penalties import clip_weights, make_penalty
from textgan.gan.trainer import decay_lr, make_optimizer

Tensor = torch.Tensor
CriticCond = Literal["projection", "concat"]


class CondGenerator(nn.Module):
    """(z (B, nz), y (B,)) -> x (B, D): an MLP on [z, emb(y)]."""

    def __init__(self, dim: int, noise_dim: int, n_classes: int, embed_dim: int, width: int, depth: int,
                 arch: Arch = "mlp", head: Head = "linear"):
        super().__init__()
        self.noise_dim, self.head = noise_dim, head
        self.embed = nn.Embedding(n_classes, embed_dim)
        self.net = trunk(noise_dim + embed_dim, dim, width, depth, arch, nn.ReLU, False)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        x = self.net(torch.cat([z, self.embed(y)], 1))  # (B, D)
        if self.head == "sphere":
            x = nn.functional.normalize(x, dim=1)
        elif self.head == "tanh":
            x = torch.tanh(x)
        return x


class CondCritic(nn.Module):
    """(x (B, D), y (B,)) -> score (B,): projection (Miyato & Koyama 2018) or concat."""

    def __init__(self, dim: int, n_classes: int, embed_dim: int, width: int, depth: int, arch: Arch = "mlp",
                 sn: bool = False, mode: CriticCond = "projection"):
        super().__init__()
        self.mode = mode
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        if mode == "projection":
            self.phi = nn.Sequential(trunk(dim, width, width, depth, arch, act, sn), act())  # (B, width)
            self.psi = nn.Linear(width, 1)
            self.embed = nn.Embedding(n_classes, width)
        else:
            self.embed = nn.Embedding(n_classes, embed_dim)
            self.net = trunk(dim + embed_dim, 1, width, depth, arch, act, sn)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if self.mode == "projection":
            h = self.phi(x)  # (B, width)
            return self.psi(h).squeeze(1) + (self.embed(y) * h).sum(1)
        return self.net(torch.cat([x, self.embed(y)], 1)).squeeze(1)


def encode_labels(groups: Sequence) -> tuple[torch.Tensor, list[str]]:
    """Label names -> (ids (N,), sorted names)."""
    names = sorted({str(g) for g in groups})
    if not names:
        raise InputError("no group labels given")
    index = {n: i for i, n in enumerate(names)}
    return torch.tensor([index[str(g)] for g in groups], dtype=torch.long), names


def train_conditional(data, groups: Sequence, config: GANConfig | None = None, out_dir: str | Path = "runs/cgan",
                      meta: dict | None = None, progress: bool = True, critic_cond: CriticCond = "projection",
                      embed_dim: int = 128) -> Path:
    """Train a class-conditional GAN on vectors with one group label per row.

    Args:
        data: float tensor or array (N, D), finite. groups: N label names (any hashables).
        config: core `GANConfig` (any objectives-table row; default wgan-gp).
        out_dir: new folder: config.json (kind "conditional"), labels.json,
            generator[_ema].safetensors, critic.safetensors, metrics.jsonl, losses.png.
        meta: JSON-able dict saved with the model.
        progress: show a tqdm bar.
        critic_cond: "projection" or "concat"; embed_dim: label embedding size (G, and D for concat).
    """
    from tqdm.auto import tqdm

    cfg = (config or GANConfig(objective="wgan-gp")).resolve()
    if critic_cond not in ("projection", "concat"):
        raise InputError(f"unknown critic_cond {critic_cond!r}; valid: projection, concat")
    obj, penalty = make_objective(cfg.objective), make_penalty(cfg.penalty)
    data = check_vectors(data, min(cfg.batch_size, 1))
    if len(groups) != len(data):
        raise InputError(f"{len(groups)} group labels for {len(data)} vectors")
    labels, names = encode_labels(groups)
    out = Path(out_dir)
    check_out_dir(out)
    seed_all(cfg.seed)
    n, dim, B, nz = data.shape[0], data.shape[1], cfg.batch_size, cfg.noise_dim
    g = CondGenerator(dim, nz, len(names), embed_dim, cfg.width, cfg.depth, cfg.arch, cfg.head)
    d = CondCritic(dim, len(names), embed_dim, cfg.width, cfg.depth, cfg.arch, cfg.spectral_norm, critic_cond)
    g_ema = CondGenerator(dim, nz, len(names), embed_dim, cfg.width, cfg.depth, cfg.arch, cfg.head)
    g_ema.load_state_dict(g.state_dict())
    g_ema.requires_grad_(False)

    opt_g, opt_d = make_optimizer(g.parameters(), cfg, cfg.lr_g), make_optimizer(d.parameters(), cfg, cfg.lr_d)
    uses_real = obj.family == "gan-qp"
    rows, t0 = [], time.perf_counter()
    for step in tqdm(range(cfg.steps), disable=not progress, desc=f"cond/{cfg.objective}"):
        decay_lr(cfg, step, (opt_g, cfg.lr_g), (opt_d, cfg.lr_d))
        for _ in range(cfg.n_critic):
            idx = torch.randint(n, (B,))
            x, y = data[idx], labels[idx]  # (B, D), (B,)
            with torch.no_grad():
                fake = g(torch.randn(B, nz), y)
            critic_y = lambda v, y=y: d(v, y)  # noqa: E731  D(., y) with the batch's labels fixed
            v_r, v_f = critic_y(x), critic_y(fake)
            d_loss = obj.d_loss(v_r, v_f)
            pen = penalty(critic_y, x, fake, v_r, v_f, cfg.penalty_weight)
            opt_d.zero_grad(set_to_none=True)
            (d_loss + pen).backward()
            opt_d.step()
            if cfg.penalty == "clip":
                clip_weights(d, cfg.penalty_weight)
        d.requires_grad_(False)
        idx = torch.randint(n, (B,))  # labels drawn with the data's frequencies
        y = labels[idx]
        v_f = d(g(torch.randn(B, nz), y), y)
        with torch.no_grad():
            v_r = d(data[idx], y) if uses_real else v_f.new_zeros(B)
        g_loss = obj.g_loss(v_r, v_f)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
        if cfg.ema > 0:
            ema_update(g_ema, g, cfg.ema, step)
        vals = [d_loss.item(), pen.item(), g_loss.item()]
        if not all(np.isfinite(vals)):
            raise InputError(f"conditional GAN loss became non-finite at step {step + 1} ({vals})")
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            rows.append({"step": step + 1, "d_loss": vals[0], "penalty": vals[1], "g_loss": vals[2],
                         "seconds": round(time.perf_counter() - t0, 3)})
    with atomic_dir(out) as tmp:
        save_tensors(g.state_dict(), tmp / "generator.safetensors")
        if cfg.ema > 0:
            save_tensors(g_ema.state_dict(), tmp / "generator_ema.safetensors")
        save_tensors(d.state_dict(), tmp / "critic.safetensors")
        save_json(names, tmp / "labels.json")
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        write_metrics_png(rows, ("d_loss", "g_loss"), tmp / "losses.png", "conditional GAN")
        save_json({"format": FORMAT, "kind": "conditional", "config": cfg.to_dict(), "critic_cond": critic_cond,
                   "embed_dim": embed_dim, "n_classes": len(names), "shape": [dim], "dim": dim,
                   "steps_done": cfg.steps, "meta": meta or {}}, tmp / "config.json")
    return out


@dataclass
class SavedConditional:
    """A trained conditional GAN: `.sample(n, seed, group=NAME)`, `.groups`, `.critic_score`; kind "conditional"."""

    net: CondGenerator
    critic: CondCritic
    config: GANConfig
    groups: list[str]
    shape: tuple[int, ...]
    meta: dict
    kind: str = "conditional"

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    def label_id(self, group: str) -> int:
        try:
            return self.groups.index(str(group))
        except ValueError:
            raise InputError(f"unknown group {group!r}; known groups: {', '.join(self.groups)}") from None

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, group: str | None = None) -> Tensor:
        """Args: n: samples; seed: private RNG seed (None: fresh); group: label name (required)."""
        if group is None:
            raise InputError(f"this GAN is conditional: name a group to sample (known groups: "
                             f"{', '.join(self.groups)})")
        y = self.label_id(group)
        if n < 0:
            raise InputError(f"n must be >= 0, got {n}")
        gen = torch.Generator().manual_seed(int(seed) if seed is not None else int(torch.seed() % 2**63))
        z = torch.randn(n, self.config.noise_dim, generator=gen)
        return self.net(z, torch.full((n,), y, dtype=torch.long)).reshape(n, -1)

    @torch.no_grad()
    def critic_score(self, x, group: str | None = None) -> Tensor:
        """D(x, y) for a named group, or max over all groups when None: (n,)."""
        x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x.float()
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise InputError(f"vectors have shape {tuple(x.shape)}, this model takes (n, {self.dim})")
        if group is not None:
            return self.critic(x, torch.full((len(x),), self.label_id(group), dtype=torch.long))
        scores = [self.critic(x, torch.full((len(x),), k, dtype=torch.long)) for k in range(len(self.groups))]
        return torch.stack(scores, 1).max(1).values


def load_conditional(path: str | Path, ema: bool = True) -> SavedConditional:
    """Args: path: folder written by `train_conditional`; ema: prefer the EMA generator."""
    path = Path(path)
    info = read_kind_config(path, "conditional")
    cfg = GANConfig.from_dict(info["config"])
    names = load_json(path / "labels.json")
    if not isinstance(names, list) or len(names) != info.get("n_classes"):
        raise InputError("labels.json does not match config.json", path)
    dim, k, e = int(info["dim"]), len(names), int(info["embed_dim"])
    wfile = path / "generator_ema.safetensors"
    wfile = wfile if ema and wfile.is_file() else path / "generator.safetensors"
    g = load_weights(CondGenerator(dim, cfg.noise_dim, k, e, cfg.width, cfg.depth, cfg.arch, cfg.head), wfile)
    d = load_weights(CondCritic(dim, k, e, cfg.width, cfg.depth, cfg.arch, cfg.spectral_norm, info["critic_cond"]),
                     path / "critic.safetensors")
    return SavedConditional(g, d, cfg, [str(s) for s in names], (dim,), info.get("meta", {}))


def sample_group(model, n: int, group: str | None = None, seed: int | None = None) -> Tensor:
    """Sample from any loaded generator, refusing a group for an unconditional one and vice versa.

    Args: model: a loaded generator (`kind` "conditional" or not). n, seed: as `.sample`.
        group: label name for a conditional GAN; must be None otherwise.
    """
    if getattr(model, "kind", "gan") == "conditional":
        return model.sample(n, seed=seed, group=group)
    if group is not None:
        raise InputError(f"this GAN is unconditional (kind {getattr(model, 'kind', 'gan')!r}); --group needs a "
                         f"GAN trained with group labels")
    return model.sample(n, seed=seed)


def read_labels(path: str | Path, n: int | None = None) -> list[str]:
    """Group labels for conditional training: a .txt file (one per line) or a JSON list.

    Args: path: the file. n: expected count (the number of training vectors), checked when given.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("missing file", path)
    if path.suffix.lower() == ".json":
        labels = load_json(path)
        if not isinstance(labels, list):
            raise InputError("expected a JSON list of labels", path)
        labels = [str(x) for x in labels]
    else:
        try:
            labels = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except UnicodeDecodeError:
            raise InputError("not UTF-8 text", path) from None
    if not labels:
        raise InputError("no labels", path)
    if n is not None and len(labels) != n:
        raise InputError(f"{len(labels)} labels for {n} vectors", path)
    return labels
