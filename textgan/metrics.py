"""Generation-quality metrics for sets of vectors: real (N, D) vs generated (M, D).

Data-agnostic: works on any embeddings (numpy arrays or torch tensors). The manifold
metrics use Euclidean distance; on unit vectors it is monotone in cosine
(||a - b||^2 = 2 - 2 cos), so they rank neighbours exactly as cosine would.

k-NN radii come from exact FAISS search (IndexFlatL2, batched). Ball membership
("is this sample inside any real k-NN ball?", and how many balls) needs every pair,
so it is a chunked (chunk, N) distance matrix: O(N M D) multiply-adds, memory bounded
by the chunk; generation_report shares one pass between precision and density.
Everything but FD is quadratic in the set sizes.

Both sets are first moved so the reference set's mean is the origin (distances do not
change): the expansion |a|^2 + |b|^2 - 2ab cancels catastrophically when |a| is large
next to |a - b|, e.g. data at offset 100 from the origin. The ball distances are then
computed in float64 as well.

Also here: the benchmark helpers on unit sentence vectors (`typical_nn_cosine`,
`group_coverage`).
"""
from __future__ import annotations

import numpy as np

from textgan.common import args
from textgan.common.errors import InputError
from textgan.common.vectors import as_matrix, check_k, cosine_knn, flat_search, normalize_rows

_CHUNK = 1024  # max query rows per distance block; also capped at 32M entries (256 MB float64)


def _pair(a, b, names=("real", "fake")) -> tuple[np.ndarray, np.ndarray]:
    """Both sets checked (float64) and centred on the mean of the first (the reference set)."""
    a = as_matrix(a, names[0], dtype=np.float64)
    b = as_matrix(b, names[1], dtype=np.float64)
    if a.shape[1] != b.shape[1]:
        raise InputError(f"{names[0]} has dimension {a.shape[1]}, {names[1]} has {b.shape[1]}")
    mu = a.mean(0)
    return a - mu, b - mu


def knn(queries, base, k: int, exclude_self: bool = False, batch: int = 16_384):
    """Exact Euclidean k-NN: distances (Q, k) float32 ascending and ids (Q, k) int64.

    With `exclude_self` (queries *are* base) the first hit is dropped: we ask for k+1 and
    keep columns 1..k. Distances stay right even with duplicate rows, since the (k+1)-th
    smallest distance including the zero self-distance is the k-th excluding it; only the
    ids among exact ties could then name the row itself.
    """
    k = check_k(k, "k")  # 0 or -1 reached numpy as an IndexError, 2.5 as a TypeError
    kk = k + 1 if exclude_self else k
    if kk > len(base):
        raise InputError(f"need more than {kk - 1} vectors for k={k}, got {len(base)}")
    d2, ids = flat_search(queries, base, kk, "l2", batch)
    d = np.sqrt(np.maximum(d2, 0.0))
    if exclude_self:
        d, ids = d[:, 1:], ids[:, 1:]
    return d, ids


def knn_radii(x, k: int) -> np.ndarray:
    """(N,) distance from each row of x to its k-th nearest *other* row."""
    return knn(x, x, k, exclude_self=True)[0][:, -1]


def _ball_counts(queries: np.ndarray, centres: np.ndarray, *radii: np.ndarray) -> list[np.ndarray]:
    """For each radii (N,) array: (Q,) number of balls B(centres[i], radii[i]) holding each query.

    Exact and chunked; several radii share one distance pass (one O(Q N D) matmul).
    """
    q = queries.astype(np.float64)
    c = centres.astype(np.float64)
    c2 = (c * c).sum(1)
    r2 = [r.astype(np.float64) ** 2 for r in radii]
    chunk = max(1, min(_CHUNK, (32 * 2**20) // max(1, len(c))))  # <= 256 MB per block
    out = [np.empty(len(q), np.int64) for _ in radii]
    for s in range(0, len(q), chunk):
        b = q[s:s + chunk]
        d2 = (b * b).sum(1)[:, None] + c2[None, :] - 2.0 * (b @ c.T)  # (chunk, N)
        for o, r in zip(out, r2):
            o[s:s + chunk] = (d2 <= r[None, :]).sum(1)
    return out


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision/recall (Kynkaanniemi et al. 2019, arXiv:1904.06991).

    precision: share of fake samples inside the union of real k-NN balls;
    recall: share of real samples inside the union of fake k-NN balls.
    """
    real, fake = _pair(real, fake)
    precision = (_ball_counts(fake, real, knn_radii(real, k))[0] > 0).mean()
    recall = (_ball_counts(real, fake, knn_radii(fake, k))[0] > 0).mean()
    return float(precision), float(recall)


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, arXiv:2002.09797).

    density = (1 / kM) sum_j #{i : fake_j in B(real_i, r_k(real_i))}  (1 in expectation
    when fake ~ real); coverage = share of real_i whose ball holds at least one fake,
    i.e. whose nearest fake lies within r_k(real_i).
    """
    real, fake = _pair(real, fake)
    radii = knn_radii(real, k)
    density = _ball_counts(fake, real, radii)[0].sum() / (k * len(fake))
    nearest_fake = knn(real, fake, 1)[0][:, 0]
    coverage = (nearest_fake <= radii).mean()
    return float(density), float(coverage)


def expected_coverage(n_real: int, n_fake: int, k: int = 5) -> float:
    """E[coverage] when fake and real come from one distribution (Naeem et al. 2020, eq. 6).

    A real point is uncovered iff its k nearest neighbours among the other N-1 reals and
    M fakes are all real: 1 - prod_{i=1..k} (N - i) / (N + M - i).
    """
    for name, v, low in (("n_real", n_real, k + 1), ("n_fake", n_fake, 0), ("k", k, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise InputError(f"expected_coverage: {name} must be an integer >= {low}"
                             f"{' (k + 1)' if name == 'n_real' else ''}, got {v!r}")
    p = 1.0
    for i in range(1, k + 1):
        p *= (n_real - i) / (n_real + n_fake - i)
    return 1.0 - p


def frechet_from_moments(mu1, cov1, mu2, cov2) -> float:
    """Frechet distance between N(mu1, cov1) and N(mu2, cov2) (Heusel et al. 2017, arXiv:1706.08500).

    ||mu1 - mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^1/2). The trace term is computed as
    the sum of sqrt-eigenvalues of the symmetric PSD matrix C1^1/2 C2 C1^1/2 (same
    spectrum as C1 C2), so no complex sqrtm and no negative rounding noise.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    c1, c2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    w, v = np.linalg.eigh((c1 + c1.T) / 2)
    s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # C1^1/2
    m = s1 @ c2 @ s1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    # >= 0 in exact arithmetic; clip the ~1e-8 rounding noise of identical inputs
    return max(0.0, float(diff @ diff + np.trace(c1) + np.trace(c2) - 2.0 * tr_sqrt))


def frechet_distance(real, fake) -> float:
    """Frechet distance between Gaussians fitted to real and fake (float64 moments)."""
    real, fake = _pair(real, fake)
    if len(real) < 2 or len(fake) < 2:
        raise InputError("Frechet distance needs at least 2 vectors per set")
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    return frechet_from_moments(real.mean(0), np.cov(real, rowvar=False),
                                fake.mean(0), np.cov(fake, rowvar=False))


def authenticity(train, fake) -> float:
    """Share of fake vectors that are not copies (after Alaa et al. 2022, arXiv:2102.08921).

    A fake vector g is authentic when d(g, t) > r_1(t), where t is its nearest train
    vector and r_1(t) the distance from t to its own nearest other train vector: g is
    farther from the data than the data's own spacing. A copy of train scores 0.
    """
    train, fake = _pair(train, fake, ("train", "fake"))
    r1 = knn_radii(train, 1)
    d, ids = knn(fake, train, 1)
    return float((d[:, 0] > r1[ids[:, 0]]).mean())


def generation_report(train, heldout, fake, k_pr: int = 3, k_dc: int = 5) -> dict:
    """All G2 metrics: precision/recall/density/coverage/fd against `heldout`, authenticity against `train`.

    Args:
        train: (N, D) vectors the generator was trained on.
        heldout: (H, D) real vectors it never saw (the reference set).
        fake: (M, D) generated vectors (protocol G2 uses M = H).
        k_pr: neighbours for precision/recall radii (3 in Kynkaanniemi et al.).
        k_dc: neighbours for density/coverage radii (5 in Naeem et al.).
    """
    h, f = _pair(heldout, fake, ("heldout", "fake"))  # centred on the held-out mean
    # one fake-vs-heldout distance pass serves both precision (k_pr radii) and density (k_dc)
    r_pr, r_dc = knn_radii(h, k_pr), knn_radii(h, k_dc)
    in_pr, in_dc = _ball_counts(f, h, r_pr, r_dc)
    recall = (_ball_counts(h, f, knn_radii(f, k_pr))[0] > 0).mean()
    coverage = (knn(h, f, 1)[0][:, 0] <= r_dc).mean()
    return {
        "precision": float((in_pr > 0).mean()), "recall": float(recall),
        "density": float(in_dc.sum() / (k_dc * len(f))), "coverage": float(coverage),
        "fd": frechet_distance(h, f),
        "authenticity": authenticity(train, fake),  # centres train and fake on the train mean itself
    }


# --- benchmark helpers on unit sentence vectors ---------------------------------------------

def typical_nn_cosine(vectors, sample: int = 2000, seed: int = 0) -> float:
    """Median cosine between a (unit) training vector and its nearest *other* training vector.

    This is the training set's own typical neighbour spacing: a generated vector whose
    nearest training vector is farther than this is flagged novel (not a near-copy).
    """
    x = as_matrix(vectors, "vectors")
    sample, seed = args.whole(sample, "sample"), args.seed(seed)
    if len(x) < 2:
        return 1.0
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)  # raw (non-unit) vectors: a cosine, not a dot product of 8.1
    rows = np.random.default_rng(seed).choice(len(x), size=min(sample, len(x)), replace=False)
    scores, _ = cosine_knn(x[rows], x, 1, exclude_self=rows)
    return float(np.median(scores[:, 0]))


def group_coverage(train, train_groups, fake) -> float:
    """Share of groups (intents) that generated vectors reach (protocol G2 `intent_coverage`).

    Each generated vector is decoded to its nearest train sentence; a group is covered when
    at least one vector lands on one of its sentences with a cosine at least the train set's
    median nearest-neighbour cosine (i.e. as close as real paraphrases are to each other).
    """
    x = as_matrix(train, "train vectors")
    f = normalize_rows(as_matrix(fake, "generated vectors", dim=x.shape[1]), "generated vectors")
    from textgan.common.texts import as_labels  # None, one string, a dict (its keys), the wrong length: refused

    groups = np.asarray(as_labels(train_groups, len(x), "train_groups"))
    scores, ids = cosine_knn(f, x, 1)
    threshold = typical_nn_cosine(x, sample=len(x))
    hit = set(groups[ids[scores[:, 0] >= threshold, 0]].tolist())
    return len(hit) / len(set(groups.tolist()))


def auroc(in_scores, out_scores) -> float:
    """Area under the ROC curve for in-domain (positive) vs out-of-domain scores."""
    from sklearn.metrics import roc_auc_score

    a, b = finite_scores(in_scores, "in-domain scores"), finite_scores(out_scores, "out-of-domain scores")
    return float(roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b]))


class FlatScores(InputError):
    """In-domain calibration scores that do not vary; `finding` says so without advice, for a caller
    whose user has other options than `score`'s (`index` builds its gate on the corpus)."""

    def __init__(self, finding: str, advice: str):
        self.finding = finding
        super().__init__(f"{finding}: {advice}")


def score_spread(scores: np.ndarray, what: str) -> float:
    """The std of in-domain calibration scores, refused when they do not vary (one sentence given
    twice, or case variants an encoder reads alike): z-scores divided by it read 5e9, threshold 0."""
    sd, mean = float(np.std(scores)), float(np.mean(scores))
    if not sd > 1e-6 * max(1.0, abs(mean)):
        raise FlatScores(f"the {what} scores of the {len(scores)} in-domain calibration rows do not vary (all "
                         f"{mean:.4g})", "give varied --val-in sentences, or score with one --method")
    return sd


def finite_scores(scores, what: str) -> np.ndarray:
    """A non-empty 1-D array of finite scores (sklearn's own errors name neither side)."""
    if isinstance(scores, (str, bytes)):  # numpy would read "0.5" as the number
        raise InputError(f"{what} must be numbers, got the string {scores!r}")
    try:
        s = np.asarray(scores, float)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers") from None
    if s.ndim > 1 and sum(d > 1 for d in s.shape) > 1:  # a matrix flattened into one list of scores
        raise InputError(f"{what} must be one score per row, got an array of shape {s.shape}")
    s = s.reshape(-1)
    if not len(s) or not np.isfinite(s).all():
        raise InputError(f"{what} must be a non-empty list of finite numbers, got {len(s)} with "
                         f"{int((~np.isfinite(s)).sum())} not finite")
    return s


# --- the demo's reading of a generation report ---------------------------------------------

COLLAPSE_SHARE = 0.5  # recall below half real sentences' own: the samples miss most of the data's spread
COPY_SHARE = 0.2  # authenticity below this: most samples sit on a training vector


def generation_verdict(name: str, gen: dict, gaussian: dict, real: dict) -> str:
    """One plain sentence on `gen` (a `generation_report`): mode collapse (recall far below that of
    `real`, the report of as many real training vectors; with coverage too: few modes), copying (low
    authenticity), or which figures it wins and loses against the per-set Gaussian's report, the
    bar every kind must clear (README, G2)."""
    if gen["recall"] < COLLAPSE_SHARE * real["recall"]:
        few = gen["coverage"] < COLLAPSE_SHARE * real["coverage"]
        return (f"**{name} collapsed**: recall {gen['recall']:.3f} and coverage {gen['coverage']:.3f} of the held-out "
                f"sentences (real training sentences {real['recall']:.3f} / {real['coverage']:.3f}): its samples "
                f"stand for {'a few groups only' if few else 'the middle of the groups, not their spread'}; train "
                "longer (--gan-steps), try another --kind, or use the Gaussian's samples.")
    if gen["authenticity"] < COPY_SHARE:
        return (f"**{name} copies**: only {gen['authenticity']:.0%} of its samples are farther from the training "
                "vectors than those are from each other; its samples are near-duplicates of training sentences.")
    higher = {"precision", "recall", "density", "coverage"}
    won = [k for k in ("precision", "recall", "density", "coverage", "fd")
           if (gen[k] > gaussian[k]) == (k in higher) and gen[k] != gaussian[k]]
    lost = [k for k in ("precision", "recall", "density", "coverage", "fd") if k not in won and gen[k] != gaussian[k]]
    one_run = " (figures of one run, no interval: a lead is not a win until a paired CI excludes zero)"
    if not lost:
        return f"{name} is ahead of the per-set Gaussian on every figure{one_run}."
    big = {"fd": "FD"}
    return (f"{name} is ahead of the per-set Gaussian on {', '.join(big.get(k, k) for k in won) or 'no figure'} and "
            f"behind on {', '.join(f'{big.get(k, k)} ({gen[k]:.3f} vs {gaussian[k]:.3f})' for k in lost)}"
            + (": its samples are less varied than real sentences" if "recall" in lost else "") + f"{one_run}.")


def table_verdict(table: dict) -> str:
    """`generation_verdict` of the first row of the demo's table ({name: report}, with the rows
    "gaussian" and "copy (train vectors)"); "" when the table lacks them."""
    if not table or not {"gaussian", "copy (train vectors)"} <= set(table):
        return ""
    name = next(iter(table))
    return generation_verdict(name, table[name], table["gaussian"], table["copy (train vectors)"])
