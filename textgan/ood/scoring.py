"""In-domain scoring: how much is a sentence vector like the training corpus? (higher = more)

Every method is one row of `METHODS` and is built by name (`Scorer(method, ...)`):
  knn          max cosine to the index's corpus vectors (or the mean of the top-k cosines);
  mahalanobis  -min class distance, shared Ledoit-Wolf covariance (`textgan.ood.mahalanobis`; needs groups);
  flow         log-likelihood under a normalising flow (model kind "flow");
  outlier      in-domain log-odds of a classifier trained against pseudo-outliers (`textgan.ood.outlier`);
  critic       the critic score of a trained GAN (gan, O-GAN, boundary, conditional: max over groups);
  energy       -E(x) of an energy model (MEG or the Langevin EBM);
  energy-head  -E(x) of the similarity model's own margin head (`textgan.ood.head`);
  combined     the mean of z-scored components (default: kNN and every given model), each
               z-score fitted on in-domain calibration vectors.
Thresholds: chosen for a target TPR on in-domain validation scores; without validation
sentences, on in-domain scores that did not see the row scored: index rows left out of their
own kNN neighbourhood, a Mahalanobis fit without the sampled rows, the rows a flow / outlier
classifier held out of its training. AUROC / FPR@95%TPR helpers for the benches.
"""
from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from textgan.common.errors import InputError
from textgan.common.vectors import as_matrix, check_k
from textgan.ood.knn import _self_ids, knn_score  # noqa: F401  (re-exported: textgan.ood.scoring.knn_score)
from textgan.metrics import auroc, finite_scores, score_spread  # noqa: F401 (API: textgan.ood.scoring.auroc)

Method = Literal["knn", "mahalanobis", "flow", "outlier", "critic", "energy", "energy-head", "combined"]


@dataclass(frozen=True)
class MethodRow:
    """name; needs: what it reads ("index", "groups", or the score_name of a model);
    generative: uses a generator or a density model (for the benches); summary."""

    name: str
    needs: tuple[str, ...]
    generative: bool
    summary: str


METHODS: dict[str, MethodRow] = {m.name: m for m in [
    MethodRow("knn", ("index",), False, "max cosine to the corpus (mean of the top-k with --k)"),
    MethodRow("mahalanobis", ("index", "groups"), False, "-min class Mahalanobis distance, shared shrunk covariance"),
    MethodRow("flow", ("likelihood",), True, "log-likelihood under a normalising flow (--gan FLOW)"),
    MethodRow("outlier", ("outlier",), False, "log-odds of a classifier trained against pseudo-outliers (--gan)"),
    MethodRow("critic", ("critic",), True, "critic score of a trained GAN (--gan)"),
    MethodRow("energy", ("energy",), True, "-energy of an energy model (--gan)"),
    MethodRow("energy-head", ("head",), False,
              "free energy of the similarity model's margin head, -logsumexp of its logits (textgan.ood.head)"),
    MethodRow("combined", (), False, "mean of z-scored components (--combine; default knn + every --gan)"),
]}
# the best of bench/ood.py on both protocols and encoders: knn + an outlier classifier, z-scored; with an index
# and no model folder the classifier is the index's own (`textgan.ood.gate.index_outlier`: groups vs sphere noise)
DEFAULT_METHOD: Method = "combined"
# score_name of a loaded model -> the method that reads it
MODEL_METHODS = {"critic": "critic", "energy": "energy", "likelihood": "flow", "outlier": "outlier"}


def make_method(name: str) -> MethodRow:
    try:
        return METHODS[name]
    except KeyError:
        raise InputError(f"unknown scoring method {name!r}; valid: {', '.join(METHODS)}") from None


# --- model scorers -----------------------------------------------------------------------------

@dataclass
class ModelScorer:
    """A trained model seen as a scorer: `.methods` says which method it gives."""

    model: object
    kind: str
    meta: dict
    dim: int
    methods: tuple[str, ...]
    name: str = ""

    def __call__(self, vectors: np.ndarray, method: str) -> np.ndarray:
        if method not in self.methods:
            raise InputError(f"a {self.kind!r} model gives {' or '.join(self.methods)} scores, not {method!r}")
        return self.model.score(vectors).cpu().numpy().astype(np.float64)  # plain tensors (saved._plain_score)

    @property
    def held_out_scores(self) -> np.ndarray | None:
        """Scores of in-domain rows the model never trained on (flow, outlier), else None."""
        return getattr(self.model, "held_out_scores", None)

    @property
    def generative(self) -> bool:
        if self.kind == "outlier":
            return bool(self.model.source.get("generative"))
        if hasattr(self.model, "generative"):
            return bool(self.model.generative)
        return True


def load_scorer(path: str | Path) -> ModelScorer:
    """A scorer from a saved model folder whose kind has one (`textgan kinds`) or an outlier classifier."""
    from textgan.common.artifacts import load_json
    from textgan.gan import load

    cfg = Path(path) / "config.json"
    if cfg.is_file() and str((load_json(cfg) or {}).get("format", "")).startswith("textgan-outlier"):
        from textgan.ood.outlier import OutlierClassifier

        model = OutlierClassifier.load(path)
    elif cfg.is_file() and str((load_json(cfg) or {}).get("format", "")).startswith("textgan-opengan"):
        from textgan.ood.opengan import OpenGAN

        model = OpenGAN.load(path)
    else:
        model = load(path)
    if model.score_name is None:
        raise InputError(f"a {model.kind!r} model has no scorer", path)
    return ModelScorer(model, model.kind, model.meta, model.dim, (MODEL_METHODS[model.score_name],), str(path))


# --- scores --------------------------------------------------------------------------------------

def corpus_vectors(index) -> np.ndarray:
    """(N, D) float32 vectors of a `VectorIndex` or an array."""
    x = index.reconstruct_all() if hasattr(index, "reconstruct_all") else index
    return np.asarray(x, dtype=np.float32)


class _Mahalanobis:
    """The mahalanobis component: fitted on the corpus once; index rows are scored by fits
    that left them out (`folds` fits, each without one fold of the rows scored)."""

    folds = 5

    def __init__(self, index, groups):
        from textgan.ood.mahalanobis import fit_mahalanobis

        if index is None:
            raise InputError("the mahalanobis score needs an index (--index) with the corpus' vectors")
        self.x, self.groups = corpus_vectors(index), groups
        self.fitted = fit_mahalanobis(self.x, groups, "the index")

    def __call__(self, v, exclude_self=False) -> np.ndarray:
        from textgan.ood.mahalanobis import fit_mahalanobis

        rows = _self_ids(exclude_self, len(v))
        if rows is None:
            return self.fitted(v)
        out = np.empty(len(v))
        for part in np.array_split(np.arange(len(v)), self.folds):
            keep = np.ones(len(self.x), bool)
            keep[rows[part]] = False
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # already warned for the full fit
                fit = fit_mahalanobis(self.x[keep], [self.groups[i] for i in np.flatnonzero(keep)])
            out[part] = fit(v[part])
        return out


@dataclass
class Calibration:
    """Mean and std of each component score on in-domain calibration vectors."""

    stats: dict[str, tuple[float, float]] = field(default_factory=dict)
    source: str = ""

    def z(self, name: str, s: np.ndarray) -> np.ndarray:
        mu, sd = self.stats[name]
        return (s - mu) / sd


def check_models_used(method: str, components: Sequence[str], models: Sequence[ModelScorer]) -> None:
    """Every given model must serve a component of the method: `--method outlier --gan FLOW` scored
    with another classifier while the user believed the flow was used."""
    used = {c.split(":")[0] for c in components}
    for sc in models:
        if not used & set(sc.methods):
            what = f"{method} ({', '.join(components)})" if method == "combined" else method
            serves = " or ".join(sc.methods)
            both = method in ("knn", "mahalanobis") or any(method in m.methods for m in models)  # a source of both
            hint = (f"add {sc.methods[0]} to --combine" if method == "combined" else f"use --method {sc.methods[0]}"
                    + (f", or --method combined --combine {method},{sc.methods[0]}" if both else ""))
            raise InputError(f"--method {what} does not use a {sc.kind!r} model, which gives {serves} scores "
                             f"({hint})", sc.name or None)


def _as_list(scorer) -> list[ModelScorer]:
    if scorer is None:
        return []
    return list(scorer) if isinstance(scorer, (list, tuple)) else [scorer]


class Scorer:
    """A scoring method bound to its resources; `scorer(vectors)` -> (n,) in-domain scores.

    Args:
        method: a row of `METHODS`.
        index: `VectorIndex` or (N, D) corpus vectors (knn, mahalanobis, combined).
        models: `ModelScorer`s from `load_scorer` (critic, energy, flow, outlier, combined).
        groups: one label per index row (mahalanobis; default: the index's own groups).
        k: neighbours averaged by knn.
        combine: the components of `combined` (method names; default knn + every model's method).
        calibration: z-score statistics of `combined` (None: fitted on a sample of the index).
        sample_rows: the index rows that stand in for validation sentences (default: a random
            sample); e.g. the rows the index's own outlier classifier held out of training.
    """

    def __init__(self, method: str, index=None, models=None, groups=None, k: int = 1,
                 combine: Sequence[str] | None = None, calibration: Calibration | None = None,
                 sample_rows: np.ndarray | None = None):
        self.sample_rows = sample_rows
        self.method, self.index, self.models, self.k = make_method(method).name, index, _as_list(models), check_k(k)
        if self.k > getattr(index, "ntotal", self.k):  # the search returns what there is
            warnings.warn(f"--k {self.k} is more than the index's {index.ntotal} rows: the knn score averages all "
                          "of them", stacklevel=2)
        self.groups = groups if groups is not None else getattr(index, "groups", None)
        self._parts: dict[str, object] = {}
        if self.method == "combined":
            names = list(combine) if combine else (["knn"] if index is not None else []) + \
                [m for sc in self.models for m in sc.methods]
            for n in names:
                if make_method(n).name == "combined":
                    raise InputError("combined cannot combine itself")
            self.components = self._component_names(names)
            if not self.components:
                raise InputError("the combined score needs parts: --index, and/or --gan with a scorer model")
        else:
            self.components = [self.method]
        check_models_used(self.method, self.components, self.models)  # names the model's folder
        for c in self.components:  # fail now on a missing resource, not at the first vectors
            self._part(c.split(":")[0], int(c.split(":")[1]) if ":" in c else None)
        self.calibration = calibration

    def _component_names(self, names: list[str]) -> list[str]:
        out = []
        for n in dict.fromkeys(names):
            if n in ("knn", "mahalanobis"):
                out.append(n)
                continue
            hits = [i for i, sc in enumerate(self.models) if n in sc.methods]
            if not hits:
                raise InputError(f"combined: the {n} component needs a model that gives it (--gan)")
            out += [f"{n}:{i}" for i in hits]
        return out

    def _part(self, method: str, i: int | None = None):
        key = f"{method}:{i}"
        if key in self._parts:
            return self._parts[key]
        if method == "knn":
            if self.index is None:
                raise InputError("the knn score needs an index (--index)")
            part = lambda v, ex=False: knn_score(v, self.index, self.k, ex)  # noqa: E731
        elif method == "mahalanobis":
            part = _Mahalanobis(self.index, self.groups)
        else:
            usable = [sc for sc in self.models if method in sc.methods] if i is None else [self.models[i]]
            if not usable:
                have = ", ".join(f"{sc.kind} ({sc.methods[0]})" for sc in self.models) or "none given"
                hint = " or an index with groups (--index)" if method == "outlier" else ""
                raise InputError(f"the {method} score needs a model that gives it (--gan){hint}; got {have}")
            sc = usable[0]
            part = lambda v, ex=False, sc=sc, m=method: sc(v, m)  # noqa: E731  (models score rows as any vector)
            part.held_out = sc.held_out_scores
        self._parts[key] = part
        return part

    def component_scores(self, vectors, exclude_self=False) -> dict[str, np.ndarray]:
        v = as_matrix(vectors, "vectors")
        return {c: self._part(c.split(":")[0], int(c.split(":")[1]) if ":" in c else None)(v, exclude_self)
                for c in self.components}

    def __call__(self, vectors, exclude_self: bool | np.ndarray = False) -> np.ndarray:
        """Scores (n,); `exclude_self`: the vectors are index rows (see `knn_score`), scored
        without themselves where the method can (knn, mahalanobis)."""
        parts = self.component_scores(vectors, exclude_self)
        if self.method != "combined":
            return parts[self.method]
        if self.calibration is None:
            if self.index is None:
                raise InputError("the combined score needs calibration vectors (--val-in) or an index")
            self.calibration = self.fit_calibration(*self.index_rows())
        return np.mean([self.calibration.z(c, s) for c, s in parts.items()], axis=0)

    def fit_calibration(self, vectors, exclude_self: bool | np.ndarray = False) -> Calibration:
        """z-score statistics of each component on in-domain vectors (index rows when `exclude_self`)."""
        cal = Calibration(source="validation" if exclude_self is False else "index (leave-one-out)")
        for c, s in self.component_scores(vectors, exclude_self).items():
            cal.stats[c] = (float(s.mean()), score_spread(s, c))
        return cal

    def in_domain_scores(self) -> tuple[np.ndarray, str]:
        """In-domain scores of rows the scorer did not fit on, for a threshold without validation
        sentences: the model's held-out rows (flow, outlier), else an index sample scored
        without itself."""
        if self.method != "combined":
            held = getattr(self._part(self.method), "held_out", None)
            if held is not None and len(held):
                return np.asarray(held, np.float64), f"{len(held)} corpus rows the model held out of training"
        if self.index is None:
            raise InputError(f"a threshold for {self.method} needs validation sentences (--val-in) or an index")
        sample, rows = self.index_rows()
        return self(sample, exclude_self=rows), "index sentences (leave-one-out)"

    def index_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, row ids) of the index rows that stand in for validation sentences."""
        if self.sample_rows is None:
            return index_sample(self.index)
        return corpus_vectors(self.index)[self.sample_rows], np.asarray(self.sample_rows)


def score(vectors, method: Method, index=None, scorer=None, k: int = 1,
          calibration: Calibration | None = None, exclude_self: bool | np.ndarray = False,
          groups=None, combine: Sequence[str] | None = None) -> np.ndarray:
    """In-domain scores (n,), higher = more like the training corpus (`Scorer` in one call).

    Args:
        vectors: (n, D) vectors of the encoder the index / models were built with.
        method: a row of `METHODS`. index, groups, k, combine, calibration: see `Scorer`.
        scorer: a `ModelScorer` (or a list of them) from `load_scorer`.
        exclude_self: the vectors are index rows (see `knn_score`).
    """
    return Scorer(method, index, scorer, groups, k, combine, calibration)(vectors, exclude_self)


def fit_calibration(vectors, index=None, scorer=None, k: int = 1, exclude_self: bool | np.ndarray = False,
                    combine: Sequence[str] | None = None, groups=None) -> Calibration:
    """Fit the z-scores of `combined` on in-domain vectors (index rows when `exclude_self`)."""
    return Scorer("combined", index, scorer, groups, k, combine).fit_calibration(vectors, exclude_self)


def index_sample(index, n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (m, D), their row ids (m,)) of up to n random index rows."""
    x = corpus_vectors(index)
    rows = np.sort(np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False))
    return np.asarray(x[rows], dtype=np.float32), rows


# --- thresholds and metrics ----------------------------------------------------------------------

def check_tpr(tpr) -> float:
    if isinstance(tpr, bool) or not isinstance(tpr, numbers.Real) or not 0 < tpr < 1:  # also refuses NaN
        raise InputError(f"--tpr must be in (0, 1), got {tpr!r}")  # repr: text "0.9" reads as text
    return float(tpr)


def choose_threshold(val_scores, tpr: float = 0.95) -> float:
    """The largest t with at least `tpr` of the in-domain validation scores >= t."""
    if isinstance(tpr, bool) or not isinstance(tpr, numbers.Real) or not 0 < tpr <= 1:  # "0.9" compared as text
        raise InputError(f"--tpr must be a number in (0, 1], got {tpr!r}")
    s = np.sort(finite_scores(val_scores, "in-domain validation scores"))
    # min(...): a tpr so small that (1 - tpr) * n rounds to n keeps the top score (at least one row)
    return float(s[min(s.size - 1, int(np.floor((1 - tpr) * s.size + 1e-9)))]) if tpr < 1 else float(s[0])


def fpr_at_tpr(in_scores, out_scores, tpr: float = 0.95) -> float:
    """Share of out-of-domain scores >= the threshold that keeps `tpr` of the in-domain ones."""
    t = choose_threshold(in_scores, tpr)
    return float(np.mean(finite_scores(out_scores, "out-of-domain scores") >= t))
