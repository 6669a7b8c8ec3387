"""Results of the fifteenth sweep, read as a new user reads them: repeated sentences that were their
own leave-one-out partners, pairs of training sentences, a --positive-min that changed what
"spearman" measured, and a score --help that described an older threshold."""
from __future__ import annotations

import json

import pytest

from helpers import ROOT


def test_repeated_sentences_are_dropped_before_leave_one_out(faq):
    """The same file twice read loo_top1 1.0: every sentence found its own copy."""
    import similarity

    model, texts, groups, _ = faq
    once = similarity.evaluate(similarity.load(model), texts[::4], groups[::4])
    with pytest.warns(UserWarning, match=f"dropped {len(texts[::4])} repeated sentence"):
        twice = similarity.evaluate(similarity.load(model), texts[::4] * 2, groups[::4] * 2)
    assert twice["loo_top1"] == once["loo_top1"] < 1.0 and twice["n"] == once["n"]


def test_repeated_held_out_sentences_are_dropped_and_counted():
    from similarity.heldout_rows import drop_seen

    with pytest.warns(UserWarning, match="dropped 2 repeated held-out sentence"):
        t, g = drop_seen(["a b", "c d", "a b", "c d"], ["x", "y", "x", "y"], ["e f"], "ev.csv")
    assert (t, g) == (["a b", "c d"], ["x", "y"])


def test_pairs_of_training_sentences_are_warned(faq, tmp_path, cli_main):
    _, texts, _, _ = faq
    rows = [f"{a}\t{b}\t{i % 2}" for i, (a, b) in enumerate(zip(texts[:60:2], texts[1:60:2]))]
    (tmp_path / "p.tsv").write_text("sentence1\tsentence2\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    code, _, err = cli_main("evaluate-similarity", faq[0], "--pairs", tmp_path / "p.tsv", "--pair-cols",
                            "sentence1,sentence2,label", "--teacher", "none")
    assert code == 0 and "of the pairs' sentences are sentences the model trained on" in err, err


def test_positive_min_keeps_spearman_against_the_scores(faq, cli_main):
    pairs = ROOT / "data" / "faq_en_pairs.tsv"  # graded 0-5 scores
    code, out, err = cli_main("evaluate-similarity", faq[0], "--pairs", pairs, "--teacher", "none")
    assert code == 0, err
    plain = json.loads(out[:out.rindex("}") + 1])
    code, out, err = cli_main("evaluate-similarity", faq[0], "--pairs", pairs, "--teacher", "none",
                              "--positive-min", "4")
    assert code == 0, err
    split = json.loads(out[:out.rindex("}") + 1])
    assert split["spearman"] == plain["spearman"] and "pair_auroc" in split and "pair_auroc" not in plain


def test_score_help_names_the_threshold_it_fits_and_every_method(cli_main):
    code, out, _ = cli_main("score", "--help")
    text = " ".join(out.split())
    assert code == 0 and "energy-head" in text and "held-out sentences MODEL keeps from its training run" in text


def test_eval_data_of_one_sentence_per_seen_group_trains(tmp_path, cli_main):
    """Its held-out figure is kNN against the training sentences: the file was refused ("no group
    has two or more sentences") although no leave-one-out was needed."""
    import csv

    import similarity

    texts, groups = similarity.load_groups(ROOT / "data" / "faq_en.csv")
    first = {}
    for t, g in zip(texts, groups):
        first.setdefault(g, t)
    with open(tmp_path / "ev.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "group"), *((t, g) for g, t in first.items())])
    with open(tmp_path / "tr.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "group"), *((t, g) for t, g in zip(texts, groups) if first[g] != t)])
    code, _, err = cli_main("train-similarity", tmp_path / "tr.csv", "--eval-data", tmp_path / "ev.csv",
                            "--teacher", "none", "--epochs", "1", "--out", tmp_path / "o", "--no-progress")
    assert code == 0, err
    saved = json.loads((tmp_path / "o" / "config.json").read_text())
    assert saved["n_eval"] == len(first) == 66


def test_round_16_options_that_would_mislead(tmp_path, cli_main, monkeypatch):
    """--combine of parts that read no index with --index; an upper-case .NPY or a .gz name made a
    shard folder; --resume into a folder with no run trained from 0 without a word."""
    import numpy as np

    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.txt").write_text("hello there\n")
    code, _, err = cli_main("score", "model", "q.txt", "--index", "index", "--combine", "energy-head,critic",
                            "--gan", "g")
    assert code == 2 and "--index: gives the corpus" in err, err
    code, _, err = cli_main("encode", "model", "q.txt", "--out", "v.gz")
    assert code == 2 and "--out names a .gz file" in err, err
    x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", x / np.linalg.norm(x, axis=1, keepdims=True))
    code, _, err = cli_main("train-gan", "v.npy", "--steps", "2", "--batch-size", "16", "--out", "typo", "--resume",
                            "--no-progress")
    assert code == 0 and "--resume found no run here (a typo in --out?)" in err, err
