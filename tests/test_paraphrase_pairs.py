"""Paraphrase pairs (groups of two sentences) train with the defaults: whole groups are held out."""
from __future__ import annotations

import json

import similarity
from similarity.data import split_whole_groups

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
TEXTS = [t for w in WORDS for t in (f"{w} item please", f"the {w} thing")]
GROUPS = [f"p{i}" for i in range(len(WORDS)) for _ in range(2)]


def test_whole_groups_are_held_out_seeded_and_never_all():
    tr, ho = split_whole_groups(GROUPS, 0.2, seed=0)
    held = {GROUPS[i] for i in ho}
    assert len(held) == 2 and not held & {GROUPS[i] for i in tr} and sorted(tr + ho) == list(range(20))
    assert split_whole_groups(GROUPS, 0.2, seed=0) == (tr, ho)
    assert split_whole_groups(GROUPS, 0.99, seed=0)[1] and len({GROUPS[i] for i in split_whole_groups(
        GROUPS, 0.99, seed=0)[0]}) == 2  # at least 2 groups stay for training
    assert split_whole_groups(GROUPS[:6], 0.2) == ([], [])  # 3 groups: too few


def test_pairs_train_with_a_leave_one_out_held_out_figure(tmp_path):
    import pytest

    cfg = similarity.TrainConfig(epochs=2, batch_size=8, hidden_size=8, embed_dim=8, teacher="none")
    with pytest.warns(UserWarning, match=r"held out \d+ sentences in 2 whole groups"):
        similarity.train(cfg, TEXTS, GROUPS, tmp_path / "run", progress=False)
    conf = json.loads((tmp_path / "run" / "config.json").read_text())
    assert conf["heldout_metric"] == "loo_top1" and conf["n_eval"] == 4 and conf["n_train"] == 16


def test_mostly_pairs_with_a_few_larger_groups_still_hold_out_whole_groups(tmp_path):
    import pytest

    # 2 groups of three would give 2 held-out sentences (one each): too few to choose an epoch on
    texts = TEXTS + ["alpha item now", "bravo item now"]
    groups = GROUPS + ["p0", "p1"]
    cfg = similarity.TrainConfig(epochs=1, batch_size=8, hidden_size=8, embed_dim=8, teacher="none")
    with pytest.warns(UserWarning, match=r"held out \d+ sentences in 2 whole groups"):
        similarity.train(cfg, texts, groups, tmp_path / "run", progress=False)
    conf = json.loads((tmp_path / "run" / "config.json").read_text())
    assert conf["heldout_metric"] == "loo_top1" and conf["n_eval"] + conf["n_train"] == 22
    assert conf["n_eval"] >= 4
