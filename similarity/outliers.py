"""Outliers while training: an uncertainty loss on the energy of the margin head.

VOS (Du et al., "VOS: Learning What You Don't Know by Virtual Outlier Synthesis", ICLR 2022):
keep the latest sentence vectors of every group (a queue per group), sample "virtual outliers"
from the low-likelihood region of the groups, and train the head so that its free energy
E(x) = -logsumexp_c(s cos(x, W_c)) is low on in-group sentences and high on outliers, with a
logistic regression on -E (in-group = 1, outlier = 0). Real outlier sentences (outlier
exposure, `--outliers FILE`) enter the same loss beside or instead of the virtual ones.

Sources are rows of `SOURCES` (`--virtual-outliers`), all sampled here on tensors (similarity
imports no generator kinds):
  none      no virtual outliers (today's training);
  gaussian  VOS: class-conditional Gaussians with one shared covariance fitted on the queues;
            per group of the batch, candidates are drawn and the lowest-likelihood one is kept
            (generative: a fitted density is sampled);
  sphere    uniform noise on the unit sphere (a non-generative control);
  mixup     a queued vector of the row's group mixed with one of another group (between
            groups; non-generative);
  flow, boundary, anchored  generators of textgan's kinds registry refitted on the queues at the start of
            every epoch of the loss, injected by the workflow (`KindSampler`,
            `textgan.workflow.vo_kinds`): similarity imports only textgan.common.
Every draw is seeded by (seed, step): identical on every torchrun rank and after `--resume`;
the queues are buffers of the module and travel in the checkpoint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from textgan.common import distributed as ddp
from textgan.common.errors import InputError


@dataclass(frozen=True)
class VOSource:
    name: str
    generative: bool
    summary: str
    injected: bool = False  # a generator kind: its sampler comes from the workflow (`KindSampler`)


class KindSampler(Protocol):
    """A generator of textgan's kinds registry, refitted on the queued vectors at the start of every
    epoch of the loss (so a resume, which starts at an epoch, refits on the same queues). Built by
    `textgan.workflow.vo_kinds` and passed to `similarity.train(vo_sampler=...)`: similarity does
    not import the generators."""

    def fit(self, vectors: np.ndarray, labels: np.ndarray, seed: int) -> None: ...

    def sample(self, labels: np.ndarray, seed: int) -> np.ndarray: ...


SOURCES: dict[str, VOSource] = {s.name: s for s in [
    VOSource("none", False, "no virtual outliers"),
    VOSource("gaussian", True, "VOS: lowest-likelihood samples of class Gaussians, shared covariance"),
    VOSource("sphere", False, "uniform noise on the unit sphere"),
    VOSource("mixup", False, "mixtures of queued vectors of two different groups"),
    VOSource("flow", True, "lowest-likelihood samples of a RealNVP refitted on the queues each epoch", True),
    VOSource("boundary", True, "samples of a boundary GAN (low density near the data) refitted each epoch", True),
    VOSource("anchored", True, "widened samples of a class-anchored GAN around the row's group, refitted each epoch",
             True),
]}


def check_source(name: str) -> VOSource:
    if name not in SOURCES:
        raise InputError(f"unknown --virtual-outliers {name!r}; valid: "
                         + ", ".join(f"{s.name} ({s.summary})" for s in SOURCES.values()))
    return SOURCES[name]


def head_logsumexp(head: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """-E(x) = logsumexp_c(s cos(x, W_c)) over all classes of a margin head, (N,), with autograd.

    A sharded (torchrun) or class-sampled head sums the exponentials over ranks, as
    `similarity.partial_fc.sharded_margin_loss` does, and reads its centres sparsely so that
    their gradient stays row-sparse for the lazy Adam."""
    x = F.normalize(x, dim=-1)
    if not getattr(head, "partial", False):
        return torch.logsumexp(head.scale * x @ F.normalize(head.weight, dim=-1).T, dim=1)
    local = F.embedding(torch.arange(len(head.weight)), head.weight, sparse=True)
    logits = head.scale * x @ F.normalize(local, dim=-1).T  # (N, C_r)
    local_max = logits.max(1).values if logits.shape[1] else x.new_full((len(x),), -math.inf)
    shift = ddp.max_across_ranks(local_max)
    total = ddp.sum_across_ranks(torch.exp(logits - shift[:, None]).sum(1))
    return total.log() + shift


def uncertainty_loss(lse_in: torch.Tensor, lse_out: torch.Tensor, w: torch.Tensor,
                     b: torch.Tensor) -> torch.Tensor:
    """VOS's logistic loss on -E: mean over in-group (label 1) and outlier (label 0) rows of
    BCE(sigmoid(w * lse + b), label)."""
    logits = w * torch.cat([lse_in, lse_out]) + b
    target = torch.cat([torch.ones_like(lse_in), torch.zeros_like(lse_out)])
    return F.binary_cross_entropy_with_logits(logits, target)


@torch.no_grad()
def push_queue(queue: torch.Tensor, count: torch.Tensor, emb: torch.Tensor, labels: torch.Tensor) -> None:
    """Write each row of `emb` (B, D) into its group's ring buffer `queue` (C, Q, D); `count` (C,)
    counts every row pushed, so `count % Q` is the next slot and `min(count, Q)` the filled rows."""
    q = queue.shape[1]
    for e, c in zip(emb.detach(), labels.tolist()):
        queue[c, int(count[c]) % q] = e
        count[c] += 1


def refit_on_queues(sampler: KindSampler, queue: torch.Tensor, count: torch.Tensor, seed: int,
                    epoch: int) -> torch.Tensor | None:
    """Fit an injected generator on the queued vectors, their groups as labels, seeded by (seed,
    epoch) with the global RNG left as it was (the encoder's draws must not depend on the fit).
    Returns the groups it saw (C,) bool, or None (nothing fitted: fewer than 2 groups queued)."""
    filled = count.clamp(max=queue.shape[1])
    mask = torch.arange(queue.shape[1])[None, :] < filled[:, None]  # (C, Q)
    labels = torch.arange(len(filled))[:, None].expand_as(mask)[mask]
    if len(torch.unique(labels)) < 2:
        return None
    with torch.random.fork_rng():
        sampler.fit(queue[mask].numpy(), labels.numpy(), (seed * 1_000_003 + epoch) % 2**31)
    return filled > 0


class OutlierLoss(nn.Module):
    """Queues, virtual-outlier sampling and the uncertainty loss of one training run.

    Buffers `queue` (C, Q, D) and `count` (C,) hold the latest Q vectors of every group; the
    logistic's slope and bias are parameters trained with the heads."""

    def __init__(self, source: str, n_classes: int, dim: int, queue: int, candidates: int, seed: int,
                 sampler: KindSampler | None = None):
        super().__init__()
        self.source, self.candidates, self.seed = check_source(source).name, int(candidates), int(seed)
        if SOURCES[self.source].injected and sampler is None:
            raise InputError(f"--virtual-outliers {self.source} samples a generator of textgan's kinds: train with "
                             "the textgan CLI (or pass similarity.train(vo_sampler=...))")
        self.sampler, self._fitted = sampler, False
        self.register_buffer("queue", torch.zeros(n_classes, queue, dim))
        self.register_buffer("count", torch.zeros(n_classes, dtype=torch.long))
        # slope 1, bias 0: no draw from the global RNG, so adding the loss does not shift the
        # encoder's random stream
        self.w = nn.Parameter(torch.ones(()))
        self.b = nn.Parameter(torch.zeros(()))

    def push(self, emb: torch.Tensor, labels: torch.Tensor) -> None:
        push_queue(self.queue, self.count, emb, labels)

    def _generator(self, step: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.seed * 1_000_003 + 7_777 * step + 17) % 2**63)

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, step: int) -> torch.Tensor:
        """(M, D) virtual outliers for a batch with these labels (M = 0 while queues are empty)."""
        gen, dim = self._generator(step), self.queue.shape[2]
        if self.source == "none":
            return self.queue.new_zeros(0, dim)
        if self.source == "sphere":
            return F.normalize(torch.randn(len(labels), dim, generator=gen), dim=-1)
        filled = self.count.clamp(max=self.queue.shape[1])  # (C,)
        if self.sampler is not None:
            if not self._fitted:
                return self.queue.new_zeros(0, dim)
            out = self.sampler.sample(labels.numpy(), (self.seed * 1_000_003 + 7_777 * step + 17) % 2**31)
            return F.normalize(torch.as_tensor(np.asarray(out, np.float32)), dim=-1)
        if self.source == "mixup":
            ready = torch.nonzero(filled > 0).squeeze(1)
            if len(ready) < 2:
                return self.queue.new_zeros(0, dim)
            rows = []
            for c in labels.tolist():
                if filled[c] == 0:
                    continue
                others = ready[ready != c]
                d = int(others[torch.randint(len(others), (1,), generator=gen)])
                a = self.queue[c, int(torch.randint(int(filled[c]), (1,), generator=gen))]
                bvec = self.queue[d, int(torch.randint(int(filled[d]), (1,), generator=gen))]
                lam = 0.35 + 0.3 * float(torch.rand((), generator=gen))
                rows.append(lam * a + (1 - lam) * bvec)
            return F.normalize(torch.stack(rows), dim=-1) if rows else self.queue.new_zeros(0, dim)
        return self._gaussian(labels, filled, gen)

    def _gaussian(self, labels, filled, gen) -> torch.Tensor:
        """VOS: per group of the batch, `candidates` draws of N(mean_c, Sigma) and the one of
        lowest likelihood; Sigma is the pooled within-group covariance of the queues (shrunk
        toward its mean variance so that few vectors still give a positive-definite matrix)."""
        dim = self.queue.shape[2]
        ok = filled >= 2
        groups = [c for c in dict.fromkeys(labels.tolist()) if ok[c]]
        if not groups or int(filled[ok].sum()) <= int(ok.sum()):
            return self.queue.new_zeros(0, dim)
        mask = torch.arange(self.queue.shape[1])[None, :] < filled[:, None]  # (C, Q)
        n = filled.clamp(min=1)[:, None].float()
        means = (self.queue * mask[..., None]).sum(1) / n  # (C, D)
        centred = (self.queue - means[:, None]) * (mask & ok[:, None])[..., None]
        flat = centred.reshape(-1, dim)
        cov = flat.T @ flat / (int(filled[ok].sum()) - int(ok.sum()))  # (D, D)
        shrink = 0.1
        cov = (1 - shrink) * cov + shrink * (torch.trace(cov) / dim) * torch.eye(dim)
        chol = torch.linalg.cholesky(cov + 1e-6 * torch.eye(dim))
        z = torch.randn(len(groups), self.candidates, dim, generator=gen)  # (G, K, D)
        # x = mean + L z has Mahalanobis distance |z|^2: the lowest likelihood is the largest |z|
        far = z.pow(2).sum(-1).argmax(1)  # (G,)
        pick = z[torch.arange(len(groups)), far]  # (G, D)
        return means[groups] + pick @ chol.T

    def refit(self, epoch: int) -> None:
        """Fit the injected generator on the queues (`refit_on_queues`), seeded by the epoch."""
        if self.sampler is not None and refit_on_queues(self.sampler, self.queue, self.count, self.seed,
                                                         epoch) is not None:
            self._fitted = True

    def forward(self, head: nn.Module, emb: torch.Tensor, labels: torch.Tensor, step: int,
                real: torch.Tensor | None = None, active: bool = True) -> torch.Tensor:
        """The uncertainty loss of a step (0 before `active`); pushes the batch into the queues
        after sampling, so a step's outliers come from earlier steps' vectors."""
        out = [self.sample(labels, step)] if active else []
        self.push(emb, labels)
        if real is not None and active:
            out.append(real)
        out = [o for o in out if len(o)]
        if not out:
            return emb.sum() * 0.0 + (self.w + self.b) * 0.0  # keeps every parameter in the graph
        return uncertainty_loss(head_logsumexp(head, emb), head_logsumexp(head, torch.cat(out)), self.w, self.b)


def cycle_batch(n: int, batch: int, step: int, seed: int) -> list[int]:
    """The step's slice of a seeded permutation of n outlier sentences, a new one each pass."""
    cycle, start = divmod(step * batch, n)
    gen = torch.Generator().manual_seed((seed * 100003 + 4241 + cycle) % 2**63)
    perm = torch.randperm(n, generator=gen).tolist()
    out = perm[start:start + batch]
    return out
