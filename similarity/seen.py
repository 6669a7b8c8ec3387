"""Which sentences a model trained on, kept as 8-byte keys (not the text) in `trained.safetensors`.

Evaluating a model on its own training sentences reads near 1.0 and says nothing of new sentences;
a threshold fitted on them is too lenient. The keys let `evaluate` (and any caller) say so.
A key is the first 8 bytes of BLAKE2b of the sentence's `text_key` (case folded since late 2026-12-07,
its `unicode_key` before, its stripped text before 2026-12-07; all three forms are looked up): a
collision between two different sentences of one corpus has odds of about n^2 / 2^65.
"""
from __future__ import annotations

import hashlib

import numpy as np

from textgan.common.texts import text_key, unicode_key

SEEN_WARN = 0.5  # share of evaluated sentences the model trained on above which figures mislead


_FORMS = (text_key, unicode_key, lambda t: str(t).strip())  # today's, then as older models stored them


def _keys(texts, form=text_key) -> np.ndarray:
    """One int64 key per text, in order: of its `form` (default `text_key`)."""
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
    return float(np.logical_or.reduce([np.isin(_keys(texts, form), keys) for form in _FORMS]).mean())


def mostly_trained(model, texts) -> float | None:
    """`trained_share` when above SEEN_WARN (each caller words its own warning), else None."""
    share = trained_share(model, texts)
    return share if share is not None and share > SEEN_WARN else None
