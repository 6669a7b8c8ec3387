"""The index folder format, written and read in one place (every kind of index uses it).

    meta.json      format "textgan-index", version, storage ("disk", "shards"; none: in RAM),
                   encoder fingerprint, dim, metric, factory, n, recall_at_10, params, stats,
                   index_bytes, the sha256 of the folder's files and the library versions
    index.faiss    the FAISS index (none for storage "shards": its members are index folders)
    ...            what the storage adds (texts.jsonl, vectors.npy, lists.ivfdata, vectors/, part-*/)

meta.json is written last, inside the atomic folder write: a folder with a meta.json is whole.
A rebuild is swapped in as one step (textgan.common.publish) and `build_id` (unique per build)
lets a reader that loaded while it happened see that and load again: old index or new, never a mix.
Keys are only ever added. A folder without `digests` is refused: deleting the key must not switch
checking off, and every folder written since the key was added (before the first release of the
folder format was used elsewhere) has it; index_bytes is still optional.

meta.json is read as untrusted input: every key a reader uses is type-checked here, and every path
read from it (digests, members, shard names) must stay inside the folder.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from textgan.common.artifacts import (check_outside_artefacts, check_replaced_folder, check_writable, folder_digests,
                                      is_nonempty_dir, library_versions, listed_files, load_json, save_json,
                                      verify_digests)
from textgan.common.errors import InputError
from textgan.common.vectors import check_artefact_meta
from textgan.index.faiss_text import faiss_problem

FORMAT = "textgan-index"
VERSION = 1
METRIC = "inner_product"
INDEX_FILE = "index.faiss"
CODE_FILES = (INDEX_FILE, "lists.ivfdata")  # the files that hold codes (bytes per vector)


# --- writing ---------------------------------------------------------------------------------

def check_index_out(path: str | Path) -> Path:
    """An index folder may replace an older index, never a file or a folder of other things
    (saving renames the new folder over the old one, deleting what was there)."""
    path = check_replaced_folder(path, "output path is a file, expected an index folder")
    check_outside_artefacts(path)
    if is_nonempty_dir(path):
        try:
            is_index = json.loads((path / "meta.json").read_text(encoding="utf-8")).get("format") == FORMAT
        except (OSError, ValueError, AttributeError, RecursionError):
            is_index = False
        if not is_index:
            raise InputError("output folder exists and is not a textgan index (saving would replace it); "
                             "choose a new --out", path)
    return check_writable(path)


def new_meta(encoder: dict | None, dim: int, factory: str, n: int, recall: float, params: dict, *,
             storage: str | None = None, n_input: int | None = None, **extra) -> dict:
    """The keys every index's meta.json holds, plus the storage's own (`extra`).

    n_input: rows given before duplicates were dropped (default n).
    """
    meta = {"format": FORMAT, "version": VERSION}
    if storage is not None:  # in-RAM folders have never recorded one
        meta["storage"] = storage
    n_input = n if n_input is None else int(n_input)
    meta.update(fingerprint=(encoder or {}).get("fingerprint"), encoder=dict(encoder or {}), dim=int(dim),
                metric=METRIC, factory=factory, n=int(n), recall_at_10=recall, params=params,
                stats={"n_input": n_input, "duplicates_dropped": n_input - int(n)})
    meta.update(extra)
    return meta


def sampled_recall(n: int, seed: int) -> dict:
    """The meta keys saying how recall@10 was measured: on min(RECALL_QUERIES, n) corpus rows,
    each leaving itself out (choice.tune)."""
    from textgan.index.choice import RECALL_QUERIES

    return {"recall_queries": min(RECALL_QUERIES, n), "recall_leave_self_out": True, "seed": seed}


def code_bytes(folder: Path) -> int:
    """Bytes of the index's code files, members' included (the cost of the vectors in the index)."""
    return sum(f.stat().st_size for f in Path(folder).glob("**/*") if f.name in CODE_FILES)


def write_meta(meta: dict, tmp: Path, digests: dict | None = None) -> dict:
    """Write meta.json last into the folder being built: index.faiss's size, the sha256 of every
    other file (or `digests`, for a folder whose members check their own files) and the library
    versions. A bit flip in index.faiss keeps its size and often still parses: only the digest
    catches it before it is served as confident wrong answers."""
    meta = dict(meta)
    if (tmp / INDEX_FILE).is_file():
        meta["index_bytes"] = (tmp / INDEX_FILE).stat().st_size
    meta["digests"] = folder_digests(tmp, skip=("meta.json",)) if digests is None else digests
    meta["versions"] = library_versions()
    # unique to this build: a reader tells two builds apart even when their files are equal
    # (textgan.common.publish.read_published)
    meta["build_id"] = uuid.uuid4().hex
    save_json(meta, tmp / "meta.json")
    return meta


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link (no copy on one file system), else a copy: index folders never change in place
    (a rebuild writes a new folder), so sharing the bytes is safe."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


# --- reading ---------------------------------------------------------------------------------

def inside(folder: Path, rel, where: Path, what: str = "path") -> Path:
    """folder / rel for a relative path read from metadata; refused unless it lies strictly inside
    `folder` (symlinks resolved): `../..` or an absolute path would read files of other folders,
    and "." would make a member of the folder itself (endless recursion)."""
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or "\0" in rel:
        raise InputError(f"{what} {rel!r} is not a relative path", where)
    p = folder / rel
    base, real = folder.resolve(), p.resolve()
    if real == base or base not in real.parents:
        raise InputError(f"{what} {rel!r} lies outside the folder", where)
    return p


def _check_meta(path: Path, meta: dict) -> None:
    """The keys readers use have the types the writers give them (a tampered meta.json is one
    `error:` line, never a traceback)."""
    f = path / "meta.json"
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InputError(f"'version' must be an integer >= 1, got {version!r:.40}", f)
    if version > VERSION:
        raise InputError(f"index format version {version} is newer than this textgan reads ({VERSION}): "
                         "upgrade textgan or rebuild the index", f)
    if meta.get("metric") != METRIC:  # scores, thresholds and the novelty cosine all assume it
        raise InputError(f"metric {meta.get('metric')!r:.40} is not {METRIC!r}, the only one textgan builds", f)
    if not isinstance(meta.get("factory"), str) or not meta["factory"].strip():
        raise InputError(f"'factory' must be a FAISS factory string, got {meta.get('factory')!r:.40}", f)
    if meta.get("storage") not in (None, "disk", "shards"):
        raise InputError(f"unknown storage {meta.get('storage')!r} (valid: disk, shards, none for RAM)", f)
    for key in ("n", "dim"):
        if isinstance(meta.get(key), bool) or not isinstance(meta.get(key), int) or meta[key] < 0:
            raise InputError(f"{key!r} must be an integer >= 0, got {meta.get(key)!r}", f)
    check_artefact_meta(meta, f)  # the encoder it records, the novelty cosine
    recall = meta.get("recall_at_10")  # printed and compared by readers (members take the least)
    if recall is not None and (isinstance(recall, bool) or not isinstance(recall, (int, float))
                               or not 0 <= recall <= 1):
        raise InputError(f"'recall_at_10' must be a number in [0, 1], got {recall!r:.40}", f)
    params = meta.get("params")
    if params is not None and not (isinstance(params, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in params.items())):
        raise InputError(f"'params' must map names to numbers, got {params!r:.80}", f)
    for key, v in {**(params or {}), "rerank": meta.get("rerank", 0)}.items():  # nprobe, efSearch, ...
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= v <= PARAM_MAX \
                or (v == 0 and key != "rerank"):  # FAISS asserted on nprobe 0 / -1 and overflowed on 10**12
            low = int(key != "rerank")
            raise InputError(f"{key!r} must be a whole number in [{low}, {PARAM_MAX}], got {v!r:.40}", f)
    digests = meta.get("digests")
    if digests is None:
        raise InputError("meta.json records no digests (saved by an old version, or tampered): the files cannot "
                         "be checked; rebuild the index", f)
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        raise InputError("'digests' must map file names to sha256 strings", f)
    for rel in digests:
        inside(path, rel, f, "digest of")
    if meta.get("storage") == "shards":
        members = meta.get("members")
        if not isinstance(members, list) or not members:
            raise InputError("sharded index lists no members", f)
        for m in members:
            if not isinstance(m, dict):
                raise InputError(f"member {m!r:.60} is not an object with a 'path'", f)
            inside(path, m.get("path"), f, "member")
    if meta.get("storage") == "disk":
        sh = meta.get("shards")
        names, rows = (sh.get("names"), sh.get("rows")) if isinstance(sh, dict) else (None, None)
        if not (isinstance(names, list) and isinstance(rows, list) and len(names) == len(rows)
                and all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in rows)):
            raise InputError("'shards' must hold equal lists of shard names and row counts (storage 'disk')", f)
        for nm in names:
            inside(path / "vectors", f"{nm}.npy" if isinstance(nm, str) else nm, f, "shard")


PARAM_MAX = 1 << 20  # above any nprobe / efSearch / rerank depth a search could use


def read_meta(path: Path, expect_fingerprint: str | None = None) -> dict:
    """meta.json of an index folder; refused when it is not one, is malformed, or was built by
    another encoder."""
    if not path.is_dir():
        raise InputError("index folder not found", path)
    if not (path / "meta.json").is_file():
        from textgan.common.folders import wrong_kind

        if (problem := wrong_kind(path, "an index folder")):
            raise InputError(problem, path)
    meta = load_json(path / "meta.json")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError("not a textgan index (meta.json has no format 'textgan-index')", path / "meta.json")
    _check_meta(path, meta)
    if expect_fingerprint is not None and meta.get("fingerprint") != expect_fingerprint:
        raise InputError(
            f"index was built with encoder {meta.get('fingerprint')}, not {expect_fingerprint}: "
            "rebuild the index with this encoder or use the encoder that built it", path)
    return meta


def verify_files(path: Path, meta: dict) -> Path:
    """index.faiss exists with its recorded size, every file matches its digest; returns index.faiss."""
    f = path / INDEX_FILE
    if not f.is_file():
        raise InputError("missing index file", f)
    size = f.stat().st_size
    if meta.get("index_bytes") not in (None, size):
        raise InputError(f"index file is {size} bytes, expected {meta['index_bytes']} (truncated?)", f)
    # read_meta checked that there are digests, all inside the folder; every file is covered, so deleting
    # one file's entry does not switch its check off
    verify_digests(path, meta["digests"], path / "meta.json", cover=listed_files(path, skip=("meta.json",)))
    return f


def set_params_from(index, meta: dict, where: Path) -> None:
    """The search-time knobs meta.json records (types checked by read_meta); a name or value FAISS
    refuses is one line."""
    from textgan.index.choice import set_params

    try:
        set_params(index, meta.get("params") or {})
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"FAISS refused the recorded params {meta.get('params')} "
                         f"({faiss_problem(exc, 120, -1)})", where) from None


def read_faiss(f: Path, flags: int = 0):
    """faiss.read_index, a parse failure reported as a corrupt index (indexes saved before digests
    reach FAISS unchecked)."""
    import faiss

    try:
        return faiss.read_index(str(f), flags)
    except RuntimeError as exc:
        raise InputError(f"corrupt FAISS index ({faiss_problem(exc, 120, -1)})", f) from None


def check_shape(n: int, dim: int, want_n, want_dim, where: Path, what: str = "index") -> None:
    """What was read holds `n` x `dim`, as meta.json says."""
    if (int(n), int(dim)) != (want_n, want_dim):
        raise InputError(f"{what} holds {n} x {dim}, meta.json says {want_n} x {want_dim}", where)


def check_faiss(index, meta: dict, where: Path) -> None:
    """A FAISS index read from a folder has meta.json's shape and the inner-product metric (an
    L2 index swapped in would turn every similarity into a distance: higher = farther)."""
    import faiss

    check_shape(index.ntotal, index.d, meta.get("n"), meta.get("dim"), where)
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise InputError(f"FAISS index metric is {index.metric_type}, not inner product ({METRIC})", where)
    try:  # an empty index of the recorded factory costs nothing; its family is what was built
        want = _family(faiss.index_factory(index.d, meta["factory"], faiss.METRIC_INNER_PRODUCT))
    except (RuntimeError, KeyError, TypeError):
        want = None  # meta.json's own check names a bad factory string
    if want is not None and want != _family(index):  # meta.json said HNSW of an IVF index: knobs went wrong
        raise InputError(f"meta.json's factory {meta['factory']!r} builds {want} indexes, index.faiss is "
                         f"{_family(index)}", where)


def _family(index) -> str:
    """IVF, HNSW, Flat, PQ, ... of a FAISS index: its class name's first word (IndexFlat and the
    IndexFlatIP that FAISS reads back are both Flat; IndexIVFPQFastScan is IVFPQ)."""
    import re

    import faiss

    name = type(faiss.downcast_index(index)).__name__.removeprefix("Index")
    return (re.match(r"[A-Z]{2,}(?=[A-Z][a-z]|$)|[A-Z][a-z]+", name) or re.match(r".*", name)).group(0)


def check_rows_found(index, vectors, where: Path, samples: int = 64) -> None:
    """The FAISS index holds vectors.npy's rows in its order: sampled rows searched must find
    themselves among their nearest often enough (an index.faiss of the same corpus in another row
    order, its digests recomputed, returned every text and group of some other row). A swapped
    order finds a row about k / n of the time (2% at 528 rows); the lossiest codes measured (16
    bits a vector, IVF16,PQ4x4fs, on 6,000 noisy rows) still found 37%, so the bar is 1 in 8."""
    import numpy as np

    n = index.ntotal
    if vectors is None or n < 2:
        return
    rows = np.unique(np.linspace(0, n - 1, min(samples, n)).astype(np.int64))
    k = min(10, max(1, n // 10))
    _, ids = index.search(np.ascontiguousarray(vectors[rows], dtype=np.float32), k)
    found = int(sum(r in got for r, got in zip(rows, ids)))
    if found * 8 < len(rows):
        raise InputError(f"the FAISS index does not hold the rows of vectors.npy in their order ({found} of "
                         f"{len(rows)} sampled rows find themselves): index.faiss is another index's", where)


def check_rows(rows: int, n: int, where: Path, what: str) -> None:
    """A per-row file (texts, their offsets) has one row per vector of the index."""
    if rows != n:
        raise InputError(f"{what} has {rows} rows, the index has {n} (truncated?)", where)
