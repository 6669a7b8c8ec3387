"""The kNN out-of-domain score: the mean of a vector's top-k cosines to the corpus (Sun et al.
2022, "Out-of-distribution detection with deep nearest neighbors"), on an index or an array,
with index rows scored without themselves and without their copies."""
from __future__ import annotations

import warnings

import numpy as np

from textgan.common.vectors import (COPIES, as_matrix, cosine_knn, drop_copies, drop_self, normalize_rows,
                                    self_rows)


def knn_score(vectors, index, k: int = 1, exclude_self: bool | np.ndarray = False) -> np.ndarray:
    """Max cosine (k=1) or mean of the top-k cosines to the index vectors: (n,).

    Args:
        vectors: (n, D). index: a `VectorIndex` or an (N, D) array of unit vectors.
        k: neighbours averaged.
        exclude_self: the queries are index rows, each left out of its own neighbours (an
            index row always finds itself at cosine 1): True for rows 0..n-1 in order, or
            an (n,) array of their row ids.
    """
    v = as_matrix(vectors, "vectors")
    exclude_self = self_rows(exclude_self, len(v))
    if hasattr(index, "search"):
        # an index on disk or in shards keeps repeated sentences: each counts once, a row's copies are stepped over
        on_disk = getattr(index, "meta", {}).get("storage") in ("disk", "shards")
        if exclude_self is False:
            scores = _distinct_scores(index, v, k) if on_disk and k > 1 else index.search(v, k)[0]
        else:
            self_ids = _self_ids(exclude_self, len(v))
            scores = drop_copies(*index.search(v, k + COPIES), self_ids, k) if on_disk else \
                drop_self(*index.search(v, k + 1), self_ids)[0]
    else:
        base = normalize_rows(as_matrix(index, "index (load_index's, or vectors)", dim=v.shape[1]), "index vectors")
        scores = cosine_knn(normalize_rows(v), base, k, exclude_self=exclude_self)[0]
    if (found := np.isfinite(scores)).all():  # an IVF index pads what its probed lists lack with -inf
        return scores.mean(1).astype(np.float64)
    warnings.warn(f"the index found fewer than k={k} neighbours for {int((~found).any(1).sum())} of {len(scores)} "
                  "vectors (an on-disk index searches a few of its lists): knn averages those found; lower --k",
                  stacklevel=3)
    mean = np.where(found, scores, 0).sum(1) / np.maximum(found.sum(1), 1)
    return np.where(found.any(1), mean, -np.inf).astype(np.float64)


def _distinct_scores(index, v: np.ndarray, k: int) -> np.ndarray:
    """(n, k) top cosines counting each corpus sentence once: an index on disk keeps repeated
    sentences, and a query near one would average k copies of the same cosine. Padded with -inf
    where the search depth (k + COPIES) held fewer than k distinct sentences."""
    scores, ids = index.search(v, k + COPIES)
    out = np.full((len(v), k), -np.inf, dtype=np.float32)
    for r, (row_s, row_i) in enumerate(zip(scores, ids)):
        seen: set[str] = set()
        for s, i in zip(row_s, row_i):
            if i >= 0 and (t := index.texts[int(i)]) not in seen:
                seen.add(t)
                out[r, len(seen) - 1] = s
                if len(seen) == k:
                    break
    return out


def _self_ids(exclude_self, n: int) -> np.ndarray | None:
    return None if exclude_self is False else np.arange(n) if exclude_self is True else \
        np.asarray(exclude_self, np.int64)
