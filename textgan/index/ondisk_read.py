"""Reading an on-disk index folder (textgan.index.ondisk builds it): exact vectors and texts read on
demand, candidates re-ranked with the exact vectors, exact search streamed over shards.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from textgan.common.artifacts import load_npy
from textgan.common.errors import InputError
from textgan.index.folder import check_faiss, check_rows, read_faiss, set_params_from
from textgan.index.store import VectorIndex

RERANK_ROWS = 65_536  # candidate rows read and scored at once (64 MB of exact vectors at 256-d)


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


def peak_rss_mb() -> float:
    """This process's peak resident set in MiB (VmHWM). Not ru_maxrss: Linux carries that across
    exec, so a child process would start at the RSS its parent had when it forked."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- exact search streamed over shards -------------------------------------------------------

def exact_topk(shards, q: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k (scores, global ids), each (Q, k), of unit queries over every shard.

    exclude: (Q,) global row of each query left out of its own list (queries that are corpus rows).
    """
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.full((len(q), k), -1, np.int64)
    for s in range(len(shards)):
        x = shards.vectors(s)
        for lo in range(0, len(x), 16_384):  # (Q, 16k) blocks: a few tens of MB per array
            sims = q @ np.asarray(x[lo:lo + 16_384]).T  # (Q, b)
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
    """Rows of a JSONL file read on demand through a byte-offset table (N+1,): texts never all in RAM.

    The file stays open from the load on (`fh`, shared by the texts and groups of one index): a
    rebuild swapped in later must not hand this index the new build's rows at the old offsets."""

    def __init__(self, path: Path, offsets: np.ndarray, key: str, fh=None):
        self.path, self.offsets, self.key = path, offsets, key
        self.fh = fh if fh is not None else open(path, "rb")  # noqa: SIM115  (held as long as the index)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int):
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(i)
        size = int(self.offsets[i + 1] - self.offsets[i])
        if size <= 0 or self.offsets[i] < 0:  # edited, digests recomputed: pread said only "Invalid argument"
            raise InputError(f"byte offsets of row {i} do not rise ({int(self.offsets[i])} -> "
                             f"{int(self.offsets[i + 1])}): the table was edited",
                             self.path.with_suffix(".offsets.npy"))
        data = os.pread(self.fh.fileno(), size, int(self.offsets[i]))
        try:
            row = json.loads(data.decode("utf-8"))
            return row.get(self.key)
        except (UnicodeDecodeError, ValueError, AttributeError, RecursionError):
            raise InputError(f"corrupt texts file at row {i} (not a UTF-8 JSON object)", self.path) from None


class ShardVectors:
    """Exact vectors of a folder of .npy shards; rows gathered by global id with one pread each.

    Not memory-mapped: pages of a mapping count towards the process's RSS while it lives, so a
    server would grow towards the size of every shard it ever touched, and a first-touch page
    fault costs more than a pread of a cached page. The OS page cache keeps hot rows in memory
    either way (reclaimable, not the process's).
    """

    def __init__(self, files: list[Path], rows: list[int], dim: int):
        self.files, self.dim, self.header = list(files), int(dim), []
        # the folder, opened once: shards are opened through it (os.open dir_fd), never by their full
        # path again, so a rebuild swapped in after the load is never read as this index's vectors
        self._dir = _Dir(self.files[0].parent) if self.files else None
        for f, r in zip(self.files, rows):
            m = load_npy(f, "vector shard", mmap=True)
            if m.shape != (r, dim) or m.dtype != np.float32 or not m.flags.c_contiguous:
                raise InputError(f"vector shard holds {m.dtype} {m.shape}, expected float32 {(r, dim)}", f)
            self.header.append(int(m.offset))
            del m
        self.offsets = np.cumsum([0] + list(rows))

    def gather(self, ids: np.ndarray) -> np.ndarray:
        """(..., D) vectors of global ids (...); ids < 0 give zero rows."""
        flat = ids.reshape(-1)
        out = np.zeros((len(flat), self.dim), np.float32)
        valid = np.nonzero(flat >= 0)[0]
        valid = valid[np.argsort(flat[valid], kind="stable")]  # file order: sequential reads on a cold disk
        shard = np.searchsorted(self.offsets, flat[valid], side="right") - 1
        cuts = np.searchsorted(shard, np.arange(len(self.files) + 1))
        row = self.dim * 4
        for s in np.nonzero(np.diff(cuts))[0]:
            sel = valid[cuts[s]:cuts[s + 1]]
            offs = (self.header[s] + (flat[sel] - self.offsets[s]) * row).tolist()
            fd = self._dir.open(self.files[s])  # per call: a corpus of 1,000 shards would pass ulimit -n
            try:
                data = b"".join([os.pread(fd, row, o) for o in offs])
            finally:
                os.close(fd)
            if len(data) != len(offs) * row:
                raise InputError("vector shard is shorter than its header says (truncated?)", self.files[s])
            out[sel] = np.frombuffer(data, np.float32).reshape(-1, self.dim)
        return out.reshape(*ids.shape, self.dim)


class _Dir:
    """An open folder whose files are opened relative to it (where the OS supports dir_fd)."""

    def __init__(self, folder: Path):
        pinned = os.open in os.supports_dir_fd
        self.fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if pinned else None

    def open(self, f: Path) -> int:
        if self.fd is None:
            return os.open(f, os.O_RDONLY)
        try:
            return os.open(f.name, os.O_RDONLY, dir_fd=self.fd)
        except FileNotFoundError:
            raise InputError("the index was rebuilt or removed since it was loaded; load it again", f) from None

    def __del__(self):
        if getattr(self, "fd", None) is not None:
            os.close(self.fd)


def rerank_search(index, vectors: ShardVectors | None, q: np.ndarray, k: int, rerank: int):
    """PQ search for rerank * k candidates, then exact inner products on them: (scores, ids) (Q, k).

    One FAISS call for every query (per-call costs are a third of the scan at 256 queries a call),
    then the candidates are read and scored RERANK_ROWS at a time (bounded memory at any batch).
    """
    if vectors is None or rerank <= 1:
        return index.search(q, k)
    kk = min(k * rerank, index.ntotal)
    _, cands = index.search(q, kk)  # (Q, kk) ids only: 8 bytes each
    scores, ids = np.empty((len(q), k), np.float32), np.empty((len(q), k), np.int64)
    step = max(1, RERANK_ROWS // kk)
    for lo in range(0, len(q), step):
        qq, cand = q[lo:lo + step], cands[lo:lo + step]
        exact = np.matmul(vectors.gather(cand), qq[:, :, None])[..., 0]  # (b, kk)
        exact[cand < 0] = -np.inf
        top = np.argpartition(-exact, k - 1, axis=1)[:, :k] if kk > k else np.arange(kk)[None].repeat(len(qq), 0)
        s, i = np.take_along_axis(exact, top, 1), np.take_along_axis(cand, top, 1)
        order = np.argsort(-s, axis=1, kind="stable")
        s, i = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
        i[~np.isfinite(s)] = -1
        scores[lo:lo + step], ids[lo:lo + step] = s, i
    return scores, ids


class OnDiskIndex(VectorIndex):
    """A VectorIndex whose codes, exact vectors and texts stay on disk (read as queries need them)."""

    def __init__(self, index, texts, groups, meta, vectors: ShardVectors | None):
        super().__init__(index, texts, groups, meta, None)
        self.shard_vectors = vectors

    def _search(self, q: np.ndarray, k: int):
        return rerank_search(self.index, self.shard_vectors, q, k, int(self.meta.get("rerank", 0)))

    def vector(self, i: int) -> np.ndarray:
        return self.shard_vectors.gather(np.array([int(i)]))[0]

    def reconstruct_all(self) -> np.ndarray:
        raise InputError(f"this on-disk index holds {self.ntotal} vectors: they are read shard by shard, "
                         "never all at once")


def load_ondisk(path: Path, meta: dict) -> OnDiskIndex:
    """The OnDiskIndex of a folder whose meta.json says storage "disk" (digests already verified)."""
    import faiss

    f = path / "index.faiss"
    with quiet_native_output():
        # read-only mmap of lists.ivfdata: search never writes it, and FAISS's default "r+" failed on a
        # read-only file system as if the index were corrupt
        index = read_faiss(f, faiss.IO_FLAG_ONDISK_SAME_DIR | faiss.IO_FLAG_READ_ONLY)
    check_faiss(index, meta, f)
    set_params_from(index, meta, path / "meta.json")
    sh = meta["shards"]  # its names and rows were type-checked by folder.read_meta
    for name in ("texts.jsonl", "texts.offsets.npy"):
        if not (path / name).is_file():
            raise InputError("missing file of an on-disk index (is meta.json's storage 'disk' right?)", path / name)
    vectors = ShardVectors([path / "vectors" / f"{nm}.npy" for nm in sh["names"]], sh["rows"], index.d)
    offsets = load_npy(path / "texts.offsets.npy", "texts offset table", mmap=True)
    if offsets.ndim != 1 or offsets.dtype.kind not in "iu":
        raise InputError(f"texts offset table holds {offsets.dtype} {offsets.shape}, expected int64 (n+1,)",
                         path / "texts.offsets.npy")
    check_rows(len(offsets) - 1, index.ntotal, path / "texts.offsets.npy", "texts offset table")
    texts = RowFile(path / "texts.jsonl", offsets, "text")
    groups = RowFile(path / "texts.jsonl", offsets, "group", texts.fh) if meta.get("has_groups") else None
    return OnDiskIndex(index, texts, groups, meta, vectors)
