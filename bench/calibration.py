"""Distribution calibration for few-shot classes from base-class statistics, on unit vectors.

Yang, Liu & Xu, "Free Lunch for Few-shot Learning: Distribution Calibration" (ICLR 2021,
arXiv:2101.06395): a novel class seen through a few shots borrows the statistics of its
nearest base classes. For each shot x, the k base classes whose means are nearest to x give
  calibrated mean  mu' = x + w (mean of their means - x)
  calibrated cov   S'  = mean of their covariances + alpha * v I   (v: mean base variance),
and samples from N(mu', S') are added to the shots. (The paper's Tukey power transform needs
non-negative features; sentence vectors are signed, so it is left out.)
`lda_predict` is the closed form without sampling: the class means are the calibrated shot
means, the covariance the base classes' pooled within-class covariance shrunk toward v I.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BaseStats:
    means: np.ndarray  # (C, D) per base class
    covs: np.ndarray  # (C, D, D) per base class
    pooled: np.ndarray  # (D, D) pooled within-class covariance
    var: float  # mean per-dimension variance of the pooled covariance


def base_stats(x: np.ndarray, y: np.ndarray) -> BaseStats:
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(0) for c in classes])
    covs = np.stack([np.cov(x[y == c], rowvar=False) for c in classes]).astype(np.float32)
    pooled = np.cov(x - means[np.searchsorted(classes, y)], rowvar=False)
    return BaseStats(means.astype(np.float32), covs, pooled, float(np.trace(pooled) / x.shape[1]))


def calibrated_means(shots: np.ndarray, base: BaseStats, k: int, w: float) -> tuple[np.ndarray, np.ndarray]:
    """Per shot (n, D): the calibrated mean (n, D) and the ids of its k nearest base classes (n, k)."""
    d = ((shots[:, None, :] - base.means[None]) ** 2).sum(-1)  # (n, C)
    near = np.argsort(d, 1)[:, :k]
    return shots + w * (base.means[near].mean(1) - shots), near


def dc_sample(shots: np.ndarray, labels: np.ndarray, per_class: int, base: BaseStats, k: int, w: float,
              alpha: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` calibrated samples per class, spread evenly over its shots: (M, D) unit vectors, (M,)."""
    mu, near = calibrated_means(shots, base, k, w)
    out, lab = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        each = np.full(len(idx), per_class // len(idx))
        each[: per_class % len(idx)] += 1
        for i, m in zip(idx, each):
            if not m:
                continue
            cov = base.covs[near[i]].mean(0) + alpha * base.var * np.eye(shots.shape[1], dtype=np.float32)
            chol = np.linalg.cholesky(cov.astype(np.float64))
            out.append(mu[i] + rng.standard_normal((m, shots.shape[1])) @ chol.T)
            lab.append(np.full(m, c))
    x = np.concatenate(out)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.concatenate(lab)


def lda_predict(shots, labels, test, base: BaseStats, k: int, w: float, shrink: float) -> np.ndarray:
    """Calibrated-mean LDA: class mean = mean of the class's calibrated shot means; shared covariance
    (1 - shrink) pooled + shrink * v I; equal priors. Returns the predicted label of each test row."""
    mu, _ = calibrated_means(shots, base, k, w)
    classes = np.unique(labels)
    means = np.stack([mu[labels == c].mean(0) for c in classes])  # (K, D)
    cov = (1 - shrink) * base.pooled + shrink * base.var * np.eye(shots.shape[1])
    prec_means = np.linalg.solve(cov, means.T.astype(np.float64))  # (D, K)
    scores = test @ prec_means - 0.5 * (means * prec_means.T).sum(1)  # (N, K)
    return classes[scores.argmax(1)]
