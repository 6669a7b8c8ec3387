"""Say it when training did not help: the trained model's held-out figures beside its teacher's.

`train-similarity` writes `<out>/heldout.json` (the model's best held-out figure and the teacher's
off the shelf on the same sentences) and prints both; the demo report does the same. When the
model is worse by more than `TOLERANCE`, one line says what to do instead.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

TOLERANCE = 0.005  # half a point: below it the two are a tie on a few hundred sentences


def _gaps(model: dict, ref: dict, keys: tuple[str, ...]) -> str | None:
    """"knn_top1 0.553 vs 0.833, ..." for the keys where `model` is below `ref` by more than TOLERANCE."""
    worse = [k for k in keys if k in model and k in ref and model[k] < ref[k] - TOLERANCE]
    return ", ".join(f"{k} {model[k]:.3f} vs {ref[k]:.3f}" for k in worse) or None


def recommendation(model: dict, teacher: dict, teacher_name: str,
                   keys: tuple[str, ...] = ("knn_top1", "loo_top1")) -> str | None:
    """One line when the model is below the teacher on any of `keys` (both dicts hold them)."""
    if (gaps := _gaps(model, teacher, keys)) is None:
        return None
    return (f"the trained model is below its teacher {teacher_name} off the shelf on held-out sentences "
            f"({gaps}): use the teacher itself where its speed is acceptable, or add sentences per "
            f"group or in-domain --unlabeled text and train again")


def baseline_advice(model: dict, baseline: dict, keys: tuple[str, ...]) -> str | None:
    """One line when a run without a teacher is below a character TF-IDF on any of `keys`."""
    if (gaps := _gaps(model, baseline, keys)) is None:
        return None
    return (f"the trained model is below a character TF-IDF on held-out sentences ({gaps}): add sentences per "
            f"group, or pass a --teacher that reads the sentences' language (a local sentence-transformers "
            f"folder; in-domain --unlabeled text then helps too)")


def heldout_report(cfg, data, teacher, t_train: np.ndarray | None, history: list[dict], use_knn: bool,
                   cache_dir, out: Path) -> None:
    """`heldout.json`: the best epoch's held-out figures beside the teacher's off the shelf on the
    same sentences (its vectors cached), or without a teacher beside a character TF-IDF's (a user
    of a Chinese run saw no figure at all), and a one-line recommendation when the model is worse.

    Args: cfg: the run's TrainConfig; data: its prepared data (train and held-out sentences and
    groups); t_train: the teacher's vectors of the training sentences (None without a teacher);
    history: the epoch records."""
    from similarity.baseline import NAME, tfidf_vectors
    from similarity.evaluate import knn_top1, loo_topk
    from textgan.common.artifacts import save_json

    if teacher is not None:
        t_eval, _ = teacher.vectors(data.eval_texts, cache_dir)
    else:
        t_train, t_eval = tfidf_vectors(data.texts, data.texts, data.eval_texts)
    best = max(history, key=lambda r: r["heldout_top1"])
    # leave-one-out needs held-out groups of two or more: with one sentence each it reads 0
    loo = max(Counter(data.eval_groups).values()) > 1
    keys = ("knn_top1",) * use_knn + ("loo_top1",) * (loo or not use_knn)
    ref = {"loo_top1": loo_topk(t_eval, data.eval_groups, ks=(1,))["loo_top1"]}
    if use_knn:
        ref["knn_top1"] = knn_top1(t_eval, data.eval_groups, t_train, data.groups)
    model = {k: best[k] for k in keys}
    ref = {k: ref[k] for k in keys}
    record = {"epoch": best["epoch"], "model": model, "n_eval": len(data.eval_texts)}
    if teacher is not None:
        record.update(teacher=ref, teacher_name=cfg.teacher,
                      recommendation=recommendation(model, ref, cfg.teacher, keys))
    else:
        record.update(baseline=ref, baseline_name=NAME, recommendation=baseline_advice(model, ref, keys))
    save_json(record, out / "heldout.json")


def untrained_advice(trained: dict, untrained: dict, keys: tuple[str, ...] = ("knn_top1", "loo_top1")) -> str | None:
    """One line when training left the encoder below its untrained start (no teacher to compare
    with: a Chinese run, `--teacher none`), whose lexical part alone can be the stronger one."""
    if (gaps := _gaps(trained, untrained, keys)) is None:
        return None
    return (f"training left the encoder below its untrained start on held-out sentences ({gaps}): add "
            f"sentences per group or in-domain --unlabeled text, or pass a --teacher in the sentences' language")
