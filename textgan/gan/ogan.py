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

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from textgan.artifacts import atomic_dir, save_json, save_tensors
from textgan.errors import InputError
from textgan.gan.config import GANConfig
from textgan.gan.kind_utils import (FORMAT, check_out_dir, check_vectors, ema_update, load_weights,
                                    read_kind_config, seed_all, write_metrics_png)
from textgan.gan.nets import Generator, trunk
from textgan.gan.objectives import OBJECTIVES, make_objective
from textgan.gan.penalties import clip_weights, make_penalty
from textgan.gan.trainer import decay_lr, make_optimizer

Tensor = torch.Tensor
BASE_OBJECTIVE = "gan-ns"  # used when the config says objective="ogan"


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


def resolve_ogan(config: GANConfig | None) -> GANConfig:
    """A resolved GANConfig whose objective is a table row (objective "ogan" -> BASE_OBJECTIVE)."""
    cfg = config or GANConfig(objective=BASE_OBJECTIVE, penalty="r1", penalty_weight=0.1)
    if cfg.objective == "ogan":
        pen = {} if cfg.penalty is not None else {"penalty": "r1", "penalty_weight": 0.1}
        cfg = dataclasses.replace(cfg, objective=BASE_OBJECTIVE, **pen)
    if cfg.objective not in OBJECTIVES:
        make_objective(cfg.objective)  # raises the InputError listing valid names
    return cfg.resolve()


def train_ogan(data, config: GANConfig | None = None, out_dir: str | Path = "runs/ogan", meta: dict | None = None,
               progress: bool = True, corr_weight: float = 0.5) -> Path:
    """Train an O-GAN on (N, D) vectors; the saved critic doubles as an encoder.

    Args:
        data: float tensor or array (N, D), finite.
        config: core `GANConfig`; its objective is any table row (or "ogan": gan-ns + R1 0.1).
        out_dir: new folder: config.json (kind "ogan"), generator[_ema].safetensors,
            critic.safetensors, metrics.jsonl, losses.png.
        meta: JSON-able dict saved with the model.
        progress: show a tqdm bar.
        corr_weight: lam of the correlation term lam * (1 - rho(z, E(G(z)))).
    """
    from tqdm.auto import tqdm

    cfg = resolve_ogan(config)
    if corr_weight < 0:
        raise InputError(f"corr_weight must be >= 0, got {corr_weight}")
    obj, penalty = make_objective(cfg.objective), make_penalty(cfg.penalty)
    data = check_vectors(data, cfg.batch_size)
    out = Path(out_dir)
    check_out_dir(out)
    seed_all(cfg.seed)
    n, dim, B, nz = data.shape[0], data.shape[1], cfg.batch_size, cfg.noise_dim
    g = Generator((dim,), nz, cfg.width, cfg.depth, cfg.arch, cfg.head)
    d = CodeCritic(dim, nz, cfg.width, cfg.depth, cfg.arch, cfg.spectral_norm)
    g_ema = Generator((dim,), nz, cfg.width, cfg.depth, cfg.arch, cfg.head)
    g_ema.load_state_dict(g.state_dict())
    g_ema.requires_grad_(False)
    opt_g, opt_d = make_optimizer(g.parameters(), cfg, cfg.lr_g), make_optimizer(d.parameters(), cfg, cfg.lr_d)
    uses_real = obj.family == "gan-qp"

    rows, t0 = [], time.perf_counter()
    for step in tqdm(range(cfg.steps), disable=not progress, desc=f"ogan/{cfg.objective}"):
        decay_lr(cfg, step, (opt_g, cfg.lr_g), (opt_d, cfg.lr_d))
        for _ in range(cfg.n_critic):
            x = data[torch.randint(n, (B,))]  # (B, D)
            z = torch.randn(B, nz)
            with torch.no_grad():
                fake = g(z)
            code_f = d.code(fake)  # (B, d)
            v_r, v_f = d(x), code_f.mean(1)
            d_loss = obj.d_loss(v_r, v_f)
            pen = penalty(d, x, fake, v_r, v_f, cfg.penalty_weight)
            corr_d = (1 - pearson(z, code_f)).mean()
            opt_d.zero_grad(set_to_none=True)
            (d_loss + pen + corr_weight * corr_d).backward()
            opt_d.step()
            if cfg.penalty == "clip":
                clip_weights(d, cfg.penalty_weight)
        d.requires_grad_(False)
        z = torch.randn(B, nz)
        code_f = d.code(g(z))
        with torch.no_grad():
            v_r = d(data[torch.randint(n, (B,))]) if uses_real else code_f.new_zeros(B)
        corr_g = (1 - pearson(z, code_f)).mean()
        g_loss = obj.g_loss(v_r, code_f.mean(1)) + corr_weight * corr_g
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
        if cfg.ema > 0:
            ema_update(g_ema, g, cfg.ema, step)
        vals = [d_loss.item(), pen.item(), g_loss.item(), corr_g.item()]
        if not all(np.isfinite(vals)):
            raise InputError(f"O-GAN loss became non-finite at step {step + 1} ({vals}); lower the learning rates")
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            rows.append({"step": step + 1, "d_loss": vals[0], "penalty": vals[1], "g_loss": vals[2],
                         "one_minus_rho": vals[3], "seconds": round(time.perf_counter() - t0, 3)})
    with atomic_dir(out) as tmp:
        save_tensors(g.state_dict(), tmp / "generator.safetensors")
        if cfg.ema > 0:
            save_tensors(g_ema.state_dict(), tmp / "generator_ema.safetensors")
        save_tensors(d.state_dict(), tmp / "critic.safetensors")
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        write_metrics_png(rows, ("d_loss", "g_loss", "one_minus_rho"), tmp / "losses.png", "O-GAN")
        save_json({"format": FORMAT, "kind": "ogan", "config": cfg.to_dict(), "corr_weight": corr_weight,
                   "shape": [dim], "dim": dim, "steps_done": cfg.steps, "meta": meta or {}}, tmp / "config.json")
    return out


def _as_tensor(x, dim: int) -> Tensor:
    x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x.float()
    if x.dim() != 2 or x.shape[1] != dim:
        raise InputError(f"vectors have shape {tuple(x.shape)}, this model takes (n, {dim})")
    return x


@dataclass
class SavedOGAN:
    """A trained O-GAN: `.sample`, `.encode(x) -> z`, `.reconstruct(x)`, `.critic_score(x)`; kind "ogan"."""

    net: Generator
    critic: CodeCritic
    config: GANConfig
    shape: tuple[int, ...]
    meta: dict
    kind: str = "ogan"

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> Tensor:
        """Args: n: samples; seed: private RNG seed (None: fresh). Returns (n, D)."""
        if n < 0:
            raise InputError(f"n must be >= 0, got {n}")
        gen = torch.Generator().manual_seed(int(seed) if seed is not None else int(torch.seed() % 2**63))
        return self.net(torch.randn(n, self.config.noise_dim, generator=gen)).reshape(n, -1)

    @torch.no_grad()
    def encode(self, x) -> Tensor:
        """Latent codes (n, d): the critic's vector output, standardised per row like z ~ N(0, I)."""
        return standardise(self.critic.code(_as_tensor(x, self.dim)))

    @torch.no_grad()
    def reconstruct(self, x) -> Tensor:
        """G(encode(x)): (n, D)."""
        return self.net(self.encode(x)).reshape(len(x), -1)

    @torch.no_grad()
    def critic_score(self, x) -> Tensor:
        """The critic's score mean_d E(x): (n,), higher = judged more real."""
        return self.critic(_as_tensor(x, self.dim))


def load_ogan(path: str | Path, ema: bool = True) -> SavedOGAN:
    """Args: path: folder written by `train_ogan`; ema: prefer the EMA generator."""
    path = Path(path)
    info = read_kind_config(path, "ogan")
    cfg = GANConfig.from_dict(info["config"])
    dim = int(info["dim"])
    wfile = path / "generator_ema.safetensors"
    wfile = wfile if ema and wfile.is_file() else path / "generator.safetensors"
    g = load_weights(Generator((dim,), cfg.noise_dim, cfg.width, cfg.depth, cfg.arch, cfg.head), wfile)
    d = load_weights(CodeCritic(dim, cfg.noise_dim, cfg.width, cfg.depth, cfg.arch, cfg.spectral_norm),
                     path / "critic.safetensors")
    return SavedOGAN(g, d, cfg, (dim,), info.get("meta", {}))


def cosine(a: Tensor, b: Tensor) -> Tensor:
    return nn.functional.cosine_similarity(a, b, dim=1)  # (n,)


def reconstruction_report(model: SavedOGAN, x, seed: int = 0) -> dict[str, float]:
    """Mean cosine between held-out vectors and G(E(x)), vs G(z) with a random code z.

    Args:
        model: a loaded O-GAN. x: held-out vectors (n, D). seed: for the random codes.
    """
    x = _as_tensor(x, model.dim)
    rec = model.reconstruct(x)
    rand = model.sample(len(x), seed=seed)
    out = {"cos_reconstruct": float(cosine(x, rec).mean()), "cos_random_code": float(cosine(x, rand).mean())}
    if hasattr(model.net, "head") and len(x):
        # distance baseline that also works off the sphere: mean L2 error
        out["l2_reconstruct"] = float((x - rec).norm(dim=1).mean())
        out["l2_random_code"] = float((x - rand).norm(dim=1).mean())
    return out
