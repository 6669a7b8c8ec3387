"""The lexical part's weight, chosen on held-out scored pairs after training.

Why: the default weight (config.LEXICAL_WEIGHT, 0.2 for word text) was chosen on intents, where
paraphrases share few words. Graded similarity wants more of it: trained on STS 2012-14 and scored
on STS 2015, Spearman was 0.736 at 0.2 and 0.785 at 0.7, where the STS 2012-14 dev pairs peak too
(README, "Lexical weight on held-out pairs"). PAWS-like pairs, built to share words, want less. The
weight only mixes two unit parts of the vector, [sqrt(1 - w) gru, sqrt(w) lexical]
(`similarity.gru.GRUEncoder.combine`), so every saved vector (held-out vectors, prototypes) is
split into its parts and mixed again, exactly as re-encoding would: no retraining.

Scored pairs are graded scores (STS) or 0/1 labels (paraphrase or not); the figure is Spearman
of the cosines against them (for 0/1 labels, a monotone function of AUROC).
"""
from __future__ import annotations

import math
import numbers
import warnings
from pathlib import Path

import numpy as np

from textgan.common.errors import InputError

GRID = tuple(round(0.1 * k, 1) for k in range(1, 10))  # the CLI's --lexical-weight range is (0, 1)
MIN_PAIRS = 30  # fewer pairs rank a weight by noise (Spearman's standard error ~1/sqrt(n - 3) >= 0.19)
MIN_SIDE = 10  # and 0/1 labels need this many pairs of each label


def parts(vectors: np.ndarray, lexical_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(GRU part, lexical part) of combined vectors, each unit length (a text with no gram: zeros)."""
    v = np.asarray(vectors, dtype=np.float64)
    gru, lex = v[:, :-lexical_dim], v[:, -lexical_dim:]
    return gru / np.maximum(np.linalg.norm(gru, axis=1, keepdims=True), 1e-12), \
        lex / np.maximum(np.linalg.norm(lex, axis=1, keepdims=True), 1e-12)


def mix(gru: np.ndarray, lex: np.ndarray, weight: float) -> np.ndarray:
    """[sqrt(1 - w) gru, sqrt(w) lex], unit length: GRUEncoder.combine on numpy parts."""
    out = np.concatenate([math.sqrt(1 - weight) * gru, math.sqrt(weight) * lex], axis=1)
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def cosines(encoder, pairs, extra: tuple[float, ...] = ()) -> dict[float, np.ndarray]:
    """The pairs' cosines at every weight of GRID, at the encoder's own weight and at `extra`."""
    a, b, _ = pairs
    dim = encoder.module.lexical_dim
    (ga, la), (gb, lb) = parts(encoder.encode(a), dim), parts(encoder.encode(b), dim)
    weights = sorted({*GRID, float(encoder.module.lexical_weight), *map(float, extra)})
    return {w: (mix(ga, la, w) * mix(gb, lb, w)).sum(1) for w in weights}


def by_weight(encoder, pairs) -> dict[float, float]:
    """Held-out Spearman at every weight of GRID and at the encoder's own weight."""
    from similarity.evaluate import cosine_spearman, gold_scores

    gold = gold_scores(pairs[2])
    return {w: cosine_spearman(c, gold) for w, c in cosines(encoder, pairs).items()}


def gain_interval(better: np.ndarray, base: np.ndarray, gold: np.ndarray, n_boot: int = 1000) -> tuple[float, float]:
    """Paired bootstrap 95% interval of Spearman(better) - Spearman(base) over the pairs (seed 0)."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    diffs = []
    with warnings.catch_warnings():  # a resample whose scores are all alike has no Spearman: left out
        warnings.simplefilter("ignore")
        for _ in range(n_boot):
            i = rng.integers(0, len(gold), len(gold))
            diffs.append(spearmanr(better[i], gold[i]).statistic - spearmanr(base[i], gold[i]).statistic)
    lo, hi = np.nanpercentile(diffs, [2.5, 97.5])
    return float(lo), float(hi)


def choose_lexical_weight(model_dir: str | Path, pairs, given: bool) -> dict | None:
    """Score the saved model's lexical weights on held-out `pairs` (a, b, scores); unless the weight
    was `given`, save the model again at the best one when its gain over the trained weight has a
    paired 95% interval above zero (a gain of noise size kept the weight: CHIP-STS read 0.2291 at
    0.6 against 0.2288 at 0.5). Returns the record (None: no lexical part)."""
    from similarity.evaluate import cosine_spearman, gold_scores
    from similarity.model import load

    enc = load(model_dir)
    if enc.backbone != "gru" or not enc.module.lexical_dim:
        return None
    gold = gold_scores(pairs[2])
    current = float(enc.module.lexical_weight)
    # the weight it trained at: a run resumed after a choice finds the chosen one in the model
    prior = enc.info.get("lexical_choice")
    own = prior.get("trained_weight") if isinstance(prior, dict) else None
    own = own if isinstance(own, float) and 0 < own < 1 else current  # the record is not digest-covered
    cos = cosines(enc, pairs, (own,))
    try:
        figures = {w: cosine_spearman(c, gold) for w, c in cos.items()}
    except InputError as exc:  # e.g. pairs of identical sentences: said, and the trained model kept as it is
        warnings.warn(f"the lexical weight stays {own:g}: {exc.problem}", stacklevel=2)
        return None
    best = max(figures, key=lambda w: (round(figures[w], 4), w == own))  # a tie keeps the trained weight
    ci = gain_interval(cos[best], cos[own], gold) if best != own else (0.0, 0.0)
    chosen = best if not given and ci[0] > 0 else own
    record = {"metric": "spearman", "n_pairs": len(pairs[0]), "trained_weight": own, "chosen": chosen,
              "given": given, "best": best, "ci95_best_minus_trained": [round(ci[0], 4), round(ci[1], 4)],
              "by_weight": {f"{w:g}": round(s, 4) for w, s in figures.items()}}
    if chosen != current:
        _reweight(enc, chosen)
        enc.info["lexical_choice"] = record
        enc.save(model_dir)
    return record


def check_pairs(pairs, cfg, where=None, trained: list[str] = (), given: bool = False):
    """`train(eval_pairs=...)` checked before training: the (a, b, scores) pairs neither of whose
    sentences is among `trained` (a pair file's own labelled pairs may come here: its sentences only
    in pairs below --positive-min never train), or None when there is nothing to choose (no lexical
    part) or too few pairs to choose on (warned, unless the weight was `given`: nothing to choose)."""
    from textgan.common import distributed as ddp
    from textgan.common.texts import text_key

    if pairs is None:
        return None
    if not (isinstance(pairs, (tuple, list)) and len(pairs) == 3
            and all(isinstance(p, (list, tuple)) for p in pairs) and len(pairs[0]) == len(pairs[1]) == len(pairs[2])):
        raise InputError("eval_pairs must be three lists of equal length: (sentences a, sentences b, scores)", where)
    if not all(isinstance(t, str) and t.strip() for t in [*pairs[0], *pairs[1]]):
        raise InputError("eval_pairs: every sentence must be a non-blank string", where)
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in pairs[2]):
        raise InputError("eval_pairs: every score must be a finite number", where)
    if cfg.backbone != "gru" or not cfg.lexical_dim or len(set(pairs[2])) < 2:  # nothing to choose, or to rank
        return None
    seen = {text_key(t) for t in trained}
    keep = [i for i, (x, y) in enumerate(zip(pairs[0], pairs[1]))
            if text_key(x) not in seen and text_key(y) not in seen]
    labels = [pairs[2][i] for i in keep]
    # 0/1 labels: a DATA file's pairs without a training sentence can be nearly all negatives (the
    # positives' sentences train), whose Spearman ranks nothing (Twitter URL: 0.05 over 1,941 pairs)
    side = min(labels.count(0), labels.count(1)) if set(labels) <= {0, 1} else None
    if len(keep) < MIN_PAIRS or (side is not None and side < MIN_SIDE):
        few = (f"{len(keep)} scored pairs" if side is None or len(keep) < MIN_PAIRS
               else f"{side} pairs of one label (of {len(keep)})")
        if ddp.is_main() and not given:
            warnings.warn(f"{where or 'eval_pairs'}: {few} without a training sentence are too few to choose the "
                          f"lexical weight on (at least {MIN_PAIRS}, and {MIN_SIDE} of each 0/1 label): it stays "
                          f"{cfg.lexical_weight:g} (--eval-data with labelled held-out pairs chooses it)", stacklevel=3)
        return None
    return tuple([p[i] for i in keep] for p in pairs)


def _reweight(enc, weight: float) -> None:
    """The encoder and every vector saved with it at another weight (the parts mixed again)."""
    dim = enc.module.lexical_dim
    enc.module.lexical_weight = float(weight)
    enc.info["train_config"] = dict(enc.info.get("train_config") or {}, lexical_weight=float(weight))
    if enc.prototypes is not None:
        names, protos = enc.prototypes
        enc.prototypes = names, mix(*parts(protos, dim), weight)
    if enc.heldout is not None and len(enc.heldout):
        enc.heldout = mix(*parts(enc.heldout, dim), weight)
