"""Paired bootstrap confidence intervals for bench/ood.py's "A beats B" claims."""
from __future__ import annotations

import numpy as np

from textgan.ood.scoring import auroc


def _fpr95(s_in, s_out) -> float:
    t = np.sort(s_in)[int(np.floor(0.05 * len(s_in) + 1e-9))]
    return float(np.mean(s_out >= t))


def paired_ci(a: list, b: list, n: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap of (a - b) in AUROC and FPR95, averaged over splits: a, b are lists (one
    per split) of (s_in, s_out) test scores of two systems on the same sentences; each resample
    draws the in- and out-of-domain sentences of every split with replacement, the same for both."""
    rng = np.random.default_rng(seed)
    d_auc, d_fpr = [], []
    for _ in range(n):
        da, df = [], []
        for (ai, ao), (bi, bo) in zip(a, b):
            i, o = rng.integers(0, len(ai), len(ai)), rng.integers(0, len(ao), len(ao))
            da.append(auroc(ai[i], ao[o]) - auroc(bi[i], bo[o]))
            df.append(_fpr95(ai[i], ao[o]) - _fpr95(bi[i], bo[o]))
        d_auc.append(np.mean(da))
        d_fpr.append(np.mean(df))
    point_a = np.mean([auroc(*x) for x in a]) - np.mean([auroc(*x) for x in b])
    point_f = np.mean([_fpr95(*x) for x in a]) - np.mean([_fpr95(*x) for x in b])
    return {"auroc_diff": float(point_a), "auroc_ci95": [float(x) for x in np.percentile(d_auc, [2.5, 97.5])],
            "fpr95_diff": float(point_f), "fpr95_ci95": [float(x) for x in np.percentile(d_fpr, [2.5, 97.5])],
            "resamples": n}
