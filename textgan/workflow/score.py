"""Scoring sentences (the `textgan score` command): encode, then any in-domain scorer of
`textgan.ood`, with a threshold fitted on validation sentences or held-out in-domain rows;
and training an outlier classifier on a corpus' sentences (`textgan train-outlier`)."""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from textgan.common.errors import InputError
from textgan.common.texts import as_sentences, is_blank, text_key
from textgan.common.vectors import check_k
from textgan.ood.gate import MIN_GATE_ROWS, _index_models, no_gate_reason, other_domain, without_index_rows
from textgan.workflow.heldout import heldout_scores, model_head, needs_head, prototype_vectors
from textgan.ood.scoring import DEFAULT_METHOD, Scorer, check_tpr, choose_threshold, load_scorer, make_method
from textgan.workflow.core import check_encoder, encoder_meta, folder_of, load_encoder, open_index, read_corpus


def _groups_for(idx, labels: Sequence[str] | None):
    if labels is None:
        return getattr(idx, "groups", None)
    if idx is None:
        raise InputError("--labels name the groups of the index rows: give --index too")
    if len(labels) != idx.ntotal:
        raise InputError(f"{len(labels)} labels for an index of {idx.ntotal} rows (one label per index row)",
                         "--labels")
    return list(labels)


def score_texts(model, sentences: Sequence[str], method: str = DEFAULT_METHOD, index=None, gan=None,
                val_in: Sequence[str] | None = None, tpr: float = 0.95, k: int = 1,
                labels: Sequence[str] | None = None, combine: Sequence[str] | None = None,
                val_in_name=None) -> dict:
    """Score sentences with a similarity model; flag those below the threshold.

    Args:
        model: similarity model folder (or a loaded encoder).
        sentences: the sentences to score.
        method: a row of `textgan.ood.scoring.METHODS`. index: index folder (knn, mahalanobis, combined).
        gan: model folder(s) with a scorer (critic, energy, flow, outlier classifier).
        val_in: in-domain validation sentences: the threshold keeps `tpr` of them (and the combined
            z-scores are fitted on them); None: in-domain rows the scorer did not fit on.
        tpr: target true-positive rate. k: knn neighbours. labels: one group per index row
            (mahalanobis; default: the index's groups). combine: components of `combined`.
        val_in_name: the file `val_in` came from, for messages.
    Returns:
        {"scores": (n,) array, "threshold": float | None, "in_domain": bool list | None,
         "threshold_source": str, "expected_tpr": share of the calibration scores kept,
         "new_tpr_95": 95% interval of the share of new in-domain sentences kept
         (`textgan.ood.gate.new_tpr_interval`)}.
    """
    make_method(method)
    check_k(k)
    check_tpr(tpr)
    if tpr < 0.5:  # accepted (a strict gate is a choice), but 1e-9 flagged every query without a word
        warnings.warn(f"--tpr {tpr:g} keeps {tpr:.0%} of in-domain sentences: most in-domain queries will be "
                      "flagged out of domain (the usual target is 0.95)", stacklevel=2)
    if isinstance(combine, (str, bytes)):  # "knn" was read letter by letter: "unknown scoring method 'k'"
        raise InputError(f"combine: pass a list of method names, not one string ({combine!r})")
    check_score_options(make_method(method).name, combine, labels, k,
                        [gan] if isinstance(gan, (str, Path)) else list(gan or []), index)
    sentences = as_sentences(sentences, "sentences")
    if not sentences:
        raise InputError("no sentences to score")
    if (blank := next((i for i, t in enumerate(sentences) if is_blank(t)), None)) is not None:
        raise InputError(f"sentence {blank + 1} is blank (it would score as the empty sentence)", "sentences")
    if val_in is not None:  # before any model loads
        _check_validation(as_sentences(val_in, "validation sentences"), tpr, val_in_name)
    idx, enc = open_index(index, model) if index is not None else (None, load_encoder(model))
    if idx is not None and idx.ntotal < MIN_GATE_ROWS:  # its rows' scores (and z-scores) have no spread
        raise InputError(f"the index holds {idx.ntotal} sentence(s): too few to score against "
                         f"(at least {MIN_GATE_ROWS})", index)
    gans = [gan] if isinstance(gan, (str, Path)) else list(gan or [])
    _check_on_disk(idx, index, method, combine, gans)
    scorers = [load_scorer(g) for g in gans]
    if needs_head(method, combine):
        scorers.append(model_head(enc, str(model) if isinstance(model, (str, Path)) else ""))
    for sc in scorers:
        recorded = dict((sc.meta or {}).get("encoder") or {}, dim=sc.dim)  # the size it really scores
        check_encoder(recorded, enc, f"the {sc.kind} model", sc.name or None)
        if not recorded.get("fingerprint"):  # trained on raw vectors: only its size can be checked
            warnings.warn(f"{sc.name or 'the ' + sc.kind + ' model'}: records no encoder (trained on raw vectors; "
                          "train-gan --model records it): nothing checks it scores this model's vectors", stacklevel=2)
    held = None if val_in is not None else getattr(enc, "heldout", None)  # what the threshold is fitted on
    models, rows = _index_models(method, idx, folder_of(index), scorers, combine, heldout=held)
    scorer = Scorer(method, idx, models, _groups_for(idx, labels), k, combine, sample_rows=rows)
    from similarity.evaluate import warn_unknown_tokens

    warn_unknown_tokens(enc, sentences, "sentences")
    if val_in is not None:  # a threshold on text the model cannot read keeps every query (0 of 8 flagged)
        warn_unknown_tokens(enc, list(val_in), val_in_name or "validation sentences")
    v = enc.encode(sentences)
    val_scores, source = None, None
    if val_in is not None:
        _warn_trained_on(enc, val_in, tpr, val_in_name)
        encoded = enc.encode(list(val_in))
        _check_validation_vectors(encoded, len({text_key(t) for t in val_in}), tpr, val_in_name)
        vv, rows, shared = without_index_rows(encoded, idx)
        ex = False if rows is None else rows
        if shared:
            how = "scored without themselves" if rows is not None else "left out"
            warnings.warn(f"{val_in_name or '--val-in'}: {shared} of {len(val_in)} validation sentences are index "
                          f"rows (each would find itself at similarity 1.0): {how}", stacklevel=2)
        if method == "combined":
            scorer.calibration = scorer.fit_calibration(vv, ex)
        val_scores, source = scorer(vv, ex), "validation sentences" + ("" if rows is None else f" ({how})")
    elif (held := heldout_scores(enc, scorer, idx)) is not None:
        val_scores, source = held
        # as the index's own gate decides (`search`): held-out sentences of another domain than the
        # index would place a threshold that keeps everything
        if idx is not None and no_gate_reason(idx) is None and \
                (why := other_domain(scorer, val_scores, idx, enc.heldout, prototype_vectors(enc))):
            val_scores, source = scorer.in_domain_scores()
            source = f"{source}: the model's held-out sentences are not of this index's domain ({why})"
    elif idx is not None or any(sc.held_out_scores is not None for sc in scorers):
        if idx is not None and idx.meta.get("storage") == "disk" and \
                not any(sc.held_out_scores is not None for sc in scorers):  # its rows are never read whole
            raise InputError("no in-domain sentences to fit the threshold on: the model keeps no held-out sentences "
                             "and an index on disk is not scored against itself; pass --val-in FILE of in-domain "
                             "sentences", folder_of(index))
        val_scores, source = scorer.in_domain_scores()
    s = scorer(v)
    thr = choose_threshold(val_scores, tpr) if val_scores is not None else None
    if thr is not None and val_in is None and len(val_scores) < 1 / (1 - tpr):  # --val-in is warned above
        warnings.warn(f"the threshold is fitted on {len(val_scores)} in-domain scores ({source}): keeping {tpr:.0%} "
                      f"of them is their lowest one (give {math.ceil(1 / (1 - tpr))} or more, e.g. with --val-in)",
                      stacklevel=2)
    if thr is None:  # every in_domain null would read as "nothing decided" only to a careful reader
        warnings.warn(f"no threshold: nothing in-domain to fit it on (the model keeps no held-out sentences and "
                      f"{'the scorer no held-out rows' if scorers else 'no index is given'}); --tpr is unused and "
                      "in_domain is null: pass --val-in FILE of in-domain sentences", stacklevel=2)
    from textgan.ood.gate import new_tpr_interval

    return {"scores": s, "threshold": thr, "threshold_source": source,
            "expected_tpr": None if thr is None else float(np.mean(val_scores >= thr)),
            "new_tpr_95": None if thr is None else new_tpr_interval(int(np.sum(val_scores >= thr)), len(val_scores)),
            "in_domain": None if thr is None else [bool(x >= thr) for x in s]}


def _warn_trained_on(enc, val_in, tpr: float, where) -> None:
    """Validation sentences the encoder trained on sit closer to their groups than new ones: a
    threshold fitted on them keeps fewer than `tpr` of new in-domain queries (87.5-93% for 95%)."""
    from similarity.seen import mostly_trained

    if (seen := mostly_trained(enc, list(val_in))) is not None:
        warnings.warn(f"{where or '--val-in'}: {seen:.0%} are sentences the model trained on: the threshold will keep "
                      f"fewer than {tpr:.0%} of new in-domain sentences (give held-out ones, or omit --val-in to use "
                      "the model's held-out split)", stacklevel=3)


def _check_validation(val_in: list[str], tpr: float, where=None) -> None:
    """Validation sentences that can place a threshold: two different ones at least (one, or
    copies of one, give z-scores of spread 0), and a warning below 1 / (1 - tpr) of them."""
    distinct = len({text_key(t) for t in val_in})  # a zero-width copy is not a second sentence
    if distinct < 2:
        raise InputError(f"{distinct} distinct validation sentence(s): a threshold needs at least 2 "
                         f"different in-domain sentences (better {math.ceil(1 / (1 - tpr))} or more)", where)
    if distinct < 1 / (1 - tpr):
        warnings.warn(f"{where or '--val-in'}: {distinct} distinct validation sentences: the threshold "
                      f"keeping {tpr:.0%} of them is their lowest score (give {math.ceil(1 / (1 - tpr))} or more)", stacklevel=3)


def _check_validation_vectors(v: np.ndarray, texts: int, tpr: float, where=None) -> None:
    """As `_check_validation`, on the vectors: sentences the model reads alike (emoji, unknown words)
    are one validation point however many texts they are (5 of 6 such gave a threshold of -0.0000)."""
    from textgan.common.vectors import SAME_SENTENCE_COSINE

    u = np.asarray(v, np.float64) / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    kept: list[int] = []
    for i in range(len(u)):  # greedy: a vector is new unless a kept one is the same sentence to the model
        if not kept or float((u[kept] @ u[i]).max()) < SAME_SENTENCE_COSINE:
            kept.append(i)
        if len(kept) >= 1 / (1 - tpr) or len(kept) == texts:  # enough, or as many as `_check_validation` said
            return
    if len(kept) < 2:
        raise InputError(f"the {len(u)} validation sentences all encode to one vector: a threshold needs at least 2 "
                         "the model reads differently", where)
    warnings.warn(f"{where or '--val-in'}: the model reads the validation sentences as {len(kept)} distinct ones: "
                  f"the threshold keeping {tpr:.0%} of them is their lowest score (give {math.ceil(1 / (1 - tpr))} "
                  "or more sentences it reads differently)", stacklevel=3)


def train_outlier_on_corpus(model, corpus, out, config=None, text_col: str | None = None,
                            group_col: str | None = None, generator=None) -> dict:
    """Encode a corpus with a similarity model, train an outlier classifier on its vectors, save it to `out`.

    Args:
        model: similarity model folder (or a loaded encoder).
        corpus: .txt or data file; with `group_col` the classifier is (K+1)-way, else binary.
        config: an `OutlierConfig` (default: its defaults, pseudo-outliers by mixup).
        generator: model folder of the boundary / conditional sources, checked before any encoding.
    Returns:
        {"out": folder, "n": sentences, "source": config.source}.
    """
    from textgan.ood.outlier import OutlierConfig, check_generator, train_outlier

    from textgan.gan import load

    cfg = config or OutlierConfig()
    cfg.validate()
    check_generator(cfg.source, None if generator is None else load(generator))  # before encoding
    enc = load_encoder(model)
    texts, groups = read_corpus(corpus, text_col, group_col)
    if len(set(texts)) < 2:  # one sentence (or copies of it) has no in-domain spread to learn
        raise InputError(f"{len(set(texts))} distinct sentence(s): an outlier classifier needs at least 2",
                         corpus if isinstance(corpus, (str, Path)) else None)
    vectors = enc.encode(texts)
    if np.ptp(vectors, axis=0).max() == 0:  # words the encoder never saw: one point, no domain to learn
        raise InputError(f"all {len(texts)} sentences encode to one vector (words the model never saw?): there is "
                         "no in-domain spread to learn", corpus if isinstance(corpus, (str, Path)) else None)
    clf = train_outlier(vectors, cfg, groups, generator=generator,
                        meta={"encoder": encoder_meta(enc, folder_of(model))})
    clf.save(out)
    return {"out": str(out), "n": len(texts), "source": cfg.source}


def _check_on_disk(idx, index, method: str, combine, gans) -> None:
    """An on-disk index is read shard by shard: the parts that read every vector at
    once (mahalanobis, the index's own outlier classifier, so the default `combined`) are refused
    naming the index and the method that works (the error named neither)."""
    meta = (idx.meta or {}) if idx is not None else {}
    if meta.get("storage") != "disk" and not any(isinstance(m, dict) and m.get("storage") == "disk"
                                                 for m in meta.get("members") or ()):  # a joined one with such a part
        return
    parts = set(combine or ()) if method == "combined" else {method}
    if method == "combined" and not combine and not gans:
        parts = {"knn", "outlier"}
    whole = sorted(p for p in parts if p == "mahalanobis" or (p == "outlier" and not gans))
    if whole:
        raise InputError(f"an index of {idx.ntotal} vectors on disk is read shard by shard, and "
                         f"{', '.join(whole)} read{'s' if len(whole) == 1 else ''} every vector at once: score it "
                         "with --method knn (or --gan with a scorer model)", index)


def check_score_options(method: str, combine, labels, k: int, gans, index=None, combine_text=None) -> None:
    """Options the chosen method would not read are refused: a silently ignored option is a wrong
    result (the CLI's `score` and the API alike). `combine`: the list of parts, or None."""
    from textgan.ood.scoring import make_method

    listed = None if combine is None else [str(c).strip() for c in combine]
    shown = combine_text if combine_text is not None else ",".join(listed or [])
    if listed is not None and (not listed or not all(listed) or len(set(listed)) < len(listed)):
        twice = sorted({c for c in listed if c and listed.count(c) > 1})
        raise InputError(f"--combine {shown!r}: " + (f"{', '.join(twice)} named twice" if twice else
                         "an empty component" if listed else "no component") +
                         " (a comma-separated list of distinct methods)")
    for c in listed or ():  # before the options they would explain: `KNN` was blamed on --index
        try:
            row = make_method(c)
        except InputError as exc:
            raise InputError(exc.problem, "--combine") from None
        if row.name == "combined":
            raise InputError("combined cannot be a part of itself: name its parts", "--combine")
    seen = {}
    for g in gans:  # one folder twice counts its scorer twice in combined
        if isinstance(g, (str, Path)) and (key := Path(g).resolve()) in seen:
            raise InputError(f"{g} is given twice (as {seen[key]})", "--gan")
        seen.setdefault(Path(g).resolve() if isinstance(g, (str, Path)) else id(g), g)
    parts = set(listed) if listed else None
    if method != "combined" and len(gans) > 1:  # flow / outlier / critic / energy read one scorer: the first
        raise InputError(f"--method {method} reads one scorer, got {len(gans)} (--method combined sums them)", "--gan")
    if combine is not None and method != "combined":
        raise InputError(f"names the components of --method combined, and --method is {method}", "--combine")
    if labels is not None and len(labels) and method != "mahalanobis" and \
            not (method == "combined" and parts and "mahalanobis" in parts):
        raise InputError(f"gives the groups for mahalanobis, which --method {method} "
                         f"{'with this --combine ' if parts else ''}does not use", "--labels")
    if k != 1 and method != "knn" and not (method == "combined" and (parts is None or "knn" in parts)):
        raise InputError(f"sets knn's top-k, which --method {method} does not use", "--k")
    if k != 1 and method == "combined" and index is None:  # no index, no knn part: the scores came out the same
        raise InputError("sets knn's top-k, and --method combined has no knn part without --index", "--k")
    index_parts = {"knn", "mahalanobis"} | (set() if gans else {"outlier"})  # outlier: the index's own
    reads_index = method in index_parts or (method == "combined" and (parts is None or bool(parts & index_parts)))
    if index is not None and not reads_index:  # the scores and threshold came out the same without it
        raise InputError(f"gives the corpus that knn, mahalanobis, combined (and outlier without --gan: the index's "
                         f"own classifier) read, which --method {method}{' with --gan' if gans else ''} does "
                         "not", "--index")
