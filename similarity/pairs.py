"""Sentence-pair corpora: paraphrase pairs as training groups, and pair metrics.

Pair corpora (MRPC, QQP, PAWS, LCQMC, BQ, or STS-B with a score threshold) mark sentence pairs
as paraphrases or not. The margin loss needs groups, so `train-similarity --pair-cols` joins the
positive pairs into connected components: a sentence in two positive pairs links them (paraphrase
taken as transitive, as duplicate-question sets are built). Negative pairs give the margin loss
nothing and are counted in a warning.

Metrics of a model on pairs (`evaluate-similarity --pairs`): Spearman of cosine against the
score always; for 0/1 labels also AUROC, average precision, and the best accuracy and F1 over
thresholds chosen on the same pairs (optimistic, as sentence-transformers'
BinaryClassificationEvaluator reports them), with the thresholds.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from textgan.common.errors import InputError


FEW_PAIRS = 30  # below this a pair figure is warned as noise-sized (Spearman's SE 1/sqrt(n - 3) > 0.19)


def is_binary(labels: list[float]) -> bool:
    return set(labels) <= {0.0, 1.0} and len(set(labels)) == 2


def positives(labels: list[float], positive_min: float | None, col: str, path) -> list[bool]:
    """Which pairs are paraphrases: label 1 of 0/1 labels, or score >= positive_min."""
    if positive_min is None:
        if not set(labels) <= {0.0, 1.0}:
            seen = sorted(set(labels))  # a few classes (e.g. NLI's 0/1/2) are named, scores summarised
            held = (f"the values {', '.join(f'{v:g}' for v in seen)}" if len(seen) <= 5 else
                    f"scores ({len(seen)} distinct values, {seen[0]:g} to {seen[-1]:g})")
            raise InputError(f"column {col!r} holds {held}, not 0/1 paraphrase labels; pass --positive-min X "
                             "if pairs labelled at least X are paraphrases", path)
        positive_min = 1.0
    elif isinstance(positive_min, bool) or not isinstance(positive_min, (int, float)) \
            or not math.isfinite(positive_min):
        raise InputError(f"--positive-min must be a finite number, got {positive_min}", path)
    elif len(set(labels)) > 1 and min(labels) >= positive_min:  # one component of every sentence
        raise InputError(f"--positive-min {positive_min:g} is at or below the lowest {col!r} value "
                         f"({min(labels):g}): every pair would be a paraphrase; the values run "
                         f"{min(labels):g} to {max(labels):g}", path)
    return [v >= positive_min for v in labels]


def components(a: list[str], b: list[str], keep: list[bool], prefix: str = "pair-group") -> tuple[list[str], list[str]]:
    """(texts, groups): each sentence of a kept pair once, its group the connected component of
    the kept pairs it is in (named {prefix}-K, K in order of first appearance)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression: near-constant finds on large corpora
            parent[x], x = root, parent[x]
        return root

    order: list[str] = []
    for x, y, k in zip(a, b, keep):
        if not k:
            continue
        for s in (x, y):
            if s not in parent:
                parent[s] = s
                order.append(s)
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[ry] = rx
    names: dict[str, str] = {}
    groups = []
    for s in order:
        r = find(s)
        groups.append(names.setdefault(r, f"{prefix}-{len(names)}"))
    return order, groups


LABEL_NAMES = ("label", "labels", "score", "similarity", "is_duplicate", "quality", "gold_label", "relatedness_score")


def _warn_unread_label(path) -> None:
    """`--pair-cols A,B` reads every pair as a paraphrase: say so when the file has a column that looks
    like the labels (MRPC's Quality, QQP's is_duplicate), whose 0 rows would be trained as paraphrases."""
    import csv

    delimiter = {".csv": ",", ".tsv": "\t"}.get(Path(str(path)).suffix.lower())
    if delimiter is None:
        return
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader([fh.readline(10_000)], delimiter=delimiter), [])
    except (OSError, UnicodeDecodeError):
        return
    if (label := next((c.strip() for c in header if c.strip().lower() in LABEL_NAMES), None)) is not None:
        warnings.warn(f"{path}: --pair-cols A,B reads every pair as a paraphrase, and the file has a column "
                      f"{label!r}: pass --pair-cols A,B,{label} if it marks which pairs are", stacklevel=3)


def load_pair_groups(path: str | Path, cols: list[str], positive_min: float | None = None,
                     min_groups: int = 1, prefix: str = "pair-group") -> tuple[list[str], list[str]]:
    """Read a pair file as (texts, groups) for training.

    Args:
        path: data file (or `hf:owner/name`) with one sentence pair a row.
        cols: [A, B] (every pair a paraphrase) or [A, B, LABEL] (0/1 labels, or scores with
            `positive_min`).
        positive_min: pairs with LABEL >= this are paraphrases (needed for non-0/1 labels).
        min_groups: refuse data with fewer groups (of two or more sentences).
        prefix: the groups are named PREFIX-K. Held-out pairs need another prefix than the training
            pairs (the CLI gives `held-out-pair-group`): with the same one, held-out group K was read
            as training group K, and the run chose its epochs on a kNN figure of about 0.
    """
    from similarity.data import _clean, keep_groups, numbers, read_table
    from textgan.common.texts import warn_numeric_texts

    if not isinstance(cols, (str, list, tuple)):
        raise InputError(f"--pair-cols needs A,B or A,B,LABEL (a string or a list of column names), got {cols!r:.40}")
    cols = cols.split(",") if isinstance(cols, str) else list(cols)  # "s1,s2,label" as the CLI spells it
    if len(cols) not in (2, 3):
        raise InputError(f"--pair-cols needs A,B or A,B,LABEL, got {','.join(map(str, cols))!r}")
    table = read_table(path, cols)
    a, b = (warn_numeric_texts(_clean(table[c], c, path), c, path, "--pair-cols") for c in cols[:2])
    keep = [True] * len(a)
    if len(cols) == 3:
        labels = numbers(table[cols[2]], cols[2], path, hint=" (1 = paraphrase, 0 = not, or a score with "
                                                              "--positive-min)")
        keep = positives(labels, positive_min, cols[2], path)
    elif positive_min is not None:
        raise InputError("--positive-min needs a label column: --pair-cols A,B,LABEL", path)
    else:
        _warn_unread_label(path)
    negative = keep.count(False)
    if not any(keep):  # before the warning: one error line, not a warning and then the error
        hint = "" if positive_min is None else f" at --positive-min {positive_min}"
        raise InputError(f"none of the {len(keep)} pairs is marked as a paraphrase{hint}", path)
    if negative:
        warnings.warn(f"{path}: {negative} of {len(keep)} pairs are not paraphrases; the margin loss "
                      "learns from the paraphrase pairs only", stacklevel=2)
    texts, groups = components(a, b, keep, prefix)
    return keep_groups(texts, groups, path, min_groups)


POSITIVE_MIN_HINT = "pass --positive-min X to score pairs labelled at least X as paraphrases"


def pair_scores(labels: list[float], positive_min: float | None, col: str, path,
                hint: str = POSITIVE_MIN_HINT) -> list[float]:
    """Scores for `evaluate-similarity --pairs`: with `positive_min`, 1.0 for labels at least it and
    0.0 below (AUROC, AP, F1 follow); without, the labels as similarity scores, with a warning when
    they look like classes (a few integers other than 0/1, e.g. NLI's 0/1/2 or -1/1), whose
    Spearman is meaningless."""
    if len(labels) < FEW_PAIRS:  # accuracy and F1 exist only for 0/1 pairs: said only of those
        binary = positive_min is not None or set(labels) <= {0.0, 1.0}
        also = "; accuracy and F1 pick their thresholds on these same pairs" if binary else ""
        warnings.warn(f"{path}: only {len(labels)} pairs: their figures are noise-sized (Spearman's standard error "
                      f"is about {1 / math.sqrt(max(len(labels) - 3, 1)):.2f}{also})", stacklevel=2)
    if positive_min is not None:
        keep = positives(labels, positive_min, col, path)
        if not any(keep):
            raise InputError(f"no pair has {col!r} at least --positive-min {positive_min:g} (the values run "
                             f"{min(labels):g} to {max(labels):g})", path)
        return [float(k) for k in keep]
    if class_like(labels):
        seen = sorted(set(labels))
        warnings.warn(f"{path}: column {col!r} holds only the values {', '.join(f'{v:g}' for v in seen)}: "
                      f"if these are classes, not similarity scores, Spearman means nothing; {hint}", stacklevel=2)
    return labels


DEMO_PAIR_COLS = ("sentence1", "sentence2", "score")


def demo_pairs(path, cols, trained: list[str]):
    """`demo --pairs`: (a, b, scores) read at `cols` (default DEMO_PAIR_COLS) and checked as below;
    None without a pairs file, where columns given for it are refused (they named nothing)."""
    if path is None:
        if cols is not None:
            raise InputError("pair_cols names the columns of a pairs file: give pairs too", "pair_cols")
        return None
    cols = DEMO_PAIR_COLS if cols is None else tuple(cols)
    if len(cols) != 3 or not all(isinstance(c, str) for c in cols):
        raise InputError(f"pair_cols needs three column names (A, B, SCORE), got {cols!r:.60}", "pair_cols")
    from similarity.data import load_pairs

    scored = load_pairs(path, *cols)
    demo_pair_checks(scored, cols[2], path, trained)
    return scored


def demo_pair_checks(scored, col: str, path, trained: list[str]) -> None:
    """`demo --pairs`: refused as evaluate-similarity refuses them, and its warnings (few pairs,
    classes for scores, mostly the demo's training sentences): the report showed Spearman 1.000 of
    2 such pairs without a word."""
    from textgan.common.texts import text_key

    a, b, labels = scored
    check_ranked(labels, path)
    pair_scores(labels, None, col, path, hint="`evaluate-similarity --pairs ... --positive-min X` scores pairs "
                "labelled at least X as paraphrases")
    known = {text_key(t) for t in trained}
    if (share := sum(text_key(s) in known for s in a + b) / max(len(a) + len(b), 1)) > 0.5:
        warnings.warn(f"{path}: {share:.0%} of the pairs' sentences are sentences the demo trains on: their "
                      "Spearman overstates what the model does on new sentences", stacklevel=2)


def class_like(labels: list[float]) -> bool:
    """A few integers other than 0/1 (NLI's 0/1/2, -1/1): classes, not similarity scores."""
    seen = sorted(set(labels))
    return 2 <= len(seen) <= 5 and seen != [0.0, 1.0] and all(v == int(v) for v in seen)


def check_ranked(scores: list[float], path=None) -> None:
    """Spearman and AUROC need two scores at least: pairs that all have one are refused."""
    if len(set(scores)) < 2:
        raise InputError("every pair has the same score: no ranking to measure", path)


def pair_metrics(model, a: list[str], b: list[str], scores: list[float], batch_size: int = 256,
                 positives: list[float] | None = None) -> dict:
    """`spearman` against `scores` (left out when `positives` are given and the scores are classes),
    and for 0/1 labels, or 0/1 `positives` (`pair_scores` with --positive-min), `pair_auroc`,
    `pair_ap`, `pair_accuracy` (+ `_threshold`), `pair_f1` (+ `_threshold`): cosine thresholds
    chosen on these pairs."""
    from similarity.evaluate import _model, _no_blank, warn_unknown_tokens
    from textgan.common.texts import as_sentences

    a, b = as_sentences(a, "first sentences"), as_sentences(b, "second sentences")  # generators read once
    scores, positives = _one_per_pair(scores, "scores"), _one_per_pair(positives, "positives")
    if not a or scores is None or not (len(a) == len(b) == len(scores)):
        raise InputError("pairs need two sentence lists and scores of equal length >= 2")
    if positives is not None and len(positives) != len(a):  # it was ignored: the figures came from the scores
        raise InputError(f"positives: {len(positives)} for {len(a)} pairs")
    if positives is not None and not is_binary(list(positives)):  # only Spearman came back, silently
        raise InputError(f"positives: 0/1 per pair with both values present, got {sorted(map(repr, set(positives)))[:4]}")
    _no_blank(a, "first sentences"), _no_blank(b, "second sentences")  # as evaluate: no empty-sentence figures
    model = _model(model)
    warn_unknown_tokens(model, a + b)  # before "identical sentences?": unknown words all read alike
    check_ranked(scores)
    from similarity.evaluate import encoded

    ea, eb = encoded(model, a, batch_size), encoded(model, b, batch_size)  # once, for every figure
    return cosine_figures((ea * eb).sum(1), scores, positives)


def cosine_figures(cos, scores: list[float], positives: list[float] | None = None) -> dict:
    """The figures of `pair_metrics` from the pairs' cosines (a model's, or the TF-IDF baseline's):
    Spearman against graded scores (not against classes such as NLI's 0/1/2), and the 0/1 figures
    of 0/1 labels or `positives`."""
    from similarity.evaluate import cosine_spearman, gold_scores

    graded = positives is None or not class_like(scores)
    out = {"spearman": cosine_spearman(cos, gold_scores(scores))} if graded else {}
    binary = scores if positives is None else positives
    if is_binary(binary):
        out.update(binary_figures(cos, np.asarray(binary) == 1.0))
    return out


def _one_per_pair(values, what: str) -> list | None:
    """`values` as a list of one number per pair; a string ("1010") or a 2-D array is refused."""
    if values is None:
        return None
    if not isinstance(values, (str, bytes)) and not hasattr(values, "__len__") and hasattr(values, "__iter__"):
        values = list(values)  # a generator: read once
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
        raise InputError(f"{what}: pass one number per pair (a list or 1-D array), not {type(values).__name__} "
                         f"of shape {np.shape(values)}")
    return list(values)


def binary_figures(cos: np.ndarray, positive: np.ndarray) -> dict:
    """AUROC, AP, best accuracy and best F1 (with their cosine thresholds) of `cos` for `positive`."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    cos = np.asarray(cos, dtype=np.float64)
    order = np.argsort(-cos, kind="stable")
    c, y = cos[order], positive[order].astype(np.int64)
    tp = np.cumsum(y)  # predicting "paraphrase" for the first i+1 pairs
    fp = np.arange(1, len(y) + 1) - tp
    n_pos = int(y.sum())
    last = np.r_[c[1:] != c[:-1], True]  # a threshold cannot split tied cosines
    correct = tp + (len(y) - n_pos - fp)
    f1 = 2 * tp / (tp + fp + n_pos)
    i_acc = int(np.flatnonzero(last)[np.argmax(correct[last])])
    i_f1 = int(np.flatnonzero(last)[np.argmax(f1[last])])
    acc, acc_at = int(correct[i_acc]), float(c[i_acc])
    if len(y) - n_pos > acc:  # calling no pair a paraphrase does better: a threshold above them all
        # the next float32 up: the model's cosines are float32, and a float64 ulp rounds back onto the top one
        acc, acc_at = len(y) - n_pos, float(np.nextafter(np.float32(c[0]), np.float32(np.inf)))
    return {"pair_auroc": float(roc_auc_score(y, c)), "pair_ap": float(average_precision_score(y, c)),
            "pair_accuracy": acc / len(y), "pair_accuracy_threshold": acc_at,
            "pair_f1": float(f1[i_f1]), "pair_f1_threshold": float(c[i_f1])}
