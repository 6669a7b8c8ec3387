"""textgan.metrics against brute-force numpy references and closed forms."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from textgan import metrics
from textgan.common.errors import InputError


def _dist(a, b):  # (A, B) Euclidean, float64
    return np.sqrt(((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1))


def _radii(x, k):  # k-th nearest other row
    d = _dist(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def _reference(real, fake, k_pr=3, k_dc=5, train=None):
    """Definitions from the papers, written with a full distance matrix."""
    d_fr = _dist(fake, real)  # (M, N)
    r_real, r_fake = _radii(real, k_pr), _radii(fake, k_pr)
    precision = (d_fr <= r_real[None, :]).any(1).mean()
    recall = (d_fr.T <= r_fake[None, :]).any(1).mean()
    r5 = _radii(real, k_dc)
    inside = d_fr <= r5[None, :]
    density = inside.sum() / (k_dc * len(fake))
    coverage = inside.any(0).mean()
    out = dict(precision=precision, recall=recall, density=density, coverage=coverage)
    if train is not None:
        d_ft = _dist(fake, train)
        nn = d_ft.argmin(1)
        out["authenticity"] = (d_ft.min(1) > _radii(train, 1)[nn]).mean()
    return out


def test_knn_equals_brute_force():
    rng = np.random.default_rng(0)
    x, q = rng.standard_normal((300, 12)), rng.standard_normal((50, 12))
    d, ids = metrics.knn(q, x, 7)
    full = _dist(q, x)
    np.testing.assert_array_equal(ids, np.argsort(full, axis=1)[:, :7])
    np.testing.assert_allclose(d, np.sort(full, axis=1)[:, :7], rtol=1e-4, atol=1e-4)
    # within one set the row itself is excluded: radius = k-th *other* neighbour
    np.testing.assert_allclose(metrics.knn_radii(x, 3), _radii(x, 3), rtol=1e-4, atol=1e-4)
    d_self, ids_self = metrics.knn(x, x, 2, exclude_self=True)
    assert not (ids_self == np.arange(len(x))[:, None]).any()


def test_radii_with_duplicate_rows():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 5))
    x = np.concatenate([x, x[:10]])  # 10 exact duplicates: their 1-NN radius is 0
    r1 = metrics.knn_radii(x, 1)
    assert np.allclose(r1[:10], 0, atol=1e-3) and np.allclose(r1[100:], 0, atol=1e-3)
    np.testing.assert_allclose(r1, _radii(x, 1), atol=1e-3)


def test_all_metrics_match_reference_on_random_data():
    rng = np.random.default_rng(2)
    train = rng.standard_normal((400, 8))
    real = rng.standard_normal((250, 8))
    fake = rng.standard_normal((200, 8)) * 1.3 + 0.3  # overlapping, not identical
    ref = _reference(real, fake, train=train)
    p, r = metrics.precision_recall(real, fake, k=3)
    dens, cov = metrics.density_coverage(real, fake, k=5)
    assert p == pytest.approx(ref["precision"], abs=1e-9)
    assert r == pytest.approx(ref["recall"], abs=1e-9)
    assert dens == pytest.approx(ref["density"], abs=1e-9)
    assert cov == pytest.approx(ref["coverage"], abs=1e-9)
    assert metrics.authenticity(train, fake) == pytest.approx(ref["authenticity"], abs=1e-9)
    assert 0.2 < p < 0.9 and 0.9 < r < 1.0  # a non-trivial case: the wider fake misses, covers


def test_same_distribution_density_one_coverage_expected():
    # Naeem et al.: E[density] = 1 and E[coverage] = 1 - prod (N-i)/(N+M-i) ~ 1 - 2^-5 = 0.969
    rng = np.random.default_rng(3)
    dens, covs = [], []
    for _ in range(3):
        real, fake = rng.standard_normal((2000, 16)), rng.standard_normal((2000, 16))
        d, c = metrics.density_coverage(real, fake, k=5)
        dens.append(d)
        covs.append(c)
    expected = metrics.expected_coverage(2000, 2000, 5)
    assert expected == pytest.approx(0.9688, abs=1e-3)
    assert np.mean(dens) == pytest.approx(1.0, abs=0.08)
    assert np.mean(covs) == pytest.approx(expected, abs=0.015)
    p, r = metrics.precision_recall(real, fake, k=3)
    assert p > 0.6 and r > 0.6 and abs(p - r) < 0.1


def test_disjoint_samples_score_zero():
    rng = np.random.default_rng(4)
    real = rng.standard_normal((300, 10))
    fake = rng.standard_normal((300, 10)) + 50.0
    assert metrics.precision_recall(real, fake) == (0.0, 0.0)
    assert metrics.density_coverage(real, fake) == (0.0, 0.0)


def test_authenticity_copy_is_zero_far_is_one():
    rng = np.random.default_rng(5)
    train = rng.standard_normal((500, 6)).astype(np.float32)
    copy = train[rng.integers(0, 500, 400)]
    assert metrics.authenticity(train, copy) == 0.0
    assert metrics.authenticity(train, train + 100.0) == 1.0
    # half copies, half far: exactly one half authentic
    mixed = np.concatenate([copy[:200], train[:200] + 100.0])
    assert metrics.authenticity(train, mixed) == pytest.approx(0.5)


def test_frechet_closed_form_diagonal():
    rng = np.random.default_rng(6)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    s1, s2 = rng.uniform(0.2, 3, 5), rng.uniform(0.2, 3, 5)
    closed = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    exact = metrics.frechet_from_moments(mu1, np.diag(s1), mu2, np.diag(s2))
    assert exact == pytest.approx(closed, rel=1e-10)
    # samples: 200k rows make the moment error ~1e-2
    a = mu1 + rng.standard_normal((200_000, 5)) * np.sqrt(s1)
    b = mu2 + rng.standard_normal((200_000, 5)) * np.sqrt(s2)
    assert metrics.frechet_distance(a, b) == pytest.approx(closed, abs=0.05)
    assert metrics.frechet_distance(torch.from_numpy(a), torch.from_numpy(a)) == pytest.approx(0, abs=1e-6)


def test_frechet_full_covariance_matches_sqrtm():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    c1, c2 = a @ a.T + 0.1 * np.eye(6), b @ b.T
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * np.real(sqrtm(c1 @ c2)))
    assert metrics.frechet_from_moments(mu1, c1, mu2, c2) == pytest.approx(ref, rel=1e-8)
    # rank-deficient covariances stay finite and non-negative
    low = np.outer(mu1, mu1)
    assert metrics.frechet_from_moments(mu1, low, mu1, low) == pytest.approx(0, abs=1e-6)


def test_generation_report_and_bad_input():
    rng = np.random.default_rng(8)
    train, held = rng.standard_normal((300, 4)), rng.standard_normal((100, 4))
    rep = metrics.generation_report(train, held, rng.standard_normal((100, 4)))
    assert set(rep) == {"precision", "recall", "density", "coverage", "fd", "authenticity"}
    assert all(isinstance(v, float) for v in rep.values())
    # fresh draws from the data distribution sit about as close to it as it does to itself
    assert 0.3 < rep["authenticity"] < 0.7
    with pytest.raises(InputError, match="dimension"):
        metrics.precision_recall(train, rng.standard_normal((10, 5)))
    bad = held.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        metrics.density_coverage(train, bad)
    with pytest.raises(InputError, match="2-d"):
        metrics.authenticity(train, np.zeros((2, 3, 4)))


def test_generation_report_equals_separate_metrics():
    rng = np.random.default_rng(9)
    train, held = rng.standard_normal((400, 6)), rng.standard_normal((300, 6))
    fake = rng.standard_normal((250, 6)) * 0.8 + 0.2
    rep = metrics.generation_report(train, held, fake, k_pr=3, k_dc=5)
    p, r = metrics.precision_recall(held, fake, k=3)
    d, c = metrics.density_coverage(held, fake, k=5)
    ref = _reference(held, fake, train=train)
    assert (rep["precision"], rep["recall"], rep["density"], rep["coverage"]) == (p, r, d, c)
    assert rep["density"] == pytest.approx(ref["density"]) and rep["recall"] == pytest.approx(ref["recall"])
    assert rep["fd"] == pytest.approx(metrics.frechet_distance(held, fake))
    assert rep["authenticity"] == pytest.approx(ref["authenticity"])


@pytest.mark.parametrize("offset", [100.0, 1e4])
def test_metrics_do_not_change_when_both_sets_move_away_from_the_origin(offset):
    # distances are translation invariant; |a|^2 + |b|^2 - 2ab in float32 is not (it cancels
    # when |a| is large next to |a - b|)
    rng = np.random.default_rng(10)
    # spread 0.1 in 32-d: at offset 100, |a|^2 ~ 3e5 while neighbour distances^2 are ~0.1
    train, real = 0.1 * rng.standard_normal((300, 32)), 0.1 * rng.standard_normal((250, 32))
    fake = 0.13 * rng.standard_normal((200, 32)) + 0.01
    ref = _reference(real, fake, train=train)  # float64 differences: no cancellation
    at_origin = metrics.generation_report(train, real, fake)
    moved = metrics.generation_report(train + offset, real + offset, fake + offset)
    for key in ("precision", "recall", "density", "coverage", "authenticity"):
        assert moved[key] == pytest.approx(ref[key], abs=1e-6), key
        assert moved[key] == pytest.approx(at_origin[key], abs=1e-6), key
    assert moved["fd"] == pytest.approx(at_origin["fd"], rel=1e-6)
    p, r = metrics.precision_recall(real + offset, fake + offset)
    d, c = metrics.density_coverage(real + offset, fake + offset)
    assert (p, r, d, c) == pytest.approx((ref["precision"], ref["recall"], ref["density"], ref["coverage"]), abs=1e-6)


def test_typical_nn_cosine_and_group_coverage_match_brute_force():
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((6, 16))
    labels = np.repeat(np.arange(6), 20)
    x = centres[labels] + 0.3 * rng.standard_normal((120, 16))
    x = np.concatenate([x, x[:5]])  # duplicates: their nearest *other* row is the copy, cosine 1
    labels = np.concatenate([labels, labels[:5]])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cos = x @ x.T
    np.fill_diagonal(cos, -np.inf)
    typical = float(np.median(cos.max(1)))
    assert metrics.typical_nn_cosine(x, sample=len(x)) == pytest.approx(typical, abs=1e-6)
    groups = [f"g{g}" for g in labels]
    # generated vectors near the centres of groups 0-2 only (scaled: any norm is accepted)
    fake = 3.0 * (centres[[0, 1, 2]] / np.linalg.norm(centres[[0, 1, 2]], axis=1, keepdims=True))
    best = (fake / 3.0) @ x.T
    hit = {groups[j] for j, s in zip(best.argmax(1), best.max(1)) if s >= typical}
    assert metrics.group_coverage(x, groups, fake) == pytest.approx(len(hit) / 6)
    assert metrics.group_coverage(x, groups, x) == 1.0  # every train vector lands on itself


def _clusters(rng, n, centres, spread=0.05):
    return centres[rng.integers(0, len(centres), n)] + spread * rng.standard_normal((n, centres.shape[1]))


def test_generation_verdict_names_collapse_copying_and_the_figures_lost():
    """The demo report's reading of its generator table (it said nothing when a generator collapsed)."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 8))
    train, held = _clusters(rng, 400, centres), _clusters(rng, 200, centres)
    gauss = metrics.generation_report(train, held, rng.multivariate_normal(train.mean(0), np.cov(train.T), 200))
    real = metrics.generation_report(train, held, train[:200])
    collapsed = metrics.generation_report(train, held, _clusters(rng, 200, centres[:2]))  # 2 of 20 modes
    assert collapsed["recall"] < 0.5 * real["recall"] and collapsed["coverage"] < 0.5 * real["coverage"]
    assert metrics.generation_verdict("gan", collapsed, gauss, real).startswith("**gan collapsed**: recall")
    assert "stand for a few groups only" in metrics.generation_verdict("gan", collapsed, gauss, real)
    centred = metrics.generation_report(train, held, _clusters(rng, 200, centres, spread=1e-3))  # no spread
    assert "the middle of the groups, not their spread" in metrics.generation_verdict("gan", centred, gauss, real)
    copies = metrics.generation_report(train, held, train[:200] + 1e-6)
    assert metrics.generation_verdict("gan", copies, gauss, real).startswith("**gan copies**: only 0% of its samples")
    good = metrics.generation_report(train, held, _clusters(rng, 200, centres))  # the data's own law
    text = metrics.generation_verdict("gan", good, gauss, real)
    lost = [k for k in ("precision", "recall", "density", "coverage") if good[k] < gauss[k]] + \
        ["FD"] * (good["fd"] > gauss["fd"])
    assert ("every figure" in text) == (not lost) and all(f"{k} (" in text for k in lost)
    assert "every figure" in text or "precision" in text.split(" and behind")[0]  # clusters lead a blob on it
    assert "no interval" in text  # one run's figures are leads, not wins


def test_untrained_advice_only_when_training_made_it_worse():
    from similarity.advice import untrained_advice

    assert untrained_advice({"knn_top1": 0.80, "loo_top1": 0.5}, {"knn_top1": 0.802, "loo_top1": 0.3}) is None
    msg = untrained_advice({"knn_top1": 0.70, "loo_top1": 0.5}, {"knn_top1": 0.80, "loo_top1": 0.3})
    assert msg.startswith("training left the encoder below its untrained start on held-out sentences "
                          "(knn_top1 0.700 vs 0.800)")
