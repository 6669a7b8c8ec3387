"""In-domain scoring (textgan.ood.scoring) and the `textgan score` command."""
import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import cli
from helpers import FAQ, UNRELATED, assert_one_line_error, faq_model, run_script
from textgan.common.errors import InputError
from textgan.ood.scoring import (auroc, choose_threshold, fit_calibration, fpr_at_tpr, knn_score, load_scorer,
                             score)

torch.set_num_threads(1)


def test_choose_threshold_and_fpr():
    val = np.arange(100.0)
    assert choose_threshold(val, 0.95) == 5.0  # 95 of 100 scores are >= 5
    assert np.mean(val >= choose_threshold(val, 0.9)) >= 0.9
    assert choose_threshold(val, 1.0) == 0.0
    assert fpr_at_tpr(val, np.array([-1.0, 4.0, 5.0, 50.0]), 0.95) == 0.5
    with pytest.raises(InputError, match="tpr"):
        choose_threshold(val, 0.0)


def test_auroc_matches_pairwise_count():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 300), rng.normal(0, 1, 200)
    pairs = (a[:, None] > b[None, :]).mean() + 0.5 * (a[:, None] == b[None, :]).mean()
    assert auroc(a, b) == pytest.approx(pairs, abs=1e-9)


def test_knn_score_matches_brute_force():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(200, 8)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    q = rng.normal(size=(30, 8)).astype(np.float32)
    cos = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ base.T  # (30, 200)
    top = -np.sort(-cos, axis=1)
    assert np.allclose(knn_score(q, base, 1), top[:, 0], atol=1e-5)
    assert np.allclose(knn_score(q, base, 5), top[:, :5].mean(1), atol=1e-5)
    self_cos = -np.sort(-(base[:20] @ base.T), axis=1)
    assert np.allclose(knn_score(base[:20], base, 3, exclude_self=True), self_cos[:, 1:4].mean(1), atol=1e-5)


def test_leave_self_out_with_row_ids_and_duplicates():
    """Queries that are index rows (any subset, any order) leave out their own row, not just the
    first hit: a duplicated row still scores its copy (cosine 1)."""
    from textgan.index.build import build_index

    rng = np.random.default_rng(2)
    base = rng.normal(size=(100, 8)).astype(np.float32)
    base[50] = base[7]  # row 50 duplicates row 7
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    rows = np.array([7, 50, 3, 99, 12])
    cos = base[rows] @ base.T
    cos[np.arange(len(rows)), rows] = -np.inf  # each row left out of its own neighbours
    ref = -np.sort(-cos, axis=1)[:, :2].mean(1)
    index = build_index(base, [f"s{i}" for i in range(100)])  # texts unique: no row is dropped
    for where in (base, index):
        got = knn_score(base[rows], where, 2, exclude_self=rows)
        assert np.allclose(got, ref, atol=1e-5)
        assert np.isclose(knn_score(base[[7]], where, 1, exclude_self=np.array([7]))[0], 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def faq_assets(tmp_path_factory):
    """FAQ model, its index, and a small Langevin EBM on its vectors (tagged with its fingerprint)."""
    import similarity
    from textgan.gan import EBMConfig, train_gan
    from textgan.workflow.core import index_corpus

    model, texts, groups, vectors = faq_model()
    root = tmp_path_factory.mktemp("score")
    # (gate=False: these tests score, they never search; the index's gate would train a classifier)
    index_corpus(model, FAQ, root / "index", text_col="text", group_col="group", progress=False, gate=False)
    fp = similarity.load(model).fingerprint
    cfg = EBMConfig(steps=400, batch_size=128, width=128, depth=2, n_langevin=10, head="sphere", seed=0)
    ebm = train_gan(vectors, cfg, root / "ebm", meta={"encoder": {"fingerprint": fp}}, progress=False)
    other = train_gan(vectors, EBMConfig(steps=1, batch_size=128, width=8, depth=1), root / "other",
                      meta={"encoder": {"fingerprint": "0123456789abcdef"}}, progress=False)
    sentences = root / "sentences.txt"
    inside = texts[::40]  # 14 FAQ sentences
    sentences.write_text("\n".join(inside + UNRELATED) + "\n", encoding="utf-8")
    val = root / "val.txt"
    val.write_text("\n".join(texts[1::3]) + "\n", encoding="utf-8")
    return {"model": model, "index": root / "index", "ebm": ebm, "other": other, "sentences": sentences,
            "val": val, "n_in": len(inside), "root": root, "vectors": vectors}


@pytest.mark.parametrize("method", ["knn", "energy", pytest.param("combined", marks=pytest.mark.xfail(
    reason="--val-in here are index rows, now scored without themselves (they were self-matches at 1.0, which "
           "made the knn part's z-scores dominate): the 400-step EBM then lifts an unrelated sentence above the "
           "in-domain median, as in test_threshold_from_the_index_keeps_unseen_in_domain_sentences[combined-True]",
    strict=False))])
def test_score_command_ranks_unrelated_sentences_last(faq_assets, method):
    a = faq_assets
    out = a["root"] / f"scores_{method}.jsonl"
    args = ["score", str(a["model"]), str(a["sentences"]), "--method", method, "--val-in", str(a["val"]),
            "--out", str(out)]
    args += ["--gan", str(a["ebm"])] if method == "energy" else ["--index", str(a["index"])]  # energy reads no index
    if method == "combined":
        args += ["--gan", str(a["ebm"])]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    s_in = [r["score"] for r in rows[:a["n_in"]]]
    s_out = [r["score"] for r in rows[a["n_in"]:]]
    assert all(isinstance(r["in_domain"], bool) for r in rows)
    if method == "energy":
        # a 150-step EBM on 528 vectors is too weak to rank reliably (bench/ood.py: AUROC 0.78 on
        # CLINC); check the command reports exactly -E(x) of the encoded sentences
        import similarity

        v = similarity.load(a["model"]).encode(a["sentences"].read_text(encoding="utf-8").splitlines())
        assert np.allclose([r["score"] for r in rows], load_scorer(a["ebm"])(v, "energy"), atol=1e-5)
        return
    assert max(s_out) < np.median(s_in)
    if method == "knn":  # most FAQ lines stay in; the threshold is fitted on the --val-in rows without
        # themselves (whether it also rejects these unrelated sentences is the xfail in test_ood.py)
        assert np.mean([r["in_domain"] for r in rows[:a["n_in"]]]) >= 0.8
        assert "scored without themselves" in res.output


def test_combined_is_mean_of_validation_z_scores(faq_assets):
    v = faq_assets["vectors"]
    sc = load_scorer(faq_assets["ebm"])
    rows = np.arange(1, len(v), 3)  # index rows, each scored without itself (else knn reads 1.0: refused)
    cal = fit_calibration(v[rows], v, sc, exclude_self=rows)
    k_val, e_val = knn_score(v[rows], v, exclude_self=rows), sc(v[rows], "energy")
    q = v[::50]
    ref = ((knn_score(q, v) - k_val.mean()) / k_val.std() + (sc(q, "energy") - e_val.mean()) / e_val.std()) / 2
    assert np.allclose(score(q, "combined", v, sc, calibration=cal), ref, atol=1e-6)
    with pytest.raises(InputError, match="--method critic does not use a 'ebm-langevin' model, which gives energy"):
        score(q, "critic", v, sc)
    with pytest.raises(InputError, match="unknown scoring method .x.; valid: knn, mahalanobis, flow, outlier, critic, energy, energy-head, combined"):
        score(q, "x", v)


def test_score_refuses_model_of_another_encoder(faq_assets):
    a = faq_assets
    code, _, err = run_script("score", a["model"], a["sentences"], "--gan", a["other"], "--method", "energy")
    assert_one_line_error(code, err, "built with encoder 0123456789ab")


def test_scorers_for_every_kind(tmp_path):
    from textgan.gan import GANConfig, OGANConfig, load, train_gan

    x = torch.nn.functional.normalize(torch.randn(64, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    tiny = dict(steps=2, batch_size=16, width=8, depth=1, noise_dim=2)
    train_gan(x, GANConfig(**tiny), tmp_path / "gan", progress=False)
    train_gan(x, OGANConfig(**tiny), tmp_path / "ogan", progress=False)
    sc = load_scorer(tmp_path / "gan")
    assert (sc.kind, sc.methods) == ("gan", ("critic",))
    with torch.no_grad():
        ref = load(tmp_path / "gan").critic(x).numpy()
    assert np.allclose(sc(x.numpy(), "critic"), ref, atol=1e-6)
    so = load_scorer(tmp_path / "ogan")
    with torch.no_grad():
        ref = load(tmp_path / "ogan").critic(x).numpy()
    assert np.allclose(so(x.numpy(), "critic"), ref, atol=1e-6)
    with pytest.raises(InputError, match="gives critic scores, not 'energy'"):
        so(x.numpy(), "energy")


@pytest.mark.parametrize("method, with_ebm", [
    ("knn", False), ("combined", False),
    pytest.param("combined", True, marks=pytest.mark.xfail(strict=False, reason=(
        "the 400-step Langevin EBM ranks unrelated sentences above in-domain ones on the small FAQ encoder "
        "(energy alone: AUROC 0.59 against 11 unrelated sentences, knn 0.95): in the z-scored mean it lifts one "
        "above the in-domain median (README: the search gate on the FAQ model)")))])
def test_threshold_from_the_index_keeps_unseen_in_domain_sentences(faq_assets, tmp_path, method, with_ebm):
    """Without --val-in the threshold comes from index rows, each left out of its own kNN
    component: sentences of the corpus' groups that the index does not hold stay in domain.
    (Matching rows with themselves puts every threshold at cosine 1 and flags everything.)"""
    from textgan.workflow.core import index_corpus

    model, texts, groups, _ = faq_model()
    held = set(range(0, len(texts), 4))  # a quarter of the corpus, spread over the groups
    with open(tmp_path / "part.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "group")] + [(t, g) for i, (t, g) in enumerate(zip(texts, groups))
                                                        if i not in held])
    index_corpus(model, tmp_path / "part.csv", tmp_path / "index", text_col="text", group_col="group",
                 progress=False, gate=False)  # (score fits its own threshold; no search gate needed)
    from textgan.index.build import load_index

    assert "gate" not in load_index(tmp_path / "index").meta  # a retrieval-only build records none
    unseen = [texts[i] for i in sorted(held)]
    (tmp_path / "unseen.txt").write_text("\n".join(unseen + UNRELATED) + "\n", encoding="utf-8")
    out = tmp_path / "scores.jsonl"
    args = ["score", str(model), str(tmp_path / "unseen.txt"), "--index", str(tmp_path / "index"),
            "--method", method, "--out", str(out)]
    if with_ebm:
        args += ["--gan", str(faq_assets["ebm"])]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    share_in = np.mean([r["in_domain"] for r in rows[:len(unseen)]])
    assert share_in >= 0.8, share_in  # the target TPR is 0.95
    # (this small model scores some unrelated sentences above the threshold, but below most FAQ ones)
    assert max(r["score"] for r in rows[len(unseen):]) < np.median([r["score"] for r in rows[:len(unseen)]])
