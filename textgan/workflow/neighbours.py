"""The k nearest corpus sentences of vectors, each sentence once (`search`, `decode`).

A RAM index drops repeated sentences when it is built, but an on-disk index keeps them (its corpus
streams through and is never held whole), and joined indexes may hold one sentence in two members:
a query near such a sentence got it back once per copy, pushing other sentences out of its k.
Those indexes are read deeper, doubling the depth for the rows still short, until each query has
k distinct sentences or every row is read.
"""
from __future__ import annotations

import warnings

import numpy as np

from textgan.common.errors import InputError
from textgan.common.vectors import check_k

KEEP_REPEATS = ("disk", "shards")  # meta.json "storage" of the indexes that may hold a sentence twice


def neighbours(idx, vectors: np.ndarray, k: int) -> list[list[dict]]:
    """The k nearest distinct corpus sentences of each vector (already in the encoder's space):
    one list per vector of {"id", "text", "group", "score"} dicts, best first."""
    if vectors.ndim != 2 or vectors.shape[1] != idx.dim:
        raise InputError(f"vectors have dimension {vectors.shape[-1]}, the index has {idx.dim}")
    if check_k(k) > idx.ntotal:  # as score says it
        warnings.warn(f"--k {k} is more than the index's {idx.ntotal} rows: each gets all {idx.ntotal}", stacklevel=3)
    k = min(k, idx.ntotal)
    v = vectors.astype(np.float32)
    out = _hits(idx, *idx.search(v, k))
    if (getattr(idx, "meta", None) or {}).get("storage") in KEEP_REPEATS:
        depth, short = k, _short(out, k, k)
        while short and depth < idx.ntotal:
            depth = min(2 * depth, idx.ntotal)
            for r, h in zip(short, _hits(idx, *idx.search(v[short], depth))):
                out[r] = h
            short = _short(out, k, depth)
        out = [_distinct(h)[:k] for h in out]
    if (short := sum(len(h) < k for h in out)):  # an IVF index returns what the lists it probes hold
        warnings.warn(f"the index returned fewer than k={k} neighbours for {short} of {len(out)} queries (an on-disk "
                      "index searches a few of its lists, not every row; a repeated sentence counts once)",
                      stacklevel=3)
    return out


def _hits(idx, scores: np.ndarray, ids: np.ndarray) -> list[list[dict]]:
    return [[{"id": int(i), "text": idx.texts[i], "group": idx.groups[i] if idx.groups is not None else None,
              "score": float(np.clip(s, -1.0, 1.0))} for s, i in zip(row_s, row_i) if i >= 0]
            for row_s, row_i in zip(scores, ids)]


def _distinct(hits: list[dict]) -> list[dict]:
    """Each text once, at its best (first) hit."""
    seen: set[str] = set()
    return [h for h in hits if not (h["text"] in seen or seen.add(h["text"]))]


def _short(out: list[list[dict]], k: int, depth: int) -> list[int]:
    """Rows with fewer than k distinct texts whose search filled its depth (a deeper one can add more)."""
    return [r for r, h in enumerate(out) if len(h) >= depth and len(_distinct(h)) < k]
