"""Say it when training did not help: the trained model's held-out figures beside its teacher's.

`train-similarity` writes `<out>/heldout.json` (the model's best held-out figure and the teacher's
off the shelf on the same sentences) and prints both; the demo report does the same. One line
says what to do instead when the model is worse: with per-sentence hits (`train-similarity`),
when the paired 95% interval of a figure's difference lies below zero and no figure's lies above
it (a user was told to use the teacher for 5 sentences in 192 while the model led on the other
figure and on the test set); without them (the demo's table), when it is worse by more than
`TOLERANCE`.
"""
from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from textgan.common.errors import InputError

TOLERANCE = 0.005  # half a point: below it the two are a tie on a few hundred sentences


def paired_interval(model_hits: np.ndarray, ref_hits: np.ndarray, resamples: int = 2000,
                    seed: int = 0) -> tuple[float, float]:
    """Paired bootstrap 95% interval of mean(model_hits - ref_hits) over the same rows (hits 0/1).
    The mean of a resample depends only on how many rows of each difference (-1, 0, +1) it draws,
    so one multinomial draw per resample stands for n index draws: the same interval at O(1) a
    resample, for a held-out split of any size."""
    d = np.asarray(model_hits, np.int64) - np.asarray(ref_hits, np.int64)
    n = d.size
    if n == 0:  # nothing scored: every difference of two hit rates is possible (and JSON takes no inf)
        return -1.0, 1.0
    counts = np.random.default_rng(seed).multinomial(n, [np.mean(d == v) for v in (-1, 0, 1)], size=resamples)
    means = (counts[:, 2] - counts[:, 0]) / n
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def _gaps(model: dict, ref: dict, keys: tuple[str, ...], ci: dict | None = None) -> str | None:
    """"knn_top1 0.553 vs 0.833, ..." for the keys where `model` is below `ref`: with `ci` (key ->
    paired interval of model - ref) where the interval lies below 0, and none when one lies above 0;
    without, by more than TOLERANCE."""
    keys = [k for k in keys if k in model and k in ref]
    if ci is not None and any(ci[k][0] > 0 for k in keys if k in ci):
        return None  # better on one figure beyond noise: no advice to drop it
    worse = [k for k in keys if (ci[k][1] < 0 if ci is not None and k in ci else model[k] < ref[k] - TOLERANCE)]
    return ", ".join(f"{k} {model[k]:.3f} vs {ref[k]:.3f}" for k in worse) or None


def recommendation(model: dict, teacher: dict, teacher_name: str,
                   keys: tuple[str, ...] = ("knn_top1", "loo_top1"), ci: dict | None = None) -> str | None:
    """One line when the model is below the teacher on any of `keys` (both dicts hold them); `ci`:
    key -> paired 95% interval of model - teacher (see `_gaps`)."""
    if (gaps := _gaps(model, teacher, keys, ci)) is None:
        return None
    # fine-tuning the teacher beat it where the GRU fell short (FAQ, 264 sentences: README, small data)
    return (f"the trained model is below its teacher {teacher_name} off the shelf on held-out sentences "
            f"({gaps}): where the teacher's speed is acceptable, fine-tune it instead (train-similarity --backbone "
            f"{teacher_name}), or add sentences per group or in-domain --unlabeled text and train again")


def baseline_advice(model: dict, baseline: dict, keys: tuple[str, ...], ci: dict | None = None) -> str | None:
    """One line when a run without a teacher is below a character TF-IDF on any of `keys`."""
    if (gaps := _gaps(model, baseline, keys, ci)) is None:
        return None
    return (f"the trained model is below a character TF-IDF on held-out sentences ({gaps}): add sentences per "
            f"group, or pass a --teacher that reads the sentences' language (a local sentence-transformers "
            f"folder; in-domain --unlabeled text then helps too)")


def _start(cfg):
    """A fine-tuned transformer's backbone off the shelf, as a teacher that encodes (cached): what
    the model must beat, rather than TF-IDF; None for the GRU or a backbone that cannot be read so."""
    from similarity.teacher import resolve_teacher

    if cfg.backbone == "gru":
        return None
    try:
        return resolve_teacher(cfg.backbone)
    except InputError:  # training is done: its report falls back to TF-IDF rather than failing
        return None


def start_advice(model: dict, start: dict, backbone: str, keys: tuple[str, ...], ci: dict | None = None) -> str | None:
    """One line when a fine-tuned transformer is below its own start (the backbone off the shelf)."""
    if (gaps := _gaps(model, start, keys, ci)) is None:
        return None
    return (f"the fine-tuned model is below {backbone} off the shelf on held-out sentences ({gaps}): use "
            f"{backbone} as it is, or add sentences per group and train again")


def heldout_report(cfg, data, teacher, t_train: np.ndarray | None, history: list[dict], use_knn: bool,
                   cache_dir, out: Path, lexical_choice: dict | None = None) -> None:
    """`heldout.json`: the best epoch's held-out figures beside the teacher's off the shelf on the
    same sentences (its vectors cached); a fine-tuned transformer beside itself off the shelf;
    otherwise beside a character TF-IDF's (a user of a Chinese run saw no figure at all); and a
    one-line recommendation when the model is worse.

    Args: cfg: the run's TrainConfig; data: its prepared data (train and held-out sentences and
    groups); t_train: the teacher's vectors of the training sentences (None without a teacher);
    history: the epoch records; lexical_choice: `similarity.lexical_choice`'s record, with the
    teacher's (or TF-IDF's) Spearman on the same pairs added."""
    from similarity.baseline import NAME, tfidf_vectors
    from textgan.common.artifacts import save_json

    start = _start(cfg) if teacher is None else None
    if teacher is not None or start is not None:
        t_eval, _ = (teacher or start).vectors(data.eval_texts, cache_dir)
        if start is not None:
            t_train = start.vectors(data.texts, cache_dir)[0] if use_knn else None
    else:
        t_train, t_eval = tfidf_vectors(data.texts, data.texts, data.eval_texts)
    best = max(history, key=lambda r: r["heldout_top1"])
    # leave-one-out needs held-out groups of two or more: with one sentence each it reads 0
    loo = max(Counter(data.eval_groups).values()) > 1
    keys = ("knn_top1",) * use_knn + ("loo_top1",) * (loo or not use_knn)
    ref_hits = _hits(t_eval, t_train, data, keys)
    ref = {k: float(ref_hits[k].mean()) for k in keys}
    model_hits = _hits(*_model_vectors(out / "model", data, use_knn), data, keys)  # the saved best epoch's
    moved = lexical_choice is not None and lexical_choice["chosen"] != lexical_choice["trained_weight"]
    # the epoch's figures, or those of its model at the lexical weight chosen since
    model = {k: float(model_hits[k].mean()) if moved else best[k] for k in keys}
    ci = {k: paired_interval(model_hits[k], ref_hits[k]) for k in keys}
    record = {"epoch": best["epoch"], "model": model, "n_eval": len(data.eval_texts),
              "ci95_model_minus_ref": {k: [round(lo, 4), round(hi, 4)] for k, (lo, hi) in ci.items()},
              "n_scored": {k: int(len(h)) for k, h in ref_hits.items()}}  # leave-one-out: rows with a partner
    if teacher is not None:
        record.update(teacher=ref, teacher_name=cfg.teacher,
                      recommendation=recommendation(model, ref, cfg.teacher, keys, ci))
    elif start is not None:
        record.update(baseline=ref, baseline_name=f"{cfg.backbone} off the shelf",
                      recommendation=start_advice(model, ref, cfg.backbone, keys, ci))
    else:
        record.update(baseline=ref, baseline_name=NAME, recommendation=baseline_advice(model, ref, keys, ci))
    if lexical_choice is not None:
        record["lexical_weight"] = dict(lexical_choice, **_pairs_reference(teacher, cfg, data, cache_dir))
    record["chance"] = _chance(data, keys)
    save_json(record, out / "heldout.json")


def _chance(data, keys: tuple[str, ...]) -> dict:
    """Each figure's level without a model (kNN: the largest training group for every row; leave-one-out:
    a random ranking), warned when it is half or more: one group of 2,000 beside five of 3 read 0.990
    with nothing said (answering that group for every sentence: 0.988)."""
    from similarity.evaluate import chance_topk, majority_share

    levels = {"knn_top1": lambda: majority_share(data.eval_groups, data.groups),
              "loo_top1": lambda: chance_topk(data.eval_groups, 1)}
    chance = {k: round(levels[k](), 4) for k in keys}
    if high := {k: v for k, v in chance.items() if v >= 0.5}:
        warnings.warn("held-out: one group holds most sentences, so a model that knows only the group sizes "
                      f"already scores {', '.join(f'{k} {v:.3f}' for k, v in high.items())}: read the figures "
                      "against that", stacklevel=3)
    return chance


def _pairs_reference(teacher, cfg, data, cache_dir) -> dict:
    """The teacher's (or, without one, TF-IDF's) Spearman on the held-out scored pairs."""
    from similarity.baseline import NAME, tfidf_vectors
    from similarity.evaluate import cosine_spearman, gold_scores

    a, b, scores = data.pairs
    if teacher is not None:
        (va, _), (vb, _) = teacher.vectors(a, cache_dir), teacher.vectors(b, cache_dir)
        cos = (va * vb).sum(1)
    else:
        va, vb = tfidf_vectors(data.texts, a, b)
        cos = np.asarray(va.multiply(vb).sum(1)).ravel()
    try:
        figure = round(cosine_spearman(cos, gold_scores(scores)), 4)
    except InputError:  # the reference gives every pair one cosine: no figure
        figure = None
    return {"reference": cfg.teacher if teacher is not None else NAME, "reference_spearman": figure}


def _hits(ev, train, data, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per held-out sentence, for each figure of `keys`: a hit (kNN among the training sentences, or
    leave-one-out among the held-out ones)."""
    from similarity.evaluate import knn_hits, loo_hits

    out = {"loo_top1": loo_hits(ev, data.eval_groups, ks=(1,))[1]} if "loo_top1" in keys else {}
    if "knn_top1" in keys:
        out["knn_top1"] = knn_hits(ev, data.eval_groups, train, data.groups)[0]
    return out


def _model_vectors(model_dir: Path, data, use_knn: bool):
    import similarity

    enc = similarity.load(model_dir)
    return enc.encode(data.eval_texts), enc.encode(data.texts) if use_knn else None


def untrained_advice(trained: dict, untrained: dict, keys: tuple[str, ...] = ("knn_top1", "loo_top1")) -> str | None:
    """One line when training left the encoder below its untrained start (no teacher to compare
    with: a Chinese run, `--teacher none`), whose lexical part alone can be the stronger one."""
    if (gaps := _gaps(trained, untrained, keys)) is None:
        return None
    return (f"training left the encoder below its untrained start on held-out sentences ({gaps}): add "
            f"sentences per group or in-domain --unlabeled text, or pass a --teacher in the sentences' language")
