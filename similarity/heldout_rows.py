"""Rows before training: repeated sentences, held-out groups kNN cannot score, held-out rows that are
training sentences."""
from __future__ import annotations

import warnings
from collections import Counter

from textgan.common.errors import InputError
from textgan.common.texts import text_key


def drop_duplicates(texts: list[str], groups: list[str]) -> tuple[list[str], list[str], int]:
    """Keep each text once (compared by `text_key`: strip, NFKC, no zero-width characters): a
    duplicate would sit on both sides of a train/held-out split and inflate held-out scores. A text
    in two groups keeps its first group. Returns (texts, groups, number dropped)."""
    seen: set[str] = set()
    keep = []
    for i, t in enumerate(texts):
        key = text_key(t)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return [texts[i] for i in keep], [groups[i] for i in keep], len(texts) - len(keep)


def drop_repeats(texts, groups, where=None, stacklevel: int = 3,
                 split: bool = True) -> tuple[list[str], list[str], int]:
    """`drop_duplicates` before a train/held-out split (`split`; else of training data beside a held-out
    file), with its `warning:` (a copy on both sides inflates every held-out figure)."""
    texts, groups, n = drop_duplicates(list(texts), list(groups))
    if n:
        warnings.warn(f"{f'{where}: ' if where else ''}dropped {n} duplicate sentence(s)"
                      f"{' before the train/held-out split' if split else ''} (the same text ignoring case and runs "
                      "of spaces; a text in two groups keeps its first group)", stacklevel=stacklevel)
    return texts, groups, n


def check_eval_groups(eval_groups: list[str], train_groups: list[str], where) -> None:
    """Eval groups the training never saw are scored leave-one-out: one group reads 1.0, no pairs 0.0."""
    if set(eval_groups) & set(train_groups):  # scored by kNN against the training sentences
        if len(set(eval_groups)) < 2:
            warnings.warn(f"{where}: one group: leave-one-out among its sentences is 1.0 for any model", stacklevel=4)
        if unseen := sorted(set(eval_groups) - set(train_groups)):
            n = sum(g in set(unseen) for g in eval_groups)
            warnings.warn(f"{where}: {len(unseen)} group(s) are not training groups ({n} rows, e.g. {unseen[0]!r}): "
                          "those rows count as kNN misses", stacklevel=4)
        return
    if len(set(eval_groups)) < 2:
        raise InputError("its one group is not a training group: leave-one-out among its sentences reads 1.0 "
                         "for any model; give two or more groups, or sentences of the training groups", where)
    if max(Counter(eval_groups).values()) < 2:
        raise InputError("no group is a training group and each has one sentence: leave-one-out reads 0.0; "
                         "give groups of two or more sentences", where)


def drop_seen(eval_texts: list[str], eval_groups: list[str], train_texts: list[str], where) -> tuple[list, list]:
    """Held-out sentences that repeat one another (each its own leave-one-out partner: loo_top1 1.0)
    or training sentences (the epoch choice and the gate's calibration read trained ones), dropped
    with counted warnings."""
    eval_texts, eval_groups, n_dup = drop_duplicates(list(eval_texts), list(eval_groups))
    if n_dup:
        warnings.warn(f"{where}: dropped {n_dup} repeated held-out sentence(s)", stacklevel=4)
    seen = {text_key(t) for t in train_texts}
    keep = [i for i, t in enumerate(eval_texts) if text_key(t) not in seen]
    if len(keep) == len(eval_texts):
        return list(eval_texts), list(eval_groups)
    if len(keep) < 2:
        raise InputError(f"{len(eval_texts) - len(keep)} of its {len(eval_texts)} sentences are training sentences: "
                         "held-out data must be sentences the model does not train on", where)
    warnings.warn(f"{where}: dropped {len(eval_texts) - len(keep)} of {len(eval_texts)} held-out sentence(s) that are "
                  "also training sentences", stacklevel=4)
    return [eval_texts[i] for i in keep], [eval_groups[i] for i in keep]
