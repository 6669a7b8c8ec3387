"""The new in-domain scorers: Mahalanobis, the flow, the outlier classifier and its sources, the
boundary GAN's term, thresholds without leaks, and the search gate. Each formula is checked
against an independent computation."""
import json

import numpy as np
import pytest
import torch

from helpers import FAQ, UNRELATED, assert_one_line_error, faq_model
from textgan.common.errors import InputError
from textgan.ood.scoring import METHODS, Scorer, load_scorer

torch.set_num_threads(1)


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clusters(n_per=40, c=4, d=6, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(c, d))
    g = np.repeat(np.arange(c), n_per)
    return unit(mu[g] + spread * rng.normal(size=(len(g), d))), [f"g{i}" for i in g]


# --- Mahalanobis ----------------------------------------------------------------------------------

def ledoit_wolf_numpy(r):
    """Ledoit & Wolf (2004) shrinkage of the centred rows r (n, p), written out in numpy."""
    n, p = r.shape
    s = r.T @ r / n
    mu = np.trace(s) / p
    delta = ((s - mu * np.eye(p)) ** 2).sum() / p
    beta = sum((((np.outer(x, x) - s) ** 2).sum()) for x in r) / n**2 / p
    shrink = min(beta, delta) / delta
    return shrink * mu * np.eye(p) + (1 - shrink) * s


def test_mahalanobis_matches_numpy():
    from textgan.ood.mahalanobis import fit_mahalanobis

    x, groups = clusters()
    g = np.array(groups)
    m = fit_mahalanobis(x, groups)
    means = np.stack([x[g == k].mean(0) for k in sorted(set(groups))]).astype(np.float64)
    cov = ledoit_wolf_numpy(x.astype(np.float64) - means[[sorted(set(groups)).index(k) for k in groups]])
    prec = np.linalg.inv(cov)
    q = unit(np.random.default_rng(5).normal(size=(7, x.shape[1])))
    ref = [-min((v - mu) @ prec @ (v - mu) for mu in means) for v in q.astype(np.float64)]
    assert np.allclose(m(q), ref, rtol=1e-6, atol=1e-6)
    assert np.allclose(Scorer("mahalanobis", x, groups=groups)(q), ref, rtol=1e-6, atol=1e-6)


def test_mahalanobis_refuses_missing_groups_and_too_few_vectors():
    from textgan.ood.mahalanobis import fit_mahalanobis

    x, groups = clusters(n_per=3, c=4, d=6)
    with pytest.raises(InputError, match="needs group labels .* none were saved"):
        Scorer("mahalanobis", x)
    with pytest.raises(InputError, match="too few in-domain vectors for a covariance: 5 vectors in 4 groups"):
        rows = [0, 1, 3, 6, 9]  # one or two rows of each of the 4 groups
        fit_mahalanobis(x[rows], [groups[i] for i in rows])
    with pytest.warns(UserWarning, match="mostly shrinkage"):
        fit_mahalanobis(x[:8], groups[:8])  # 8 vectors in 3 groups: 5 degrees of freedom, 6 dimensions


def test_mahalanobis_threshold_rows_are_scored_by_fits_without_them():
    from textgan.ood.mahalanobis import fit_mahalanobis

    x, groups = clusters(n_per=30)
    sc = Scorer("mahalanobis", x, groups=groups)
    rows = np.array([3, 50, 77, 100, 119])
    got = sc(x[rows], exclude_self=rows)
    for i, r in enumerate(rows):  # 5 rows, 5 folds: each row's fit leaves exactly that row out
        keep = np.arange(len(x)) != r
        ref = fit_mahalanobis(x[keep], [groups[j] for j in np.flatnonzero(keep)])(x[[r]])
        assert np.isclose(got[i], ref[0])
    assert (got < sc(x[rows])).all()  # a fit that saw the row finds it closer


# --- the flow ---------------------------------------------------------------------------------------

def test_flow_without_couplings_is_the_gaussian_density():
    """Zero-initialised couplings are the identity: the flow is then the whitening alone, i.e. the
    Gaussian with the data's mean and covariance + noise^2 I."""
    from scipy.stats import multivariate_normal

    from textgan.gan.flow import RealNVP

    rng = np.random.default_rng(0)
    for d in (1, 2):
        x = torch.from_numpy(rng.normal(size=(300, d)) @ rng.normal(size=(d, d)) + 3.0).float()
        flow = RealNVP(d, 2, 8, 1)
        flow.fit_whitening(x, noise=0.1)
        cov = np.cov(x.numpy().T.astype(np.float64)).reshape(d, d) + 0.01 * np.eye(d)
        ref = multivariate_normal(x.numpy().mean(0), cov).logpdf(x.numpy()[:20])
        with torch.no_grad():
            assert np.allclose(flow.log_prob(x[:20]).numpy(), ref, atol=1e-3)


def _random_flow(d=5, seed=0):
    from textgan.gan.flow import RealNVP

    torch.manual_seed(seed)
    flow = RealNVP(d, 3, 16, 2).double()
    for layer in flow.layers:  # non-trivial couplings
        torch.nn.init.normal_(layer.net[-1].weight, std=0.3)
    x = torch.randn(200, d, dtype=torch.float64)
    flow.fit_whitening(x, 0.05)
    return flow, x


def test_flow_logdet_matches_the_autograd_jacobian_and_inverts_exactly():
    flow, x = _random_flow()
    for v in x[:4]:
        jac = torch.autograd.functional.jacobian(lambda t: flow(t[None])[0][0], v)  # (D, D)
        assert torch.isclose(flow(v[None])[1][0], torch.linalg.slogdet(jac)[1], atol=1e-8)
        z = flow(v[None])[0]
        ref = -0.5 * (z**2).sum() - 0.5 * len(v) * np.log(2 * np.pi) + torch.linalg.slogdet(jac)[1]
        assert torch.isclose(flow.log_prob(v[None])[0], ref, atol=1e-8)
    with torch.no_grad():
        assert torch.allclose(flow.inverse(flow(x)[0]), x, atol=1e-9)
        z = torch.randn(50, x.shape[1], dtype=torch.float64)
        assert torch.allclose(flow(flow.inverse(z))[0], z, atol=1e-9)


def test_a_diverged_flow_is_not_saved(tmp_path, monkeypatch):
    from textgan.gan import FlowConfig, train_gan
    from textgan.gan.flow import RealNVP

    x, _ = clusters()
    real = RealNVP.log_prob
    # training (with gradients) runs as usual; the final check (no gradients) sees an overflow
    monkeypatch.setattr(RealNVP, "log_prob", lambda self, v: real(self, v) if torch.is_grad_enabled()
                        else torch.full((len(v),), float("inf")))
    cfg = FlowConfig(steps=2, batch_size=16, width=8, depth=1, n_layers=1, checkpoint_every=100)
    with pytest.raises(InputError, match="flow diverged: non-finite log-likelihood .* not saved"):
        train_gan(x, cfg, tmp_path / "flow", progress=False)
    assert not (tmp_path / "flow/config.json").exists()


def test_flow_scores_held_out_rows_and_ranks_far_points_lower(tmp_path):
    from textgan.gan import FlowConfig, train_gan

    x, _ = clusters(n_per=100)
    out = train_gan(x, FlowConfig(steps=200, batch_size=64, width=32, n_layers=4, head="sphere"), tmp_path / "f",
                    progress=False)
    sc = load_scorer(out)
    assert sc.methods == ("flow",) and len(sc.held_out_scores) == 40
    far = unit(np.random.default_rng(9).normal(size=(40, x.shape[1])))
    s = Scorer("flow", models=sc)
    assert np.median(s(far)) < np.median(sc.held_out_scores)
    assert s.in_domain_scores()[1] == "40 corpus rows the model held out of training"


# --- boundary GAN and the outlier classifier ---------------------------------------------------------

def test_kl_uniform_matches_the_definition():
    from textgan.gan.boundary import kl_uniform

    logits = torch.randn(6, 4)
    p = torch.softmax(logits, 1)
    ref = (0.25 * (np.log(0.25) - p.log())).sum(1).mean()
    assert torch.isclose(kl_uniform(logits), ref, atol=1e-6)
    assert kl_uniform(torch.zeros(3, 5)).abs() < 1e-6  # uniform predictions: KL 0


def test_pseudo_outlier_sources(tmp_path):
    from textgan.gan import train_by_name
    from textgan.ood.outlier import SOURCES, pseudo_outliers

    x, groups = clusters()
    ids = np.array([int(g[1:]) for g in groups])
    mix = pseudo_outliers("mixup", x, ids, 50, seed=1)
    assert mix.shape == (50, 6) and np.allclose(np.linalg.norm(mix, axis=1), 1, atol=1e-5)
    # a mixture of two different groups lies nearer to both than they are to each other
    with pytest.raises(InputError, match="needs a trained 'boundary' model"):
        pseudo_outliers("boundary", x, ids, 5)
    tiny = dict(steps=2, batch_size=16, width=8, depth=1, noise_dim=2)
    cond = train_by_name("conditional", x, tmp_path / "c", groups=groups, embed_dim=3, **tiny)
    from textgan.gan import load

    between = pseudo_outliers("conditional", x, ids, 7, generator=load(cond))
    assert between.shape == (7, 6) and np.isfinite(between).all()
    assert set(SOURCES) == {"boundary", "conditional", "mixup", "sphere"}


def test_outlier_classifier_round_trips_and_records_its_source(tmp_path):
    from textgan.gan import train_by_name
    from textgan.ood.outlier import OutlierClassifier, OutlierConfig, train_outlier

    x, groups = clusters(n_per=50)
    b = train_by_name("boundary", x, tmp_path / "b", groups=groups, steps=20, batch_size=32, width=16, depth=1,
                      noise_dim=2)
    clf = train_outlier(x, OutlierConfig(source="boundary", steps=60, width=16), groups, generator=b,
                        meta={"encoder": {"fingerprint": "f"}})
    clf.save(tmp_path / "o")
    info = json.loads((tmp_path / "o/config.json").read_text())
    assert info["source"]["name"] == "boundary" and info["source"]["generator_kind"] == "boundary"
    assert info["source"]["generator"] == str(b.resolve()) and info["source"]["generative"]
    again = OutlierClassifier.load(tmp_path / "o")
    assert torch.equal(again.score(x[:9]), clf.score(x[:9]))
    assert np.allclose(again.held_out_scores, clf.held_out_scores) and len(clf.held_out_scores) == 20
    sc = load_scorer(tmp_path / "o")
    assert sc.methods == ("outlier",) and sc.generative and sc.meta["encoder"]["fingerprint"] == "f"
    # the score is the in-domain log-odds of the (K+1)-way classifier
    with torch.no_grad():
        logits = again.net(torch.from_numpy(x[:5]))
    p = torch.softmax(logits, 1)
    assert np.allclose(sc(x[:5], "outlier"), (p[:, :-1].sum(1) / p[:, -1]).log().numpy(), atol=1e-4)
    binary = train_outlier(x, OutlierConfig(source="sphere", steps=5, width=8))  # no groups: a binary classifier
    assert binary.net.k == 1 and not binary.source["generative"]
    mlp = train_outlier(x, OutlierConfig(source="sphere", head="mlp", steps=5, width=8))
    assert mlp.net[-1].out_features == 1


def test_methods_table_and_combined_of_any_set():
    x, groups = clusters(n_per=30)
    assert list(METHODS) == ["knn", "mahalanobis", "flow", "outlier", "critic", "energy", "energy-head", "combined"]
    with pytest.raises(InputError, match="unknown scoring method 'nope'; valid: knn, mahalanobis, flow"):
        Scorer("nope", x)
    sc = Scorer("combined", x, groups=groups, combine=["knn", "mahalanobis"])
    cal = sc.fit_calibration(x[::3], exclude_self=np.arange(0, len(x), 3))  # index rows, scored without themselves
    sc.calibration = cal
    q = x[1::7]
    k, m = Scorer("knn", x)(q), Scorer("mahalanobis", x, groups=groups)(q)
    ref = ((k - cal.stats["knn"][0]) / cal.stats["knn"][1] + (m - cal.stats["mahalanobis"][0])
           / cal.stats["mahalanobis"][1]) / 2
    assert np.allclose(sc(q), ref)
    with pytest.raises(InputError, match="combined: the flow component needs a model"):
        Scorer("combined", x, combine=["knn", "flow"])


def similarity_vectors(model, texts):
    import similarity

    return similarity.load(model).encode(texts)


# --- the commands --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def faq_index(tmp_path_factory):
    from textgan.workflow.core import index_corpus

    model, texts, groups, _ = faq_model()
    root = tmp_path_factory.mktemp("ood")
    index_corpus(model, FAQ, root / "index", text_col="text", group_col="group", progress=False)
    index_corpus(model, FAQ, root / "plain", text_col="text", progress=False)
    return model, texts, groups, root


def test_score_mahalanobis_without_groups_is_one_error_line(faq_index, cli_main, tmp_path):
    model, texts, _, root = faq_index
    (tmp_path / "q.txt").write_text("hello\n")
    code, _, err = cli_main("score", model, tmp_path / "q.txt", "--index", root / "plain", "--method", "mahalanobis")
    assert_one_line_error(code, err, "mahalanobis score needs group labels", "--labels")
    for bad in ("1.5", "0", "nan"):
        code, _, err = cli_main("score", model, tmp_path / "q.txt", "--index", root / "index", "--tpr", bad)
        assert_one_line_error(code, err, "--tpr must be in (0, 1)")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    code, _, err = cli_main("score", model, tmp_path / "q.txt", "--index", root / "plain", "--method",
                            "mahalanobis", "--labels", tmp_path / "labels.txt")
    assert_one_line_error(code, err, "2 labels for an index of")


def test_score_mahalanobis_with_labels_file_flags_unrelated_sentences(faq_index, cli_main, tmp_path):
    model, texts, groups, root = faq_index
    from textgan.index.build import load_index

    idx = load_index(root / "plain")  # its rows, in order, with their groups from the corpus
    by_text = dict(zip(texts, groups))
    (tmp_path / "labels.json").write_text(json.dumps([by_text[t] for t in idx.texts]))
    (tmp_path / "q.txt").write_text("\n".join(texts[::60] + UNRELATED) + "\n")
    code, out, err = cli_main("score", model, tmp_path / "q.txt", "--index", root / "plain", "--method",
                              "mahalanobis", "--labels", tmp_path / "labels.json")
    assert code == 0, err
    # the model keeps its held-out split: index rows here, each scored by a fit without itself
    assert "mahalanobis threshold" in err and "held-out sentences of the encoder's training run" in err \
        and "without themselves" in err
    scores = [float(ln.split()[0]) for ln in out.splitlines()]
    # (on 528 sentences in 66 groups the thresholds' leave-out fits are weak; the ranking is not)
    assert max(scores[-3:]) < min(scores[:-3])


def test_search_marks_out_of_domain_queries_and_caches_the_threshold(faq_index, cli_main):
    from textgan.ood.scoring import DEFAULT_METHOD

    model, texts, _, root = faq_index
    qs = [texts[5], *UNRELATED]
    code, out, err = cli_main("search", root / "index", "--json", *qs, "--k", "2")
    assert code == 0, err
    rows = [json.loads(ln) for ln in out.splitlines()]
    assert [r["query"] for r in rows] == qs and all(len(r["hits"]) == 2 for r in rows)
    assert rows[0]["in_domain"] and rows[0]["method"] == DEFAULT_METHOD
    assert all(r["in_domain"] == (r["in_domain_score"] >= r["threshold"]) for r in rows)
    assert max(r["in_domain_score"] for r in rows[1:]) < rows[0]["in_domain_score"]
    # recorded in meta.json by the index build (fitted on the held-out sentences) and read from there
    # (test_index_calibrates_the_gate_on_the_models_held_out_sentences changes the record and sees it)
    from textgan.index.build import load_index

    assert rows[0]["threshold"] == load_index(root / "index").meta["gate"]["threshold"]
    code, table, _ = cli_main("search", root / "index", *qs, "--k", "1")
    heads = [ln for ln in table.splitlines() if not ln.startswith("  ")]
    assert [("OUT OF DOMAIN" in h) for h in heads] == [not r["in_domain"] for r in rows]


@pytest.mark.xfail(strict=False, reason="the small distilled FAQ encoder puts unrelated sentences at max cosine "
                   "0.59-0.73 to some FAQ row, above the 5% quantile of its held-out in-domain sentences (0.49-0.50), "
                   "at seeds 0-2 with the defaults and seeds 1-2 with --embed-init teacher: no knn threshold keeping "
                   "95% rejects them (seed 0 without teacher-static and augmentation: 0.502 vs 0.500, a pass by a "
                   "hair): README, the search gate on the FAQ model")
def test_knn_gate_of_the_small_faq_encoder_rejects_the_farthest_unrelated_sentence(faq_index):
    from textgan.index.build import load_index
    from textgan.ood.gate import index_gate

    model, texts, _, root = faq_index
    # the knn gate on this small encoder: the FAQ sentence stays in, the farthest unrelated one is out
    import similarity

    enc = similarity.load(model)
    g = index_gate(load_index(root / "index"), root / "index", method="knn", heldout=enc.heldout)
    scores, inside = g(enc.encode([texts[5], *UNRELATED]))
    assert inside[0] and not inside[1 + int(np.argmin(scores[1:]))]


def test_index_calibrates_the_gate_on_the_models_held_out_sentences(faq_index, cli_main, tmp_path):
    """`textgan index` fits the search gate's threshold on the sentences the encoder never trained
    on, records on which in meta.json, prints the promised and reached TPR, and `search` uses it."""
    import shutil

    import similarity
    from textgan.index.build import load_index
    from textgan.workflow.heldout import calibrate_index_gate

    model, texts, _, root = faq_index
    enc = similarity.load(model)
    n = len(enc.heldout)
    # the fixture's index (built with groups): knn + its outlier classifier, calibrated on held-out
    grouped = load_index(root / "index").meta["gate"]
    assert grouped["components"] == ["knn", "outlier:0"] and grouped["calibrated_on"].startswith("held-out")
    # (without groups the default is knn alone: no classifier to train, a cheap test of the rest)
    code, out, err = cli_main("index", model, FAQ, "--text-col", "text", "--out", tmp_path / "ix", "--no-progress")
    assert code == 0, err
    g = load_index(tmp_path / "ix").meta["gate"]
    assert g["components"] == ["knn"]
    r = g["report"]
    assert g["calibrated_on"] == f"held-out: {n} sentences of model {model} (never trained on)"
    assert r["promised_tpr"] == 0.95 and r["n"] == n and 0.95 <= r["reached_tpr"] < 0.96
    assert 0.9 <= r["cross_fitted_tpr"] <= 1.0
    # beside it, the threshold the index rows the encoder trained on give (each scored without itself)
    # and the share of held-out sentences it keeps (issue 19: 93.0% and 87.5% on other intent sets;
    # on this FAQ model its side varies with the seed: 0.939, 0.947, 0.970 at seeds 0-2)
    from textgan.ood.gate import held_out_scores, heldout_rows, index_gate
    from textgan.ood.scoring import choose_threshold

    idx = load_index(tmp_path / "ix")
    sc = index_gate(idx, tmp_path / "ix", heldout=enc.heldout).scorer
    sample, rows = sc.index_rows()
    train = ~np.isin(rows, heldout_rows(idx, enc.heldout))
    assert train.sum() == len(rows) - np.isin(rows, heldout_rows(idx, enc.heldout)).sum() > 0
    rows_thr = choose_threshold(sc(sample[train], exclude_self=rows[train]), 0.95)
    assert r["rows_threshold"] == pytest.approx(rows_thr)
    held, _ = held_out_scores(sc, enc.heldout, idx)
    assert r["rows_threshold_tpr"] == pytest.approx(np.mean(held >= rows_thr))
    assert r["reached_tpr"] == pytest.approx(np.mean(held >= g["threshold"]))
    assert f"calibrated on held-out: {n} sentences of model" in out
    assert f"promised TPR 0.95, reached {r['reached_tpr']:.3f} on those {n} sentences" in out
    assert f"keeping {r['rows_threshold_tpr']:.3f} of the held-out sentences" in out
    # search reads the recorded threshold (not a refit): a changed record is what it reports
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    meta["gate"]["threshold"] = 0.125
    (tmp_path / "ix" / "meta.json").write_text(json.dumps(meta))
    code, js, err = cli_main("search", tmp_path / "ix", "--json", texts[5])
    # the record carries a digest; the remedy is a rebuild, never deleting meta.json
    assert_one_line_error(code, err, "meta.json", "checksum mismatch", "rebuild the index")
    from textgan.ood.gate import _digest

    meta["gate"]["digest"] = _digest({k: meta["gate"][k] for k in ("index", "method", "tpr", "threshold", "source")})
    (tmp_path / "ix" / "meta.json").write_text(json.dumps(meta))
    code, js, err = cli_main("search", tmp_path / "ix", "--json", texts[5])
    assert code == 0, err
    assert json.loads(js)["threshold"] == 0.125
    # a model that kept no held-out sentences: the index rows, said to be optimistic
    shutil.copytree(tmp_path / "ix", tmp_path / "old")
    enc.heldout = None
    rec = calibrate_index_gate(enc, load_index(tmp_path / "old"), tmp_path / "old", "m")
    assert rec["calibrated_on"].startswith("index rows (training sentences): optimistic")
    assert "rows_threshold" not in rec["report"] and rec["threshold"] != g["threshold"]
    assert load_index(tmp_path / "old").meta["gate"]["threshold"] == rec["threshold"]


def test_demo_report_marks_out_of_domain_queries(faq_index, tmp_path):
    from textgan.workflow.demo import _report

    g = {"in_domain": False, "method": "knn", "threshold": 0.8, "in_domain_score": 0.5}
    r = {"data": "d", "n_sentences": 1, "n_held_out": 1, "n_groups": 1,
         "config": {"holdout": 0.25, "gan_kind": "anchored"},
         "seconds": {"total": 1, "similarity": 1, "gan": 1}, "similarity": {"trained": {}, "untrained": {}},
         "index": {}, "generation": {}, "generated": {"n": 0, "novel_share": 0.0}}
    text = _report(r, [("What is the boiling point of mercury?", {"text": "Is there a live chat?", "group": "x",
                                                                  "score": 0.57}, g)], [])
    assert "| What is the boiling point of mercury? | Is there a live chat? | x | 0.570 | **no: out of domain** |" in text


def test_train_outlier_command_and_scoring_with_it(faq_index, cli_main, tmp_path):
    model, texts, _, root = faq_index
    code, out, err = cli_main("train-outlier", model, FAQ, "--text-col", "text", "--group-col", "group",
                              "--steps", "150", "--out", tmp_path / "o")
    assert code == 0, err
    (tmp_path / "q.txt").write_text("\n".join(texts[::60] + UNRELATED) + "\n")
    code, out, err = cli_main("score", model, tmp_path / "q.txt", "--method", "outlier", "--gan", tmp_path / "o")
    assert code == 0, err
    assert "held-out sentences of the encoder's training run" in err  # threshold without --val-in
    import similarity

    # (528 FAQ sentences are too few to rank unseen sentences reliably; bench/ood.py measures that)
    scores = [float(ln.split()[0]) for ln in out.splitlines()]
    v = similarity.load(model).encode(texts[::60] + UNRELATED)
    assert np.allclose(scores, load_scorer(tmp_path / "o")(v, "outlier"), atol=1e-3)
    code, _, err = cli_main("train-outlier", model, FAQ, "--text-col", "text", "--source", "boundary",
                            "--out", tmp_path / "o2")
    assert_one_line_error(code, err, "needs a trained 'boundary' model")
    # the source is checked before the corpus is read or encoded: a missing corpus is not reached
    from textgan.ood.outlier import OutlierConfig
    from textgan.workflow.score import train_outlier_on_corpus

    with pytest.raises(InputError, match="needs a trained 'boundary' model"):
        train_outlier_on_corpus(model, tmp_path / "missing.csv", tmp_path / "o3", OutlierConfig(source="boundary"))
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


def test_outlier_without_a_model_uses_the_index_classifier_cached_beside_it(faq_index, cli_main, tmp_path):
    import similarity
    from textgan.index.build import load_index
    from textgan.ood.gate import heldout_rows
    from textgan.ood.scoring import Scorer, load_scorer
    from textgan.workflow.score import score_texts

    model, texts, _, root = faq_index
    (tmp_path / "q.txt").write_text("\n".join(texts[:3]) + "\n")
    code, out, err = cli_main("score", model, tmp_path / "q.txt", "--index", root / "index", "--method", "outlier")
    assert code == 0, err
    assert "held-out sentences of the encoder's training run" in err
    # the threshold is fitted on the model's held-out sentences, so the classifier does not train on them
    info = json.loads((root / ".index.gate/outlier_heldout/config.json").read_text())
    assert info["source"]["name"] == "sphere" and info["meta"]["index"]
    enc, idx = similarity.load(model), load_index(root / "index")
    held = heldout_rows(idx, enc.heldout)
    clf = load_scorer(root / ".index.gate/outlier_heldout")
    assert len(held) == len(enc.heldout) and not set(held) & set(clf.model.held_out_rows)
    code, out2, _ = cli_main("score", model, tmp_path / "q.txt", "--index", root / "index", "--method", "outlier")
    assert out2 == out  # the cached classifier, not a new one
    # the default method: knn + that classifier, its z-scores on the rows the classifier held out
    code, out3, err = cli_main("score", model, tmp_path / "q.txt", "--index", root / "index")
    assert code == 0 and "combined threshold" in err and "held-out sentences of the encoder" in err, err
    res = score_texts(model, texts[:3], index=root / "index")
    sc = Scorer("combined", idx, [clf], sample_rows=clf.model.held_out_rows)
    assert np.allclose(res["scores"], sc(similarity_vectors(model, texts[:3])), atol=1e-5)


def test_index_of_another_corpus_is_not_calibrated_on_the_model_s_held_out_sentences(faq_index, cli_main, tmp_path):
    """A model indexing a corpus of a few of its groups: its held-out sentences (all groups) score as
    outliers of that index, and a threshold fitted on them kept everything (-30.5 against -0.62 from
    the index rows). The gate falls back to the index rows and says why."""
    from textgan.index.build import load_index

    model = faq_index[0]
    lines = FAQ.read_text(encoding="utf-8").splitlines()
    (tmp_path / "few.csv").write_text("\n".join(lines[:41]) + "\n", encoding="utf-8")
    code, out, err = cli_main("index", model, tmp_path / "few.csv", "--text-col", "text", "--group-col", "group",
                              "--out", tmp_path / "ix", "--no-progress")
    assert code == 0, err
    g = load_index(tmp_path / "ix").meta["gate"]
    assert g["calibrated_on"].startswith("index rows: ") and "not of this index's domain" in g["calibrated_on"]
    assert "not of this index's domain" in out and g["threshold"] > -5


def test_index_of_the_models_held_out_sentences_or_of_a_few_rows_gets_a_gate(cli_main, tmp_path):
    """Two corpora the gate once failed on: the model's own held-out sentences (the index classifier
    was left no row to train on) and a few rows (a classifier holding out 0 or 1 row: a 3-d sample,
    a report without a cross-fitted figure, a traceback)."""
    import csv

    import similarity

    model, texts, groups, vectors = faq_model()
    held = similarity.load(model).heldout
    is_held = (vectors @ held.T).max(1) >= 0.9999
    for name, rows in (("held", np.flatnonzero(is_held)), ("ten", np.arange(10)), ("five", np.arange(5))):
        with open(tmp_path / f"{name}.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([("text", "group"), *((texts[i], groups[i]) for i in rows)])
        code, out, err = cli_main("index", model, tmp_path / f"{name}.csv", "--text-col", "text", "--group-col", "group",
                                  "--out", tmp_path / f"ix_{name}")
        assert code == 0, (name, err)
        gate = json.loads((tmp_path / f"ix_{name}" / "meta.json").read_text())["gate"]
        assert np.isfinite(gate["threshold"]) and "promised TPR 0.95" in out
        code, out, err = cli_main("search", tmp_path / f"ix_{name}", texts[int(rows[0])], "--k", "1")
        assert code == 0 and texts[int(rows[0])] in out, err
    assert is_held.sum() >= 100  # the held-out index: about a quarter of the 528 sentences


def test_held_out_sentences_stand_for_an_index_only_when_its_rows_are_near_the_model_s_groups():
    """A FAQ model's held-out sentences passed the kNN threshold of CLINC150 val rows at 58% (the two
    share intents), so that index was calibrated on FAQ sentences; seen from the model's head, only
    49% of those rows are as near its groups as its held-out sentences are (0.99 on its own corpus)."""
    from types import SimpleNamespace

    from textgan.ood.gate import other_domain

    rng = np.random.default_rng(0)
    protos = rng.standard_normal((10, 16)).astype(np.float32)
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)

    def near(n, spread=0.3):
        x = protos[rng.integers(0, 10, n)] + spread * rng.standard_normal((n, 16)).astype(np.float32) / 4
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    held, own = near(100), near(400, 0.25)
    other = np.concatenate([near(200, 0.25), rng.standard_normal((200, 16)).astype(np.float32)])
    other[200:] /= np.linalg.norm(other[200:], axis=1, keepdims=True)
    scores = np.linspace(0, 1, 400)
    scorer = SimpleNamespace(in_domain_scores=lambda: (scores, "rows"))
    val = np.full(100, 0.9)  # every held-out sentence passes the index rows' own threshold
    for rows, expect in ((own, None), (other, "of the index rows are as near the model's groups as they are")):
        why = other_domain(scorer, val, SimpleNamespace(reconstruct_all=lambda r=rows: r), held, protos, 0.95)
        assert why == expect or expect in why
    assert other_domain(scorer, val, SimpleNamespace(reconstruct_all=lambda: other), held, None, 0.95) is None
    why = other_domain(scorer, np.full(100, 0.01), SimpleNamespace(reconstruct_all=lambda: own), held, protos, 0.95)
    assert why == "only 0% of them pass the index rows' threshold"
