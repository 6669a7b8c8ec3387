"""The index as an object: `VectorIndex` (FAISS index + texts + groups + meta) and its save.

Every kind of index (in RAM here, on disk in textgan.index.ondisk_read, several searched together
in textgan.index.sharded) is a VectorIndex: `search` checks and normalises the queries and caps k
once, each kind implements `_search`. The folder format is textgan.index.folder's.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from textgan.common.artifacts import atomic_dir, atomic_file, atomic_path
from textgan.common.errors import InputError
from textgan.common.vectors import as_matrix, check_k, normalize_rows
from textgan.index.folder import FORMAT, METRIC, check_index_out, write_meta  # noqa: F401  (re-exported)

VECTORS_MAX_BYTES = 200 * 2**20  # keep vectors.npy beside the index below this size
ADD_BATCH = 65_536
SEARCH_BATCH = 16_384


class VectorIndex:
    """A FAISS index over normalised vectors plus the texts (and groups) behind each id."""

    def __init__(self, index, texts: list[str], groups: list[str] | None, meta: dict,
                 vectors: np.ndarray | None = None):
        self.index = index
        self.texts = texts
        self.groups = groups
        self.meta = meta
        self._vectors = vectors  # (N, D) float32 normalised, or None when not kept

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def stats(self) -> dict:
        return self.meta.setdefault("stats", {})

    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        return (f"VectorIndex(n={self.ntotal}, dim={self.dim}, factory={self.meta.get('factory')!r}, "
                f"recall_at_10={self.meta.get('recall_at_10')})")

    def search(self, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k corpus rows by cosine: scores (Q, k) float32, ids (Q, k) int64 (k capped at N).

        Args:
            queries: (Q, D) or (D,) array/tensor; normalised here, so any scale is fine.
            k: neighbours per query.
        """
        q = normalize_rows(as_matrix(queries, "queries", self.dim), "queries")
        return self._search(q, min(check_k(k, "k"), self.ntotal))

    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of unit queries q (Q, D) float32, 1 <= k <= N: what each kind of index implements."""
        scores = np.empty((len(q), k), np.float32)
        ids = np.empty((len(q), k), np.int64)
        for s in range(0, len(q), SEARCH_BATCH):
            scores[s:s + SEARCH_BATCH], ids[s:s + SEARCH_BATCH] = self.index.search(q[s:s + SEARCH_BATCH], k)
        return scores, ids

    def vector(self, i: int) -> np.ndarray:
        """The normalised (D,) vector of id `i` (approximate for PQ without vectors.npy)."""
        from textgan.common.args import whole

        i = whole(i, "i", minimum=0)  # -1 gave the last row, True a (1, N, D) block
        if i >= self.ntotal:
            raise InputError(f"i must be a row id below the index's {self.ntotal} rows, got {i}")
        if self._vectors is not None:
            return self._vectors[i]
        self._direct_map()
        return self.index.reconstruct(int(i))

    def reconstruct_all(self) -> np.ndarray:
        """All vectors (N, D) float32 (approximate for PQ without vectors.npy); cached."""
        if self._vectors is None:
            self._direct_map()
            self._vectors = self.index.reconstruct_n(0, self.ntotal)
        return self._vectors

    def _direct_map(self) -> None:
        import faiss

        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is not None and ivf.direct_map.type == faiss.DirectMap.NoMap:  # IVF lists need an id -> list map
            ivf.make_direct_map()

    def save(self, path: str | Path, before_publish=None) -> Path:
        """Write the index folder atomically (a failed save leaves any old folder intact).
        `before_publish(folder)`: called on the written folder before it replaces `path` (the
        index command fits its gate there: a corpus the gate refuses leaves an older index whole)."""
        import faiss

        path = check_index_out(path)
        with atomic_dir(path) as tmp:
            with atomic_path(tmp / "index.faiss") as f:
                faiss.write_index(self.index, str(f))
            with atomic_file(tmp / "texts.jsonl") as fh:
                for i, t in enumerate(self.texts):
                    row = {"text": t} if self.groups is None else {"text": t, "group": self.groups[i]}
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            if self._vectors is not None and self._vectors.nbytes <= VECTORS_MAX_BYTES:
                with atomic_path(tmp / "vectors.npy") as f:
                    np.save(f, self._vectors)
            self.meta = write_meta(self.meta, tmp)
            if before_publish is not None:
                before_publish(tmp)
        return path


