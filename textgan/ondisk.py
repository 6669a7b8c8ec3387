"""Indexes past RAM: IVF-PQ with its inverted lists on disk, built from a shard folder.

The build never holds more than one block of vectors (BLOCK_ROWS) in memory:
  1. train the IVF-PQ (index_choice.ondisk_factory, or any IVF factory) on a uniform sample
     of corpus rows, read shard by shard from memory-mapped .npy files;
  2. add the corpus block by block into copies of the trained empty index, each written to disk;
  3. merge the blocks' inverted lists into one `lists.ivfdata` file with FAISS's own
     `faiss.contrib.ondisk.merge_ondisk` (OnDiskInvertedLists, memory-mapped at search time);
  4. measure recall@10 against exact search (streamed over the shards) and tune nprobe.

Search ranks candidates with the PQ codes, then re-ranks the top `rerank * k` with the exact
vectors, read from memory-mapped copies of the shards kept in the folder (`vectors/`, hard
links when the shard folder is on the same file system). RAM then holds the coarse centroids
and codebooks; the codes (m + 8 bytes per vector) and the exact vectors stay on disk, paged in
by the OS as lists and candidates are touched (the idea of DiskANN's SSD re-ranking).

Folder (read by retrieval.load_index, checksums as for every index):
    index.faiss, lists.ivfdata   the IVF-PQ and its on-disk inverted lists
    vectors/shard-*.npy          exact vectors, shard by shard (re-ranking, vector(i))
    texts.jsonl, texts.offsets.npy   one {"text"[, "group"]} per row and its byte offsets
    meta.json                    as for every index, plus "storage": "disk", shard row counts
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from textgan.errors import InputError
from textgan.index_choice import RECALL_QUERIES, make_empty_index, ondisk_factory, raise_knob, set_params

BLOCK_ROWS = 1_000_000  # vectors added into one in-memory block before it goes to disk
DEFAULT_RERANK = 10


@contextlib.contextmanager
def quiet_native_output():
    """Silence FAISS's C++ prints (file resizing, on-disk path updates) on fds 1 and 2."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


# --- exact search streamed over shards -------------------------------------------------------

def exact_topk(shards, q: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k (scores, global ids), each (Q, k), of unit queries over every shard.

    exclude: (Q,) global row of each query left out of its own list (queries that are corpus rows).
    """
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.full((len(q), k), -1, np.int64)
    for s in range(len(shards)):
        x = shards.vectors(s)
        for lo in range(0, len(x), 65_536):
            sims = q @ np.asarray(x[lo:lo + 65_536]).T  # (Q, b)
            ids = shards.offsets[s] + lo + np.arange(sims.shape[1])
            if exclude is not None:
                sims[exclude[:, None] == ids[None, :]] = -np.inf
            all_s = np.concatenate([best_s, sims], 1)
            all_i = np.concatenate([best_i, np.broadcast_to(ids, sims.shape)], 1)
            top = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
            best_s, best_i = np.take_along_axis(all_s, top, 1), np.take_along_axis(all_i, top, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_s, order, 1), np.take_along_axis(best_i, order, 1)


# --- the index -------------------------------------------------------------------------------

class RowFile:
    """Rows of a JSONL file read on demand through a byte-offset table (N+1,): texts never all in RAM."""

    def __init__(self, path: Path, offsets: np.ndarray, key: str):
        self.path, self.offsets, self.key = path, offsets, key

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int):
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(i)
        with open(self.path, "rb") as fh:
            fh.seek(int(self.offsets[i]))
            row = json.loads(fh.read(int(self.offsets[i + 1] - self.offsets[i])))
        return row.get(self.key)


class ShardVectors:
    """Exact vectors of a folder of .npy shards, memory-mapped; rows gathered by global id."""

    def __init__(self, files: list[Path], rows: list[int], dim: int):
        self.maps = [np.load(f, mmap_mode="r", allow_pickle=False) for f in files]
        for f, m, r in zip(files, self.maps, rows):
            if m.shape != (r, dim):
                raise InputError(f"vector shard holds {m.shape}, expected {(r, dim)}", f)
        self.offsets = np.cumsum([0] + list(rows))

    def gather(self, ids: np.ndarray) -> np.ndarray:
        """(..., D) vectors of global ids (...); ids < 0 give zero rows."""
        flat = ids.reshape(-1)
        out = np.zeros((len(flat), self.maps[0].shape[1] if self.maps else 0), np.float32)
        shard = np.searchsorted(self.offsets, flat, side="right") - 1
        for s in np.unique(shard[flat >= 0]):
            sel = np.nonzero((shard == s) & (flat >= 0))[0]
            out[sel] = self.maps[s][flat[sel] - self.offsets[s]]
        return out.reshape(*ids.shape, -1)


def rerank_search(index, vectors: ShardVectors | None, q: np.ndarray, k: int, rerank: int):
    """PQ search for rerank * k candidates, then exact inner products on them: (scores, ids) (Q, k)."""
    if vectors is None or rerank <= 1:
        return index.search(q, k)
    kk = min(k * rerank, index.ntotal)
    _, cand = index.search(q, kk)  # (Q, kk)
    exact = np.einsum("qd,qkd->qk", q, vectors.gather(cand))  # (Q, kk)
    exact[cand < 0] = -np.inf
    top = np.argsort(-exact, axis=1, kind="stable")[:, :k]
    scores, ids = np.take_along_axis(exact, top, 1), np.take_along_axis(cand, top, 1)
    ids[~np.isfinite(scores)] = -1
    return scores.astype(np.float32), ids


def _vector_index_class():
    from textgan.index_store import VectorIndex

    class OnDiskIndex(VectorIndex):
        """A VectorIndex whose codes, exact vectors and texts stay on disk."""

        def __init__(self, index, texts, groups, meta, vectors: ShardVectors | None):
            super().__init__(index, texts, groups, meta, None)
            self.shard_vectors = vectors

        def search(self, queries, k: int = 10):
            from textgan.vectors import as_matrix, check_k, normalize_rows

            q = normalize_rows(as_matrix(queries, "queries", self.dim), "queries")
            k = min(check_k(k, "k"), self.ntotal)
            return rerank_search(self.index, self.shard_vectors, q, k, int(self.meta.get("rerank", 0)))

        def vector(self, i: int) -> np.ndarray:
            return self.shard_vectors.gather(np.array([int(i)]))[0]

        def reconstruct_all(self) -> np.ndarray:
            raise InputError(f"this on-disk index holds {self.ntotal} vectors: they are read shard by shard, "
                             "never all at once")

    return OnDiskIndex


def build_ondisk(shards, out, encoder: dict | None = None, factory: str | None = None,
                 rerank: int = DEFAULT_RERANK, seed: int = 0, progress: bool = False):
    """Build an on-disk IVF-PQ index folder from a `textgan.shards.ShardSet`; returns the loaded index.

    Args:
        shards: `open_shards(...)` of an encoded corpus.
        out: index folder to write (atomically; may replace an older index).
        encoder: the encoder metadata recorded in meta.json (checked when queries come).
        factory: an IVF index_factory string (default: index_choice.ondisk_factory).
        rerank: re-rank rerank * k PQ candidates with the exact vectors (0: codes only).
    """
    import faiss
    from faiss.contrib.ondisk import merge_ondisk
    from tqdm.auto import tqdm

    from textgan.artifacts import atomic_dir, atomic_path, folder_digests, library_versions, load_json, save_json
    from textgan.index_store import FORMAT, METRIC, check_index_out

    out = check_index_out(out)
    n, d = shards.n, shards.dim
    factory = factory or ondisk_factory(n, d)
    index = make_empty_index(factory, n, d)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        raise InputError(f"an on-disk index needs an IVF factory (e.g. {ondisk_factory(n, d)}), got {factory!r}")
    ivf = faiss.downcast_index(ivf)
    if hasattr(ivf, "do_polysemous_training"):
        ivf.do_polysemous_training = False
    rng = np.random.default_rng(seed)
    clock = _Clock()
    _, sample = shards.sample(min(n, 39 * max(ivf.nlist, 256)), rng)
    _train(index, sample, factory)
    del sample
    clock.lap("train")
    with atomic_dir(out) as tmp:
        blocks = _add_blocks(index, shards, tmp, progress, tqdm)
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
        recall, params, typical = _tune(index, vectors, shards, factory, rerank, rng)
        clock.lap("recall_and_tune")
        meta = {"format": FORMAT, "version": 1, "storage": "disk",
                "fingerprint": (encoder or {}).get("fingerprint"), "encoder": dict(encoder or {}),
                "dim": d, "metric": METRIC, "factory": factory, "rerank": int(rerank),
                "recall_at_10": recall, "recall_queries": min(RECALL_QUERIES, n), "recall_leave_self_out": True,
                "n": n, "params": params, "seed": seed, "typical_nn_cosine": typical, "has_groups": has_groups,
                "shards": {"names": shards.names, "rows": [int(r) for r in np.diff(shards.offsets)]},
                "stats": {"n_input": n, "duplicates_dropped": 0}}
        sizes = {f: (tmp / f).stat().st_size for f in ("index.faiss", "lists.ivfdata")}
        meta.update(index_bytes=sizes["index.faiss"], bytes_per_vector=sum(sizes.values()) / n,
                    digests=folder_digests(tmp, skip=("meta.json",)), versions=library_versions())
        clock.lap("checksums")
        meta["build_seconds"] = clock.laps
        save_json(meta, tmp / "meta.json")
        del vectors
    return load_ondisk(out, load_json(out / "meta.json"))


class _Clock:
    """Seconds per build phase, recorded in meta.json (per-unit costs for capacity planning)."""

    def __init__(self):
        import time

        self.now, self.t, self.laps = time.perf_counter, time.perf_counter(), {}

    def lap(self, name: str) -> None:
        t = self.now()
        self.laps[name] = round(t - self.t, 3)
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
                         f"{str(exc).strip().splitlines()[-1][:160]}") from None


def _add_blocks(index, shards, tmp: Path, progress: bool, tqdm) -> list[Path]:
    """Add the corpus into empty copies of the trained index, one block of rows at a time."""
    import faiss

    (tmp / "blocks").mkdir()
    blocks, block, rows_in_block = [], None, 0
    bar = tqdm(total=shards.n, desc="index add", unit="vec", disable=not progress)
    for s in range(len(shards)):
        x = shards.vectors(s)
        if block is None:
            block, rows_in_block = faiss.clone_index(index), 0
        for lo in range(0, len(x), 65_536):
            part = np.ascontiguousarray(x[lo:lo + 65_536])
            block.add_with_ids(part, shards.offsets[s] + lo + np.arange(len(part), dtype=np.int64))
            bar.update(len(part))
        rows_in_block += len(x)
        del x
        if rows_in_block >= BLOCK_ROWS or s == len(shards) - 1:
            blocks.append(tmp / "blocks" / f"block-{len(blocks):05d}.index")
            faiss.write_index(block, str(blocks[-1]))
            block = None
    bar.close()
    return blocks


def _link_vectors(shards, dest: Path) -> None:
    """Hard links to the shard vectors (no copy on one file system), else copies."""
    dest.mkdir()
    for nm in shards.names:
        src, dst = shards.folder / f"{nm}.npy", dest / f"{nm}.npy"
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)


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


def _tune(index, vectors: ShardVectors, shards, factory: str, rerank: int, rng):
    """recall@10 (each sampled row leaving itself out, as in index_choice.tune), nprobe, typical NN cosine."""
    from textgan.vectors import drop_self

    k = min(10, shards.n - 1)
    if k < 1:
        return 1.0, {}, 1.0
    qid, q = shards.sample(RECALL_QUERIES, rng)
    truth_s, truth = exact_topk(shards, q, k, exclude=qid)
    res = raise_knob(index, factory, lambda: drop_self(*rerank_search(index, vectors, q, k + 1, rerank), qid)[1],
                     truth)
    return res[0], res[1], float(np.median(truth_s[:, 0]))


def load_ondisk(path: Path, meta: dict):
    """The OnDiskIndex of a folder whose meta.json says storage "disk" (digests already verified)."""
    import faiss

    f = path / "index.faiss"
    try:
        with quiet_native_output():
            index = faiss.read_index(str(f), faiss.IO_FLAG_ONDISK_SAME_DIR)
    except RuntimeError as exc:
        raise InputError(f"corrupt FAISS index ({str(exc).strip().splitlines()[-1][:120]})", f) from None
    if index.d != meta.get("dim") or index.ntotal != meta.get("n"):
        raise InputError(f"index holds {index.ntotal} x {index.d}, meta.json says {meta.get('n')} x {meta.get('dim')}", f)
    set_params(index, meta.get("params") or {})
    sh = meta["shards"]
    vectors = ShardVectors([path / "vectors" / f"{nm}.npy" for nm in sh["names"]], sh["rows"], index.d)
    offsets = np.load(path / "texts.offsets.npy", mmap_mode="r", allow_pickle=False)
    if len(offsets) != index.ntotal + 1:
        raise InputError(f"texts offsets hold {len(offsets) - 1} rows, the index has {index.ntotal}",
                         path / "texts.offsets.npy")
    texts = RowFile(path / "texts.jsonl", offsets, "text")
    groups = RowFile(path / "texts.jsonl", offsets, "group") if meta.get("has_groups") else None
    return _vector_index_class()(index, texts, groups, meta, vectors)
