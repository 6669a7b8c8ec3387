"""Token embeddings from the teacher's contextual space (`--embed-init teacher-static`).

The teacher's input embedding matrix holds what a token *is* before attention; the teacher's
sentence space is what the student must reach. Model2Vec (Tulkens & van Dongen 2024,
`model2vec.distill`) encodes every vocabulary token on its own with the teacher and keeps the
mean-pooled output: a static vector in the teacher's output space per token. Those vectors,
reduced by PCA to `--embed-dim` and scaled to unit standard deviation like a default
`nn.Embedding`, start the GRU's embedding table (rows aligned with the teacher tokenizer's ids).

Distilling the full vocabulary costs about 80 s of CPU for MiniLM, so the raw vectors (no PCA,
no SIF weighting, float32) are cached once per teacher fingerprint, like teacher sentence
vectors (`similarity.teacher`): `<fingerprint>-static.safetensors` with the token ids and the
sha256 of the vectors, recomputed when anything fails to match. They live in the default cache
(`$TEXTGAN_CACHE_DIR/teacher` or `~/.cache/textgan/teacher`) whatever `--teacher-cache` says:
they depend on the teacher alone, and a private vector cache (tests, benchmarks) should not
pay the distillation again.
"""
from __future__ import annotations

import functools
import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch

from textgan.common.errors import InputError

INSTALL_HINT = ("--embed-init teacher-static needs the package model2vec "
                "(`pip install 'model2vec[distill]'`), or pass --embed-init teacher")


def model2vec_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("model2vec") is not None


def check_model2vec() -> None:
    """One-line InputError with the install command when model2vec is missing."""
    if not model2vec_available():
        raise InputError(INSTALL_HINT)


def static_vectors(teacher, cache_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids (K,) in the teacher tokenizer, raw static vectors (K, Dt) float32) of `teacher`,
    from the cache when valid, else from `model2vec.distill` (then cached)."""
    from similarity.teacher import default_cache_dir

    check_model2vec()
    cache_dir = cache_dir or getattr(teacher, "cache_dir", None)  # the run's --teacher-cache
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    path = cache_dir / f"{teacher.fingerprint}-static.safetensors"
    from textgan.common import distributed as ddp

    if not ddp.is_main():
        ddp.barrier()  # rank 0 distils and caches first (two ranks distilling at once aborted once)
    cached = _read(path, teacher.fingerprint)
    if cached is None:
        from textgan.common.state import isolated_rng

        with isolated_rng():  # distill draws from the global RNGs: keep the weight init independent of the cache
            cached = _distil(teacher)
        _write(path, *cached, teacher.fingerprint)
    if ddp.is_main():
        ddp.barrier()
    return cached


def _distil(teacher) -> tuple[np.ndarray, np.ndarray]:
    import logging

    from model2vec.distill import distill

    tok, _, _ = teacher.tokenizer()
    logging.getLogger("model2vec").setLevel(logging.ERROR)
    # no PCA and no SIF weighting: the raw per-token output vectors; PCA to the student's
    # width happens per run (`static_embeddings`), so one cached distillation serves every --embed-dim
    from model2vec.distill import inference

    bar = inference.tqdm
    if not getattr(teacher, "progress", False):  # its own bar ignored --no-progress and a piped stderr
        inference.tqdm = functools.partial(bar, disable=True)
    from similarity.teacher import loading_bars

    try:
        with loading_bars(getattr(teacher, "progress", False)):  # transformers' "Loading weights" bar too
            model = distill(model_name=str(teacher.path), pca_dims=None, sif_coefficient=None,
                            quantize_to="float32")
    finally:
        inference.tqdm = bar
    emb = np.asarray(model.embedding, dtype=np.float32)  # (K, Dt)
    ids, rows = [], []
    for token, row in model.tokenizer.get_vocab().items():
        tid = tok.token_to_id(token)
        if tid is not None and row < len(emb):
            ids.append(tid)
            rows.append(row)
    if not ids:
        raise InputError("model2vec's vocabulary shares no token with the teacher's tokenizer; "
                         "pass --embed-init teacher", teacher.path)
    order = np.argsort(ids)
    return np.asarray(ids, np.int64)[order], np.ascontiguousarray(emb[np.asarray(rows)[order]])


def pca_rows(vecs: np.ndarray, dim: int) -> np.ndarray:
    """(K, Dt) -> (K, min(dim, Dt)): centred projection on the top principal axes, scaled to unit
    standard deviation overall (the scale of a default `nn.Embedding`)."""
    x = torch.from_numpy(np.asarray(vecs, np.float64))
    centred = x - x.mean(0)
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)  # rows of vt: axes by variance
    out = centred @ vt[: min(dim, x.shape[1])].T
    return (out / out.std()).float().numpy()


def static_embeddings(teacher, vocab: int, dim: int, seed: int = 0,
                      cache_dir: str | Path | None = None) -> torch.Tensor:
    """(vocab, dim) embedding table: PCA of the static vectors on their ids; ids model2vec left out
    (e.g. [unused*]) and columns beyond the teacher's width get small random values."""
    ids, vecs = static_vectors(teacher, cache_dir)
    rows = pca_rows(vecs, dim)
    gen = torch.Generator().manual_seed(seed)
    out = torch.randn(max(vocab, int(ids.max()) + 1), dim, generator=gen) * 0.1
    out[torch.from_numpy(ids), : rows.shape[1]] = torch.from_numpy(rows)
    if rows.shape[1] < dim:
        out[:, rows.shape[1]:] *= 10  # unit std like the PCA columns
    return out


def _read(path: Path, fingerprint: str) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as fh:
            meta, ids, vecs = fh.metadata() or {}, fh.get_tensor("ids"), fh.get_tensor("vectors")
        ok = (meta.get("teacher") == fingerprint and len(ids) == len(vecs)
              and hashlib.sha256(vecs.tobytes() + ids.tobytes()).hexdigest() == meta.get("sha256"))
    except Exception:  # truncated or foreign bytes
        ok = False
    if not ok:
        warnings.warn(f"{path}: cached static vectors are corrupt or from another teacher; "
                      "recomputing them", stacklevel=3)
        return None
    return ids.astype(np.int64), np.ascontiguousarray(vecs, np.float32)


def _write(path: Path, ids: np.ndarray, vecs: np.ndarray, fingerprint: str) -> None:
    from textgan.common.artifacts import save_tensors

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_tensors({"ids": torch.from_numpy(ids), "vectors": torch.from_numpy(vecs)}, path,
                     metadata={"teacher": fingerprint,
                               "sha256": hashlib.sha256(vecs.tobytes() + ids.tobytes()).hexdigest()})
    except OSError as exc:
        warnings.warn(f"{path}: cannot cache static vectors ({exc.strerror or exc})", stacklevel=3)
