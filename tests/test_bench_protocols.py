"""The bench protocols' own parts, on small synthetic data: the long-tail cut, distribution
calibration and its closed-form LDA, CAS, paired episodes and flag refusals."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import calibration, cas, longtail  # noqa: E402


def test_long_tail_cuts_every_third_intent_to_its_first_sentences():
    data = {"train": [(f"{g} {i}", g) for g in "abcdef" for i in range(10)]}
    keep, names, tail = longtail.long_tail(data, tail_size=2)
    assert names == list("abcdef") and tail.tolist() == [False, False, True, False, False, True]
    kept = [data["train"][i] for i in keep]
    assert [t for t, g in kept if g == "c"] == ["c 0", "c 1"]  # the first two, in file order
    assert sum(g == "a" for _, g in kept) == 10 and len(kept) == 4 * 10 + 2 * 2


def base_of(d=6, sigma=0.05, n=400, seed=0):
    rng = np.random.default_rng(seed)
    means = np.eye(d)[:3]  # three base classes at e1, e2, e3
    x = np.concatenate([m + sigma * rng.standard_normal((n, d)) for m in means])
    return x, np.repeat(np.arange(3), n)


def test_calibrated_mean_moves_toward_the_nearest_base_means():
    x, y = base_of()
    base = calibration.base_stats(x, y)
    shot = np.array([[0.6, 0.5, 0.0, 0.0, 0.0, 0.0]])
    mu, near = calibration.calibrated_means(shot, base, k=1, w=1.0)
    assert near.tolist() == [[0]] and np.allclose(mu[0], base.means[0])
    mu2, near2 = calibration.calibrated_means(shot, base, k=2, w=0.5)
    assert sorted(near2[0].tolist()) == [0, 1]
    assert np.allclose(mu2[0], shot[0] + 0.5 * (base.means[:2].mean(0) - shot[0]))


def test_dc_samples_follow_the_borrowed_statistics():
    x, y = base_of(sigma=0.02)
    base = calibration.base_stats(x, y)
    shots = np.array([[0.9, 0.1, 0, 0, 0, 0], [0.1, 0.9, 0, 0, 0, 0.1]], dtype=np.float32)
    s, lab = calibration.dc_sample(shots, np.array([0, 1]), 3000, base, k=1, w=1.0, alpha=0.0,
                                   rng=np.random.default_rng(0))
    assert np.bincount(lab).tolist() == [3000, 3000]
    assert np.allclose(np.linalg.norm(s, axis=1), 1, atol=1e-5)
    # w = 1, k = 1: class 0 samples are N(e1, base cov of class 0), class 1 around e2
    assert (s[lab == 0] @ np.eye(6)[0]).mean() > 0.99 and (s[lab == 1] @ np.eye(6)[1]).mean() > 0.99
    assert s[lab == 0][:, 2].std() == pytest.approx(0.02, rel=0.1)  # the borrowed spread, not the shot's (none)
    wide, _ = calibration.dc_sample(shots, np.array([0, 1]), 3000, base, 1, 1.0, alpha=4.0,
                                    rng=np.random.default_rng(0))
    assert wide[:3000, 2].std() > 2 * s[lab == 0][:, 2].std()  # alpha adds alpha * v I


def test_calibrated_lda_is_the_mahalanobis_nearest_mean_classifier():
    rng = np.random.default_rng(1)
    x, y = base_of(sigma=0.1)
    base = calibration.base_stats(x, y)
    shots = rng.standard_normal((6, 6)).astype(np.float32)
    labels = np.array([0, 0, 1, 1, 2, 2])
    test = rng.standard_normal((200, 6))
    pred = calibration.lda_predict(shots, labels, test, base, k=2, w=0.0, shrink=0.3)
    cov = 0.7 * base.pooled + 0.3 * base.var * np.eye(6)
    inv = np.linalg.inv(cov)
    means = np.stack([shots[labels == c].mean(0) for c in range(3)])
    d = np.stack([np.einsum("nd,de,ne->n", test - m, inv, test - m) for m in means], 1)
    assert (pred == d.argmin(1)).all()


def test_cas_of_real_vectors_is_high_and_of_shuffled_labels_is_chance():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((5, 8)) * 3
    x = np.concatenate([c + rng.standard_normal((40, 8)) for c in centres])
    y = np.repeat(np.arange(5), 40)
    t = np.concatenate([c + rng.standard_normal((20, 8)) for c in centres])
    ty = np.repeat(np.arange(5), 20)
    assert cas.correct_of(x, y, t, ty, 0).mean() > 0.95
    assert cas.correct_of(x, rng.permutation(y), t, ty, 0).mean() < 0.5


def test_fewshot_episodes_are_the_same_for_every_method():
    from bench import fewshot

    class Args:
        seed, per_group = 0, 3

    py = np.repeat(np.arange(4), 10)
    s = fewshot.Split.__new__(fewshot.Split)
    s.name, s.py, s.k, s.args = "test", py, 4, Args()
    a, _ = s.episode(2, 0)
    b, _ = s.episode(2, 0)
    c, _ = s.episode(2, 1)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert np.bincount(py[a]).tolist() == [2, 2, 2, 2]


def test_pair_bench_test_pairs_share_no_sentence_with_training():
    from bench.pairs import split_pairs

    a = [f"s{i % 7}" for i in range(40)]
    b = [f"t{i}" for i in range(40)]
    tr, te, dropped = split_pairs(40, a, b, 0.5, seed=3)
    seen = {a[i] for i in tr} | {b[i] for i in tr}
    assert len(tr) == 20 and len(te) + dropped == 20 and dropped > 0
    assert not any(a[i] in seen or b[i] in seen for i in te)
    assert split_pairs(40, a, b, 0.5, seed=3) == (tr, te, dropped)


def test_pair_bench_accuracy_uses_the_training_threshold():
    from bench.pairs import figures

    y_train, cos_train = np.array([1, 1, 0, 0.]), np.array([0.9, 0.8, 0.3, 0.2])  # best threshold 0.8
    y_test, cos_test = np.array([1, 0, 1, 0.]), np.array([0.85, 0.82, 0.5, 0.1])
    out, correct = figures(cos_train, y_train, cos_test, y_test, binary=True)
    assert out["threshold"] == 0.8 and correct.tolist() == [1, 0, 0, 1] and out["accuracy"] == 0.5
    assert out["accuracy_best_on_test"] == 0.75 and out["auroc"] == 0.75


def test_chamfer_is_the_symmetric_mean_nearest_distance():
    import torch

    from bench.toy import chamfer

    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    assert chamfer(x, x) == 0.0
    y = torch.tensor([[0.0, 0.5]])  # x -> y: 0.5 and sqrt(1.25); y -> x: 0.5
    assert chamfer(x, y) == pytest.approx((0.5 + 1.25**0.5) / 2 + 0.5)
    assert chamfer(x, y) == pytest.approx(chamfer(y, x))
