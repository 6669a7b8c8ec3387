"""FAISS retrieval over L2-normalised sentence vectors (cosine = inner product).

An index folder holds everything needed to answer "which real sentences are nearest
to this vector?" and to refuse answering with the wrong encoder:

    index.faiss    the FAISS index (faiss.write_index; read back inside try/except)
    texts.jsonl    one {"text": ..., "group": ...} object per row, row i <-> FAISS id i
    vectors.npy    the normalised corpus vectors (N, D) float32, when under 200 MB
    meta.json      encoder fingerprint, dim, metric, factory, measured recall@10, params,
                   the sha256 of every other file and the library versions (textgan.index.folder)

The index type is picked by `choose_factory` (textgan.index.choice) from the corpus size
and a memory budget, and can be overridden with any FAISS `index_factory` string. After
building, recall@10 against exact search is measured on a random sample of corpus rows
(each leaving itself out, so it estimates recall for new queries) and the search-time
knob (IVF `nprobe`, HNSW `efSearch`) is raised until it reaches `TARGET_RECALL`.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from textgan.common.artifacts import load_npy
from textgan.common.args import path as as_path
from textgan.common.errors import InputError
from textgan.common.texts import as_labels, as_sentences, is_blank, text_key
from textgan.common.vectors import as_matrix, check_finite_rows, normalize_rows
from textgan.index.choice import (  # noqa: F401  (re-exported: the retrieval API)
    RECALL_QUERIES, TARGET_RECALL, check_budget, choose_factory, estimate_bytes, make_empty_index, recall_at_k,
    set_params, tune)
from textgan.index.faiss_text import faiss_problem
from textgan.index.folder import (check_faiss, check_rows, check_rows_found, new_meta, read_faiss, read_meta,
                                  sampled_recall, set_params_from, verify_files)
from textgan.index.options import IndexOptions
from textgan.index.store import (  # noqa: F401  (re-exported: the retrieval API)
    ADD_BATCH, FORMAT, METRIC, SEARCH_BATCH, VECTORS_MAX_BYTES, VectorIndex, check_index_out)


def build_index(vectors, texts: list[str], groups: list[str] | None = None, encoder: dict | None = None,
                options: IndexOptions | None = None, **overrides) -> VectorIndex:
    """Build a cosine-similarity index over `texts` and their encoded `vectors`, in RAM.

    Args:
        vectors: (N, D) float array (or tensor); rows are L2-normalised here.
        texts: N sentences; a repeated text keeps its first row and is counted in
            `index.stats["duplicates_dropped"]`.
        groups: optional N group labels (paraphrase group / intent), kept per row.
        encoder: metadata of the encoder that made the vectors, e.g.
            {"fingerprint": str, "dim": int, "path": str}; load_index checks the fingerprint.
        options: `IndexOptions` (factory, memory_budget_mb, target_recall, seed, progress; storage
            and members are the shard builders'); keyword overrides of its fields are accepted too,
            e.g. build_index(x, texts, factory="IVF64,Flat").
    """
    import faiss
    from tqdm.auto import tqdm

    options = IndexOptions.of(options, **overrides)
    if encoder is not None and not isinstance(encoder, dict):
        raise InputError(f"encoder must be a dict such as encoder_meta(...) (or None), got {type(encoder).__name__}")
    texts = as_sentences(texts)
    if len(texts) == 0:
        raise InputError("empty corpus: no texts to index")
    if (blank := next((i for i, t in enumerate(texts) if is_blank(t)), None)) is not None:
        raise InputError(f"text {blank + 1} is blank", "texts")
    x = normalize_rows(as_matrix(vectors, "vectors"), "vectors")
    if len(x) != len(texts):
        raise InputError(f"{len(x)} vectors but {len(texts)} texts")
    if groups is not None:  # a generator or Series is read once; int ids become their decimal text
        groups = as_labels(groups, len(texts), "groups")
    if encoder and encoder.get("dim") not in (None, x.shape[1]):
        raise InputError(f"vectors have dimension {x.shape[1]}, encoder says {encoder['dim']}")

    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"text at row {i} is {type(t).__name__}, not a string")
        first.setdefault(text_key(t), i)  # a copy with a zero-width space found its twin at 1.0
    keep = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    n_in = len(texts)
    if groups is not None and len(keep) < n_in:
        _warn_lost_groups(texts, groups, first)
    if len(keep) < n_in:
        x = x[keep]
        texts = [texts[i] for i in keep]
        groups = None if groups is None else [str(groups[i]) for i in keep]
    elif groups is not None:
        groups = [str(g) for g in groups]
    n, d = x.shape

    auto = options.factory is None
    factory = options.factory or choose_factory(n, d, options.memory_budget_mb)
    if not auto:
        check_budget(factory, n, d, options.memory_budget_mb)
    elif options.target_recall is not None and factory == "Flat":  # known only now: it depends on n
        warnings.warn(f"--target-recall {options.target_recall:g} changes nothing: for {n} vectors the automatic "
                      "choice is exact search (Flat, recall 1)", stacklevel=2)
    index = make_empty_index(factory, n, d)
    rng = np.random.default_rng(options.seed)
    if not index.is_trained:
        # random rows, never the first ones: a corpus sorted by group would give biased centroids
        ivf = faiss.try_extract_index_ivf(index)
        n_train = min(n, 39 * max(ivf.nlist if ivf is not None else 256, 256))
        from textgan.index.ondisk_read import quiet_native_output

        try:
            with quiet_native_output():  # "please provide at least ... training points": recall is measured
                index.train(x[np.sort(rng.choice(n, n_train, replace=False))])
        except RuntimeError as exc:  # a factory make_empty_index cannot foresee
            raise InputError(f"FAISS could not train {factory!r} on {n} vectors: "
                             f"{faiss_problem(exc, 160, -1)}") from None
    with tqdm(total=n, desc="index add", unit="vec", disable=not options.progress) as bar:
        for s in range(0, n, ADD_BATCH):
            index.add(x[s:s + ADD_BATCH])
            bar.update(min(ADD_BATCH, n - s))

    recall, params, fallback = tune(index, factory, x, rng, allow_fallback=auto, target=options.recall_target)
    if fallback is not None:
        index, factory, recall, params = fallback, "Flat", 1.0, {}
    if recall < options.recall_target:  # an explicit --factory too coarse for the corpus: say it
        warnings.warn(f"recall@10 {recall:.3f} with factory {factory!r} is below the target "
                      f"{options.recall_target:g} at every search setting tried: searches will miss neighbours "
                      f"(a finer factory, or none for the automatic choice)", stacklevel=2)
    meta = new_meta(encoder, d, factory, n, recall, params, n_input=n_in, **sampled_recall(n, options.seed))
    if fallback is not None:
        meta["stats"]["fell_back_to_flat"] = "tuned approximate index was slower than exact search"
    return VectorIndex(index, texts, groups, meta, x)


def load_index(path: str | Path, expect_fingerprint: str | None = None) -> VectorIndex:
    """Load an index folder of any storage (RAM, disk, shards); refuse it if it was built with a
    different encoder.

    Args:
        path: folder written by `VectorIndex.save` (or the on-disk and shard builders).
        expect_fingerprint: fingerprint of the encoder about to produce queries; a
            mismatch (or an index with no fingerprint) raises InputError.
    """
    from textgan.common.publish import read_published

    path = as_path(path, "the index")
    # a rebuild swapped in while this reads is seen (meta.json changed) and the load repeated
    return read_published(path, "meta.json", lambda: _load(path, expect_fingerprint))


def _load(path: Path, expect_fingerprint: str | None) -> VectorIndex:
    meta = read_meta(path, expect_fingerprint)
    if meta.get("storage") == "shards":  # no index.faiss: members are index folders, each checked as it loads
        from textgan.index.sharded import load_sharded

        return load_sharded(path, meta, lambda p: _load(p, None))  # members: read under the same check
    f = verify_files(path, meta)
    if meta.get("storage") == "disk":
        from textgan.index.ondisk_read import load_ondisk

        return load_ondisk(path, meta)
    index = read_faiss(f)
    check_faiss(index, meta, f)
    texts, groups = _read_texts(path / "texts.jsonl", index.ntotal)
    vectors = None
    vf = path / "vectors.npy"
    if vf.is_file():
        vectors = load_npy(vf, "vectors file")
        if vectors.shape != (index.ntotal, index.d):
            raise InputError(f"vectors file holds {vectors.shape}, expected {(index.ntotal, index.d)}", vf)
        check_finite_rows(vectors, "index vectors", vf)  # here the message names the file; scorers could not
    set_params_from(index, meta, path / "meta.json")
    check_rows_found(index, vectors, f)
    return VectorIndex(index, texts, groups, meta, vectors)


def _read_texts(f: Path, n: int) -> tuple[list[str], list[str] | None]:
    if not f.is_file():
        raise InputError("missing texts file", f)
    texts, groups = [], []
    with open(f, "rb") as fh:  # bytes: a line that is not UTF-8 is named, not a UnicodeDecodeError
        for line_no, line in enumerate(fh, 1):
            try:
                row = json.loads(line.decode("utf-8"))
                if not isinstance(row, dict) or not isinstance(row["text"], str):
                    raise TypeError
                texts.append(row["text"])
            except (UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError):
                raise InputError(f"corrupt texts file at line {line_no} (not a UTF-8 JSON object with a "
                                 "'text' string)", f) from None
            groups.append(row.get("group"))
    check_rows(len(texts), n, f, "texts file")
    return texts, (None if all(g is None for g in groups) else groups)


def _warn_lost_groups(texts, groups, first: dict[str, int]) -> None:
    """A repeated sentence keeps its first row's group: say so when a later row named another one."""
    other = [i for i, t in enumerate(texts) if str(groups[i]) != str(groups[first[text_key(t)]])]
    if other:
        i = other[0]
        warnings.warn(f"{len(other)} repeated sentence(s) carry another group than their first row and keep the "
                      f"first (e.g. {texts[i]!r:.60} in {str(groups[first[text_key(texts[i])]])!r}, not "
                      f"{str(groups[i])!r})", stacklevel=3)
