"""Margin-softmax over millions of groups: class centres sharded across ranks and class-sampled
(Partial FC: An et al. 2022, "Killing Two Birds with One Stone: Efficient and Robust Training of
Face Recognition CNNs by Partial FC", CVPR; arXiv:2203.15565).

A full head over C groups costs a (B, C) logit matrix and a (C, D) weight on every process.
Here rank r of W keeps only the centres of classes [lo, hi) = `row_range(C, r, W)`, and a step:
1. samples the classes once for the whole batch, with the same seed on every rank (so the
   sample is the one a single process would draw): every positive of the batch plus uniform
   negatives, S = max(#positives, rate * C) in all (rate 1: every class; the paper loses no
   accuracy at rate 0.1);
2. computes on each rank the logits of the sampled classes it owns, (B, S_r);
3. forms the softmax normaliser over ranks: the max shift is all-reduced (no gradient), the sum
   of exponentials is all-reduced with autograd, and the target logit comes from the rank that
   owns the target class.
Every rank gets the same loss value; each rank's centres receive exactly their own gradient
and are never all-reduced. Callers back-propagate loss / W, as `textgan.common.distributed` explains.
Memory per rank: (C / W) x D centres with their Adam moments, plus (B, S / W) logits; the
centres' gradient is sparse and `lazy_adam_` updates the sampled rows only (as
`torch.optim.SparseAdam` does, with a step count per row), so a step costs O(S D), not O(C D).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from textgan.common import distributed as ddp
from textgan.common.errors import InputError

INIT_BLOCK = 4096  # centre rows drawn per seeded block: any shard draws only its own blocks


def init_rows(lo: int, hi: int, dim: int, seed: int) -> torch.Tensor:
    """Rows [lo, hi) of a (C, D) matrix of N(0, 1/D) entries, identical however C is sharded."""
    out = []
    for k in range(lo // INIT_BLOCK, -(-hi // INIT_BLOCK)):
        gen = torch.Generator().manual_seed((seed * 1_000_003 + k) % 2**63)
        block = torch.randn(INIT_BLOCK, dim, generator=gen)
        out.append(block[max(lo - k * INIT_BLOCK, 0): min(hi - k * INIT_BLOCK, INIT_BLOCK)])
    return (torch.cat(out) if out else torch.zeros(0, dim)) / math.sqrt(dim)


def sample_classes(labels: torch.Tensor, n_classes: int, n_sample: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Every class in `labels` (B,) plus random others, S = max(n_sample, #positives) in all,
    sorted ascending (S,)."""
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise InputError(f"labels must lie in [0, {n_classes}), got {int(labels.min())}..{int(labels.max())}")
    pos = labels.unique()
    s = min(n_classes, max(int(n_sample), len(pos)))
    score = torch.rand(n_classes, generator=generator)  # (C,) random rank of each negative
    score[pos] = 2.0  # positives first, always kept
    return score.topk(s).indices.sort().values


def sharded_margin_loss(emb: torch.Tensor, weight: torch.Tensor, lo: int, labels: torch.Tensor,
                        classes: torch.Tensor | None, scale: float,
                        target_logit: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Mean margin cross-entropy of unit `emb` (B, D) over `classes` (all when None), this rank
    holding the centres `weight` (C_r, D) of classes [lo, lo + C_r); `target_logit` maps the
    target cosine to its margin form (the margin row)."""
    hi = lo + len(weight)
    local = torch.arange(lo, hi) if classes is None else classes[(classes >= lo) & (classes < hi)]  # (S_r,)
    # a sparse gradient: only the S_r sampled rows, so the update is O(S D), not O(C D)
    cos = emb @ F.normalize(F.embedding(local - lo, weight, sparse=True), dim=-1).T  # (B, S_r)
    rows = ((labels >= lo) & (labels < hi)).nonzero().squeeze(1)  # rows whose target is here
    cols = torch.searchsorted(local, labels[rows])
    target = scale * target_logit(cos[rows, cols])  # (n_own,)
    logits = (scale * cos).index_put((rows, cols), target)
    z_target = ddp.sum_across_ranks(emb.new_zeros(len(labels)).index_put((rows,), target))  # (B,)
    local_max = logits.max(1).values if logits.shape[1] else emb.new_full((len(labels),), -math.inf)
    shift = ddp.max_across_ranks(local_max)  # (B,)
    total = ddp.sum_across_ranks(torch.exp(logits - shift[:, None]).sum(1))  # (B,)
    return (total.log() + shift - z_target).mean()


def lazy_adam_(weight: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, steps: torch.Tensor,
               lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
    """Adam (Kingma & Ba 2015) on the rows of `weight` that have a (sparse) gradient, in place;
    `steps` (C,) counts each row's updates for its bias correction. Rows not sampled do not move."""
    if weight.grad is None:
        return
    grad = weight.grad
    if not grad.is_sparse or grad.sparse_dim() != 1:  # row-sparse: (R,) row ids, (R, D) values
        grad = grad.to_dense().to_sparse(1)
    grad = grad.coalesce()
    rows, g = grad.indices()[0], grad.values()  # (R,), (R, D)
    b1, b2 = betas
    with torch.no_grad():
        steps[rows] += 1
        counts = steps[rows]
        # torch.optim.Adam's own arithmetic (lerp, python-float bias corrections), grouped by the
        # rows' step counts, so a row updated every step moves exactly as under Adam
        for t in counts.unique().tolist():
            sel = rows[counts == t]
            gt = g[counts == t]
            m = exp_avg[sel].lerp_(gt, 1 - b1)
            v = exp_avg_sq[sel].mul_(b2).addcmul_(gt, gt, value=1 - b2)
            exp_avg[sel], exp_avg_sq[sel] = m, v
            denom = (v.sqrt() / math.sqrt(1 - b2 ** t)).add_(eps)
            weight[sel] = weight[sel].addcdiv_(m, denom, value=-lr / (1 - b1 ** t))
