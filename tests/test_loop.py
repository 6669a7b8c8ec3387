"""Generation in the loop (issue 19): virtual / real outliers in `train-similarity`, the
`energy-head` scorer, thresholds fitted on the held-out split the model keeps."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import similarity
from helpers import assert_one_line_error, torchrun
from similarity.outliers import OutlierLoss, head_logsumexp, uncertainty_loss
from textgan.common.errors import InputError

TINY = similarity.TrainConfig(epochs=3, batch_size=8, lr=5e-3, hidden_size=8, embed_dim=8, seed=0, patience=5,
                              lr_decay="constant", eval_fraction=0.25, teacher="none", vo_start=2, vo_queue=4)
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
TEXTS = [f"{WORDS[g]} {WORDS[(g + j) % 6]} item {j}" for g in range(4) for j in range(5)]
GROUPS = [f"g{g}" for g in range(4) for _ in range(5)]
REAL = ["zulu yankee whiskey", "random noise words", "victor uniform tango"]


def _losses(run):
    return [json.loads(x)["step_losses"] for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("source,real", [("gaussian", None), ("sphere", None), ("mixup", None),
                                         ("none", REAL), ("gaussian", REAL)])
def test_each_source_trains_and_resumes_bitwise(source, real, tmp_path):
    from similarity.checkpoint import load_checkpoint

    cfg = dataclasses.replace(TINY, virtual_outliers=source)
    similarity.train(cfg, TEXTS, GROUPS, tmp_path / "full", progress=False, outliers=real)
    similarity.train(dataclasses.replace(cfg, epochs=2), TEXTS, GROUPS, tmp_path / "r", progress=False, outliers=real)
    similarity.train(cfg, TEXTS, GROUPS, tmp_path / "r", progress=False, resume=True, outliers=real)
    full = _losses(tmp_path / "full")
    assert _losses(tmp_path / "r") == full  # bitwise: the same floats
    control = tmp_path / "control"
    similarity.train(TINY, TEXTS, GROUPS, control, progress=False)
    ctl = _losses(control)
    assert ctl[0] == full[0]  # epoch 1: the queues fill, no loss yet (vo_start=2)
    assert ctl[1] != full[1]  # from epoch 2 the uncertainty loss changes training
    tensors, _ = load_checkpoint(tmp_path / "r" / "checkpoint")
    assert int(tensors["head.vo.count"].sum()) == 3 * 16  # every training row of 3 epochs was queued
    a = similarity.load(tmp_path / "full" / "model").encode(TEXTS)
    b = similarity.load(tmp_path / "r" / "model").encode(TEXTS)
    assert np.array_equal(a, b)


def test_uncertainty_loss_equals_a_hand_computation():
    head = similarity.make_loss("am", dim=2, n_classes=2, scale=2.0)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    x_in, x_out = torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]])
    lse_in, lse_out = head_logsumexp(head, x_in), head_logsumexp(head, x_out)
    assert lse_in.item() == pytest.approx(math.log(math.exp(2.0) + math.exp(0.0)), abs=1e-6)
    assert lse_out.item() == pytest.approx(math.log(math.exp(-2.0) + math.exp(0.0)), abs=1e-6)
    w, b = torch.tensor(0.5), torch.tensor(-0.25)
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    t_in, t_out = 0.5 * lse_in.item() - 0.25, 0.5 * lse_out.item() - 0.25
    hand = (-math.log(sig(t_in)) - math.log(1 - sig(t_out))) / 2
    assert uncertainty_loss(lse_in, lse_out, w, b).item() == pytest.approx(hand, abs=1e-6)


def test_gaussian_outliers_are_the_least_likely_draws():
    torch.manual_seed(0)
    vo = OutlierLoss("gaussian", n_classes=2, dim=3, queue=50, candidates=200, seed=0)
    pts = torch.cat([torch.randn(50, 3) * 0.1 + torch.tensor([1.0, 0, 0]),
                     torch.randn(50, 3) * 0.1 + torch.tensor([0, 1.0, 0])])
    vo.push(pts, torch.tensor([0] * 50 + [1] * 50))
    out = vo.sample(torch.tensor([0, 1]), step=0)
    assert out.shape == (2, 3)
    d = (out - torch.stack([pts[:50].mean(0), pts[50:].mean(0)])).norm(dim=1)
    spread = (pts[:50] - pts[:50].mean(0)).norm(dim=1)
    # the least likely of 200 draws lies farther out than 90% of the group's own vectors (a typical
    # draw, at the median, would not)
    assert (d > spread.quantile(0.9)).all()
    assert torch.equal(out, vo.sample(torch.tensor([0, 1]), step=0))  # seeded by the step


def test_energy_head_ranks_a_far_vector_below_an_in_group_one():
    from textgan.ood.head import head_scorer
    from textgan.ood.scoring import Scorer

    protos = np.eye(4, dtype=np.float32)
    sc = head_scorer((["a", "b", "c", "d"], protos), 30.0, {"fingerprint": "x", "dim": 4})
    near = np.array([[0.95, 0.3, 0.0, 0.0]], np.float32)
    far = np.array([[0.5, 0.5, 0.5, 0.5]], np.float32)  # equally far from every group
    s = Scorer("energy-head", models=[sc])(np.concatenate([near, far]))
    assert s[0] > s[1] + 5
    with pytest.raises(InputError, match="margin head"):
        head_scorer(None, 30.0, {})


def test_threshold_is_calibrated_on_the_held_out_rows(tmp_path):
    from similarity.data import split_groups
    from textgan.ood.scoring import choose_threshold
    from textgan.workflow.score import score_texts

    cfg = dataclasses.replace(TINY, epochs=2)
    similarity.train(cfg, TEXTS, GROUPS, tmp_path / "run", progress=False)
    enc = similarity.load(tmp_path / "run" / "model")
    _, ho = split_groups(TEXTS, GROUPS, cfg.eval_fraction, cfg.seed)
    assert np.allclose(enc.heldout, enc.encode([TEXTS[i] for i in ho]), atol=1e-6)
    res = score_texts(tmp_path / "run" / "model", ["alpha bravo item 9", "qqq"], "energy-head", tpr=0.5)
    assert "held-out sentences" in res["threshold_source"] and f"{len(ho)} " in res["threshold_source"]
    from textgan.ood.head import HeadEnergy

    held = HeadEnergy(enc.prototypes[1], enc.info["train_config"]["scale"]).score(enc.heldout).numpy()
    assert res["threshold"] == pytest.approx(choose_threshold(held, 0.5))


def test_overlapping_outliers_are_dropped_and_counted(tmp_path):
    with pytest.warns(UserWarning, match="dropped 2 outlier sentence"):
        similarity.train(dataclasses.replace(TINY, epochs=2), TEXTS, GROUPS, tmp_path / "run", progress=False,
                         outliers=[TEXTS[0], TEXTS[19], *REAL])
    assert json.loads((tmp_path / "run" / "config.json").read_text())["n_outliers"] == 3
    with pytest.raises(InputError, match="no outlier sentences left"):
        similarity.train(TINY, TEXTS, GROUPS, tmp_path / "run2", progress=False, outliers=[TEXTS[1]])
    assert not (tmp_path / "run2").exists()


@pytest.mark.parametrize("args,needle", [
    (["--virtual-outliers", "vae"], "gaussian"),
    (["--virtual-outliers", "gaussian", "--vo-weight", "-1"], "--vo-weight"),
    (["--virtual-outliers", "gaussian", "--vo-weight", "nan"], "--vo-weight"),
    (["--virtual-outliers", "gaussian", "--vo-start", "9"], "--vo-start"),
    (["--virtual-outliers", "gaussian", "--loss", "infonce"], "margin head"),
    (["--outliers", "MISSING"], "missing file"),
    (["--outliers", "EMPTY"], "empty"),
])
def test_bad_outlier_options_are_one_line_errors(cli_main, tmp_path, args, needle):
    data = tmp_path / "d.csv"
    data.write_text("text,group\n" + "".join(f"{t},{g}\n" for t, g in zip(TEXTS, GROUPS)))
    (tmp_path / "empty.txt").write_text("\n\n")
    args = [str(tmp_path / "missing.txt") if a == "MISSING" else str(tmp_path / "empty.txt") if a == "EMPTY" else a
            for a in args]
    code, _, err = cli_main("train-similarity", data, "--out", tmp_path / "run", "--teacher", "none",
                            "--epochs", "3", "--quiet", *args)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


def test_energy_head_refuses_a_model_without_a_head(cli_main, tmp_path):
    cfg = dataclasses.replace(TINY, loss="infonce", epochs=1)
    similarity.train(cfg, TEXTS, GROUPS, tmp_path / "run", progress=False)
    q = tmp_path / "q.txt"
    q.write_text("alpha bravo\n")
    code, _, err = cli_main("score", tmp_path / "run" / "model", q, "--method", "energy-head",
                            "--out", tmp_path / "s.jsonl")
    assert_one_line_error(code, err, "margin head")
    assert not (tmp_path / "s.jsonl").exists()


def _clusters(n_per: int = 60, dim: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.eye(dim, dtype=np.float32)[:4]
    x = np.concatenate([c + 0.15 * rng.standard_normal((n_per, dim)).astype(np.float32) for c in centres])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_opengan_keeps_the_best_discriminator_and_scores_far_vectors_low(tmp_path):
    from textgan.ood.opengan import OpenGAN, OpenGANConfig, train_opengan
    from textgan.ood.scoring import load_scorer

    x, held = _clusters(), _clusters(20, seed=1)
    far = -np.eye(8, dtype=np.float32)[:4]  # the antipodes of the groups
    model = train_opengan(x, held, OpenGANConfig(steps=600, batch_size=64, width=64, eval_every=50, lr=1e-3), outliers=far,
                          meta={"encoder": {"fingerprint": "abc", "dim": 8}})
    sel = model.selection
    assert sel["against"] == "outliers" and len(sel["history"]) == 12
    assert sel["val_auroc"] == max(h["val_auroc"] for h in sel["history"])  # the best step was kept
    assert sel["val_auroc"] > 0.9
    model.save(tmp_path / "og")
    sc = load_scorer(tmp_path / "og")
    assert sc.methods == ("critic",) and sc.generative
    s_in, s_far = sc(held, "critic"), sc(far, "critic")
    assert np.median(s_in) > s_far.max()
    assert np.allclose(sc.held_out_scores, s_in, atol=1e-5)
    assert isinstance(OpenGAN.load(tmp_path / "og"), OpenGAN)


def test_opengan_without_outliers_is_selected_against_all_steps_generated_vectors():
    """Judged only against its own step's samples, the selection kept a step-400 discriminator
    that ranked random far vectors above in-domain ones 42% of the time (AUROC 0.579, seed 0);
    judged against the bank of every step's samples it keeps one with AUROC >= 0.99."""
    from textgan.ood.opengan import OpenGANConfig, train_opengan
    from textgan.ood.scoring import auroc

    x, held = _clusters(), _clusters(20, seed=1)
    rng = np.random.default_rng(5)
    far = rng.standard_normal((200, 8)).astype(np.float32)
    far /= np.linalg.norm(far, axis=1, keepdims=True)
    far = far[(far @ np.eye(8, dtype=np.float32)[:4].T).max(1) < 0.5]  # away from every group centre
    model = train_opengan(x, held, OpenGANConfig(steps=600, batch_size=64, width=64, eval_every=50, lr=1e-3))
    sel = model.selection
    assert sel["against"] == "generated (all steps)" and len(sel["history"]) == 12
    assert sel["val_auroc"] == max(h["val_auroc"] for h in sel["history"])
    assert auroc(model.score(held).numpy(), model.score(far).numpy()) > 0.95


def test_opengan_of_another_encoder_is_refused(cli_main, tmp_path):
    from textgan.ood.opengan import OpenGANConfig, train_opengan

    similarity.train(dataclasses.replace(TINY, epochs=1), TEXTS, GROUPS, tmp_path / "run", progress=False)
    train_opengan(_clusters(10), _clusters(5, seed=1), OpenGANConfig(steps=20, eval_every=10, width=16),
                  meta={"encoder": {"fingerprint": "0123456789abcdef", "dim": 8}}).save(tmp_path / "og")
    q = tmp_path / "q.txt"
    q.write_text("alpha bravo\n")
    code, _, err = cli_main("score", tmp_path / "run" / "model", q, "--method", "critic", "--gan", tmp_path / "og",
                            "--out", tmp_path / "s.jsonl")
    assert_one_line_error(code, err, "encoder")
    assert not (tmp_path / "s.jsonl").exists()


def test_outlier_loss_under_torchrun_equals_one_process(tmp_path):
    """Two ranks (sharded class centres, queues and draws replicated) give one process's losses."""
    from pathlib import Path

    from safetensors.torch import load_file

    root = Path(__file__).resolve().parents[1]
    data = root / "data" / "faq_en.csv"
    p = torchrun(root / "tests" / "_ddp_loop_worker.py", tmp_path, data, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    texts, groups = similarity.load_groups(data, "text", "group")
    real = ["what is the capital of peru", "play some jazz music", "how tall is mount everest", "book a flight to rome"]
    cfg = similarity.TrainConfig(epochs=3, batch_size=40, lr_decay="constant", teacher="none", hidden_size=32,
                                 embed_dim=32, virtual_outliers="gaussian", vo_start=2, vo_weight=1.0)
    similarity.train(cfg, texts, groups, tmp_path / "one", progress=False, outliers=real)
    a, b = ([v for r in _losses(tmp_path / d) for v in r] for d in ("one", "two"))
    assert len(a) == len(b) >= 20
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-4
    pa, pb = (load_file(tmp_path / d / "model" / "head.safetensors")["prototypes"] for d in ("one", "two"))
    assert float((pa - pb).abs().max()) < 1e-3


def test_search_gate_threshold_comes_from_the_held_out_rows(tmp_path):
    """A corpus indexed whole holds the held-out sentences: they are scored without themselves."""
    from textgan.ood.gate import index_gate
    from textgan.ood.scoring import choose_threshold, knn_score
    from textgan.workflow.core import index_corpus

    similarity.train(dataclasses.replace(TINY, epochs=2), TEXTS, GROUPS, tmp_path / "run", progress=False)
    enc = similarity.load(tmp_path / "run" / "model")
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(TEXTS) + "\n")
    idx = index_corpus(tmp_path / "run" / "model", corpus, tmp_path / "index", progress=False)
    gate = index_gate(idx, tmp_path / "index", "knn", 0.75, heldout=enc.heldout)
    assert gate.source.startswith(f"{len(enc.heldout)} held-out sentences") and "without themselves" in gate.source
    rows = idx.search(enc.heldout, 1)[1][:, 0]
    assert gate.threshold == pytest.approx(choose_threshold(knn_score(enc.heldout, idx, 1, rows), 0.75))
    assert gate.threshold < 0.999  # not the cosine 1 of each held-out sentence to itself
    again = index_gate(idx, tmp_path / "index", "knn", 0.75, heldout=enc.heldout)  # from the cache
    assert again.threshold == gate.threshold and again.source == gate.source
    plain = index_gate(idx, tmp_path / "index", "knn", 0.75)
    assert "held-out" not in plain.source


@pytest.mark.parametrize("kind", ["flow", "boundary", "anchored"])
def test_generator_kind_sources_are_injected_and_resume_bitwise(kind, tmp_path):
    """flow / boundary come from the kinds registry through the workflow's sampler, refitted at every
    epoch start of the loss: a resume (at an epoch start) refits on the same restored queues."""
    from textgan.workflow.vo_kinds import KindSampler, kind_sampler

    cfg = dataclasses.replace(TINY, virtual_outliers=kind)
    with pytest.raises(InputError, match="generator of textgan's kinds"):
        similarity.train(cfg, TEXTS, GROUPS, tmp_path / "no", progress=False)
    assert not (tmp_path / "no").exists()
    assert isinstance(kind_sampler(kind), KindSampler) and kind_sampler("gaussian") is None
    similarity.train(cfg, TEXTS, GROUPS, tmp_path / "full", progress=False, vo_sampler=KindSampler(kind, steps=20))
    similarity.train(dataclasses.replace(cfg, epochs=2), TEXTS, GROUPS, tmp_path / "r", progress=False,
                     vo_sampler=KindSampler(kind, steps=20))
    similarity.train(cfg, TEXTS, GROUPS, tmp_path / "r", progress=False, resume=True,
                     vo_sampler=KindSampler(kind, steps=20))
    full = _losses(tmp_path / "full")
    assert _losses(tmp_path / "r") == full
    similarity.train(TINY, TEXTS, GROUPS, tmp_path / "control", progress=False)
    assert _losses(tmp_path / "control")[1] != full[1]


def test_anchored_outliers_widen_the_residual_and_keep_the_farthest_draw():
    """n(p + T (x - p)) with T = 2, and of K draws the one least like p."""
    from types import SimpleNamespace

    from textgan.workflow.vo_kinds import _rows_widened

    p = torch.tensor([[1.0, 0.0, 0.0]])
    steps = iter([torch.tensor([[0.0, 0.1, 0.0], [0.0, 0.3, 0.0], [0.0, 0.2, 0.0]])])
    model = SimpleNamespace(config=SimpleNamespace(noise_dim=2), net=lambda z, q: q + next(steps))
    out = _rows_widened(model, p, temperature=2.0, candidates=3, seed=0)
    expected = torch.nn.functional.normalize(torch.tensor([[1.0, 0.6, 0.0]]), dim=1)  # p + 2 (0.3 e1)
    assert torch.allclose(out, expected, atol=1e-6)
