"""The textgan workflow: sentences -> encoder -> vectors -> GAN -> new vectors -> FAISS -> sentences.

This is the layer the CLI and user pipelines call. It joins three cores that know nothing
of each other: `similarity` (text -> unit vectors), `textgan.gan` (vectors -> generator)
and `textgan.index.build` (vectors -> nearest real sentences). Text is discrete, embeddings
are not: the generator works where gradients exist and retrieval makes its output readable.
"""
from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from textgan.common.args import number, whole
from textgan.common.args import path as as_path
from textgan.common.artifacts import (check_output_file, check_outside_artefacts, output_lock,
                                      run_lock, save_npy)
from textgan.common.errors import InputError
from textgan.common.memory import check_fits
from textgan.common.paths import check_inputs_outside, output_files
from textgan.common.texts import as_sentences, is_blank
from textgan.metrics import typical_nn_cosine
from textgan.workflow.neighbours import neighbours  # noqa: F401 (API: search, decode)
from textgan.common.vectors import (as_matrix, check_k, check_same_encoder, encoder_meta, normalize_rows,  # noqa: F401 (API)
                                    slerp)


def folder_of(thing):
    """The folder a caller named, or None for an already loaded encoder/model/index (for records, errors)."""
    from similarity.model import named_folder  # "minilm" is recorded as its folder

    return None if not isinstance(thing, (str, Path)) else thing if str(thing) != "minilm" else named_folder(thing)


def load_encoder(model):
    """A `similarity.SentenceEncoder` from a model folder (or pass one through)."""
    import similarity

    return similarity.load(model)


def check_encoder(recorded: dict | None, enc, what: str, where=None) -> None:
    """Refuse an index or model whose recorded `encoder_meta` is not `enc`'s (fingerprint, size)."""
    check_same_encoder(recorded, enc.fingerprint, what, where, dim=int(enc.dim))


def encode(model, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """Encode sentences to L2-normalised float32 vectors, shape (N, D).

    Args:
        model: a saved similarity model folder or a loaded `SentenceEncoder`.
        texts: the sentences.
        batch_size: sentences per forward pass.
        progress: show a progress bar.
    """
    texts = as_sentences(texts, "texts")  # list("hello") was one vector per character
    enc = load_encoder(model)
    if not texts:
        raise InputError("nothing to encode: no sentences given")
    return enc.encode(texts, batch_size=batch_size, progress=progress)


def read_corpus(path, text_col: str | None = None, group_col: str | None = None, blank_groups: bool = False,
                two_groups_warning: bool = True):
    """(texts, groups-or-None) from a .txt (one sentence a line) or a data file. Unlike training
    data, a corpus keeps groups of one sentence: every sentence is retrievable. A blank group
    cell is refused, unless `blank_groups` (augment: unlabelled rows, skipped and counted) reads it as "".
    A sentence under two groups is warned about (the index build says it its own way)."""
    import similarity
    from similarity.data import cell_text, read_table
    from similarity.file_quirks import check_json_labels
    from textgan.common.args import flag
    from textgan.common.texts import warn_numeric_texts, warn_stripped_labels, warn_two_groups

    blank_groups = flag(blank_groups, "blank_groups")

    if not group_col:
        return similarity.load_texts(path, text_col=text_col), None
    text_col = text_col or "text"
    table = read_table(path, [text_col, group_col])
    check_json_labels(path, group_col)
    texts, groups = [], []
    for i, (t, g) in enumerate(zip(table[text_col], table[group_col])):  # a blank group cell is refused, as in training
        texts.append(cell_text(t, text_col, i + 1, path))
        blank = blank_groups and (g is None or is_blank(str(g)))
        groups.append("" if blank else cell_text(g, group_col, i + 1, path))
    if not texts:
        raise InputError("empty corpus: no sentences", path)
    warn_stripped_labels(table[group_col], groups, group_col, path)
    if two_groups_warning:
        warn_two_groups(texts, groups, path)
    return warn_numeric_texts(texts, text_col, path), groups  # as the texts-only read (load_texts) says it


# --- retrieval ---------------------------------------------------------------------------

def index_corpus(model, corpus, out, text_col: str | None = None, group_col: str | None = None,
                 options=None, batch_size: int = 256, encoder_path=None, vectors_dir=None, **overrides):
    """Encode a corpus with a saved similarity model and write a FAISS index folder.

    Args:
        model: similarity model folder.
        corpus: .txt (one sentence a line) or a CSV/TSV/JSON/JSONL/Parquet file, or a shard
            folder written by `textgan.workflow.encode.encode_shards` (read shard by shard).
        out: index folder to write (atomically).
        text_col, group_col: columns of a data file; group labels are kept beside the texts.
        options: `textgan.index.options.IndexOptions` (factory, memory budget, target recall,
            storage, members, progress, ...; default: the defaults with progress bars on); keyword
            overrides of its fields are accepted too, e.g. index_corpus(..., storage="disk", progress=False).
        encoder_path: the encoder path the index records (default: `model`), for a model
            folder that is about to move (the demo builds its run in a temporary folder).
        vectors_dir: with storage "disk" or "shards" a corpus file is streamed into this shard
            folder (default OUT.vectors) first, resumably, then indexed from it.
    Returns:
        The built `VectorIndex` (already saved to `out`).
    """
    from textgan.index.folder import check_index_out
    from textgan.index.options import IndexOptions

    # checked once, before any encoding; progress bars on by default (encoding a corpus takes a while)
    options = IndexOptions.of(options or IndexOptions(progress=True), **overrides)
    out = as_path(out, "out")
    if not isinstance(corpus, (str, Path)):  # sentences in memory are build_index's
        as_path(corpus, "corpus (a file or a shard folder; for sentences in memory use textgan.build_index)")
    check_index_out(out)
    if encoder_path is not None and (Path(as_path(encoder_path, "encoder_path")).exists()
                                     and not Path(encoder_path).is_dir()):  # searches would load a file as a model
        raise InputError("the encoder path an index records must be a model folder, not a file", encoder_path)
    # the old index is replaced whole: a corpus, model or shard folder inside it would go with it
    check_inputs_outside(out, [model, corpus, vectors_dir])
    if vectors_dir is not None:  # shards written into a model or index folder broke its digests
        check_outside_artefacts(vectors_dir, "--vectors", itself=True)
    # one writer per index folder, however its path is spelled (two runs both "succeeded": last wins)
    with run_lock(Path(out).resolve()):
        return _index_corpus(model, corpus, out, text_col, group_col, options, batch_size, encoder_path, vectors_dir)


def _index_corpus(model, corpus, out, text_col, group_col, options, batch_size, encoder_path, vectors_dir):
    from textgan.index.build import build_index
    from textgan.index.members import build_from_shards
    from textgan.index.shards import open_shards
    from textgan.workflow.heldout import gate_fitter

    from textgan.common.saved_dataset import saved_folder

    is_file = not Path(corpus).is_dir() or saved_folder(str(corpus)) is not None  # save_to_disk: a data source
    stream = is_file and options.storage in ("disk", "shards")
    if is_file and not stream and vectors_dir is not None:
        raise InputError("--vectors is for a corpus file with --storage disk or shards")
    if not is_file and (vectors_dir is not None or group_col or text_col):  # a shard folder holds its rows
        raise InputError("the corpus is a shard folder, which holds its own vectors, texts and groups (encode "
                         "--group-col keeps them): drop it",
                         "--vectors" if vectors_dir is not None else "--group-col" if group_col else "--text-col")
    enc = load_encoder(model)
    path = encoder_path or folder_of(model)
    texts = groups = None
    if is_file and not stream:
        texts, groups = read_corpus(corpus, text_col, group_col, two_groups_warning=False)
        if not texts:
            raise InputError("empty corpus: no sentences", corpus)
    options.check_factory(int(enc.dim), None if texts is None else len(set(texts)))
    if stream:
        from textgan.workflow.encode import encode_stream

        corpus = encode_stream(enc, corpus, out, vectors_dir, text_col, group_col, batch_size, options.progress)
    if texts is None:  # a shard folder, given or just written
        shards = open_shards(corpus, expect_fingerprint=enc.fingerprint)
        try:
            return build_from_shards(shards, out, encoder_meta(enc, path), options,
                                     before_publish=gate_fitter(enc, out, path, options, corpus))
        except InputError as exc:  # NaN in a shard, rows that do not match: the folder they came from
            raise exc if exc.path is not None else InputError(exc.problem, corpus) from None
    from similarity.evaluate import warn_unknown_tokens
    from textgan.common.texts import distinct_rows

    firsts, inverse = distinct_rows(texts)  # each sentence read and encoded once: build_index keeps its first row
    distinct = [texts[i] for i in firsts]
    warn_unknown_tokens(enc, distinct, str(corpus))
    vectors = enc.encode(distinct, batch_size=batch_size, progress=options.progress)[inverse]
    index = build_index(vectors, texts, groups=groups, encoder=encoder_meta(enc, path), options=options)
    fit = gate_fitter(enc, out, path, options, corpus)
    index.save(out, None if fit is None else functools.partial(fit, index))
    return index


def as_index(index):
    """A `VectorIndex` from an index folder (or pass a loaded one through)."""
    from textgan.index.build import VectorIndex, load_index

    return index if isinstance(index, VectorIndex) else load_index(index)


def open_index(index, model=None):
    """(VectorIndex, SentenceEncoder) with the encoder (default: the recorded one) checked against the index."""
    idx = as_index(index)
    if model is None:
        path = (idx.meta.get("encoder") or {}).get("path")
        if not path or not Path(path).exists():
            raise InputError(f"the index's encoder {path or 'path'} is {'missing' if path else 'not recorded'}: "
                             "pass --model MODEL (model= in Python)", index)
        model = path
    enc = load_encoder(model)
    check_encoder(idx.meta.get("encoder"), enc, "index", folder_of(index))
    from textgan.workflow.encoder_check import check_encodes_its_rows

    check_encodes_its_rows(idx, enc, folder_of(index))  # a meta.json edited to name another encoder
    return idx, enc


def search(index, queries: Sequence[str], k: int = 10, model=None, gate: bool = False) -> list:
    """Semantic search: for each query, its k nearest corpus sentences with cosine scores.

    Args:
        index: an index folder or a loaded `VectorIndex`.
        queries: the query sentences (blank ones are refused).
        k: neighbours per query.
        model: the encoder (defaults to the one recorded in the index).
        gate: also score each query with the default in-domain scorer (`textgan.ood.gate.index_gate`,
            threshold recorded in the index's meta.json by `textgan index`, else cached beside the
            index folder; not for an on-disk index: `in_domain` None).
    Returns:
        One list per query of {"text", "group", "score", "id"} dicts, best first; with `gate`,
        one {"hits": that list, "in_domain": bool, "in_domain_score", "threshold", "method"} per query.
    """
    check_k(k)
    if not isinstance(gate, (bool, np.bool_)):  # gate="no" is truthy: it gated
        raise InputError(f"gate must be True or False, got {gate!r}")
    queries = as_sentences(queries, "queries")
    if not queries:
        raise InputError("no queries given", "queries")
    for i, q in enumerate(queries):
        if is_blank(q):
            raise InputError(f"query {i + 1} is blank", "queries")
    idx, enc = open_index(index, model)
    from similarity.evaluate import warn_unknown_tokens

    warn_unknown_tokens(enc, queries, "queries")
    vectors = enc.encode(queries)
    hits = neighbours(idx, vectors, k)
    if not gate:
        return hits
    from textgan.ood.gate import index_gate, no_gate_reason
    from textgan.workflow.heldout import prototype_vectors

    if (why := no_gate_reason(idx)) is not None:  # on disk, in shards, or too few rows
        warnings.warn(f"{index}: no out-of-domain gate ({why}): every query is answered; `textgan score "
                      "--index ... --method knn` flags out-of-domain queries", stacklevel=2)
        return [{"hits": h, "in_domain": None, "in_domain_score": None, "threshold": None, "method": None}
                for h in hits]

    # the threshold keeps its promise on sentences the encoder never trained on: its held-out split
    # (`textgan index` records it in meta.json)
    g = index_gate(idx, folder_of(index), heldout=getattr(enc, "heldout", None), prototypes=prototype_vectors(enc))
    scores, flags = g(vectors)
    return [{"hits": h, "in_domain": bool(f), "in_domain_score": float(s), "threshold": g.threshold,
             "method": g.method} for h, s, f in zip(hits, scores, flags)]


# --- generation --------------------------------------------------------------------------

def generate(gan_dir, n: int, seed: int = 0, group: str | None = None) -> np.ndarray:
    """Sample n vectors from a saved model of any kind, shape (n, D), reproducible with `seed`.

    Args:
        gan_dir: a trained model folder or an already loaded model (`textgan.gan.load`).
        n: number of vectors (refused up front when they would not fit in memory).
        seed: sampling seed.
        group: for a conditional model, the group to sample (must be None otherwise).
    """
    from textgan.gan import load, sample

    model = load(gan_dir) if isinstance(gan_dir, (str, Path)) else gan_dir
    if not (hasattr(model, "kind") and hasattr(model, "dim")):
        as_path(gan_dir, "gan_dir (a trained model folder or a model from textgan.gan.load)")
    return sample(model, n, seed=seed, group=group).detach().cpu().numpy().astype(np.float32)


def decode(vectors: np.ndarray, index, k: int = 5, novelty_cosine: float | None = None) -> list[dict]:
    """Turn vectors into readable sentences: their k nearest corpus sentences.

    Args:
        vectors: (N, D) generated vectors in the index's encoder space.
        index: an index folder or loaded `VectorIndex`.
        k: neighbours per vector.
        novelty_cosine: a vector whose best cosine to the corpus is below this is `novel`;
            defaults to the corpus' own typical nearest-neighbour cosine.
    Returns:
        One {"id", "neighbours": [{"text", "group", "score", "id"}], "novel"} per vector.
    """
    idx = as_index(index)
    v = normalize_rows(as_matrix(vectors, "vectors"))
    if novelty_cosine is None:
        novelty_cosine = idx.meta.get("typical_nn_cosine")
        if novelty_cosine is None:
            novelty_cosine = typical_nn_cosine(idx.reconstruct_all())
    novelty_cosine = number(novelty_cosine, "novelty_cosine", -1.0, 1.0)
    rows = neighbours(idx, v, k)
    return [{"id": i, "neighbours": nb, "novel": bool(nb[0]["score"] < novelty_cosine)}
            for i, nb in enumerate(rows)]


def generate_embeddings(gan_dir, n: int, out, index=None, k: int | None = None, seed: int = 0,
                        group: str | None = None) -> dict:
    """Sample n vectors to `<out>.npy`; with an index, decode them to `<out>.jsonl`.

    Refuses an index whose encoder or dimension differs from the GAN's training vectors.
    `group` samples one group of a class-conditional GAN; `k` (default 5) needs an index.
    Both files are written atomically: an error leaves no partial output.
    Returns a summary dict (paths, n, novel share, mean top-1 cosine).
    """
    from textgan.gan import load
    from textgan.gan.saved import check_sample_count

    if k is not None and index is None:  # as the CLI: it would be ignored
        raise InputError("sets the neighbours of each decoded vector: give --index to decode", "--k")
    k = 5 if k is None else k
    npy, jsonl = output_files(as_path(out, "out"), (".npy", ".jsonl"))
    for f in (npy, jsonl):  # a file written into a model or index folder broke its digests (as the CLI checks)
        check_output_file(f, [gan_dir, index if isinstance(index, (str, Path)) else None], "out")
    with output_lock(npy):  # two runs into one OUT would mix their pair of files
        gen = load(gan_dir)
        check_sample_count(n, gen.dim)
        gen_meta = (getattr(gen, "meta", None) or {})
        idx = None
        if index is not None:
            idx, where = as_index(index), folder_of(index)
            if idx.dim != gen.dim:
                raise InputError(f"GAN generates {gen.dim}-d vectors but the index holds {idx.dim}-d vectors", where)
            # "this encoder": the one that made the GAN's training vectors
            check_same_encoder(idx.meta.get("encoder"), (gen_meta.get("encoder") or {}).get("fingerprint"), "index", where)
            if not (gen_meta.get("encoder") or {}).get("fingerprint"):  # trained on raw vectors: unchecked
                warnings.warn(f"{gan_dir}: the generator records no encoder (trained on raw vectors; train-gan --model "
                              "records it): nothing checks it matches the index's encoder", stacklevel=2)
        vectors = generate(gen, n, seed=seed, group=group)
        summary: dict = {"n": int(n), "dim": int(vectors.shape[1]), "seed": seed, "group": group, "vectors": str(npy)}
        records = None
        if idx is not None:
            records = decode(vectors, idx, k=k, novelty_cosine=_novelty_cosine(gen_meta, gan_dir))
        if records is None:
            save_npy(npy, vectors)
            if jsonl.is_file():  # an earlier run's decode would sit beside other vectors
                jsonl.unlink()
                warnings.warn(f"{jsonl}: removed the decode of an earlier run (these vectors were not decoded: "
                              "pass --index)", stacklevel=2)
        else:
            from textgan.common.file_set import atomic_files

            # both written, then both renamed with Ctrl-C held: a full disk or an interrupt left them mixed
            with atomic_files(jsonl, npy) as (tmp_jsonl, tmp_npy):
                with open(tmp_jsonl, "w", encoding="utf-8") as fh:
                    fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
                with open(tmp_npy, "wb") as fh:
                    np.save(fh, np.asarray(vectors), allow_pickle=False)
            summary["decoded"] = str(jsonl)
            summary["novel_share"] = float(np.mean([r["novel"] for r in records]))
            summary["mean_top1_cosine"] = float(np.mean([r["neighbours"][0]["score"] for r in records]))
        return summary


def _novelty_cosine(gen_meta: dict, gan_dir) -> float | None:
    """The generator's recorded typical neighbour cosine; generators trained on raw vectors by
    versions before 2026-12-05 recorded a dot product (8.13): ignored, with a warning line."""
    c = gen_meta.get("typical_nn_cosine")
    if c is None or (isinstance(c, (int, float)) and not isinstance(c, bool) and -1.0 <= c <= 1.0):
        return c
    warnings.warn(f"{gan_dir}: its recorded typical_nn_cosine {str(c)[:20]} is not a cosine (trained on raw, "
                  "non-unit vectors by an older version): novelty is judged by the index's neighbour spacing", stacklevel=3)
    return None


def interpolate(index, a: str, b: str, steps: int = 8, model=None) -> list[dict]:
    """Walk the sphere between the encodings of two sentences; retrieve the sentence at each step."""
    steps = whole(steps, "--steps", minimum=2)
    for name, text in (("A", a), ("B", b)):
        if not isinstance(text, str):
            raise InputError(f"sentence {name}: pass one sentence (a string), not {type(text).__name__} {text!r:.40}")
        if is_blank(text):
            raise InputError("blank sentence", f"sentence {name}")
    idx, enc = open_index(index, model)
    # the path (steps, D) and its float64 temporaries, plus a result row per step
    check_fits(int(steps) * (int(idx.dim) * 4 * 8 + 1024), f"--steps {steps}", "use fewer steps")
    from similarity.evaluate import warn_unknown_tokens

    for name, text in (("A", a), ("B", b)):  # each end: one ordinary end hid an all-unknown other
        warn_unknown_tokens(enc, [text], f"sentence {name}")
    va, vb = enc.encode([a, b])
    if float(np.dot(va, vb)) >= (1 - 1e-6) * float(np.linalg.norm(va) * np.linalg.norm(vb)):  # one point
        warnings.warn("sentences A and B encode to the same vector: every step is one point (the same hit)",
                      stacklevel=2)
    path = slerp(va, vb, steps).astype(np.float32)
    rows = neighbours(idx, path, 1)
    return [{"step": i, "t": float(i / (steps - 1)), **row[0]} for i, row in enumerate(rows)]
