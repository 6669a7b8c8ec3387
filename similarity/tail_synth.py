"""Synthetic rows for the margin head of rare groups (`--tail-synth`), the long-tail lever.

In a mature intent system a new intent arrives with a few sentences while the others have a
hundred: the margin head sees the rare group a few times per epoch, its prototype drifts toward
the frequent groups' side and test sentences of the rare group are taken by a frequent one.
Feature hallucination (Hariharan & Girshick, ICCV 2017) adds generated feature vectors of the
rare classes to the classifier's training. Here, every step adds `tail_synth_rows` vectors of
tail groups (groups with fewer than `tail_below` training sentences) to the margin loss, with
their group as label, weighted by `tail_synth_weight`. The vectors are constants: they train the
head's prototypes (and through them the geometry the encoder is pulled toward), not the encoder
directly.

Sources are rows of `SYNTH` (all sampled on tensors from queues of the latest sentence vectors of
every group, `queue` (C, Q, D), like `similarity.outliers`):
  none        off (today's training);
  replay      queued real vectors of the tail group, reused (tail upsampling in vector space;
              the non-generative control);
  gaussian    N(mean of the tail group, pooled within-group covariance of the head groups),
              the rare group borrowing the spread of the frequent ones (generative);
  calibrated  distribution calibration (Yang, Liu & Xu, ICLR 2021): the mean is pulled toward
              the `k` nearest head-group means, mu' = (sum of those means + mu) / (k + 1), and the
              covariance is the pooled head covariance plus `alpha` I (generative);
  anchored    the class-anchored GAN of textgan's kinds registry (`textgan.gan.anchored`), refitted
              on the queues at every epoch start and sampled around the tail group's prototype;
              injected by the workflow (`similarity.outliers.KindSampler`), as similarity imports
              no generator kinds.
Every draw is seeded by (seed, step), so a resume and every torchrun rank draw the same rows; the
queues are buffers that travel in the checkpoint.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from similarity.outliers import VOSource as SynthSource  # the same row: name, generative, summary, injected
from similarity.outliers import push_queue, refit_on_queues
from textgan.common.errors import InputError


SYNTH: dict[str, SynthSource] = {s.name: s for s in [
    SynthSource("none", False, "no synthetic rows"),
    SynthSource("replay", False, "queued real vectors of the tail group, reused (upsampling)"),
    SynthSource("gaussian", True, "tail-group mean with the pooled head covariance"),
    SynthSource("calibrated", True, "distribution calibration: mean pulled to the nearest head means"),
    SynthSource("anchored", True, "the class-anchored GAN refitted on the queues each epoch, sampled "
                "around the tail group", True),
]}
CALIBRATION_K = 2  # Yang et al.'s best k on miniImageNet; our bench/longtail.py val grid agrees (k in 2, 5)
CALIBRATION_ALPHA = 0.1  # added to the covariance's diagonal, relative to its mean variance
SHRINK = 0.1  # pooled covariance shrunk toward its mean variance: few vectors stay positive definite


def check_synth(name: str) -> SynthSource:
    if name not in SYNTH:
        raise InputError(f"unknown --tail-synth {name!r}; valid: "
                         + ", ".join(f"{s.name} ({s.summary})" for s in SYNTH.values()))
    return SYNTH[name]


def tail_groups(counts: list[int], below: int | None) -> list[int]:
    """Indices of the tail groups: fewer than `below` sentences; None: fewer than half the median
    group's count (a rare group among common ones; none when the groups are balanced)."""
    if below is None:
        ordered = sorted(counts)
        below = ordered[len(ordered) // 2] / 2 if ordered else 0
    return [c for c, n in enumerate(counts) if n < below]


def tail_for_run(source: str, below: int | None, labels: list[int], n_classes: int, announce: bool) -> list[int]:
    """The tail groups a run adds rows for (none when `source` is none); warns when there are none."""
    if source == "none":
        return []
    from textgan.common import distributed as ddp

    tail = tail_groups(torch.bincount(torch.as_tensor(labels), minlength=n_classes).tolist(), below)
    limit = f"{below} sentences" if below is not None else "half the median group's sentences"
    if not tail and ddp.is_main():
        warnings.warn(f"--tail-synth {source}: no group has fewer than {limit} (--tail-below); training "
                      "without synthetic rows", stacklevel=3)
    elif n_classes - len(tail) < 2 and source != "replay":
        if ddp.is_main():
            warnings.warn(f"--tail-synth {source}: {len(tail)} of {n_classes} groups have fewer than {limit}, "
                          "leaving fewer than 2 head groups to borrow from; training without synthetic rows",
                          stacklevel=3)
        return []
    elif tail and announce:
        from tqdm.auto import tqdm

        tqdm.write(f"--tail-synth {source}: {len(tail)} of {n_classes} groups are tail groups")
    return tail


class TailSynth(nn.Module):
    """Queues and the synthetic tail rows of one training run (no parameters)."""

    def __init__(self, source: str, n_classes: int, dim: int, tail: list[int], rows: int, queue: int, seed: int,
                 sampler=None):
        super().__init__()
        self.source, self.rows, self.seed = check_synth(source).name, int(rows), int(seed)
        if SYNTH[self.source].injected and sampler is None:
            raise InputError(f"--tail-synth {self.source} samples a generator of textgan's kinds: train with the "
                             "textgan CLI (or pass similarity.train(tail_sampler=...))")
        self.sampler, self._known = sampler, None  # groups the last refit saw (None: not fitted)
        self.register_buffer("queue", torch.zeros(n_classes, queue, dim))
        self.register_buffer("count", torch.zeros(n_classes, dtype=torch.long))
        is_tail = torch.zeros(n_classes, dtype=torch.bool)
        is_tail[torch.as_tensor(tail, dtype=torch.long)] = True
        self.register_buffer("is_tail", is_tail)

    def push(self, emb: torch.Tensor, labels: torch.Tensor) -> None:
        push_queue(self.queue, self.count, emb, labels)

    @torch.no_grad()
    def sample(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(vectors (M, D), labels (M,)): `rows` draws over the tail groups that have a queued
        vector, uniformly; empty while none has (or without a head group to borrow from)."""
        dim = self.queue.shape[2]
        empty = (self.queue.new_zeros(0, dim), torch.zeros(0, dtype=torch.long))
        filled = self.count.clamp(max=self.queue.shape[1])
        seen = filled > 0 if self.sampler is None else self._known
        if seen is None:  # a generator not fitted yet (its first refit is at the next epoch start)
            return empty
        ready = torch.nonzero(self.is_tail & seen).squeeze(1)
        head = ~self.is_tail & (filled >= 2)
        if self.source == "none" or not len(ready) or (self.source != "replay" and int(head.sum()) < 2):
            return empty
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + 9_973 * step + 29) % 2**63)
        labels = ready[torch.randint(len(ready), (self.rows,), generator=gen)]  # (M,)
        if self.source == "replay":
            pick = (torch.rand(self.rows, generator=gen) * filled[labels]).long()
            return self.queue[labels, pick], labels
        if self.sampler is not None:
            out = self.sampler.sample(labels.numpy(), (self.seed * 1_000_003 + 9_973 * step + 29) % 2**31)
            return F.normalize(torch.as_tensor(np.asarray(out, np.float32)), dim=-1), labels
        means, chol = self._stats(filled, head)
        centre = means[labels]
        if self.source == "calibrated":
            centre = self._calibrated(means, head)[labels]
        z = torch.randn(self.rows, dim, generator=gen)
        return F.normalize(centre + z @ chol.T, dim=-1), labels

    def _stats(self, filled: torch.Tensor, head: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-group means (C, D) and the Cholesky factor of the pooled head covariance (D, D)."""
        dim = self.queue.shape[2]
        mask = torch.arange(self.queue.shape[1])[None, :] < filled[:, None]  # (C, Q)
        means = (self.queue * mask[..., None]).sum(1) / filled.clamp(min=1)[:, None]
        centred = ((self.queue - means[:, None]) * (mask & head[:, None])[..., None]).reshape(-1, dim)
        cov = centred.T @ centred / max(int(filled[head].sum()) - int(head.sum()), 1)
        var = torch.trace(cov) / dim
        cov = (1 - SHRINK) * cov + SHRINK * var * torch.eye(dim)
        if self.source == "calibrated":
            cov = cov + CALIBRATION_ALPHA * var * torch.eye(dim)
        return means, torch.linalg.cholesky(cov + 1e-6 * torch.eye(dim))

    def _calibrated(self, means: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
        """Every group's mean averaged with its k nearest head-group means (Yang et al. eq. 6)."""
        base = torch.nonzero(head).squeeze(1)
        k = min(CALIBRATION_K, len(base))
        dist = torch.cdist(means, means[base])  # (C, H)
        near = dist.topk(k, largest=False).indices  # (C, k)
        return (means[base][near].sum(1) + means) / (k + 1)

    def refit(self, epoch: int) -> None:
        """Fit the injected generator on the queues (`refit_on_queues`); a resume (at an epoch start)
        refits on the same restored queues. Rows are drawn only for the groups this fit saw."""
        if self.sampler is not None:
            self._known = refit_on_queues(self.sampler, self.queue, self.count, self.seed, epoch)

    def loss(self, head: nn.Module, step: int) -> torch.Tensor | None:
        """The margin loss of the head on this step's synthetic rows (None when there are none)."""
        x, y = self.sample(step)
        if not len(y):
            return None
        if getattr(head, "partial", False):  # sharded / class-sampled centres (similarity.partial_fc)
            from similarity.partial_fc import sharded_margin_loss

            return sharded_margin_loss(F.normalize(x, dim=-1), head.weight, head.lo, y, None, head.scale,
                                       head.target_logit)
        return F.cross_entropy(head.logits(x, y), y)
