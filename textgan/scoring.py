"""In-domain scoring: how much is a sentence vector like the training corpus? (higher = more)

Methods, each a function of (n, D) vectors -> (n,) scores:
  knn       max cosine to the index's corpus vectors (or the mean of the top-k cosines);
  critic    the critic score of a trained GAN (core GAN, O-GAN, conditional: max over groups);
  energy    -E(x) of an energy model (MEG or the Langevin EBM);
  combined  the mean of the z-scored component scores (kNN and every given model), with
            each z-score's mean/std fitted on in-domain calibration vectors (validation
            sentences, or a leave-one-out sample of the index when none are given).
A threshold for a target true-positive rate is chosen on in-domain validation scores;
sentences scoring below it are flagged out of domain. AUROC / FPR@95%TPR helpers for benches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from textgan.errors import InputError
from textgan.vectors import as_matrix, check_k, check_same_encoder, cosine_knn, drop_self, normalize_rows

Method = Literal["knn", "critic", "energy", "combined"]
METHODS: tuple[str, ...] = ("knn", "critic", "energy", "combined")


# --- model scorers -----------------------------------------------------------------------------

@dataclass
class ModelScorer:
    """A trained GAN / energy model seen as a scorer: `.methods` says which of critic/energy it gives."""

    model: object
    kind: str
    meta: dict
    dim: int
    methods: tuple[str, ...]
    name: str = ""

    def __call__(self, vectors: np.ndarray, method: str) -> np.ndarray:
        if method not in self.methods:
            raise InputError(f"a {self.kind!r} model gives {' or '.join(self.methods)} scores, not {method!r}")
        return self.model.score(vectors).numpy().astype(np.float64)


def load_scorer(path: str | Path) -> ModelScorer:
    """A scorer from any saved model folder whose kind has one (see `textgan kinds`)."""
    from textgan.gan import load

    model = load(path)
    if model.score_name is None:
        raise InputError(f"a {model.kind!r} model has no scorer", path)
    return ModelScorer(model, model.kind, model.meta, model.dim, (model.score_name,), str(path))


# --- scores --------------------------------------------------------------------------------------

def knn_score(vectors, index, k: int = 1, exclude_self: bool | np.ndarray = False) -> np.ndarray:
    """Max cosine (k=1) or mean of the top-k cosines to the index vectors: (n,).

    Args:
        vectors: (n, D). index: a `VectorIndex` or an (N, D) array of unit vectors.
        k: neighbours averaged.
        exclude_self: the queries are index rows, each left out of its own neighbours (an
            index row always finds itself at cosine 1): True for rows 0..n-1 in order, or
            an (n,) array of their row ids.
    """
    v = as_matrix(vectors, "vectors")
    if hasattr(index, "search"):
        if exclude_self is False:
            scores = index.search(v, k)[0]
        else:
            self_ids = np.arange(len(v)) if exclude_self is True else exclude_self
            scores = drop_self(*index.search(v, k + 1), self_ids)[0]
    else:
        base = normalize_rows(as_matrix(index, "index vectors", dim=v.shape[1]), "index vectors")
        scores = cosine_knn(normalize_rows(v), base, k, exclude_self=exclude_self)[0]
    return scores.mean(1).astype(np.float64)


@dataclass
class Calibration:
    """Mean and std of each component score on in-domain calibration vectors."""

    stats: dict[str, tuple[float, float]] = field(default_factory=dict)
    source: str = ""

    def z(self, name: str, s: np.ndarray) -> np.ndarray:
        mu, sd = self.stats[name]
        return (s - mu) / sd


def _components(index, scorers: Sequence[ModelScorer]) -> list[tuple[str, object, str]]:
    comps = [("knn", None, "knn")] if index is not None else []
    for i, sc in enumerate(scorers):
        comps += [(f"{m}:{i}:{sc.kind}", sc, m) for m in sc.methods]
    return comps


def _as_list(scorer) -> list[ModelScorer]:
    if scorer is None:
        return []
    return list(scorer) if isinstance(scorer, (list, tuple)) else [scorer]


def fit_calibration(vectors, index=None, scorer=None, k: int = 1,
                    exclude_self: bool | np.ndarray = False) -> Calibration:
    """Fit the z-scores of `combined` on in-domain vectors (index rows when `exclude_self`, see knn_score)."""
    v = as_matrix(vectors, "calibration vectors")
    cal = Calibration(source="validation" if exclude_self is False else "index (leave-one-out)")
    for name, sc, m in _components(index, _as_list(scorer)):
        s = knn_score(v, index, k, exclude_self) if m == "knn" else sc(v, m)
        cal.stats[name] = (float(s.mean()), float(max(s.std(), 1e-9)))
    return cal


def score(vectors, method: Method, index=None, scorer=None, k: int = 1,
          calibration: Calibration | None = None, exclude_self: bool | np.ndarray = False) -> np.ndarray:
    """In-domain scores (n,), higher = more like the training corpus.

    Args:
        vectors: (n, D) vectors of the encoder the index / model were built with.
        method: "knn", "critic", "energy" or "combined".
        index: `VectorIndex` or (N, D) corpus vectors (knn, combined).
        scorer: a `ModelScorer` (or a list of them for combined) from `load_scorer`.
        k: neighbours averaged by knn.
        calibration: for combined; None fits it on a leave-one-out sample of the index.
        exclude_self: the vectors are index rows (see `knn_score`); their kNN component
            leaves each row out, as for unseen sentences.
    """
    _check_method(method)
    v = as_matrix(vectors, "vectors")
    scorers = _as_list(scorer)
    if method == "knn":
        if index is None:
            raise InputError("the knn score needs an index (--index)")
        return knn_score(v, index, k, exclude_self)
    if method in ("critic", "energy"):
        usable = [s for s in scorers if method in s.methods]
        if not usable:
            raise InputError(f"the {method} score needs a model that gives it (--gan); "
                             + ("none given" if not scorers else f"got {', '.join(s.kind for s in scorers)}"))
        return usable[0](v, method)
    comps = _components(index, scorers)
    if len(comps) < 1:
        raise InputError("the combined score needs an index and/or a model")
    if calibration is None:
        if index is None:
            raise InputError("the combined score needs calibration vectors (--val-in) or an index")
        sample, rows = _index_sample(index)
        calibration = fit_calibration(sample, index, scorers, k, exclude_self=rows)
    zs = [calibration.z(name, knn_score(v, index, k, exclude_self) if m == "knn" else sc(v, m))
          for name, sc, m in comps]
    return np.mean(zs, axis=0)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InputError(f"unknown scoring method {method!r}; valid: {', '.join(METHODS)}")


def _index_sample(index, n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (m, D), their row ids (m,)) of up to n random index rows."""
    x = index.reconstruct_all() if hasattr(index, "reconstruct_all") else np.asarray(index, dtype=np.float32)
    rows = np.sort(np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False))
    return np.asarray(x[rows], dtype=np.float32), rows


# --- thresholds and metrics ----------------------------------------------------------------------

def choose_threshold(val_scores, tpr: float = 0.95) -> float:
    """The largest t with at least `tpr` of the in-domain validation scores >= t."""
    s = np.sort(np.asarray(val_scores, dtype=np.float64))
    if s.size == 0 or not np.isfinite(s).all():
        raise InputError("need finite in-domain validation scores to choose a threshold")
    if not 0 < tpr <= 1:
        raise InputError(f"--tpr must be in (0, 1], got {tpr}")
    return float(s[int(np.floor((1 - tpr) * s.size + 1e-9))]) if tpr < 1 else float(s[0])


def auroc(in_scores, out_scores) -> float:
    """Area under the ROC curve for in-domain (positive) vs out-of-domain scores."""
    from sklearn.metrics import roc_auc_score

    a, b = np.asarray(in_scores, float), np.asarray(out_scores, float)
    return float(roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b]))


def fpr_at_tpr(in_scores, out_scores, tpr: float = 0.95) -> float:
    """Share of out-of-domain scores >= the threshold that keeps `tpr` of the in-domain ones."""
    t = choose_threshold(in_scores, tpr)
    return float(np.mean(np.asarray(out_scores, float) >= t))


# --- sentences (the `textgan score` command) -------------------------------------------------------

def score_texts(model, sentences: Sequence[str], method: Method = "knn", index=None, gan=None,
                val_in: Sequence[str] | None = None, tpr: float = 0.95, k: int = 1) -> dict:
    """Score sentences with a similarity model; flag those below the validation threshold.

    Args:
        model: similarity model folder (or a loaded encoder).
        sentences: the sentences to score.
        method: see `METHODS`. index: index folder (knn, combined). gan: model folder(s) (critic,
            energy, combined).
        val_in: in-domain validation sentences: the threshold keeps `tpr` of them (and the
            combined z-scores are fitted on them); None: a leave-one-out sample of the index.
        tpr: target true-positive rate of the threshold. k: knn neighbours.
    Returns:
        {"scores": (n,) array, "threshold": float | None, "in_domain": bool list | None,
         "threshold_source": str}.
    """
    from textgan.workflow import load_encoder

    _check_method(method)
    check_k(k)
    if not 0 < tpr < 1:  # also refuses NaN
        raise InputError(f"--tpr must be in (0, 1), got {tpr}")
    sentences = list(sentences)
    if not sentences:
        raise InputError("no sentences to score")
    enc = load_encoder(model)
    idx = None
    if index is not None:
        from textgan.retrieval import load_index

        idx = load_index(index)
        check_same_encoder(idx.meta.get("encoder"), enc.fingerprint, "index", index, dim=int(enc.dim))
    gans = [gan] if isinstance(gan, (str, Path)) else list(gan or [])
    scorers = [load_scorer(g) for g in gans]
    for sc in scorers:
        recorded = dict((sc.meta or {}).get("encoder") or {}, dim=sc.dim)  # the size it really scores
        check_same_encoder(recorded, enc.fingerprint, f"the {sc.kind} model", sc.name or None, dim=int(enc.dim))
    v = enc.encode(sentences)
    cal, source, val_scores = None, None, None
    if val_in is not None:
        vv = enc.encode(list(val_in))
        if method == "combined":
            cal = fit_calibration(vv, idx, scorers, k)
        val_scores, source = score(vv, method, idx, scorers, k, cal), "validation sentences"
    elif idx is not None:
        # index rows stand in for validation sentences: each is left out of its own kNN
        # component, else it matches itself at cosine 1 and the threshold flags everything
        sample, rows = _index_sample(idx)
        if method == "combined":
            cal = fit_calibration(sample, idx, scorers, k, exclude_self=rows)
        val_scores = score(sample, method, idx, scorers, k, cal, exclude_self=rows)
        source = "index sentences (leave-one-out)"
    s = score(v, method, idx, scorers, k, cal)
    thr = choose_threshold(val_scores, tpr) if val_scores is not None else None
    return {"scores": s, "threshold": thr, "threshold_source": source,
            "in_domain": None if thr is None else [bool(x >= thr) for x in s]}
