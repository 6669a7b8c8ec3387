"""Metric-learning losses over L2-normalised sentence vectors, built by name.

The margin-softmax family is ONE table (`MARGINS`): each row maps the cosine of the
target class to the target logit; every other class keeps `s * cos`. All rows share
L2-normalised class weights and `F.cross_entropy` (log-sum-exp, numerically stable).
The in-batch baselines (InfoNCE, batch-hard triplet) need a group-aware batch sampler
(`similarity.data.GroupBatchSampler`) so every batch holds positives.

Every loss takes `(embeddings (B, D), labels (B,))` and returns a scalar.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from textgan.errors import InputError

_EPS = 1e-7


def _none(cos: torch.Tensor, m: float) -> torch.Tensor:
    """Normalised softmax / NormFace, no margin (Wang et al. 2017, arXiv:1704.06369)."""
    return cos


def _additive(cos: torch.Tensor, m: float) -> torch.Tensor:
    """AM-Softmax / CosFace: cos - m (Wang et al. 2018, arXiv:1801.05599)."""
    return cos - m


def _angular_additive(cos: torch.Tensor, m: float) -> torch.Tensor:
    """AAM / ArcFace: cos(theta + m) (Deng et al. 2019, arXiv:1801.07698)."""
    return torch.cos(torch.acos(cos.clamp(-1 + _EPS, 1 - _EPS)) + m)


def _quadruple_angle(cos: torch.Tensor, m: float) -> torch.Tensor:
    """Simple A-Softmax, m=4: min(cos, cos 4theta), cos 4theta = 8c^4 - 8c^2 + 1
    (SphereFace, Liu et al. 2017, arXiv:1704.08063; min() replaces its piecewise psi)."""
    psi = 8 * cos**4 - 8 * cos**2 + 1
    return torch.minimum(cos, psi)


@dataclass(frozen=True)
class MarginRow:
    target: Callable[[torch.Tensor, float], torch.Tensor]  # cos(target) (B,) -> target cos (B,)
    scale: float
    margin: float
    fixed_margin: bool = False  # A-Softmax's formula is written for m = 4 only


MARGINS: dict[str, MarginRow] = {
    "softmax": MarginRow(_none, scale=30.0, margin=0.0),
    "am": MarginRow(_additive, scale=30.0, margin=0.35),
    "aam": MarginRow(_angular_additive, scale=30.0, margin=0.35),
    "a-softmax": MarginRow(_quadruple_angle, scale=30.0, margin=4.0, fixed_margin=True),
}


class MarginSoftmaxLoss(nn.Module):
    """Cross-entropy over s * cos(x, W_c), with the target logit replaced by s * row(cos)."""

    needs_classes = True

    def __init__(self, name: str, dim: int, n_classes: int, scale: float, margin: float):
        super().__init__()
        self.name, self.row, self.scale, self.margin = name, MARGINS[name], scale, margin
        self.weight = nn.Parameter(torch.randn(n_classes, dim) / math.sqrt(dim))  # (C, D)

    def logits(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = F.normalize(emb, dim=-1) @ F.normalize(self.weight, dim=-1).T  # (B, C)
        target = self.row.target(cos.gather(1, labels[:, None]).squeeze(1), self.margin)  # (B,)
        cos = cos.scatter(1, labels[:, None], target[:, None])
        return self.scale * cos

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(emb, labels), labels)


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


def make_loss(name: str, dim: int = 128, n_classes: int = 2, scale: float | None = None,
              margin: float | None = None) -> nn.Module:
    """Build a loss by name; `scale`/`margin` of None take the row's defaults.

    Args:
        name: one of `LOSS_NAMES`.
        dim: embedding size (margin-softmax class weights are (n_classes, dim)).
        n_classes: number of groups (margin-softmax only).
        scale: logit scale s (1/temperature for InfoNCE; unused by triplet).
        margin: margin m (cosine-distance margin for triplet).
    """
    if name in MARGINS:
        row = MARGINS[name]
        m = row.margin if margin is None else margin
        if row.fixed_margin and m != row.margin:
            raise InputError(f"loss {name!r} is defined for margin {row.margin:g} only, got {m:g}")
        return MarginSoftmaxLoss(name, dim, n_classes, row.scale if scale is None else scale, m)
    if name in PAIR_LOSSES:
        cls, s, m = PAIR_LOSSES[name]
        return cls(scale=s if scale is None else scale, margin=m if margin is None else margin)
    raise InputError(f"unknown loss {name!r}; valid: {', '.join(LOSS_NAMES)}")


def default_hyper(name: str) -> tuple[float, float]:
    """(scale, margin) defaults of a loss row."""
    if name in MARGINS:
        return MARGINS[name].scale, MARGINS[name].margin
    if name in PAIR_LOSSES:
        return PAIR_LOSSES[name][1], PAIR_LOSSES[name][2]
    raise InputError(f"unknown loss {name!r}; valid: {', '.join(LOSS_NAMES)}")
