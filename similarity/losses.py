"""Metric-learning losses over L2-normalised sentence vectors, built by name.

The margin-softmax family is ONE table (`MARGINS`): each row maps the cosine of the
target class to the target logit; every other class keeps `s * cos`. All rows share
L2-normalised class weights and `F.cross_entropy` (log-sum-exp, numerically stable).
The in-batch baselines (InfoNCE, batch-hard triplet) need a group-aware batch sampler
(`similarity.data.GroupBatchSampler`) so every batch holds positives.

Every loss takes `(embeddings (B, D), labels (B,))` and returns a scalar.

Which to use: "am" (AM-Softmax, s=30, m=0.35) is the default; it beats normalised softmax,
InfoNCE and triplet loss in the README's benchmarks. "aam" (ArcFace) is the angular
alternative; "aam-easy" applies its margin only to samples already within 90 degrees of
their class. For SphereFace use "sphereface" (monotone psi with lambda annealing), not
"a-softmax", whose simple min(cos, cos 4theta) form is kept for comparison: it is not
monotone and parks samples about 72 degrees from their class.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from textgan.common.errors import InputError
from similarity.partial_fc import init_rows, lazy_adam_, sample_classes, sharded_margin_loss

_EPS = 1e-7


def _none(cos: torch.Tensor, m: float) -> torch.Tensor:
    """Normalised softmax / NormFace, no margin (Wang et al. 2017, arXiv:1704.06369)."""
    return cos


def _additive(cos: torch.Tensor, m: float) -> torch.Tensor:
    """AM-Softmax / CosFace: cos - m (Wang et al. 2018, arXiv:1801.05599). The default."""
    return cos - m


def _angular_additive(cos: torch.Tensor, m: float, easy_margin: bool = False) -> torch.Tensor:
    """AAM / ArcFace: cos(theta + m) (Deng et al. 2019, arXiv:1801.07698).

    Past theta = pi - m, cos(theta + m) turns back up, so the gradient would push a badly
    misplaced sample further away from its class; there the target is cos - m sin m instead
    (the paper code's `th`/`mm` fallback), which keeps the target increasing in cos.
    With `easy_margin` the margin applies only where cos > 0 (plain cos elsewhere).
    """
    arc = torch.cos(torch.acos(cos.clamp(-1 + _EPS, 1 - _EPS)) + m)
    if easy_margin:
        return torch.where(cos > 0, arc, cos)
    return torch.where(cos > math.cos(math.pi - m), arc, cos - m * math.sin(m))


def _quadruple_angle(cos: torch.Tensor, m: float) -> torch.Tensor:
    """Simple A-Softmax, m=4: min(cos, cos 4theta), cos 4theta = 8c^4 - 8c^2 + 1
    (SphereFace, Liu et al. 2017, arXiv:1704.08063; min() replaces its piecewise psi).

    Not monotone: between 67.5 and 72 degrees the target rises with the angle, so training
    parks samples about 72 degrees from their class. Prefer "sphereface".
    """
    psi = 8 * cos**4 - 8 * cos**2 + 1
    return torch.minimum(cos, psi)


def sphereface_psi(cos: torch.Tensor, m: float) -> torch.Tensor:
    """SphereFace's monotone psi(theta) = (-1)^k cos(m theta) - 2k for theta in
    [k pi/m, (k+1) pi/m], k = 0..m-1 (Liu et al. 2017, arXiv:1704.08063, eq. 7): it falls
    from 1 at theta = 0 to -(2m - 1) at theta = pi, so every step toward the class helps."""
    theta = torch.acos(cos.clamp(-1 + _EPS, 1 - _EPS))
    k = torch.floor(theta * m / math.pi).clamp(max=m - 1).detach()
    sign = 1 - 2 * torch.remainder(k, 2)
    return sign * torch.cos(m * theta) - 2 * k


@dataclass(frozen=True)
class Anneal:
    """SphereFace's softening: target = (lambda cos + psi) / (1 + lambda), with
    lambda = max(lambda_min, base (1 + gamma iter)^-power) falling as training goes on.
    Defaults are those of SphereFace's released training prototxt."""

    base: float = 1000.0
    gamma: float = 0.12
    power: float = 1.0
    lambda_min: float = 5.0

    def lam(self, iteration: int) -> float:
        return max(self.lambda_min, self.base * (1 + self.gamma * iteration) ** -self.power)


@dataclass(frozen=True)
class MarginRow:
    target: Callable[[torch.Tensor, float], torch.Tensor]  # cos(target) (B,) -> target cos (B,)
    scale: float
    margin: float
    fixed_margin: bool = False  # the formula is written for this margin only
    integer_margin: bool = False  # psi needs a whole number of angle pieces
    anneal: Anneal | None = None  # blend the target with cos by a decaying lambda
    # [lo, hi) where the margin makes the target harder and still reachable: a negative margin
    # makes it easier than the plain logit (the loss reads 0 at once), one past hi unreachable
    margin_range: tuple[float, float] | None = None


MARGINS: dict[str, MarginRow] = {
    "softmax": MarginRow(_none, scale=30.0, margin=0.0, fixed_margin=True),
    "am": MarginRow(_additive, scale=30.0, margin=0.35, margin_range=(0.0, 1.0)),
    "aam": MarginRow(_angular_additive, scale=30.0, margin=0.35, margin_range=(0.0, math.pi / 2)),
    "aam-easy": MarginRow(partial(_angular_additive, easy_margin=True), scale=30.0, margin=0.35,
                          margin_range=(0.0, math.pi / 2)),
    "a-softmax": MarginRow(_quadruple_angle, scale=30.0, margin=4.0, fixed_margin=True),
    "sphereface": MarginRow(sphereface_psi, scale=30.0, margin=4.0, integer_margin=True,
                            anneal=Anneal()),
}


def check_margin(name: str, m: float) -> None:
    """Refuse a margin the row's formula is not defined for."""
    if not isinstance(m, (int, float)) or isinstance(m, bool) or not math.isfinite(m):
        raise InputError(f"loss {name!r} needs a finite number, got {m!r}", "--margin")
    if name in PAIR_LOSSES:
        lo, hi = PAIR_MARGIN_RANGE[name]
        if not lo <= m <= hi:
            raise InputError(f"loss {name!r} takes a margin in [{lo:g}, {hi:g}], got {m:g}", "--margin")
        return
    row = MARGINS[name]
    if row.fixed_margin and m != row.margin:
        raise InputError(f"loss {name!r} is defined for margin {row.margin:g} only, got {m:g}", "--margin")
    if row.integer_margin and (m != int(m) or m < 1):
        raise InputError(f"loss {name!r} needs a whole-number margin >= 1, got {m:g}", "--margin")
    if row.margin_range and not row.margin_range[0] <= m < row.margin_range[1]:
        lo, hi = row.margin_range
        raise InputError(f"loss {name!r} takes a margin in [{lo:g}, {hi:.4g}), got {m:g} (a negative margin makes "
                         f"the target easier than no margin and the loss vanishes; a larger one is unreachable)",
                         "--margin")


class MarginSoftmaxLoss(nn.Module):
    """Cross-entropy over s * cos(x, W_c), with the target logit replaced by s * row(cos).

    `iteration` counts forward passes in training mode (one per optimizer step), as
    SphereFace's layer does; it drives the annealed rows and is part of `state_dict`, so a
    resumed run continues the schedule where it stopped.
    """

    needs_classes = True

    def __init__(self, name: str, dim: int, n_classes: int, scale: float, margin: float,
                 sample_rate: float = 1.0, seed: int = 0, shard: tuple[int, int] | None = None):
        super().__init__()
        self.name, self.row, self.scale, self.margin = name, MARGINS[name], scale, margin
        self.n_classes, self.sample_rate, self.seed = int(n_classes), float(sample_rate), int(seed)
        # classes [lo, hi) live here (all of them unless sharded across torchrun ranks)
        self.lo, self.hi = shard if shard is not None else (0, self.n_classes)
        self.weight = nn.Parameter(init_rows(self.lo, self.hi, dim, self.seed))  # (hi - lo, D)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))
        if self.partial:  # the centres' own (lazy) Adam state: see `sparse_step`
            self.register_buffer("exp_avg", torch.zeros_like(self.weight.detach()))
            self.register_buffer("exp_avg_sq", torch.zeros_like(self.weight.detach()))
            self.register_buffer("row_steps", torch.zeros(len(self.weight), dtype=torch.long))

    def sparse_step(self, lr: float) -> None:
        """Partial FC: Adam on the sampled centres only (their gradient is sparse), then clear it.
        The trainer keeps these centres out of its dense optimiser."""
        lazy_adam_(self.weight, self.exp_avg, self.exp_avg_sq, self.row_steps, lr)
        self.weight.grad = None

    @property
    def partial(self) -> bool:
        """Sharded or class-sampled: the Partial FC path of `similarity.partial_fc`."""
        return self.sample_rate < 1 or (self.lo, self.hi) != (0, self.n_classes)

    def target_logit(self, cos_y: torch.Tensor) -> torch.Tensor:
        """The margin row (annealed for SphereFace) applied to target cosines (B,)."""
        target = self.row.target(cos_y, self.margin)
        if self.row.anneal is not None:
            lam = self.row.anneal.lam(int(self.iteration))
            target = (lam * cos_y + target) / (1 + lam)
        return target

    def logits(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = F.normalize(emb, dim=-1) @ F.normalize(self.weight, dim=-1).T  # (B, C)
        cos_y = cos.gather(1, labels[:, None]).squeeze(1)  # (B,)
        cos = cos.scatter(1, labels[:, None], self.target_logit(cos_y)[:, None])
        return self.scale * cos

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.partial:
            classes = None
            if self.sample_rate < 1:  # seeded by the step: every rank (and a resume) draws the same
                gen = torch.Generator().manual_seed((self.seed * 1_000_003 + int(self.iteration)) % 2**63)
                classes = sample_classes(labels, self.n_classes, round(self.sample_rate * self.n_classes), gen)
            out = sharded_margin_loss(F.normalize(emb, dim=-1), self.weight, self.lo, labels, classes,
                                      self.scale, self.target_logit)
        else:
            out = F.cross_entropy(self.logits(emb, labels), labels)
        if self.training:
            self.iteration += 1
        return out


class InfoNCELoss(nn.Module):
    """In-batch supervised InfoNCE: every other same-group sentence is a positive
    (van den Oord et al. 2018, arXiv:1807.03748; multi-positive form of Khosla et al. 2020)."""

    needs_classes = False

    def __init__(self, scale: float = 20.0, margin: float = 0.0):
        super().__init__()
        self.scale = scale  # 1 / temperature

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = F.normalize(emb, dim=-1)
        eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
        logits = (self.scale * emb @ emb.T).masked_fill(eye, float("-inf"))  # (B, B)
        log_p = logits.log_softmax(dim=1).masked_fill(eye, 0.0)
        pos = (labels[:, None] == labels[None, :]) & ~eye  # (B, B)
        n_pos = pos.sum(1)
        has = n_pos > 0
        if not has.any():
            return emb.sum() * 0.0  # no positives in this batch: nothing to learn
        per_anchor = -(log_p * pos).sum(1)[has] / n_pos[has]
        return per_anchor.mean()


class TripletLoss(nn.Module):
    """Batch-hard triplet loss on cosine distance 1 - cos (Hermans et al. 2017, arXiv:1703.07737)."""

    needs_classes = False

    def __init__(self, scale: float = 1.0, margin: float = 0.2):
        super().__init__()
        self.margin = margin

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = F.normalize(emb, dim=-1)
        dist = 1 - emb @ emb.T  # (B, B)
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
        pos, neg = same & ~eye, ~same
        valid = pos.any(1) & neg.any(1)
        if not valid.any():
            return emb.sum() * 0.0
        hardest_pos = dist.masked_fill(~pos, float("-inf")).max(1).values
        hardest_neg = dist.masked_fill(~neg, float("inf")).min(1).values
        return F.relu(hardest_pos - hardest_neg + self.margin)[valid].mean()


PAIR_LOSSES: dict[str, tuple[type[nn.Module], float, float]] = {
    # name: (class, default scale, default margin)
    "infonce": (InfoNCELoss, 20.0, 0.0),
    "triplet": (TripletLoss, 1.0, 0.2),
}

LOSS_NAMES: tuple[str, ...] = tuple(MARGINS) + tuple(PAIR_LOSSES)
# infonce has no margin; triplet's is on cosine distance 1 - cos, which lies in [0, 2]
PAIR_MARGIN_RANGE = {"infonce": (0.0, 0.0), "triplet": (0.0, 2.0)}


def make_loss(name: str, dim: int = 128, n_classes: int = 2, scale: float | None = None,
              margin: float | None = None, sample_rate: float = 1.0, seed: int = 0,
              shard: tuple[int, int] | None = None) -> nn.Module:
    """Build a loss by name; `scale`/`margin` of None take the row's defaults.

    Args:
        name: one of `LOSS_NAMES`.
        dim: embedding size (margin-softmax class weights are (n_classes, dim)).
        n_classes: number of groups (margin-softmax only).
        scale: logit scale s (1/temperature for InfoNCE; unused by triplet).
        margin: margin m (cosine-distance margin for triplet).
        sample_rate: margin rows only: share of the classes in each step's softmax (Partial FC).
        seed: margin rows only: seeds the class weights (block by block) and the class sampling.
        shard: margin rows only: the classes [lo, hi) this process holds (torchrun ranks).
    """
    if isinstance(name, str) and (name in MARGINS or name in PAIR_LOSSES):
        _check_loss_args(dim, n_classes, scale, sample_rate, seed, shard)
    if name in MARGINS:
        row = MARGINS[name]
        m = row.margin if margin is None else margin
        check_margin(name, m)
        return MarginSoftmaxLoss(name, dim, n_classes, row.scale if scale is None else scale, m,
                                 sample_rate, seed, shard)
    if name in PAIR_LOSSES:
        cls, s, m = PAIR_LOSSES[name]
        check_margin(name, m if margin is None else margin)
        return cls(scale=s if scale is None else scale, margin=m if margin is None else margin)
    raise InputError(f"unknown loss {name!r}; valid: {', '.join(LOSS_NAMES)}")


def _check_loss_args(dim, n_classes, scale, sample_rate, seed, shard) -> None:
    """make_loss's sizes and rates: n_classes=0 or scale=nan built a loss that failed (or was NaN) in its
    first step, far from the call that was wrong."""
    from textgan.common.args import finite, whole

    whole(dim, "dim"), whole(n_classes, "n_classes"), whole(seed, "seed", minimum=0)
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or not finite(scale)
                              or scale <= 0):
        raise InputError(f"scale must be a finite number > 0, got {scale!r:.40}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not 0 < sample_rate <= 1:
        raise InputError(f"sample_rate must be in (0, 1], got {sample_rate!r:.40}")
    if shard is not None and not (isinstance(shard, (tuple, list)) and len(shard) == 2
                                  and all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
                                  and 0 <= shard[0] < shard[1] <= n_classes):
        raise InputError(f"shard must be (lo, hi) with 0 <= lo < hi <= n_classes ({n_classes}), got {shard!r:.40}")


def default_hyper(name: str) -> tuple[float, float]:
    """(scale, margin) defaults of a loss row."""
    if name in MARGINS:
        return MARGINS[name].scale, MARGINS[name].margin
    if name in PAIR_LOSSES:
        return PAIR_LOSSES[name][1], PAIR_LOSSES[name][2]
    raise InputError(f"unknown loss {name!r}; valid: {', '.join(LOSS_NAMES)}")
