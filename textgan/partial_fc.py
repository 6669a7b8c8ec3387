"""Class-sampled margin-softmax head for millions of groups (Partial FC: An et al. 2022,
"Killing Two Birds with One Stone: Efficient and Robust Training of Face Recognition CNNs by
Partial FC", CVPR; arXiv:2203.15565).

A full margin-softmax head over C groups costs (B, C) logits and a dense (C, D) gradient every
step. Partial FC keeps every positive class of the batch plus a uniform random subset of the
negatives, S = max(positives, rate * C) classes in all, and takes the softmax over those only
(the paper loses no accuracy at rate 0.1). The class centres are an `nn.Embedding(sparse=True)`:
a step touches, and an optimiser such as `torch.optim.SparseAdam` updates, only S rows.

Still open (see README, Large corpora): the centres themselves (C x D floats) live whole on
every rank; sharding them across ranks (each rank samples among its own C / W classes and the
softmax normaliser is all-reduced) is the paper's other half.

Usage, with any margin row of `similarity.losses` as `target_logit`:
    head = SampledMarginHead(n_groups, dim, rate=0.1)
    cos, target = head(embeddings, labels)                    # (B, S), (B,)
    loss = margin_cross_entropy(cos, target, scale=30, target_logit=lambda c: c - 0.35)
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from textgan.errors import InputError


def sample_classes(labels: torch.Tensor, n_classes: int, n_sample: int,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every class in `labels` (B,) plus random others, S = max(n_sample, #positives) in all.

    Returns (classes (S,) sorted ascending, target (B,)) with classes[target] == labels.
    """
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise InputError(f"labels must lie in [0, {n_classes}), got {int(labels.min())}..{int(labels.max())}")
    pos = labels.unique()
    s = min(n_classes, max(int(n_sample), len(pos)))
    score = torch.rand(n_classes, generator=generator)  # (C,) random rank of each negative
    score[pos] = 2.0  # positives first, always kept
    classes = score.topk(s).indices.sort().values  # (S,)
    return classes, torch.searchsorted(classes, labels)


class SampledMarginHead(nn.Module):
    """Cosines between embeddings and a sampled subset of C class centres."""

    def __init__(self, n_classes: int, dim: int, rate: float = 0.1, seed: int = 0):
        super().__init__()
        if not 0 < rate <= 1:
            raise InputError(f"sample rate must lie in (0, 1], got {rate}")
        self.n_classes, self.rate = int(n_classes), float(rate)
        self.centres = nn.Embedding(n_classes, dim, sparse=True)
        nn.init.normal_(self.centres.weight, std=0.01)
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """emb (B, D), labels (B,) -> cosines (B, S) to the sampled centres, target column (B,)."""
        classes, target = sample_classes(labels, self.n_classes, round(self.rate * self.n_classes), self.generator)
        w = F.normalize(self.centres(classes), dim=1)  # (S, D)
        return F.normalize(emb, dim=1) @ w.T, target


def margin_cross_entropy(cos: torch.Tensor, target: torch.Tensor, scale: float,
                         target_logit: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Cross-entropy of scale * logits where the target column's cosine goes through a margin row."""
    rows = torch.arange(len(target))
    logits = cos.clone()
    logits[rows, target] = target_logit(cos[rows, target])
    return F.cross_entropy(scale * logits, target)
