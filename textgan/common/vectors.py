"""Vector helpers used everywhere: input checks, row normalising, exact cosine kNN, encoder checks.

Each exists once here; retrieval, scoring, metrics, the GAN kinds and the workflow call these.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from textgan.common.args import whole
from textgan.common.errors import InputError



# a held-out vector and an index row at this cosine are one sentence: int8 quantization
# (quantize-similarity) moves a vector by up to ~4e-4 (min 0.99965 over the FAQ corpus with a
# 16-unit GRU), so the float model's held-out vectors must still match the int8 model's rows
SAME_SENTENCE_COSINE = 0.999

def as_matrix(x, what: str = "vectors", dim: int | None = None, path: str | Path | None = None,
              min_rows: int = 1, dtype=np.float32) -> np.ndarray:
    """(N, D) finite array with N >= min_rows and D >= 1 (and D == dim when given), else InputError.

    Accepts numpy arrays, torch tensors and nested lists; a 1-d input is one row.
    """
    if hasattr(x, "detach"):
        x = tensor_values(x, what, path)
    if getattr(x, "dtype", None) is not None and np.dtype(x.dtype).kind in "bc":  # True read 1.0; an imaginary part
        raise InputError(f"{what} are {np.dtype(x.dtype).name} values, expected real numbers", path)  # dropped
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
    check_finite_rows(x, what, path)
    return np.ascontiguousarray(x)


def tensor_values(t, what: str = "vectors", path=None) -> np.ndarray:
    """A torch tensor's values as numpy; a tensor on the meta device (shapes only) holds none to read."""
    if getattr(t, "is_meta", False):  # .numpy() raised NotImplementedError
        raise InputError(f"{what} are a tensor on torch's meta device: it has a shape but no values", path)
    return t.detach().cpu().numpy()


def check_finite_rows(x, what: str = "vectors", path=None) -> None:
    """Refuse rows (first axis; any shape after it) holding NaN or inf, naming the first row
    counted from 1 as the user counts them."""
    bad = ~np.isfinite(np.asarray(x).reshape(len(x), -1)).all(axis=1)
    if bad.any():
        raise InputError(f"{what} contain NaN or inf ({int(bad.sum())} of {len(x)} rows, first: row "
                         f"{int(np.argmax(bad)) + 1}, counting from 1)", path)


def normalize_rows(x: np.ndarray, what: str = "vectors", path=None) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); an all-zero row is an InputError."""
    x = np.asarray(x, dtype=np.float32)
    check_finite_rows(x, what, path)
    peak = np.abs(x).max(axis=1, keepdims=True)
    if (peak == 0).any():
        raise InputError(f"{what} contain an all-zero row (row {int(np.argmax(peak[:, 0] == 0)) + 1}, counting "
                         "from 1)", path)
    x = x / peak  # scaled by the largest entry first: rows of 1e38 or 1e-30 neither overflow nor underflow the norm
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def check_k(k, option: str = "--k") -> int:
    """A neighbour count is an integer >= 1 (one above the corpus size is capped by the caller)."""
    return whole(k, option)


def flat_search(queries, base, k: int, metric: str = "ip", batch: int = 16_384) -> tuple[np.ndarray, np.ndarray]:
    """Exact FAISS search in query batches: (Q, k) inner products ("ip", descending) or squared
    Euclidean distances ("l2", ascending), and ids (Q, k)."""
    import faiss

    q = np.ascontiguousarray(queries, dtype=np.float32)
    xb = np.ascontiguousarray(base, dtype=np.float32)
    index = (faiss.IndexFlatIP if metric == "ip" else faiss.IndexFlatL2)(xb.shape[1])
    index.add(xb)
    out = np.empty((len(q), k), np.float32)
    ids = np.empty((len(q), k), np.int64)
    for s in range(0, len(q), batch):
        out[s:s + batch], ids[s:s + batch] = index.search(q[s:s + batch], k)
    return out, ids


def cosine_knn(queries, base, k: int, exclude_self: bool | np.ndarray = False, batch: int = 16_384):
    """Exact cosine k-NN of unit vectors: scores (Q, k) descending and ids (Q, k).

    Args:
        exclude_self: the queries are base rows and each leaves its own row out of its list
            (not merely the first column, so duplicate rows stay correct). True: the queries
            are base rows 0..Q-1 in order; a (Q,) int array: the base row of each query.
    """
    leave_out = exclude_self is not False
    kk = min(check_k(k, "k") + (1 if leave_out else 0), len(base))
    scores, ids = flat_search(queries, base, kk, "ip", batch)
    if not leave_out:
        return scores, ids
    return drop_self(scores, ids, np.arange(len(scores)) if exclude_self is True else exclude_self)


def self_rows(exclude_self, n: int) -> bool | np.ndarray:
    """`exclude_self` checked: True/False, or (n,) integer row ids of n queries that are index rows
    (1 was read as "row 1 for every query", a string died in int())."""
    if isinstance(exclude_self, (bool, np.bool_)):
        return bool(exclude_self)
    ids = np.asarray(exclude_self)
    if ids.dtype.kind not in "iu" or ids.shape != (n,):
        raise InputError(f"exclude_self must be True, False or ({n},) integer row ids, got {exclude_self!r:.60}")
    return ids


def drop_self(scores: np.ndarray, ids: np.ndarray, self_ids) -> tuple[np.ndarray, np.ndarray]:
    """(Q, k+1) search results of queries that are base rows `self_ids` (Q,) -> (Q, k) without
    each query's own row; where it was not found (ties, approximate search), the weakest hit goes."""
    own = ids == np.asarray(self_ids, dtype=np.int64).reshape(-1, 1)
    kk = ids.shape[1]
    drop = np.where(own.any(1), own.argmax(1), kk - 1)
    keep = np.ones_like(own)
    keep[np.arange(len(ids)), drop] = False
    return scores[keep].reshape(len(ids), kk - 1), ids[keep].reshape(len(ids), kk - 1)


COPIES = 8  # extra neighbours `drop_copies` searches to step over a row's repeats


def drop_copies(scores: np.ndarray, ids: np.ndarray, self_ids, k: int) -> np.ndarray:
    """(Q, k+m) search results of queries that are index rows -> (Q, k) scores without each query's
    own row and its copies (cosine >= SAME_SENTENCE_COSINE), padded with -inf: an index that keeps
    repeated sentences (on disk) gave every calibration row its twin at 1.0, and a threshold of 1."""
    drop = (ids == np.asarray(self_ids, dtype=np.int64).reshape(-1, 1)) | (scores >= SAME_SENTENCE_COSINE)
    order = np.argsort(drop, axis=1, kind="stable")[:, :k]  # the kept hits first, in rank order
    kept = np.take_along_axis(scores, order, 1)
    return np.where(np.take_along_axis(drop, order, 1), -np.inf, kept)


def check_artefact_meta(meta, where) -> dict:
    """An artefact's `meta` (what it records of the encoder behind its vectors) with the types its
    readers use; a tampered one is one `error:` line, never a traceback (writers give {} at least)."""
    import math

    if not isinstance(meta, dict):
        raise InputError(f"'meta' must be an object, got {meta!r:.60}", where)
    enc = meta.get("encoder")
    if enc is not None:
        if not isinstance(enc, dict):
            raise InputError(f"'meta.encoder' must be an object, got {enc!r:.60}", where)
        for key in ("path", "fingerprint", "backbone", "kind"):
            if enc.get(key) is not None and not isinstance(enc[key], str):
                raise InputError(f"'meta.encoder.{key}' must be a string, got {enc[key]!r:.60}", where)
        if enc.get("dim") is not None and (isinstance(enc["dim"], bool) or not isinstance(enc["dim"], int)
                                           or enc["dim"] < 1):
            raise InputError(f"'meta.encoder.dim' must be an integer >= 1, got {enc['dim']!r:.60}", where)
    nn = meta.get("typical_nn_cosine")  # a cosine for unit vectors; raw vectors' may exceed 1
    if nn is not None and (isinstance(nn, bool) or not isinstance(nn, (int, float)) or not math.isfinite(nn)):
        raise InputError(f"'meta.typical_nn_cosine' must be a finite number, got {nn!r:.60}", where)
    return meta


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


def check_real(x, what: str) -> None:
    """Refuse complex numbers (a tensor, an array or nested lists) before a float conversion keeps
    their real part and drops the rest with at most a warning."""
    if hasattr(x, "is_complex"):
        complex_ = bool(x.is_complex())
    else:
        try:
            complex_ = bool(np.iscomplexobj(x))
        except (TypeError, ValueError):  # ragged or not numbers: the conversion that follows names it
            complex_ = False
    if complex_:
        raise InputError(f"{what}: complex numbers; pass real ones")


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Points along the great circle from the direction of a to that of b, shape (steps, D)."""
    steps = whole(steps, "steps", minimum=2)
    for name, v in (("a", a), ("b", b)):
        check_real(v, name)
    try:
        a, b = (np.asarray(v, dtype=np.float64) for v in (a, b))
    except (TypeError, ValueError) as exc:
        raise InputError(f"a and b must be vectors of numbers ({str(exc)[:80]})") from None
    if a.ndim != 1 or a.shape != b.shape or not len(a):
        raise InputError(f"a and b must be two vectors of one size, got shapes {a.shape} and {b.shape}")
    for name, v in (("a", a), ("b", b)):
        if not np.isfinite(v).all() or not np.linalg.norm(v):
            raise InputError(f"{name} must be a finite, non-zero vector (it has no direction to walk from)")
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    omega = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    if np.pi - omega < 1e-6:  # every great circle joins them: no one path to walk
        raise InputError("a and b point in opposite directions: the path between them is not unique")
    from textgan.common.memory import check_fits

    # the CLI checks its --steps; the API's slerp(a, b, 10**12) met the allocator's MemoryError instead
    check_fits(4 * 8 * steps * len(a), f"slerp of {steps:,} steps", "ask for fewer steps")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if omega < 1e-6:  # same direction: nothing to walk
        return np.repeat(a[None], steps, axis=0)
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def encoder_meta(enc, path=None) -> dict:
    """What an index or GAN records about the encoder that made its vectors (`check_same_encoder`
    compares it)."""
    return {"fingerprint": enc.fingerprint, "dim": int(enc.dim),
            "path": str(Path(path).resolve()) if path is not None else None}
