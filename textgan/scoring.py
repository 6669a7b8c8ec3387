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


def check_fingerprint(scorer: ModelScorer, fingerprint: str | None, dim: int) -> None:
    """Refuse a model trained on another encoder's vectors (its space is unrelated)."""
    enc = (scorer.meta or {}).get("encoder") or {}
    if fingerprint and enc.get("fingerprint") and enc["fingerprint"] != fingerprint:
        raise InputError(f"the model was trained on vectors of encoder {enc['fingerprint'][:12]}, "
                         f"not of this encoder ({fingerprint[:12]})", scorer.name or None)
    if scorer.dim != dim:
        raise InputError(f"the model scores {scorer.dim}-d vectors but the encoder gives {dim}-d vectors",
                         scorer.name or None)


# --- scores --------------------------------------------------------------------------------------

def _vectors(x) -> np.ndarray:
    v = np.asarray(x, dtype=np.float32)
    if v.ndim != 2 or len(v) == 0:
        raise InputError(f"expected vectors of shape (n, D) with n >= 1, got {v.shape}")
    if not np.isfinite(v).all():
        raise InputError("vectors contain NaN or inf")
    return v


def knn_score(vectors, index, k: int = 1, exclude_self: bool = False) -> np.ndarray:
    """Max cosine (k=1) or mean of the top-k cosines to the index vectors: (n,).

    Args:
        vectors: (n, D). index: a `VectorIndex` or an (N, D) array of unit vectors.
        k: neighbours averaged. exclude_self: the queries are index rows; skip the best hit.
    """
    v = _vectors(vectors)
    kk = k + 1 if exclude_self else k
    if hasattr(index, "search"):
        scores, _ = index.search(v, kk)
    else:
        import faiss

        base = np.ascontiguousarray(index, dtype=np.float32)
        base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
        flat = faiss.IndexFlatIP(base.shape[1])
        flat.add(base)
        q = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        scores, _ = flat.search(q, min(kk, len(base)))
    scores = scores[:, 1:] if exclude_self else scores
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


def fit_calibration(vectors, index=None, scorer=None, k: int = 1, from_index: bool = False) -> Calibration:
    """Fit the z-scores of `combined` on in-domain vectors (the index's own rows if `from_index`)."""
    v = _vectors(vectors)
    cal = Calibration(source="index (leave-one-out)" if from_index else "validation")
    for name, sc, m in _components(index, _as_list(scorer)):
        s = knn_score(v, index, k, exclude_self=from_index) if m == "knn" else sc(v, m)
        cal.stats[name] = (float(s.mean()), float(max(s.std(), 1e-9)))
    return cal


def score(vectors, method: Method, index=None, scorer=None, k: int = 1,
          calibration: Calibration | None = None) -> np.ndarray:
    """In-domain scores (n,), higher = more like the training corpus.

    Args:
        vectors: (n, D) vectors of the encoder the index / model were built with.
        method: "knn", "critic", "energy" or "combined".
        index: `VectorIndex` or (N, D) corpus vectors (knn, combined).
        scorer: a `ModelScorer` (or a list of them for combined) from `load_scorer`.
        k: neighbours averaged by knn.
        calibration: for combined; None fits it on a leave-one-out sample of the index.
    """
    if method not in METHODS:
        raise InputError(f"unknown scoring method {method!r}; valid: {', '.join(METHODS)}")
    v = _vectors(vectors)
    scorers = _as_list(scorer)
    if method == "knn":
        if index is None:
            raise InputError("the knn score needs an index (--index)")
        return knn_score(v, index, k)
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
        calibration = fit_calibration(_index_sample(index), index, scorers, k, from_index=True)
    zs = [calibration.z(name, knn_score(v, index, k) if m == "knn" else sc(v, m)) for name, sc, m in comps]
    return np.mean(zs, axis=0)


def _index_sample(index, n: int = 2000, seed: int = 0) -> np.ndarray:
    x = index.reconstruct_all() if hasattr(index, "reconstruct_all") else np.asarray(index, dtype=np.float32)
    rows = np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False)
    return np.asarray(x[np.sort(rows)], dtype=np.float32)


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
    from textgan.workflow import check_encoder, load_encoder

    enc = load_encoder(model)
    sentences = list(sentences)
    if not sentences:
        raise InputError("no sentences to score")
    idx = None
    if index is not None:
        from textgan.retrieval import load_index

        idx = load_index(index)
        check_encoder(idx.meta.get("encoder"), enc, "index", index)
    gans = [gan] if isinstance(gan, (str, Path)) else list(gan or [])
    scorers = [load_scorer(g) for g in gans]
    for sc in scorers:
        check_fingerprint(sc, enc.fingerprint, int(enc.dim))
    v = enc.encode(sentences)
    cal, source, val_scores = None, None, None
    if val_in is not None:
        vv = enc.encode(list(val_in))
        if method == "combined":
            cal = fit_calibration(vv, idx, scorers, k)
        val_scores, source = score(vv, method, idx, scorers, k, cal), "validation sentences"
    elif idx is not None:
        sample = _index_sample(idx)
        if method == "combined":
            cal = fit_calibration(sample, idx, scorers, k, from_index=True)
            val_scores = score(sample, method, idx, scorers, k, cal)
        elif method == "knn":
            val_scores = knn_score(sample, idx, k, exclude_self=True)
        else:
            val_scores = score(sample, method, idx, scorers, k)
        source = "index sentences (leave-one-out)"
    s = score(v, method, idx, scorers, k, cal)
    thr = choose_threshold(val_scores, tpr) if val_scores is not None else None
    return {"scores": s, "threshold": thr, "threshold_source": source,
            "in_domain": None if thr is None else [bool(x >= thr) for x in s]}
