"""FAISS retrieval over L2-normalised sentence vectors (cosine = inner product).

An index folder holds everything needed to answer "which real sentences are nearest
to this vector?" and to refuse answering with the wrong encoder:

    index.faiss    the FAISS index (faiss.write_index; read back inside try/except)
    texts.jsonl    one {"text": ..., "group": ...} object per row, row i <-> FAISS id i
    vectors.npy    the normalised corpus vectors (N, D) float32, when under 200 MB
    meta.json      encoder fingerprint, dim, metric, factory, measured recall@10, params

The index type is picked by `choose_factory` from the corpus size and a memory budget
and can be overridden with any FAISS `index_factory` string. After building, recall@10
against exact search is measured on a random sample of corpus rows (each leaving itself
out, so it estimates recall for new queries), and the search-time
knob (IVF `nprobe`, HNSW `efSearch`) is raised until it reaches `TARGET_RECALL`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from textgan.artifacts import atomic_dir, atomic_file, atomic_path, load_json, save_json
from textgan.errors import InputError

FORMAT = "textgan-index"
METRIC = "inner_product"

# Exact search is cheap up to here: 50k x 256 float32 is 51 MB and one query costs
# 13 M multiply-adds (~1-2 ms on one core, far less per query when batched), so an
# approximate index would save little and cost recall.
FLAT_MAX_N = 50_000
HNSW_M = 32  # only for factory overrides such as "HNSW32,Flat"; see choose_factory
TARGET_RECALL = 0.95
RECALL_QUERIES = 500  # sample size for measuring recall@10 (std error ~0.003)
VECTORS_MAX_BYTES = 200 * 2**20  # keep vectors.npy beside the index below this size
ADD_BATCH = 65_536
SEARCH_BATCH = 16_384


def _nlist(n: int) -> int:
    """IVF list count: the power of two nearest 4 sqrt(n) (the low end of FAISS's 4-16 sqrt(n)
    guideline), with >= 39 training points per list. On a 100k corpus of 1000 groups,
    1024 lists reached recall@10 0.985 at nprobe 1 where 256 lists needed nprobe 12 for 0.95."""
    nlist = 2 ** round(math.log2(max(1.0, 4 * math.sqrt(n))))
    return int(max(1, min(nlist, n // 39)))


def estimate_bytes(factory: str, n: int, dim: int) -> int:
    """Rough resident size of an index built from `factory` (for the memory budget)."""
    head = factory.split(",")[0]
    if factory == "Flat":
        return n * dim * 4
    if head.startswith("HNSW"):
        m = int(head[4:] or HNSW_M)
        return int(n * (dim * 4 + m * 2 * 4 * 1.1))  # level 0 holds 2M links; upper levels ~10%
    if head.startswith("IVF"):
        nlist = int(head[3:])
        coarse = nlist * dim * 4
        code = factory.split(",")[1]
        if code.startswith("PQ"):
            m = int(code[2:].split("x")[0])
            return int(n * (m + 8) + coarse + 256 * dim * 4)  # codes + ids, centroids, PQ tables
        return int(n * (dim * 4 + 8) + coarse)
    return n * dim * 4  # unknown factory: assume raw vectors


def choose_factory(n: int, dim: int, memory_budget_mb: float | None = None) -> str:
    """Pick a FAISS index_factory string for `n` vectors of `dim` dimensions.

    Rules, first that fits the budget wins:
      1. n <= FLAT_MAX_N (50k): "Flat", exact; an ANN index saves little at this size.
      2. "IVF{nlist},Flat" with nlist ~ 4 sqrt(n) (power of two): exact vectors, coarse
         k-means partition; training is cheap (39 x nlist sampled rows), adds are fast,
         and nprobe is tuned to the recall target. HNSW is not chosen: on 100k x 256
         (bench/retrieval.py, 2 threads, shared machine) IVF256 reached held-out
         recall@10 0.998 at 7x Flat speed and built in 0.7 s on a clustered corpus, while
         HNSW32 (efConstruction 40) reached 0.94 at 3.3x, built in 7 s and stores ~260
         more bytes per vector; on uniform vectors HNSW32 reached only 0.87 at efSearch
         1024, 50x slower than Flat. Pass factory="HNSW32,Flat" to use it anyway.
      3. memory tight: "IVF{nlist},PQ{m}" with the largest m (sub-quantisers, a divisor of
         dim, at most dim/2) whose codes fit; recall is lower and is measured, not promised.

    build_index may still fall back to "Flat" when the tuned IVF turns out slower than
    exact search (structureless data, where nprobe must approach nlist).

    Args:
        n: number of corpus vectors.
        dim: vector dimension.
        memory_budget_mb: upper bound on the index's RAM in MiB; None means unbounded.
    """
    if n < 1 or dim < 1:
        raise InputError(f"cannot index {n} vectors of dimension {dim}")
    budget = math.inf if memory_budget_mb is None else float(memory_budget_mb) * 2**20
    nlist = _nlist(n)
    candidates = []
    if n <= FLAT_MAX_N:
        candidates.append("Flat")
    if nlist > 1:
        candidates.append(f"IVF{nlist},Flat")
    for f in candidates:
        if estimate_bytes(f, n, dim) <= budget:
            return f
    # product quantisation needs 39 x 256 rows to train its 8-bit codebooks well
    if n >= 39 * 256 and nlist > 1:
        for m in sorted((m for m in range(1, dim // 2 + 1) if dim % m == 0), reverse=True):
            f = f"IVF{nlist},PQ{m}"
            if estimate_bytes(f, n, dim) <= budget:
                return f
    raise InputError(
        f"memory budget {memory_budget_mb} MB is too small for {n} vectors of dimension {dim} "
        f"(exact index needs {estimate_bytes('Flat', n, dim) / 2**20:.1f} MB)")


def _check_vectors(x, what: str, dim: int | None = None, path=None) -> np.ndarray:
    """Validate (N, D) finite non-zero vectors; return them L2-normalised as float32."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"{what} must be a 2-d array (N, D), got shape {x.shape}", path)
    if dim is not None and x.shape[1] != dim:
        raise InputError(f"{what} have dimension {x.shape[1]}, the index has {dim}", path)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise InputError(f"{what} contain NaN or inf (first at row {int(np.argmax(bad))})", path)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InputError(f"{what} contain an all-zero row (row {int(np.argmax(norms[:, 0] == 0))})", path)
    return np.ascontiguousarray(x / norms, dtype=np.float32)


def _set_params(index, params: dict) -> None:
    import faiss

    ps = faiss.ParameterSpace()
    for key, value in params.items():
        ps.set_index_parameter(index, key, value)


def _knob(factory: str) -> tuple[str | None, list[int]]:
    """The search-time parameter of a factory and the values the tuner tries, cheapest first."""
    head = factory.split(",")[0]
    if head.startswith("IVF"):
        nlist = int(head[3:])
        return "nprobe", [v for v in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256,
                                      384, 512, 768, 1024, 2048, 4096) if v < nlist] + [nlist]
    if head.startswith("HNSW"):
        return "efSearch", [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]
    return None, []


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the true top-k ids (Q, k) that the approximate top-k (Q, k) contains."""
    k = truth.shape[1]
    hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth))
    return hits / (len(truth) * k)


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
        q = _check_vectors(queries, "queries", self.dim)
        k = max(1, min(int(k), self.ntotal))
        scores = np.empty((len(q), k), np.float32)
        ids = np.empty((len(q), k), np.int64)
        for s in range(0, len(q), SEARCH_BATCH):
            scores[s:s + SEARCH_BATCH], ids[s:s + SEARCH_BATCH] = self.index.search(q[s:s + SEARCH_BATCH], k)
        return scores, ids

    def vector(self, i: int) -> np.ndarray:
        """The normalised (D,) vector of id `i` (approximate for PQ without vectors.npy)."""
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

    def save(self, path: str | Path) -> Path:
        """Write the index folder atomically (a failed save leaves any old folder intact)."""
        import faiss

        path = Path(path)
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
            meta = dict(self.meta, index_bytes=(tmp / "index.faiss").stat().st_size)
            save_json(meta, tmp / "meta.json")
        self.meta = meta
        return path


def build_index(vectors, texts: list[str], groups: list[str] | None = None,
                encoder: dict | None = None, factory: str | None = None,
                memory_budget_mb: float | None = None, seed: int = 0,
                progress: bool = False) -> VectorIndex:
    """Build a cosine-similarity index over `texts` and their encoded `vectors`.

    Args:
        vectors: (N, D) float array (or tensor); rows are L2-normalised here.
        texts: N sentences; a repeated text keeps its first row and is counted in
            `index.stats["duplicates_dropped"]`.
        groups: optional N group labels (paraphrase group / intent), kept per row.
        encoder: metadata of the encoder that made the vectors, e.g.
            {"fingerprint": str, "dim": int, "path": str}; load_index checks the fingerprint.
        factory: a FAISS index_factory string ("Flat", "HNSW32,Flat", "IVF1024,Flat", ...);
            None picks one with `choose_factory`.
        memory_budget_mb: RAM bound for the automatic choice.
        seed: seeds the IVF training sample and the recall sample.
        progress: show a tqdm bar while adding vectors.
    """
    import faiss
    from tqdm.auto import tqdm

    texts = list(texts)
    if len(texts) == 0:
        raise InputError("empty corpus: no texts to index")
    x = _check_vectors(vectors, "vectors")
    if len(x) != len(texts):
        raise InputError(f"{len(x)} vectors but {len(texts)} texts")
    if groups is not None and len(groups) != len(texts):
        raise InputError(f"{len(groups)} groups but {len(texts)} texts")
    if encoder and encoder.get("dim") not in (None, x.shape[1]):
        raise InputError(f"vectors have dimension {x.shape[1]}, encoder says {encoder['dim']}")

    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"text at row {i} is {type(t).__name__}, not a string")
        first.setdefault(t, i)
    keep = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    n_in = len(texts)
    if len(keep) < n_in:
        x = x[keep]
        texts = [texts[i] for i in keep]
        groups = None if groups is None else [str(groups[i]) for i in keep]
    elif groups is not None:
        groups = [str(g) for g in groups]
    n, d = x.shape

    auto = factory is None
    factory = factory or choose_factory(n, d, memory_budget_mb)
    try:
        index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise InputError(f"bad FAISS factory string {factory!r}: {str(exc).splitlines()[0]}") from None
    rng = np.random.default_rng(seed)
    if not index.is_trained:
        # random rows, never the first ones: a corpus sorted by group would give biased centroids
        ivf = faiss.try_extract_index_ivf(index)
        ivf = None if ivf is None else faiss.downcast_index(ivf)
        if hasattr(ivf, "do_polysemous_training"):
            ivf.do_polysemous_training = False  # factory default; minutes of annealing we never use
        n_train = min(n, 39 * max(ivf.nlist if ivf is not None else 256, 256))
        index.train(x[np.sort(rng.choice(n, n_train, replace=False))])
    with tqdm(total=n, desc="index add", unit="vec", disable=not progress) as bar:
        for s in range(0, n, ADD_BATCH):
            index.add(x[s:s + ADD_BATCH])
            bar.update(min(ADD_BATCH, n - s))

    recall, params, fallback = _tune(index, factory, x, rng, allow_fallback=auto)
    if fallback is not None:
        index, factory, recall, params = fallback, "Flat", 1.0, {}
    meta = {
        "format": FORMAT, "version": 1,
        "fingerprint": (encoder or {}).get("fingerprint"),
        "encoder": dict(encoder or {}),
        "dim": d, "metric": METRIC, "factory": factory,
        "recall_at_10": recall, "recall_queries": min(RECALL_QUERIES, n), "recall_leave_self_out": True,
        "n": n, "params": params, "seed": seed,
        "stats": {"n_input": n_in, "duplicates_dropped": n_in - n},
    }
    if fallback is not None:
        meta["stats"]["fell_back_to_flat"] = "tuned approximate index was slower than exact search"
    return VectorIndex(index, texts, groups, meta, x)


def _tune(index, factory: str, x: np.ndarray, rng, allow_fallback: bool = False):
    """Measure recall@10 on corpus rows; raise nprobe/efSearch until TARGET_RECALL is met.

    Each sampled row is a query with itself left out of both the exact and the approximate
    top-10: a row always finds itself, which would flatter the figure (by ~0.01 at 1M on
    the clustered bench corpus), while the real queries (generated vectors) are new points.

    Returns (recall, params, flat) where `flat` is an exact IndexFlatIP to use instead when
    `allow_fallback` and the tuned index searches the sample slower than exact search does.
    """
    import time

    import faiss

    n, d = x.shape
    if factory == "Flat" or n < 2:
        return 1.0, {}, None
    k = min(10, n - 1)
    qid = rng.choice(n, min(RECALL_QUERIES, n), replace=False)
    q = x[qid]
    exact = faiss.IndexFlatIP(d)
    exact.add(x)
    t = time.perf_counter()
    truth = _drop_self(exact.search(q, k + 1)[1], qid, k)
    exact_s = time.perf_counter() - t
    knob, values = _knob(factory)
    best = (0.0, values[-1] if values else None)
    fallback = allow_fallback and "PQ" not in factory
    for v in values:
        _set_params(index, {knob: v})
        t = time.perf_counter()
        found = _drop_self(index.search(q, k + 1)[1], qid, k)
        if fallback and time.perf_counter() - t > exact_s:
            # already slower than exact search; larger values only get slower
            return 1.0, {}, exact
        r = recall_at_k(found, truth)
        if r > best[0]:
            best = (r, v)
        if r >= TARGET_RECALL:
            break
    params = {} if knob is None else {knob: best[1]}
    _set_params(index, params)  # target unreachable (e.g. PQ codes): keep the closest value
    if knob is None:
        best = (recall_at_k(_drop_self(index.search(q, k + 1)[1], qid, k), truth), None)
    return float(best[0]), params, None


def _drop_self(ids: np.ndarray, self_ids: np.ndarray, k: int) -> np.ndarray:
    """(Q, k+1) result ids -> (Q, k) without each query's own row (or the last hit if absent)."""
    order = np.argsort(ids == self_ids[:, None], axis=1, kind="stable")  # non-self first
    return np.take_along_axis(ids, order[:, :k], axis=1)


def load_index(path: str | Path, expect_fingerprint: str | None = None) -> VectorIndex:
    """Load an index folder; refuse it if it was built with a different encoder.

    Args:
        path: folder written by `VectorIndex.save`.
        expect_fingerprint: fingerprint of the encoder about to produce queries; a
            mismatch (or an index with no fingerprint) raises InputError.
    """
    import faiss

    path = Path(path)
    if not path.is_dir():
        raise InputError("index folder not found", path)
    meta = load_json(path / "meta.json")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError("not a textgan index (meta.json has no format 'textgan-index')", path / "meta.json")
    if expect_fingerprint is not None and meta.get("fingerprint") != expect_fingerprint:
        raise InputError(
            f"index was built with encoder {meta.get('fingerprint')}, not {expect_fingerprint}: "
            "rebuild the index with this encoder or use the encoder that built it", path)
    f = path / "index.faiss"
    if not f.is_file():
        raise InputError("missing index file", f)
    size = f.stat().st_size
    if meta.get("index_bytes") not in (None, size):
        raise InputError(f"index file is {size} bytes, expected {meta['index_bytes']} (truncated?)", f)
    try:
        index = faiss.read_index(str(f))
    except RuntimeError as exc:
        raise InputError(f"corrupt FAISS index ({str(exc).strip().splitlines()[-1][:120]})", f) from None
    if index.d != meta.get("dim") or index.ntotal != meta.get("n"):
        raise InputError(f"index holds {index.ntotal} x {index.d}, meta.json says "
                         f"{meta.get('n')} x {meta.get('dim')}", f)
    texts, groups = _read_texts(path / "texts.jsonl", index.ntotal)
    vectors = None
    vf = path / "vectors.npy"
    if vf.is_file():
        try:
            vectors = np.load(vf, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"corrupt vectors file ({exc.__class__.__name__})", vf) from None
        if vectors.shape != (index.ntotal, index.d):
            raise InputError(f"vectors file holds {vectors.shape}, expected {(index.ntotal, index.d)}", vf)
    _set_params(index, meta.get("params") or {})
    return VectorIndex(index, texts, groups, meta, vectors)


def _read_texts(f: Path, n: int) -> tuple[list[str], list[str] | None]:
    if not f.is_file():
        raise InputError("missing texts file", f)
    texts, groups = [], []
    with open(f, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
                texts.append(row["text"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(f"corrupt texts file at line {line_no}", f) from None
            groups.append(row.get("group"))
    if len(texts) != n:
        raise InputError(f"texts file has {len(texts)} rows, the index has {n} (truncated?)", f)
    return texts, (None if all(g is None for g in groups) else groups)
