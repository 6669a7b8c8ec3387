"""Mahalanobis in-domain score: class means + one shared, shrunk covariance (Lee et al. 2018,
arXiv:1807.03888; Podolskiy et al. AAAI 2021 for intents).

    score(x) = -min_c (x - mu_c)^T P (x - mu_c),   P = inverse of the Ledoit-Wolf estimate of
               the within-class covariance (residuals x_i - mu_{c(i)}, pooled over classes).

Mahalanobis distance is invariant to any invertible linear map of the features, so
standardising or PCA-whitening the vectors first changes nothing but the shrinkage; only
non-linear maps (e.g. L2 normalising) change it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from textgan.common.errors import InputError
from textgan.common.vectors import as_matrix


@dataclass
class Mahalanobis:
    """Fitted class means (C, D), shared precision (D, D), class names (C,)."""

    means: np.ndarray
    precision: np.ndarray
    names: list[str]

    def distances(self, vectors) -> np.ndarray:
        """Squared Mahalanobis distance of each row to each class mean: (n, C)."""
        x = as_matrix(vectors, "vectors", dim=self.means.shape[1], dtype=np.float64)
        xp = x @ self.precision  # (n, D)
        mp = self.means @ self.precision  # (C, D)
        d = (xp * x).sum(1)[:, None] - 2 * x @ mp.T + (mp * self.means).sum(1)[None, :]
        return np.maximum(d, 0.0)

    def __call__(self, vectors) -> np.ndarray:
        return -self.distances(vectors).min(1)  # (n,)


def fit_mahalanobis(vectors, groups: Sequence | None, what: str = "the corpus") -> Mahalanobis:
    """Fit class means and a Ledoit-Wolf shared covariance on (N, D) vectors with N group labels.

    Refuses (InputError) without groups or with fewer than 2 residual degrees of freedom
    (N - C < 2); warns when N - C <= D (the covariance is then mostly shrinkage).
    """
    from sklearn.covariance import LedoitWolf

    if groups is None:
        raise InputError(f"the mahalanobis score needs group labels for {what} (an index built with "
                         f"--group-col, or --labels), and none were saved")
    x = as_matrix(vectors, "vectors", dtype=np.float64)
    if len(groups) != len(x):
        raise InputError(f"{len(groups)} group labels for {len(x)} vectors")
    names, ids = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    n, c, d = len(x), len(names), x.shape[1]
    if n - c < 2:
        raise InputError(f"too few in-domain vectors for a covariance: {n} vectors in {c} groups "
                         f"(the mahalanobis score needs at least {c + 2}); use --method knn")
    if n - c <= d:
        warnings.warn(f"mahalanobis: only {n - c} within-group degrees of freedom for {d} dimensions; "
                      f"the covariance is mostly shrinkage", UserWarning, stacklevel=2)
    sums = np.zeros((c, d))
    np.add.at(sums, ids, x)
    means = sums / np.bincount(ids, minlength=c)[:, None]
    lw = LedoitWolf(assume_centered=True).fit(x - means[ids])
    return Mahalanobis(means, lw.precision_, [str(s) for s in names])
