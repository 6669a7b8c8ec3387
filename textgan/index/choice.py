"""Choosing and tuning a FAISS index for L2-normalised vectors (inner product = cosine).

`choose_factory` maps corpus size and a memory budget to an index_factory string;
`tune` measures recall@10 against exact search on a sample of corpus rows and raises
the search-time knob (IVF nprobe, HNSW efSearch) until TARGET_RECALL is met, or reports
that exact search is faster. The measurements behind the rules are in bench/retrieval.py
and bench/scale.py (README, "Retrieval" and "Scale").
"""
from __future__ import annotations

import re

import math
import time

import numpy as np

from textgan.common.errors import InputError
from textgan.common.vectors import drop_self
from textgan.index.faiss_text import faiss_problem

FLAT_MAX_N = 50_000  # exact search up to here: an approximate index would save little and cost recall
HNSW_M = 32  # only for factory overrides such as "HNSW32,Flat"; see choose_factory
TARGET_RECALL = 0.95
RECALL_QUERIES = 500  # sample size for measuring recall@10 (std error ~0.003)


def _nlist(n: int, per_sqrt: float = 4) -> int:
    """IVF list count: the power of two nearest `per_sqrt` sqrt(n) (4: the low end of FAISS's
    4-16 sqrt(n) guideline), with >= 39 training points per list."""
    nlist = 2 ** round(math.log2(max(1.0, per_sqrt * math.sqrt(n))))
    return int(max(1, min(nlist, n // 39)))


def estimate_bytes(factory: str, n: int, dim: int) -> int:
    """Rough resident size of an index built from `factory` (for the memory budget)."""
    head = factory.split(",")[0]
    if factory == "Flat":
        return n * dim * 4
    if head.startswith("HNSW"):
        m = int(re.match(r"HNSW(\d*)", head).group(1) or HNSW_M)
        return int(n * (dim * 4 + m * 2 * 4 * 1.1))  # level 0 holds 2M links; upper levels ~10%
    if head.startswith("IVF"):
        nlist = int(re.match(r"IVF(\d+)", head).group(1))
        coarse = nlist * dim * 4
        code = factory.split(",")[1]
        if code.startswith("PQ"):
            m, _, bits = code[2:].partition("x")
            nbits = int(bits.rstrip("fsr") or 8)
            return int(n * (int(m) * nbits / 8 + 8) + coarse + 2**nbits * dim * 4)  # codes + ids, centroids, tables
        return int(n * (dim * 4 + 8) + coarse)
    return n * dim * 4  # unknown factory: assume raw vectors


def choose_factory(n: int, dim: int, memory_budget_mb: float | None = None) -> str:
    """Pick a FAISS index_factory string for `n` vectors of `dim` dimensions.

    Rules, first that fits the budget wins:
      1. n <= FLAT_MAX_N (50k): "Flat", exact; an ANN index saves little at this size.
      2. "IVF{nlist},Flat" with nlist ~ 4 sqrt(n) (power of two): exact vectors, coarse
         k-means partition, cheap to train, nprobe tuned to the recall target. HNSW is never
         chosen (bench/retrieval.py: lower recall at a smaller speed-up, slower builds, more
         bytes per vector); pass factory="HNSW32,Flat" to use it anyway.
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


# Without a memory budget, corpora whose raw vectors pass this size are indexed on disk.
ONDISK_RAW_BYTES = 2**30
ONDISK_MAX_CODE_BYTES = 64  # PQ code + 8-byte id per vector
ONDISK_RAM_CODES_BYTES = 2**31  # without a budget, 4-bit fast-scan codes up to this size are held in RAM
ONDISK_LISTS_PER_SQRT = 8  # finer lists than in RAM: every probe on disk also pays exact re-reads
ONDISK_MIN_PQ_ROWS = 256  # below it the on-disk index stores exact codes (IVF,Flat): PQ k-means needs 256 rows


def choose_storage(n: int, dim: int, memory_budget_mb: float | None = None) -> str:
    """"ram" (build_index: every vector in memory, then the choice above) or "disk"
    (textgan.index.ondisk: IVF-PQ trained on a sample, filled shard by shard, inverted lists on disk).

    Building in RAM holds the raw vectors (n x dim x 4 bytes) and the index together; when that
    passes the budget (or 1 GiB of raw vectors without one), the on-disk path is taken.
    """
    raw = n * dim * 4
    if memory_budget_mb is None:
        return "ram" if raw <= ONDISK_RAW_BYTES else "disk"
    budget = float(memory_budget_mb) * 2**20
    try:
        need = raw + estimate_bytes(choose_factory(n, dim, memory_budget_mb), n, dim)
    except InputError:
        return "disk"
    return "ram" if need <= budget else "disk"


def ondisk_factory(n: int, dim: int, memory_budget_mb: float | None = None) -> str:
    """The IVF-PQ of the on-disk path (textgan.index.ondisk re-ranks its candidates with the exact vectors,
    which stay on disk); nlist the power of two nearest ONDISK_LISTS_PER_SQRT x sqrt(n).

    "IVF{nlist},PQ{m}x4fs" when its codes (m/2 + 8 bytes a vector) fit half the memory budget (2 GiB
    without one): 4-bit codes scanned with SIMD, much faster than 8-bit PQ codes at the same
    nprobe, but FAISS keeps them in RAM. Else "IVF{nlist},PQ{m}" with its inverted
    lists on disk. m: the largest divisor of dim with at least 4 dimensions per sub-quantiser and
    code + id <= ONDISK_MAX_CODE_BYTES.
    """
    nlist = _nlist(n, ONDISK_LISTS_PER_SQRT)
    if n < ONDISK_MIN_PQ_ROWS:  # too few rows to train PQ codebooks: exact codes cost little
        return f"IVF{nlist},Flat"
    fs = [m for m in range(2, dim // 4 + 1, 2) if dim % m == 0 and m // 2 + 8 <= ONDISK_MAX_CODE_BYTES]
    cap = ONDISK_RAM_CODES_BYTES if memory_budget_mb is None else memory_budget_mb * 2**20 / 2
    if fs and n * (max(fs) // 2 + 8) <= cap:
        return f"IVF{nlist},PQ{max(fs)}x4fs"
    ms = [m for m in range(1, dim // 4 + 1) if dim % m == 0 and m + 8 <= ONDISK_MAX_CODE_BYTES]
    return f"IVF{nlist},PQ{max(ms) if ms else 1}"


# component prefix -> the least value its number may take (below it FAISS aborts, segfaults or
# hangs inside C++ rather than raising: HNSW1, RR0, NSG0, IVF0 were each seen to)
_MIN_PARAM = {"HNSW": 2, "NSG": 4}  # NSG2 never finished on 528 sentences


def _check_factory_sizes(factory: str) -> None:
    """Refuse sizes FAISS does not check itself: a zero anywhere (IVF0, PCA0, SQ0, RR0, PQ8x0),
    HNSW graphs of fewer than 2 and NSG of fewer than 4 links, and IDMap (ids are the row numbers)."""
    for part in (p.strip() for p in str(factory).split(",")):
        if part.upper().startswith("IDMAP"):
            raise InputError(f"{factory!r}: the index's ids are its row numbers already; drop {part!r}", "--factory")
        if any(int(x) == 0 for x in re.findall(r"\d+", part)):
            raise InputError(f"{factory!r}: component {part!r} has a size of 0", "--factory")
        for name, least in _MIN_PARAM.items():
            m = re.match(rf"{name}(\d+)", part, re.IGNORECASE)
            if m and int(m.group(1)) < least:
                raise InputError(f"{factory!r}: {name} needs at least {least} links per node, got {part!r}",
                                 "--factory")


def make_empty_index(factory: str, n: int, dim: int, flat: str = "Flat"):
    """The untrained FAISS index for `factory`; refused up front (before any encoding or training)
    when the string is not a factory or `n` vectors are too few to train it."""
    import faiss

    _check_factory_sizes(factory)
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise InputError(f"bad FAISS factory string {factory!r} for {dim}-d vectors: {faiss_problem(exc)}") from None
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf = faiss.downcast_index(ivf)
        if hasattr(ivf, "do_polysemous_training"):
            ivf.do_polysemous_training = False  # on by default: minutes of annealing for a filter never used
    inner = ivf if ivf is not None else faiss.downcast_index(index)
    while isinstance(inner, faiss.IndexPreTransform):
        inner = faiss.downcast_index(inner.index)
    # k-means needs at least one training row per centroid: per IVF list, per PQ codebook entry
    if ivf is not None and n < ivf.nlist:
        raise InputError(f"factory {factory!r} needs at least {ivf.nlist} vectors to train its {ivf.nlist} IVF "
                         f"lists, the corpus has {n}; use fewer lists (e.g. IVF{_nlist(n)},Flat) or {flat!r}")
    pq = getattr(inner, "pq", None)
    if pq is not None and n < 2 ** pq.nbits:
        raise InputError(f"factory {factory!r} needs at least {2 ** pq.nbits} vectors to train its "
                         f"{pq.nbits}-bit PQ codebooks, the corpus has {n}; use {flat!r} for a corpus this small")
    return index


def set_params(index, params: dict) -> None:
    import faiss

    ps = faiss.ParameterSpace()
    for key, value in params.items():
        ps.set_index_parameter(index, key, value)


def _knob(factory: str) -> tuple[str | None, list[int]]:
    """The search-time parameter of a factory and the values the tuner tries, cheapest first."""
    head = next((p for p in factory.split(",") if p.startswith(("IVF", "HNSW"))), "")
    if head.startswith("IVF"):  # IVF4096 or IVF4096_HNSW32 (an HNSW coarse quantizer): the list count
        nlist = int(re.match(r"IVF(\d+)", head).group(1))
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


def tune(index, factory: str, x: np.ndarray, rng, allow_fallback: bool = False, target: float = TARGET_RECALL):
    """Measure recall@10 on corpus rows; raise nprobe/efSearch until TARGET_RECALL is met.

    Each sampled row is a query with itself left out of both the exact and the approximate
    top-10: a row always finds itself, which would flatter the figure (by ~0.01 at 1M on
    the clustered bench corpus), while the real queries (generated vectors) are new points.

    Returns (recall, params, flat) where `flat` is an exact IndexFlatIP to use instead when
    `allow_fallback` and the tuned index searches the sample slower than exact search does.
    """
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
    truth = drop_self(*exact.search(q, k + 1), qid)[1]
    exact_s = time.perf_counter() - t
    fallback = allow_fallback and "PQ" not in factory
    res = raise_knob(index, factory, lambda: drop_self(*index.search(q, k + 1), qid)[1], truth,
                     max_seconds=exact_s if fallback else None, target=target)
    if res is None:  # already slower than exact search; larger values only get slower
        return 1.0, {}, exact
    return res[0], res[1], None


def raise_knob(index, factory: str, search, truth: np.ndarray, max_seconds: float | None = None,
               target: float = TARGET_RECALL):
    """Raise nprobe/efSearch, cheapest first, until `search()` (-> ids (Q, k)) reaches `target` recall
    against `truth`; returns (recall, params), the closest value when the target is out of reach,
    or None once one search takes longer than `max_seconds`."""
    knob, values = _knob(factory)
    best = (0.0, values[-1] if values else None)
    for v in values:
        set_params(index, {knob: v})
        t = time.perf_counter()
        found = search()
        if max_seconds is not None and time.perf_counter() - t > max_seconds:
            return None
        r = recall_at_k(found, truth)
        if r > best[0]:
            best = (r, v)
        if r >= target:
            break
    params = {} if knob is None else {knob: best[1]}
    set_params(index, params)  # target unreachable (e.g. PQ codes): keep the closest value
    if knob is None:
        best = (recall_at_k(search(), truth), None)
    return float(best[0]), params


def check_budget(factory: str, n: int, d: int, budget_mb: float | None) -> None:
    """An explicit --factory with --memory-mb: refuse an index the budget cannot hold rather than
    build it anyway (the budget only steers the automatic choice otherwise)."""
    if budget_mb is None:
        return
    try:
        need = estimate_bytes(factory, n, d)
    except (ValueError, IndexError, AttributeError):  # a factory string the estimate cannot parse
        return
    if need > budget_mb * 2**20:
        raise InputError(f"--factory {factory!r} needs about {need / 2**20:.3g} MB for {n} vectors of dimension {d}, "
                         f"over --memory-mb {budget_mb:g}: a coarser factory (e.g. IVF-PQ), a larger budget, or no "
                         f"--factory for the automatic choice")
