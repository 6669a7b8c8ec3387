"""Indexes past RAM: IVF-PQ with its inverted lists on disk, built from a shard folder.

The build never holds more than one block of vectors (BLOCK_ROWS) in memory:
  1. train the IVF-PQ (choice.ondisk_factory, or any IVF factory) on a uniform sample
     of corpus rows, read shard by shard from memory-mapped .npy files;
  2. add the corpus block by block into copies of the trained empty index, each written to disk;
  3. merge the blocks' inverted lists into one `lists.ivfdata` file with FAISS's own
     `faiss.contrib.ondisk.merge_ondisk` (OnDiskInvertedLists, memory-mapped at search time);
     fast-scan codes (no on-disk lists in FAISS) are added shard by shard into the index itself;
  4. measure recall@10 against exact search (streamed over the shards) and tune nprobe.

Search ranks candidates with the PQ codes, then re-ranks the top `rerank * k` with the exact
vectors, read from the copies of the shards kept in the folder (`vectors/`, hard links when the
shard folder is on the same file system; textgan.index.ondisk_read). The exact vectors never enter
RAM whole; the codes are either 8-bit PQ in on-disk inverted lists (m + 8 bytes a vector, paged
in as lists are touched) or, when they fit the budget (choice.ondisk_factory), 4-bit
fast-scan PQ held in RAM (m/2 + 8 bytes a vector, much faster to scan): DiskANN's split of
compressed vectors in RAM and full-precision ones on SSD.

Folder (read by build.load_index; meta and checksums as for every index, textgan.index.folder):
    index.faiss[, lists.ivfdata] the IVF-PQ (and its on-disk inverted lists, 8-bit PQ only)
    vectors/shard-*.npy          exact vectors, shard by shard (re-ranking, vector(i))
    texts.jsonl, texts.offsets.npy   one {"text"[, "group"]} per row and its byte offsets
    meta.json                    as for every index, plus "storage": "disk", shard row counts
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from textgan.common.errors import InputError
from textgan.index.choice import RECALL_QUERIES, make_empty_index, ondisk_factory, raise_knob, set_params
from textgan.index.faiss_text import faiss_problem
from textgan.index.folder import check_index_out, code_bytes, link_or_copy, new_meta, sampled_recall, write_meta
from textgan.index.ondisk_read import (  # noqa: F401  (re-exported: the on-disk API)
    OnDiskIndex, ShardVectors, exact_topk, load_ondisk, peak_rss_mb, quiet_native_output, rerank_search)
from textgan.index.options import IndexOptions

BLOCK_ROWS = 1_000_000  # vectors added into one in-memory block before it goes to disk (at most)
ADD_ROWS = 65_536  # vectors read from a shard and encoded per add call
DEFAULT_RERANK = 10
# coarse k-means iterations (FAISS's default is 25): the on-disk lists are 8 sqrt(n), so training
# is the longest build phase; the recall this reaches is measured after every build
KMEANS_ITER = 10
RERANK_CHOICES = (5, 10, 20, 40)  # re-rank factors the build tries (each with its own nprobe)


def block_rows_for(code_size: int, memory_budget_mb: float | None) -> int:
    """Rows per in-memory block: a quarter of the budget for the block's codes and ids, counted
    twice (FAISS grows inverted lists by doubling), at least ADD_ROWS, at most BLOCK_ROWS."""
    if memory_budget_mb is None:
        return BLOCK_ROWS
    rows = int(memory_budget_mb * 2**20 / 4 / (2 * (code_size + 8)))
    return max(ADD_ROWS, min(BLOCK_ROWS, rows))


def build_ondisk(shards, out, encoder: dict | None = None, options: IndexOptions | None = None) -> OnDiskIndex:
    """Build an on-disk IVF-PQ index folder from a `textgan.index.shards.ShardSet`; returns the loaded index.

    Args:
        shards: `open_shards(...)` of an encoded corpus.
        out: index folder to write (atomically; may replace an older index).
        encoder: the encoder metadata recorded in meta.json (checked when queries come).
        options: validated `IndexOptions`: factory (an IVF one; default choice.ondisk_factory),
            rerank (rerank * k PQ candidates re-ranked with the exact vectors; None tunes it with
            nprobe over RERANK_CHOICES), target_recall, memory_budget_mb (bounds the block of codes
            held while adding, block_rows_for), seed, progress.
    """
    import faiss
    from faiss.contrib.ondisk import merge_ondisk
    from tqdm.auto import tqdm

    from textgan.common.artifacts import atomic_dir, atomic_path, folder_digests, load_json

    options = options or IndexOptions()
    out = check_index_out(out)
    target = options.recall_target
    n, d = shards.n, shards.dim
    factory = options.factory or ondisk_factory(n, d, options.memory_budget_mb)
    index = make_empty_index(factory, n, d, flat="IVF1,Flat")  # an on-disk index needs its IVF lists
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        raise InputError(f"an on-disk index needs an IVF factory (e.g. {ondisk_factory(n, d)}), got {factory!r}")
    ivf = faiss.downcast_index(ivf)  # its class tells fast-scan codes (no on-disk lists) apart
    ivf.cp.niter = KMEANS_ITER
    rng = np.random.default_rng(options.seed)
    progress = options.progress
    clock = _Clock()
    _, sample = shards.sample(min(n, 39 * max(ivf.nlist, 256)), rng)
    _train(index, sample, factory)
    del sample
    clock.lap("train")
    # 4-bit fast-scan codes have no on-disk inverted lists in FAISS: they are added in place and
    # loaded whole (m/2 + 8 bytes a vector, within the budget ondisk_factory checked)
    in_ram = "FastScan" in type(ivf).__name__
    _warn_resident(index, ivf, n, in_ram, options.memory_budget_mb)
    block_rows = None if in_ram else block_rows_for(ivf.code_size, options.memory_budget_mb)
    with atomic_dir(out) as tmp:
        if in_ram:
            _add_in_place(index, shards, progress, tqdm)
            clock.lap("add")
        else:
            blocks = _add_blocks(index, shards, tmp, block_rows, progress, tqdm)
            clock.lap("add")
            with quiet_native_output():
                merge_ondisk(index, [str(b) for b in blocks], str(tmp / "lists.ivfdata"))
            for b in blocks:
                b.unlink()
            (tmp / "blocks").rmdir()
        with atomic_path(tmp / "index.faiss") as f:
            faiss.write_index(index, str(f))
        _link_vectors(shards, tmp / "vectors")
        has_groups = _write_texts(shards, tmp)
        clock.lap("merge_and_copy")
        vectors = ShardVectors([tmp / "vectors" / f"{nm}.npy" for nm in shards.names],
                               list(np.diff(shards.offsets)), d)
        recall, params, typical, rerank = _tune(index, vectors, shards, factory, options.rerank, rng, target)
        clock.lap("recall_and_tune")
        meta = new_meta(encoder, d, factory, n, recall, params, storage="disk", **sampled_recall(n, options.seed),
                        lists="ram" if in_ram else "disk", rerank=int(rerank), target_recall=target,
                        typical_nn_cosine=typical, has_groups=has_groups, bytes_per_vector=code_bytes(tmp) / n,
                        shards={"names": shards.names, "rows": [int(r) for r in np.diff(shards.offsets)]},
                        block_rows=block_rows)
        digests = folder_digests(tmp, skip=("meta.json",))
        clock.lap("checksums")
        meta.update(build_seconds=clock.laps, build_peak_rss_mb=clock.rss)
        write_meta(meta, tmp, digests)
        del vectors
    return load_ondisk(out, load_json(out / "meta.json"))


class _Clock:
    """Seconds per build phase, recorded in meta.json (per-unit costs for capacity planning)."""

    def __init__(self):
        import time

        self.now, self.t, self.laps, self.rss = time.perf_counter, time.perf_counter(), {}, {}

    def lap(self, name: str) -> None:
        t = self.now()
        self.laps[name] = round(t - self.t, 3)
        # the process's peak so far (Linux: KiB), mapped shard pages included: which phase sets the peak
        self.rss[name] = round(peak_rss_mb(), 1)
        self.t = t


def _train(index, sample: np.ndarray, factory: str) -> None:
    """Train on the sample; the coarse k-means runs on a GPU when faiss has one (never required)."""
    import faiss

    ivf = faiss.extract_index_ivf(index)
    if getattr(faiss, "get_num_gpus", lambda: 0)() > 0:
        ivf.clustering_index = faiss.index_cpu_to_all_gpus(faiss.IndexFlatL2(ivf.d))
    try:
        with quiet_native_output():  # "please provide at least ... training points": recall is measured below
            index.train(np.ascontiguousarray(sample))
    except RuntimeError as exc:
        raise InputError(f"FAISS could not train {factory!r} on {len(sample)} vectors: "
                         f"{faiss_problem(exc, 160, -1)}") from None


def _add_in_place(index, shards, progress: bool, tqdm) -> None:
    bar = tqdm(total=shards.n, desc="index add", unit="vec", disable=not progress)
    for s in range(len(shards)):
        x = shards.vectors(s)
        for lo in range(0, len(x), ADD_ROWS):
            part = np.ascontiguousarray(x[lo:lo + ADD_ROWS])
            index.add_with_ids(part, shards.offsets[s] + lo + np.arange(len(part), dtype=np.int64))
            bar.update(len(part))
        del x
    bar.close()


def _add_blocks(index, shards, tmp: Path, block_rows: int, progress: bool, tqdm) -> list[Path]:
    """Add the corpus into empty copies of the trained index, one block of rows at a time."""
    import faiss

    (tmp / "blocks").mkdir()
    blocks, block, rows_in_block = [], None, 0
    bar = tqdm(total=shards.n, desc="index add", unit="vec", disable=not progress)
    for s in range(len(shards)):
        x = shards.vectors(s)
        if block is None:
            block, rows_in_block = faiss.clone_index(index), 0
        for lo in range(0, len(x), ADD_ROWS):
            part = np.ascontiguousarray(x[lo:lo + ADD_ROWS])
            block.add_with_ids(part, shards.offsets[s] + lo + np.arange(len(part), dtype=np.int64))
            bar.update(len(part))
        rows_in_block += len(x)
        del x
        if rows_in_block >= block_rows or s == len(shards) - 1:
            blocks.append(tmp / "blocks" / f"block-{len(blocks):05d}.index")
            faiss.write_index(block, str(blocks[-1]))
            block = None
    bar.close()
    return blocks


def _link_vectors(shards, dest: Path) -> None:
    """The exact vectors beside the index: hard links to the shards (copies across file systems)."""
    dest.mkdir()
    for nm in shards.names:
        link_or_copy(shards.folder / f"{nm}.npy", dest / f"{nm}.npy")


def _write_texts(shards, tmp: Path) -> bool:
    """Concatenate the shards' texts into texts.jsonl and record each row's byte offset."""
    offsets = np.empty(shards.n + 1, np.int64)
    pos, row, has_groups = 0, 0, False
    with open(tmp / "texts.jsonl", "wb") as out:
        for nm in shards.names:
            with open(shards.folder / f"{nm}.texts.jsonl", "rb") as fh:
                for line in fh:
                    offsets[row] = pos
                    if not has_groups and b'"group"' in line:
                        has_groups = "group" in json.loads(line)
                    out.write(line)
                    pos, row = pos + len(line), row + 1
    if row != shards.n:
        raise InputError(f"the shards' texts hold {row} rows, the manifest says {shards.n}", shards.folder)
    offsets[row] = pos
    np.save(tmp / "texts.offsets.npy", offsets)
    return has_groups


def _tune(index, vectors: ShardVectors, shards, factory: str, rerank: int | None, rng, target: float):
    """(recall@10, {nprobe}, typical NN cosine, rerank): each sampled row leaves itself out, as in
    choice.tune. With rerank None every RERANK_CHOICES value gets its own lowest nprobe that
    reaches the target; the fastest of those on the sample wins (every exact row read costs time,
    but 4-bit codes rank coarsely: the test corpus of repeated texts needed rerank 40), else the
    best recall."""
    from textgan.common.vectors import drop_self

    k = min(10, shards.n - 1)
    if k < 1:
        return 1.0, {}, 1.0, rerank or DEFAULT_RERANK
    qid, q = shards.sample(RECALL_QUERIES, rng)
    truth_s, truth = exact_topk(shards, q, k, exclude=qid)
    best = None
    for rr in (rerank,) if rerank is not None else RERANK_CHOICES:
        def search(rr=rr):
            return drop_self(*rerank_search(index, vectors, q, k + 1, rr), qid)[1]

        recall, params = raise_knob(index, factory, search, truth, target=target)
        seconds = min(_timed(search) for _ in range(2))
        key = (recall >= target, -seconds if recall >= target else recall)
        if best is None or key > best[0]:
            best = (key, recall, params, rr)
    _, recall, params, rr = best
    set_params(index, params)
    return recall, params, float(np.median(truth_s[:, 0])), rr


def _timed(fn) -> float:
    import time

    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _warn_resident(index, ivf, n: int, in_ram: bool, budget_mb: float | None) -> None:
    """An on-disk index still holds its centroids and codebooks (and 4-bit fast-scan codes) in RAM:
    a budget below them cannot be kept, and saying nothing let --memory-mb 0.001 pass silently."""
    import warnings

    import faiss

    if budget_mb is None:
        return
    resident = len(faiss.serialize_index(index)) + (n * (ivf.code_size + 8) if in_ram else 0)
    if resident > budget_mb * 2**20:
        warnings.warn(f"--memory-mb {budget_mb:g}: the on-disk index still holds about {resident / 2**20:.2g} MB "
                      "in RAM (its centroids and codebooks): the budget is exceeded", stacklevel=3)
