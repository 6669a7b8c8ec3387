"""The in-domain gate that `textgan search` and the demo use to mark queries the default
scorer rejects (`textgan.workflow.score.score_texts` scores sentences with the same parts).

The gate is the default method of `textgan.ood.scoring` (knn + the index's own outlier
classifier) with its 95%-TPR threshold, fitted on the encoder's held-out vectors when given
(sentences it never trained on; the classifier then leaves the index rows among them out of its
training), else on the index alone. `textgan index` records it in the index's meta.json
(`textgan.workflow.heldout.calibrate_index_gate`); otherwise it is cached beside the index
folder in `.<index>.gate/` (the threshold as JSON and, for `outlier`, the index's own outlier
classifier as config JSON + safetensors, keyed by the index's digests), so a search pays for
the fit once. `outlier` without a model folder uses that classifier (`index_outlier`).
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from textgan.common.errors import InputError
from textgan.ood.scoring import (DEFAULT_METHOD, Scorer, check_models_used, check_tpr,
                                  choose_threshold)
from textgan.common.vectors import SAME_SENTENCE_COSINE


# --- the search gate ------------------------------------------------------------------------------

class Gate:
    """The default scorer of an index with its threshold: `gate(vectors)` -> (scores, in-domain flags)."""

    def __init__(self, scorer: Scorer, threshold: float, source: str, tpr: float):
        self.scorer, self.threshold, self.source, self.tpr = scorer, threshold, source, tpr
        self.report: dict | None = None  # promised vs reached TPR, when asked for (`index_gate(report=True)`)
        self.key: str | None = None  # what the threshold was fitted for (index, parts, held-out vectors)
        self.calibrated_on_held_out = False  # fitted on the model's held-out sentences (`index_gate`)

    @property
    def method(self) -> str:
        return self.scorer.method

    def __call__(self, vectors) -> tuple[np.ndarray, list[bool]]:
        s = self.scorer(vectors)
        return s, [bool(x >= self.threshold) for x in s]


GATE_FORMAT = "textgan-gate/2"  # /1 had no digest: such a cache is refitted, never trusted


# the share of the model's held-out sentences that must pass the index rows' own threshold for them
# to calibrate the index's gate (`index_gate`)
HELD_OUT_AGREEMENT = 0.5
# the share of the index rows that must be as near the model's groups (its head's class weights) as
# its held-out sentences are (`other_domain`): 0.99 measured on the FAQ model's own corpus, 0.49 and
# 0.38 on CLINC150 val and oos_val rows, which that model never saw
PROTOTYPE_AGREEMENT = 0.8
# the TPR of those two tests, whatever --tpr asks: at --tpr 0.5 the index rows' own threshold kept
# 31% of the FAQ model's held-out sentences on its own FAQ index, read as another domain
DOMAIN_TPR = 0.95

# an in-domain threshold needs in-domain scores that spread: each row is scored by its neighbours
# without itself, and the z-scores of `combined` divide by that spread (two rows score each other
# alike: a query got the score 1e8, "in domain"). Below this many index rows there is no gate
# (`search`: in_domain null); five rows gave a finite, usable one (tests/test_ood.py).
MIN_GATE_ROWS = 5


def no_gate_reason(idx) -> str | None:
    """Why an index gets no out-of-domain gate, or None when it can have one."""
    if idx.meta.get("storage") in ("disk", "shards"):  # the gate is fitted on every corpus vector: not past RAM
        return "search does not gate an index on disk or in shards"
    if idx.ntotal < MIN_GATE_ROWS:
        return (f"{idx.ntotal} sentence(s) are too few to calibrate an in-domain threshold "
                f"(at least {MIN_GATE_ROWS}); search reports in_domain null")
    return None


def _digest(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def read_gate_cache(path: Path) -> dict | None:
    """A cached threshold, checked: None when there is none (or one of an older format, refitted);
    a changed file, or a threshold that is not a finite number (NaN flagged every query out of
    domain; a knn threshold is a cosine, in [-1, 1]), is refused even with a recomputed digest."""
    from textgan.common.artifacts import load_json

    if not path.is_file():
        return None
    try:
        info = load_json(path)
    except InputError as exc:  # unreadable (a torn write, an edit): a cache, so refit it and say so
        warnings.warn(f"{exc}; refitting the cached threshold", stacklevel=3)
        return None
    return check_gate_record(info, path)


def check_recorded(thr, tpr, path, names=("'threshold'", "'tpr'"), cosine: bool = False, remedy: str = "") -> float:
    """A stored threshold and the TPR it was fitted for (a K+1 model's rejection.json, a gate record),
    checked even when their digest was recomputed: a NaN threshold flagged every sentence out of
    scope. The threshold must be a finite number (a cosine, in [-1, 1], for knn), the TPR in (0, 1]."""
    import math

    low, high = (-1.0, 1.0) if cosine else (-math.inf, math.inf)
    tail = f" ({remedy})" if remedy else ""
    if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not (math.isfinite(thr) and low <= thr <= high):
        raise InputError(f"{names[0]} must be a finite number{' in [-1, 1]' if cosine else ''}, got {thr!r:.40}{tail}",
                         path)
    if isinstance(tpr, bool) or not isinstance(tpr, (int, float)) or not 0 < tpr <= 1:
        raise InputError(f"{names[1]} must be in (0, 1], got {tpr!r:.40}{tail}", path)
    return float(thr)


def check_gate_record(info, path, remedy: str = "delete the file to refit it") -> dict | None:
    """A gate record (a cache file, or `meta.json["gate"]` of an index) checked as `read_gate_cache`
    says; None for none or an older format. `remedy` ends the refusal (a cache file may be
    deleted; an index's meta.json may not)."""
    if not isinstance(info, dict) or info.get("format") != GATE_FORMAT:
        return None
    fields = {k: info.get(k) for k in ("index", "method", "tpr", "threshold", "source")}
    if info.get("digest") != _digest(fields):
        raise InputError(f"checksum mismatch: the recorded threshold changed since it was written ({remedy})", path)
    thr = check_recorded(fields["threshold"], fields["tpr"], path, ("the recorded threshold", "the recorded tpr"),
                         cosine=fields["method"] == "knn", remedy=remedy)
    if not all(isinstance(fields[k], str) for k in ("index", "method", "source")):
        raise InputError(f"malformed recorded threshold ({remedy})", path)
    return dict(fields, threshold=thr)


def _index_key(idx) -> str:
    files = idx.meta.get("digests") or {}
    return hashlib.sha256(json.dumps([files, idx.ntotal, idx.dim], sort_keys=True).encode()).hexdigest()[:16]


# the outlier classifier an index gets when `outlier` is asked for without a model folder
INDEX_OUTLIER = {"source": "sphere", "head": "cosine"}


def gate_dir(index_path) -> Path | None:
    if index_path is None:
        return None
    p = Path(index_path).resolve()
    return p.with_name(f".{p.name}.gate")


def index_outlier(idx, index_path=None, exclude: np.ndarray | None = None):
    """The outlier classifier of an index: its vectors (and groups) vs noise on the sphere
    (`INDEX_OUTLIER`), trained once and cached in `.<index>.gate/outlier/` (`outlier_heldout/`
    with `exclude`); a `ModelScorer`.
    `exclude`: index rows kept out of its training (the encoder's held-out sentences, on which a
    threshold is then calibrated: scored as training rows they made it too strict, e.g. -0.33
    instead of -1.53 for knn + outlier on the FAQ model). Its `held_out_rows` are index row ids."""
    from textgan.ood.outlier import OutlierClassifier, OutlierConfig, train_outlier
    from textgan.ood.scoring import ModelScorer, corpus_vectors

    rows = np.arange(idx.ntotal) if exclude is None else np.setdiff1d(np.arange(idx.ntotal), exclude)
    key, where = _index_key(idx), gate_dir(index_path)
    if exclude is not None:
        key += hashlib.sha256(np.asarray(rows, np.int64).tobytes()).hexdigest()[:16]
    name = "outlier" if exclude is None else "outlier_heldout"
    clf = None
    if where is not None and (where / name / "config.json").is_file():
        try:
            clf = OutlierClassifier.load(where / name)
        except InputError:
            clf = None  # a broken cache is retrained
        if clf is not None and clf.meta.get("index") != key:
            clf = None
    if clf is None:
        with warnings.catch_warnings():  # its single-sentence count is of the rows kept from calibration
            warnings.filterwarnings("ignore", message=r".*group\(s\) with a single sentence")  # not the corpus'
            clf = train_outlier(corpus_vectors(idx)[rows], OutlierConfig(**INDEX_OUTLIER),
                                [idx.groups[i] for i in rows], meta={"encoder": idx.meta.get("encoder"), "index": key})
        if clf.held_out_rows is not None:  # none on a few rows (rows[None] would add an axis)
            clf.held_out_rows = rows[clf.held_out_rows]  # ids among the training vectors -> index rows
        if where is not None:
            try:
                clf.save(where / name)
            except OSError as exc:
                warnings.warn(f"could not cache the index's outlier classifier ({exc})", UserWarning, stacklevel=2)
    return ModelScorer(clf, "outlier", clf.meta, clf.dim, ("outlier",), str(where / name) if where else "")


def heldout_rows(idx, heldout) -> np.ndarray | None:
    """Index rows that are the encoder's held-out sentences (cosine >= SAME_SENTENCE_COSINE), or None:
    none found, or more than half the index (an index of the held-out set itself: the classifier must
    learn the domain from its rows; `held_out_scores` then scores them without themselves)."""
    if idx is None or heldout is None or len(heldout) < 2 or not hasattr(idx, "search"):
        return None
    sims, ids = idx.search(np.asarray(heldout, np.float32), 1)
    found = np.unique(ids[sims[:, 0] >= SAME_SENTENCE_COSINE, 0].astype(np.int64))
    return found if 0 < len(found) <= idx.ntotal // 2 else None


def _index_models(method: str, idx, index_path, models: list, combine=None,
                  heldout=None) -> tuple[list, np.ndarray | None]:
    """(`models`, plus the index's own outlier classifier when `outlier`, or the default `combined`,
    has no model folder; the index rows that classifier held out, or None). With the encoder's
    `heldout` vectors the classifier does not train on the index rows that are among them."""
    if method != "combined":  # before the index's classifier is trained for a model that would go unused
        check_models_used(method, [method], models)
    # --combine knn,outlier names the default's parts: the index's classifier when no --gan gives one
    wants = method == "outlier" or (method == "combined" and ((not models and not combine)
                                                              or "outlier" in (combine or ())))
    if not wants or idx is None or idx.groups is None or any("outlier" in m.methods for m in models):
        return models, None
    clf = index_outlier(idx, index_path, heldout_rows(idx, heldout))
    held = clf.model.held_out_rows  # a calibration sample of one row is no sample: the index's own then
    return [*models, clf], held if held is not None and len(held) >= 2 else None


def held_out_scores(scorer: Scorer, held: np.ndarray, index=None, min_rows: int = 20) -> tuple[np.ndarray, str]:
    """(in-domain scores of `held`, the held-out vectors a similarity model keeps from its training
    run, and a description). Held-out sentences that are also index rows (a corpus indexed whole) are
    handled by `without_index_rows`. `combined` keeps the z-scores it fits on index rows, so a
    cached threshold and a fresh one agree."""
    held, rows, _ = without_index_rows(held, index, min_rows)
    what = f"{len(held)} held-out sentences of the encoder's training run (never trained on)"
    if rows is not None:
        what += ", index rows scored without themselves"
    return np.asarray(scorer(held, exclude_self=False if rows is None else rows), np.float64), what


def without_index_rows(vectors: np.ndarray, index=None, min_rows: int = 20):
    """(vectors, row ids or None, how many were index rows). A calibration vector that is an index row
    (cosine >= SAME_SENTENCE_COSINE) finds itself at kNN similarity 1.0, so a threshold fitted on it
    rejects every new query: such vectors are left out while at least `min_rows` others remain, else
    all kept are index rows, returned with their row ids to be scored without themselves."""
    if index is None or not hasattr(index, "search") or not len(vectors):
        return vectors, None, 0
    sims, ids = index.search(np.asarray(vectors, np.float32), 1)
    found = sims[:, 0] >= SAME_SENTENCE_COSINE
    if not found.any():
        return vectors, None, 0
    if (~found).sum() >= min_rows:
        return vectors[~found], None, int(found.sum())
    return vectors[found], ids[found, 0].astype(np.int64), int(found.sum())


ROUGH_GATE_N = 20  # calibration sentences below which a promised in-domain rate is only a rough one


def gate_promise(report: dict | None) -> str:
    """The demo report's words for what a gate's threshold keeps, honest about a small calibration set."""
    if not report or report.get("n") is None:
        return "which keeps 95% of corpus sentences it did not fit on"
    n, tpr = int(report["n"]), float(report.get("promised_tpr", 0.95))
    if n >= ROUGH_GATE_N:
        return f"which keeps {tpr:.0%} of the {n} corpus sentences it was calibrated on ({report.get('calibrated_on')})"
    cross = report.get("cross_fitted_tpr")
    return (f"calibrated on only {n} sentence(s), so its promise to keep {tpr:.0%} of in-domain queries is rough"
            + ("" if cross is None else f" (cross-fitted estimate {cross:.0%})"))


def new_tpr_interval(kept: int, n: int) -> tuple[float, float]:
    """95% interval of the share of NEW in-domain sentences a threshold keeps when it keeps `kept`
    of `n` calibration scores drawn like them: that share is Beta(kept, n - kept + 1) distributed
    (the coverage of an order statistic), about +-3 points at 200 calibration sentences. A user
    read "reached 0.951" on 143 held-out sentences and saw 98.1% of new ones kept."""
    from scipy.special import betaincinv  # the Beta quantile; scipy.stats alone took 1.1 s to import

    if n < 1 or not 0 < kept <= n:
        return 0.0, 1.0
    return float(betaincinv(kept, n - kept + 1, 0.025)), float(betaincinv(kept, n - kept + 1, 0.975))


def _fit_report(scorer: Scorer, val: np.ndarray, threshold: float, tpr: float, held_rows) -> dict:
    """What a threshold promises and reaches: the share of the calibration sentences it keeps, a
    2-fold cross-fitted estimate of that share on new sentences (fit on one half, measured on the
    other), and, when calibrated on held-out sentences (`held_rows`: the index rows among them, or
    an empty array), the threshold the index rows the encoder trained on would have given (each
    scored without itself) and the share of the held-out sentences that threshold keeps."""
    use_held = held_rows is not None
    order = np.random.default_rng(0).permutation(len(val))
    halves = [val[order[: len(val) // 2]], val[order[len(val) // 2:]]]
    cross = [float(np.mean(b >= choose_threshold(a, tpr))) for a, b in (halves, halves[::-1]) if len(a) and len(b)]
    rep = {"promised_tpr": tpr, "reached_tpr": float(np.mean(val >= threshold)), "n": int(len(val)),
           "cross_fitted_tpr": float(np.mean(cross)) if cross else None,
           "new_tpr_95": list(new_tpr_interval(int(np.sum(val >= threshold)), len(val))),
           "calibrated_on": "held-out" if use_held else "index rows (training sentences): optimistic"}
    if use_held:
        sample, rows = scorer.index_rows()
        train = ~np.isin(rows, held_rows)
        rows_thr = choose_threshold(scorer(sample[train], exclude_self=rows[train]), tpr)
        rep.update(rows_threshold=rows_thr, rows_threshold_tpr=float(np.mean(val >= rows_thr)))
    return rep


def index_gate(idx, index_path=None, method: str | None = None, tpr: float = 0.95, heldout=None,
               report: bool = False, prototypes=None) -> Gate:
    """The in-domain gate of an index: `method` (default: the scoring default, or knn when the index
    has no groups and the default needs them), its threshold from the encoder's `heldout` vectors
    when given (sentences it never trained on: `held_out_scores`; the index's outlier classifier
    then does not train on the index rows among them) unless they are of another domain
    (`other_domain`, with the encoder's `prototypes` when it has a margin head), else from the index
    alone. A threshold recorded in the index's meta.json (`textgan index`: `meta["gate"]`) for the same scorer and
    held-out vectors is used as is; else one cached in `.<index>.gate/` beside `index_path`, else
    it is fitted (and cached). `report`: refit and attach `gate.report` (`_fit_report`: promised
    vs reached TPR) instead of reading it."""
    check_tpr(tpr)
    if idx.ntotal < MIN_GATE_ROWS:
        raise InputError(f"the index holds {idx.ntotal} sentence(s): too few to calibrate an in-domain "
                         f"threshold (at least {MIN_GATE_ROWS})", index_path)
    method = method or DEFAULT_METHOD
    if method in ("mahalanobis", "outlier") and idx.groups is None:
        method = "knn"  # these need (mahalanobis) or work best with (outlier) the corpus' groups
    # (the default `combined` on an index without groups is knn alone)
    models, rows = _index_models(method, idx, index_path, [], heldout=heldout)
    scorer = Scorer(method, idx, models, sample_rows=rows)
    where = gate_dir(index_path)
    use_held = heldout is not None and len(heldout) >= 2
    cache = None if where is None else where / f"{method}_{int(round(tpr * 1000))}{'_heldout' if use_held else ''}.json"
    # the scorer's parts (knn + head is not knn + outlier) and, for held-out vectors, which ones:
    # another model's (or a retrained model's) held-out vectors give another threshold
    key = hashlib.sha256(json.dumps([_index_key(idx), scorer.components, tpr]).encode()).hexdigest()[:16]
    if use_held:
        key += hashlib.sha256(np.ascontiguousarray(heldout, np.float32).tobytes()).hexdigest()[:16]
    meta_path = Path(index_path) / "meta.json" if index_path is not None else "meta.json"
    recorded = [] if report else [check_gate_record(idx.meta.get("gate"), meta_path,
                                                    "rebuild the index with `textgan index` to refit it")]
    if cache is not None and not report:
        recorded.append(read_gate_cache(cache))
    for info in recorded:
        if info is not None and info["index"] == key and info["method"] == method and info["tpr"] == tpr:
            gate = Gate(scorer, info["threshold"], info["source"], tpr)
            gate.key = key
            return gate
    val, source = held_out_scores(scorer, heldout, idx) if use_held else scorer.in_domain_scores()
    if use_held and idx is not None and (why := other_domain(scorer, val, idx, heldout, prototypes)):
        val, source = scorer.in_domain_scores()
        use_held, source = False, f"{source}: the model's held-out sentences are not of this index's domain ({why})"
    gate = Gate(scorer, choose_threshold(val, tpr), source, tpr)
    gate.calibrated_on_held_out = use_held
    gate.key = key
    if report:
        held_rows = None if not use_held else heldout_rows(idx, heldout)
        gate.report = _fit_report(scorer, val, gate.threshold, tpr,
                                  None if not use_held else np.zeros(0, np.int64) if held_rows is None else held_rows)
    if cache is not None and not report:  # a report is recorded in the index's meta.json instead
        from textgan.common.artifacts import save_json

        try:
            save_json(gate_record(gate, key), cache)
        except OSError as exc:  # a read-only place: the gate still works, just uncached
            warnings.warn(f"could not cache the in-domain threshold beside the index ({exc})", UserWarning,
                          stacklevel=2)
    return gate


def other_domain(scorer, val: np.ndarray, idx, heldout: np.ndarray, prototypes, tpr: float = DOMAIN_TPR) -> str | None:
    """Why the model's held-out sentences do not stand for the index's domain, or None when they do.

    Seen from the index: a model trained on one corpus indexing another (a few of its groups, or
    other ones) scores its held-out sentences as outliers, and a threshold fitted on them would keep
    everything; most of them pass the index rows' own threshold when the domains agree (0.88-0.97
    measured). Seen from the model (its margin head's unit class weights, `prototypes`): the index
    rows must look like its held-out sentences, their nearest-prototype cosine at least the held-out
    sentences' TPR quantile. A FAQ model's held-out sentences passed the CLINC150 val rows' kNN
    threshold at 58% (the two share intents), yet those rows are mostly not the model's groups."""
    rows_val, _ = scorer.in_domain_scores()
    kept = float(np.mean(val >= choose_threshold(rows_val, tpr)))
    if kept < HELD_OUT_AGREEMENT:
        return f"only {kept:.0%} of them pass the index rows' threshold"
    if prototypes is None or not hasattr(idx, "reconstruct_all"):
        return None
    protos = np.asarray(prototypes, np.float32)
    rows = idx.reconstruct_all()
    near = np.concatenate([(rows[s:s + 8192] @ protos.T).max(1) for s in range(0, len(rows), 8192)])
    like = float(np.mean(near >= choose_threshold((np.asarray(heldout, np.float32) @ protos.T).max(1), tpr)))
    if like < PROTOTYPE_AGREEMENT:
        return f"only {like:.0%} of the index rows are as near the model's groups as they are"
    return None


def gate_record(gate: Gate, key: str) -> dict:
    """The JSON a gate is cached (and recorded in an index's meta.json) as."""
    fields = {"index": key, "method": gate.method, "tpr": gate.tpr, "threshold": gate.threshold, "source": gate.source}
    rec = {"format": GATE_FORMAT, **fields, "components": gate.scorer.components, "digest": _digest(fields)}
    if getattr(gate, "report", None):
        rec["report"] = gate.report
    return rec
