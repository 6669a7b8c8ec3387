"""Vector helpers used everywhere: input checks, row normalising, exact cosine kNN, encoder checks.

Each exists once here; retrieval, scoring, metrics, the GAN kinds and the workflow call these.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from textgan.errors import InputError


def as_matrix(x, what: str = "vectors", dim: int | None = None, path: str | Path | None = None,
              min_rows: int = 1, dtype=np.float32) -> np.ndarray:
    """(N, D) finite array with N >= min_rows and D >= 1 (and D == dim when given), else InputError.

    Accepts numpy arrays, torch tensors and nested lists; a 1-d input is one row.
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        x = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} are not a numeric array ({exc})", path) from None
    if x.ndim == 1 and x.size:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"{what} must be a 2-d array (N, D), got shape {x.shape}", path)
    if x.shape[1] < 1:
        raise InputError(f"{what} have no dimensions (shape {x.shape})", path)
    if len(x) < min_rows:
        raise InputError(f"{what}: need at least {min_rows} row(s), got {len(x)}", path)
    if dim is not None and x.shape[1] != dim:
        raise InputError(f"{what} have dimension {x.shape[1]}, expected {dim}", path)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise InputError(f"{what} contain NaN or inf ({int(bad.sum())} rows, first at row {int(np.argmax(bad))})",
                         path)
    return np.ascontiguousarray(x)


def normalize_rows(x: np.ndarray, what: str = "vectors", path=None) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); an all-zero row is an InputError."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InputError(f"{what} contain an all-zero row (row {int(np.argmax(norms[:, 0] == 0))})", path)
    return np.ascontiguousarray(x / norms, dtype=np.float32)


def cosine_knn(queries, base, k: int, exclude_self: bool = False, batch: int = 16_384):
    """Exact cosine k-NN of unit vectors: scores (Q, k) descending and ids (Q, k).

    With `exclude_self` the queries *are* the base rows (same order): each row's own id is
    removed from its list (not merely the first column, so duplicate rows stay correct).
    """
    import faiss

    q = np.ascontiguousarray(queries, dtype=np.float32)
    xb = np.ascontiguousarray(base, dtype=np.float32)
    kk = k + 1 if exclude_self else k
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    kk = min(kk, len(xb))
    index = faiss.IndexFlatIP(xb.shape[1])
    index.add(xb)
    scores = np.empty((len(q), kk), np.float32)
    ids = np.empty((len(q), kk), np.int64)
    for s in range(0, len(q), batch):
        scores[s:s + batch], ids[s:s + batch] = index.search(q[s:s + batch], kk)
    if not exclude_self:
        return scores, ids
    own = ids == np.arange(len(q))[:, None]
    # drop the row itself where it was found; else the last (weakest) column
    drop = np.where(own.any(1), own.argmax(1), kk - 1)
    keep = np.ones_like(own)
    keep[np.arange(len(q)), drop] = False
    width = kk - 1
    return scores[keep].reshape(len(q), width), ids[keep].reshape(len(q), width)


def check_same_encoder(recorded: dict | None, fingerprint: str | None, what: str, where=None,
                       dim: int | None = None) -> None:
    """Refuse to mix vectors of two encoders: their spaces are unrelated.

    Args:
        recorded: the encoder metadata an artefact recorded ({"fingerprint", "dim", ...}).
        fingerprint: the fingerprint of the encoder about to be used with it.
        what: the artefact, for the message ("index", "the GAN", ...). where: its path.
        dim: the vector size about to be used, checked against `recorded["dim"]`.
    """
    rec = recorded or {}
    if fingerprint and rec.get("fingerprint") and rec["fingerprint"] != fingerprint:
        raise InputError(f"{what} was built with encoder {rec['fingerprint'][:12]}, not with this encoder "
                         f"({fingerprint[:12]})", where)
    if dim is not None and rec.get("dim") not in (None, dim):
        raise InputError(f"{what} holds {rec['dim']}-d vectors, this encoder gives {dim}-d vectors", where)
