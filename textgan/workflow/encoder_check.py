"""Does an index hold the vectors of the encoder that will search it?

The recorded fingerprint says which encoder built an index; an edited meta.json that names another
encoder of the same size, with its fingerprint, passed that check and searched every query with the
wrong model (sweep 32). The index's own rows are the proof that cannot be edited into agreement: a
few of its sentences, encoded again, must land on their stored vectors.
"""
from __future__ import annotations

import numpy as np

from textgan.common.errors import InputError

SAMPLES = 8  # rows re-encoded: milliseconds for the GRU, well under a second for MiniLM
MIN_COSINE = 0.9  # the same model gives 1.0 (int8 weights about 0.99); another model of the size well below


def check_encodes_its_rows(idx, enc, where=None) -> None:
    """Refuse `enc` for `idx` when a few of the index's sentences, encoded by `enc`, are far from the
    vectors the index stores for them. Indexes without exact stored vectors (on disk, in shards, PQ
    codes alone) are left to the fingerprint check."""
    stored, texts = getattr(idx, "_vectors", None), getattr(idx, "texts", None)
    if stored is None or texts is None or len(texts) != len(stored) or not len(texts):
        return
    rows = np.unique(np.linspace(0, len(texts) - 1, min(SAMPLES, len(texts))).astype(np.int64))
    fresh = np.asarray(enc.encode([texts[i] for i in rows]), dtype=np.float32)
    kept = np.asarray(stored[rows], dtype=np.float32)
    if fresh.shape != kept.shape:  # the fingerprint check names a size mismatch first
        return
    cos = float(np.mean(np.sum(fresh * kept, axis=1) / (np.linalg.norm(fresh, axis=1) * np.linalg.norm(kept, axis=1)
                                                         + 1e-12)))
    if cos < MIN_COSINE:
        raise InputError(f"this encoder did not build the index: {len(rows)} of its sentences encode to vectors at "
                         f"mean cosine {cos:.2f} from those it stores (the same model gives 1.00); meta.json names "
                         "another encoder than the vectors', or pass the --model that built it", where)
