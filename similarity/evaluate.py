"""Nearest-neighbour evaluation of sentence vectors (cosine of unit vectors).

- `knn_top1`: each sentence takes the group of its nearest reference sentence.
- `loo_top{1,5,10}`: leave-one-out among the evaluated sentences; top-k is right when any
  of the k nearest *other* sentences shares the group.
- `spearman`: rank correlation (x1, not x100) of cosine with gold pair scores.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from similarity.seen import mostly_trained
from textgan.common.errors import InputError
from textgan.common.texts import as_labels, as_sentences, is_blank, text_key

_CHUNK = 1024  # query rows per similarity block: bounds memory at (_CHUNK, N) floats


def _dense(sim) -> np.ndarray:
    """Similarity block as a dense array (scipy sparse inputs, e.g. TF-IDF, welcome)."""
    return np.asarray(sim.toarray() if hasattr(sim, "toarray") else sim, dtype=np.float32)


def _codes(groups: list[str], vocab: dict[str, int]) -> np.ndarray:
    return np.array([vocab.setdefault(g, len(vocab)) for g in groups], dtype=np.int64)


def knn_top1(emb: np.ndarray, groups: list[str], ref: np.ndarray, ref_groups: list[str],
             return_scores: bool = False):
    """Share of rows whose nearest reference row has the same group (and the max cosines)."""
    hits, best = knn_hits(emb, groups, ref, ref_groups)
    return (float(hits.mean()), best) if return_scores else float(hits.mean())


def knn_hits(emb: np.ndarray, groups: list[str], ref: np.ndarray, ref_groups: list[str]):
    """Per row: whether its nearest reference row has its group (bool), and that row's cosine."""
    vocab: dict[str, int] = {}
    g, rg = _codes(groups, vocab), _codes(ref_groups, vocab)
    hits, best = np.empty(emb.shape[0], bool), np.empty(emb.shape[0], np.float32)
    for s in range(0, emb.shape[0], _CHUNK):
        sim = _dense(emb[s:s + _CHUNK] @ ref.T)  # (chunk, R)
        nn = sim.argmax(1)
        hits[s:s + _CHUNK] = rg[nn] == g[s:s + _CHUNK]
        best[s:s + _CHUNK] = sim[np.arange(len(nn)), nn]
    return hits, best


def loo_topk(emb: np.ndarray, groups: list[str], ks=(1, 5, 10)) -> dict[str, float]:
    """Leave-one-out top-k among the rows themselves, averaged over the rows whose group has another
    row (a single sentence of its group stays as a distractor: it has nothing to find)."""
    return {f"loo_top{k}": float(h.mean()) for k, h in loo_hits(emb, groups, ks).items()}


def loo_hits(emb: np.ndarray, groups: list[str], ks=(1, 5, 10)) -> dict[int, np.ndarray]:
    """Per k, per row that `loo_topk` averages over: whether a row of its group is among its k nearest."""
    g = _codes(groups, {})
    kmax = min(max(ks), emb.shape[0] - 1)
    hits = {k: np.zeros(emb.shape[0], bool) for k in ks}
    for s in range(0, emb.shape[0], _CHUNK):
        sim = _dense(emb[s:s + _CHUNK] @ emb.T)  # (chunk, N)
        rows = np.arange(sim.shape[0])
        sim[rows, rows + s] = -np.inf  # never your own neighbour
        top = np.argpartition(-sim, kmax - 1, axis=1)[:, :kmax]  # (chunk, kmax), unordered
        order = np.argsort(-sim[rows[:, None], top], axis=1)
        top = top[rows[:, None], order]  # (chunk, kmax), nearest first
        same = g[top] == g[s:s + _CHUNK, None]
        for k in ks:
            hits[k][s:s + _CHUNK] = same[:, :k].any(1)
    counts = Counter(groups)
    paired = np.array([counts[x] >= 2 for x in groups])
    if not paired.any():  # no row can score (a held-out split of one sentence a group): 0.0, never NaN in JSON
        paired[:] = True
    return {k: hits[k][paired] for k in ks}


def _model(model):
    """A loaded encoder, or a model folder loaded (the workflow functions take either)."""
    from similarity.model import load

    if isinstance(model, bytes):  # a path as bytes: os.fsdecode, as pathlib would not take it
        model = os.fsdecode(model)
    if isinstance(model, (str, Path)):
        return load(model)
    if not callable(getattr(model, "encode", None)):  # None, a number, an index: AttributeError deep inside
        raise InputError(f"model must be a model folder (str or pathlib.Path) or an encoder with .encode(), "
                         f"got {type(model).__name__} {model!r:.40}")
    return model


UNKNOWN_WARN = 0.5  # share of a text's tokens unknown to the model above which its figures say little


def unknown_token_share(model, texts: list[str], sample: int = 2000) -> float | None:
    """Share of the tokens of (the first `sample` of) `texts` that a GRU model's word or char
    vocabulary maps to its unknown id; None for models without one (subword, transformer)."""
    module = getattr(model, "module", None)
    tok, unk = getattr(module, "tokenizer", None), getattr(module, "unk_id", None)
    if tok is None or unk is None or not hasattr(tok, "encode_batch"):
        return None
    ids = [e.ids for e in tok.encode_batch(list(texts[:sample]), add_special_tokens=False)]
    total = sum(map(len, ids))
    return None if total == 0 else sum(i == unk for row in ids for i in row) / total


def warn_unknown_tokens(model, texts: list[str], where=None, stacklevel: int = 3) -> None:
    """A warning when most tokens of `texts` are unknown to a word/char GRU: their vectors are near-alike
    (evaluate, encode, index, search, score and classify all say it)."""
    share = unknown_token_share(model, texts)
    if share is None or share <= UNKNOWN_WARN:
        return
    whose, what = ("data's", "the figures say") if where is None else ("sentences'", "their vectors say")
    warnings.warn(f"{where + ': ' if where else ''}{share:.0%} of the {whose} tokens are unknown to the model's "
                  f"vocabulary (a model trained on another language or domain?): every such token reads alike, so "
                  f"{what} little", stacklevel=stacklevel)


def chance_topk(groups: list[str], k: int) -> float:
    """Leave-one-out top-k of a random ranking: per row, 1 - C(N-1-m, k) / C(N-1, k), where m is
    the number of other rows of its group (hypergeometric: none of them among k random others)."""
    from math import comb

    n = len(groups)
    k = min(k, n - 1)
    counts = [c for c in Counter(groups).values() if c >= 2]  # the rows leave-one-out scores
    return sum(c * (1 - comb(n - c, k) / comb(n - 1, k)) for c in counts) / max(sum(counts), 1)


def evaluate(model, texts: list[str], groups: list[str], reference_texts: list[str] | None = None,
             reference_groups: list[str] | None = None, batch_size: int = 256) -> dict:
    """kNN and leave-one-out top-k of `model` on grouped sentences.

    Args:
        model: a `SentenceEncoder` (anything with `.encode(texts, batch_size)`).
        texts, groups: evaluated sentences and their group labels.
        reference_texts, reference_groups: labelled reference set for `knn_top1`.
    Returns:
        dict with `loo_top1`, `loo_top5`, `loo_top10`, `n`, and `knn_top1` when a reference is given.
    """
    texts = as_sentences(texts)
    groups = as_labels(groups, len(texts), "group labels")  # generators, Series, int ids: read once, as text
    from similarity.heldout_rows import drop_duplicates

    texts, groups, n_dup = drop_duplicates(texts, groups)
    if n_dup:  # a repeated sentence is its own leave-one-out partner: loo_top1 read 1.0 on data given twice
        warnings.warn(f"dropped {n_dup} repeated sentence(s) of the data (a text in two groups keeps its first)",
                      stacklevel=2)
    if len(texts) < 2:
        raise InputError("need at least two sentences to evaluate")
    _no_blank(texts, "texts")
    if len(set(groups)) < 2:  # with one group every neighbour is right: top-k would read 1.0
        raise InputError(f"need at least two groups to evaluate, found {len(set(groups))}")
    paired = sum(c for c in Counter(groups).values() if c >= 2)  # rows leave-one-out can score
    if not paired and reference_texts is None:  # no sentence has a partner: leave-one-out reads 0.0
        raise InputError("every group has a single sentence: leave-one-out needs groups of two or more "
                         "(kNN top-1 against a --reference needs none)")
    if reference_texts is None and reference_groups is not None:
        raise InputError("reference groups without reference texts: pass reference_texts too")
    if reference_texts is not None:
        reference_texts = _no_blank(as_sentences(reference_texts, "reference texts"), "reference texts")
        if reference_groups is None:
            raise InputError("reference texts need one group label each")
        if not reference_texts:
            raise InputError("reference texts are empty: pass None for leave-one-out alone")
        reference_groups = as_labels(reference_groups, len(reference_texts), "reference group labels")
        _check_reference_groups(groups, reference_groups)
        shared = len({text_key(t) for t in texts} & {text_key(t) for t in reference_texts})
        if shared:  # each finds itself at cosine 1: knn top-1 is not a held-out figure for those rows
            warnings.warn(f"{shared} sentence(s) of the data are also reference sentences and find themselves: "
                          "knn_top1 counts them as right; evaluate on sentences the reference does not hold",
                          stacklevel=2)
    model = _model(model)
    warn_unknown_tokens(model, texts)
    if (seen := mostly_trained(model, texts)) is not None:
        warnings.warn(f"{seen:.0%} of the data are sentences the model trained on: its figures on them overstate "
                      "what it does on new sentences; evaluate on held-out data", stacklevel=2)
    emb = encoded(model, texts, batch_size)
    out = {"n": len(texts)}
    if reference_texts is not None:
        ref = encoded(model, reference_texts, batch_size)
        out["knn_top1"] = knn_top1(emb, groups, ref, reference_groups)
    if paired < len(texts):  # kNN scores every row; leave-one-out the rows with a partner
        out["n_loo"] = paired
    if not paired:
        return out
    out.update(loo_topk(emb, groups))
    chance, first = chance_topk(groups, 5), chance_topk(groups, 1)
    if first >= 0.5:  # one group holds most rows: even loo_top1 reads high for any model
        warnings.warn(f"with {len(set(groups))} groups of these sizes a random ranking's nearest sentence is of the "
                      f"same group for {first:.0%} of rows: loo_top1 {out['loo_top1']:.3f} is to be read against "
                      "that, and top-5 / top-10 say nothing", stacklevel=2)
    elif chance >= 0.5:  # few, large groups: top-5 and top-10 say little (three groups: 1.0 for any model)
        warnings.warn(f"with {len(set(groups))} groups of these sizes a random ranking already has a same-group "
                      f"sentence in the top 5 for {chance:.0%} of rows: read loo_top1", stacklevel=2)
    return out


def majority_share(eval_groups: list[str], train_groups: list[str]) -> float:
    """kNN top-1 of answering the largest training group for every row: the chance level of a skewed set."""
    largest = Counter(train_groups).most_common(1)[0][0]
    return sum(g == largest for g in eval_groups) / max(len(eval_groups), 1)


def encoded(model, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """The model's (N, D) vectors of `texts`, checked: one finite row per text (an encoder passed in
    whose vectors were NaN read as perfect scores, a list or too few rows as numpy's errors)."""
    from textgan.common.vectors import as_matrix

    x = as_matrix(model.encode(texts, batch_size=batch_size), "the model's vectors")
    if len(x) != len(texts):
        raise InputError(f"the model gave {len(x)} vectors for {len(texts)} sentences")
    return x


def _no_blank(texts: list[str], what: str) -> list[str]:
    """`texts`, or an InputError naming the first blank one: it would be evaluated as the empty sentence."""
    if (blank := next((i for i, t in enumerate(texts) if is_blank(t)), None)) is not None:
        raise InputError(f"item {blank + 1} is blank (it would be evaluated as the empty sentence)", what)
    return texts


def spearman(model, a: list[str], b: list[str], scores: list[float], batch_size: int = 256) -> float:
    """Spearman rank correlation between cos(a_i, b_i) and the gold `scores`."""
    if scores is None or isinstance(scores, (str, bytes)) or not (len(a) == len(b) == len(scores)) or len(a) < 2:
        raise InputError("pairs need two sentence lists and scores of equal length >= 2")
    gold = gold_scores(scores)
    model = _model(model)
    ea, eb = encoded(model, a, batch_size), encoded(model, b, batch_size)
    return cosine_spearman((ea * eb).sum(1), gold)


def gold_scores(scores) -> np.ndarray:
    """The pairs' gold scores as float64, refused unless finite numbers, not all equal."""
    from collections.abc import Mapping

    from textgan.common.vectors import check_real

    if isinstance(scores, (Mapping, set, frozenset)):  # iterated, a dict gave its keys as the scores
        raise InputError(f"pair scores: pass one score per pair, in order, not a {type(scores).__name__}")
    check_real(scores, "pair scores")
    gold = np.asarray([float(x) if isinstance(x, (int, float, np.number)) and not isinstance(x, bool) else np.nan
                       for x in scores])
    if not np.isfinite(gold).all() or np.ptp(gold) == 0:
        raise InputError("pair scores must be finite numbers, not all equal")
    return gold


def cosine_spearman(cos, gold: np.ndarray) -> float:
    """Spearman of the pairs' cosines against `gold` (a model's, or the TF-IDF baseline's)."""
    from scipy.stats import spearmanr

    # float round-off is no ranking: cosines equal to 1e-6 are ties (identical sentences gave
    # cosines 0.9999999-1.0000001 and a Spearman of -0.19)
    cos = np.round(np.asarray(cos, dtype=np.float64), 6)
    if np.ptp(cos) == 0:
        raise InputError("every pair has the same cosine (identical sentences?): Spearman is undefined")
    return float(spearmanr(cos, gold).statistic)


def _check_reference_groups(groups, reference_groups) -> None:
    """kNN top-1 can only be right for rows whose group the reference has: none shared reads 0.0 for any model."""
    known = set(reference_groups)
    missing = sorted({g for g in groups if g not in known})
    if len(missing) == len(set(groups)):
        raise InputError(f"no group of the data is a group of the reference ({len(known)} reference groups, "
                         f"e.g. {sorted(known)[0]!r}): knn top-1 would be 0 for any model", "--reference")
    if missing:
        n = sum(g in set(missing) for g in groups)
        warnings.warn(f"{len(missing)} group(s) of the data have no reference sentence ({n} rows, e.g. "
                      f"{missing[0]!r}): those rows count as kNN misses", stacklevel=3)
