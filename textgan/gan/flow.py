"""A RealNVP normalising flow on vectors: exact log-likelihood and sampling (Dinh et al. 2017,
arXiv:1605.08803).

x (B, D) -> whitening -> L affine couplings -> z ~ N(0, I), so
    log p(x) = log N(z; 0, I) + log|det W| + sum_l sum_i s_l,i(x)
exactly. The whitening x -> (x - m) W is fitted once on the training rows (PCA, eigenvalues
+ noise^2); each coupling keeps a fixed random half of the coordinates (mask b) and maps
    y = b*x + (1-b) * (x * exp(s(b*x)) + t(b*x)),  s = tanh(.) bounded,
whose log-det is sum((1-b) s). Unit sentence vectors lie on a sphere, where a density on R^D
is degenerate; training adds Gaussian noise of std `noise` (a smoothed density, finite on
the data). `holdout` rows never train the flow: their log-likelihoods are saved as
`held_out.safetensors`, the in-domain calibration of `textgan score --method flow`.
A flow whose log-likelihood on the data is not finite is refused, never saved.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from textgan.common.artifacts import load_tensors, save_tensors
from textgan.common.errors import InputError
from textgan.gan.config import KindConfig, flag
from textgan.gan.nets import Head, trunk
from textgan.gan.saved import SavedModel, load_weights, rng
from textgan.gan.trainer import Step

Tensor = torch.Tensor
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class FlowConfig(KindConfig):
    """Args:
    n_layers: affine couplings; width, depth: the MLP of each coupling's s and t.
    lr: Adam learning rate; noise: std of the Gaussian noise added to training rows.
    holdout: share of rows kept out of training to calibrate thresholds (0: none).
    head: "sphere" projects samples onto the unit sphere (for L2-normalised embeddings).
    """

    n_layers: int = 6
    width: int = 256
    depth: int = 2
    lr: float = 1e-3
    noise: float = 0.02
    holdout: float = 0.1
    head: Head = "linear"

    def validate(self) -> None:
        super().validate()
        if self.n_layers < 1:
            raise InputError(f"{flag('n_layers')} must be >= 1, got {self.n_layers}")
        if not self.lr > 0:
            raise InputError(f"{flag('lr')} must be > 0, got {self.lr}")
        if not self.noise > 0:
            raise InputError(f"{flag('noise')} must be > 0, got {self.noise}")
        if not 0 <= self.holdout < 1:
            raise InputError(f"{flag('holdout')} must be in [0, 1), got {self.holdout}")
        if self.head not in ("linear", "sphere"):
            raise InputError(f"a flow's head is linear or sphere, got {self.head!r}")


class Coupling(nn.Module):
    """Affine coupling: y = b*x + (1-b)*(x*exp(s) + t), (s, t) = MLP(b*x); log-det = sum (1-b)*s."""

    def __init__(self, dim: int, mask: Tensor, width: int, depth: int):
        super().__init__()
        self.register_buffer("mask", mask)  # (D,) 0/1, saved with the weights
        self.net = trunk(dim, 2 * dim, width, depth, "mlp", nn.ReLU, False)
        nn.init.zeros_(self.net[-1].weight)  # identity at initialisation
        nn.init.zeros_(self.net[-1].bias)

    def _st(self, kept: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self.net(kept).chunk(2, dim=1)  # (B, D) each
        free = 1 - self.mask
        return torch.tanh(s) * free, t * free

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._st(x * self.mask)
        return x * torch.exp(s) + t, s.sum(1)  # kept coordinates: s = t = 0 there

    def inverse(self, y: Tensor) -> Tensor:
        s, t = self._st(y * self.mask)
        return (y - t) * torch.exp(-s)


class RealNVP(nn.Module):
    """x (B, D) -> (z (B, D), log|det dz/dx| (B,)); `log_prob(x)` (B,); `inverse(z)` (B, D)."""

    def __init__(self, dim: int, n_layers: int, width: int, depth: int, mask_seed: int = 0):
        super().__init__()
        self.dim = dim
        gen = torch.Generator().manual_seed(mask_seed)
        masks = []
        for _ in range(n_layers):
            m = torch.zeros(dim)
            m[torch.randperm(dim, generator=gen)[: dim // 2]] = 1.0
            masks.append(m)
        self.layers = nn.ModuleList(Coupling(dim, m, width, depth) for m in masks)
        self.register_buffer("shift", torch.zeros(dim))  # whitening x -> (x - shift) @ w
        self.register_buffer("w", torch.eye(dim))
        self.register_buffer("w_inv", torch.eye(dim))
        self.register_buffer("w_logdet", torch.zeros(()))

    def fit_whitening(self, x: Tensor, noise: float) -> None:
        """PCA whitening of the rows x (N, D) with the training noise added to the covariance."""
        xd = x.double()
        mean = xd.mean(0)
        cov = torch.cov((xd - mean).T).reshape(self.dim, self.dim) if len(x) > 1 else torch.zeros(self.dim, self.dim,
                                                                                                   dtype=torch.float64)
        evals, evecs = torch.linalg.eigh(cov)
        var = evals.clamp_min(0) + noise**2  # (D,)
        self.shift.copy_(mean)
        self.w.copy_(evecs / var.sqrt())  # (D, D): columns scaled by 1/sqrt(var)
        self.w_inv.copy_((evecs * var.sqrt()).T)
        self.w_logdet.copy_(-0.5 * var.log().sum())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = (x - self.shift) @ self.w  # (B, D)
        logdet = self.w_logdet.expand(len(x)).clone()
        for layer in self.layers:
            z, ld = layer(z)
            logdet = logdet + ld
        return z, logdet

    def log_prob(self, x: Tensor) -> Tensor:
        z, logdet = self(x)
        return -0.5 * (z**2).sum(1) - 0.5 * self.dim * LOG_2PI + logdet  # (B,)

    def inverse(self, z: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z @ self.w_inv + self.shift


def split_holdout(n: int, share: float, seed: int) -> tuple[Tensor, Tensor]:
    """(train rows, held-out rows) of n rows, a seeded random split; at least 1 row trains."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_held = min(int(round(share * n)), n - 1)
    return perm[n_held:], perm[:n_held]


class FlowStep(Step):
    kind = "flow"
    loss_keys = ("nll_per_dim",)

    def build(self) -> None:
        cfg = self.cfg
        train, held = split_holdout(self.n, cfg.holdout, cfg.seed)
        if len(train) < cfg.batch_size:  # the trainer's own check saw the rows before the holdout
            raise InputError(f"only {len(train)} training rows after {flag('holdout')} {cfg.holdout:g} kept "
                             f"{len(held)} out, fewer than one batch ({cfg.batch_size}); lower --batch-size or "
                             "the holdout")
        self.held = self.data[held]
        if not len(held):  # the scorer's threshold comes from these rows' log-likelihoods
            warnings.warn(f"holdout {cfg.holdout:g} keeps no row out of training: `score` with this flow has no "
                          "held-out rows to place its threshold on (it needs --val-in, or a model with a held-out "
                          "split)", stacklevel=2)
        self.data, self.n = self.data[train], len(train)  # `rows()` draws from the training part only
        self.flow = RealNVP(self.dim, cfg.n_layers, cfg.width, cfg.depth, mask_seed=cfg.seed)
        self.flow.fit_whitening(self.data, cfg.noise)
        self.modules = {"flow": self.flow}
        self.optimizers = {"opt": torch.optim.Adam(self.flow.parameters(), lr=cfg.lr)}
        self.lr_fields = {"opt": "lr"}

    def train_step(self, step: int) -> dict[str, float]:
        x = self.rows()
        x = x + self.cfg.noise * torch.randn_like(x)  # (B, D), the smoothed density
        loss = -self.flow.log_prob(x).mean() / self.dim
        opt = self.optimizers["opt"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.flow.parameters(), 10.0)
        opt.step()
        return {"nll_per_dim": loss.item()}

    def save(self, out: Path) -> dict:
        with torch.no_grad():
            train_ll = torch.cat([self.flow.log_prob(c) for c in self.data[:8192].split(4096)])
            held_ll = torch.cat([self.flow.log_prob(c) for c in self.held.split(4096)]) if len(self.held) else None
        for what, ll in (("training", train_ll), ("held-out", held_ll)):
            if ll is not None and not bool(torch.isfinite(ll).all()):
                raise InputError(f"the flow diverged: non-finite log-likelihood on {int((~torch.isfinite(ll)).sum())} "
                                 f"{what} rows; not saved (retrain with a lower --lr or a larger --noise)", out)
        save_tensors(self.flow.state_dict(), out / "flow.safetensors")
        if held_ll is not None:
            save_tensors({"log_likelihood": held_ll}, out / "held_out.safetensors")
        return {"held_out_rows": 0 if held_ll is None else len(held_ll)}


class SavedFlow(SavedModel):
    """A trained flow: `.log_prob(x)`, `.score(x)` (= log-likelihood), `.sample(n, seed)`,
    `.held_out_scores` (log-likelihoods of rows it never trained on, or None)."""

    kind = "flow"
    score_name = "likelihood"

    def __init__(self, flow: RealNVP, config: FlowConfig, shape, meta: dict, held_out: np.ndarray | None):
        self.flow, self.config, self.shape, self.meta, self.held_out_scores = flow, config, tuple(shape), meta, held_out

    def log_prob(self, vectors) -> Tensor:
        return self._batched(self.flow.log_prob, vectors)

    def score(self, vectors) -> Tensor:
        return self.log_prob(vectors)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, group: str | None = None) -> Tensor:
        self._check_group(group)
        x = self.flow.inverse(torch.randn(n, self.dim, generator=rng(seed)))  # (n, D)
        return nn.functional.normalize(x, dim=1) if self.config.head == "sphere" else x

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedFlow":
        cfg = FlowConfig.from_dict(info["config"])
        dim = int(info["dim"])
        flow = load_weights(RealNVP(dim, cfg.n_layers, cfg.width, cfg.depth, cfg.seed), path / "flow.safetensors")
        held = None
        if (path / "held_out.safetensors").is_file():
            held = load_tensors(path / "held_out.safetensors", floats=True)["log_likelihood"].numpy().astype(np.float64)
        return cls(flow, cfg, (dim,), info["meta"], held)
