"""Which sentences a model trained on, kept as 8-byte keys (not the text) in `trained.safetensors`.

Evaluating a model on its own training sentences reads near 1.0 and says nothing of new sentences;
a threshold fitted on them is too lenient. The keys let `evaluate` (and any caller) say so.
A key is the first 8 bytes of BLAKE2b of the sentence's `text_key` (its stripped text before
2026-12-07): a collision between two different sentences of one corpus has odds of about n^2 / 2^65.
"""
from __future__ import annotations

import hashlib

import numpy as np

from textgan.common.texts import text_key

SEEN_WARN = 0.5  # share of evaluated sentences the model trained on above which figures mislead


def _keys(texts, canonical: bool = True) -> np.ndarray:
    """One int64 key per text, in order: of its `text_key` (NFKC, no zero-width characters), or, as
    models saved before 2026-12-07 stored them, of the stripped text."""
    form = text_key if canonical else (lambda t: str(t).strip())
    return np.asarray([int.from_bytes(hashlib.blake2b(form(t).encode("utf-8", "surrogatepass"),
                                                      digest_size=8).digest(), "little", signed=True)
                       for t in texts], dtype=np.int64)


def sentence_keys(texts) -> np.ndarray:
    """Sorted unique int64 keys of `texts` (`text_key`)."""
    return np.unique(_keys(texts))


def trained_share(model, texts) -> float | None:
    """Share of `texts` that are sentences `model` trained on; None when the model keeps no keys."""
    keys = getattr(model, "trained", None)
    if keys is None or not len(texts):
        return None
    return float((np.isin(_keys(texts), keys) | np.isin(_keys(texts, canonical=False), keys)).mean())


def mostly_trained(model, texts) -> float | None:
    """`trained_share` when above SEEN_WARN (each caller words its own warning), else None."""
    share = trained_share(model, texts)
    return share if share is not None and share > SEEN_WARN else None
