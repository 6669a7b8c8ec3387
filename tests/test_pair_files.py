"""Pair corpora: paraphrase pairs joined into training groups, pair metrics, one-line refusals."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import similarity
from helpers import assert_one_line_error, run_cli
from similarity.pairs import binary_figures, components, load_pair_groups

GROUPS = {"pw": ["reset my password", "forgot my password", "new password please", "change password"],
          "parcel": ["track my parcel", "where is my parcel", "parcel status now", "parcel lost"],
          "cancel": ["cancel my plan", "stop my plan", "end the plan", "quit plan now"]}


def _pair_rows() -> list[tuple[str, str, int]]:
    """Chains of positives inside each group (no pair holds a whole group), negatives across."""
    rows = []
    names = sorted(GROUPS)
    for g in names:
        s = GROUPS[g]
        rows += [(s[i + 1], s[i], 1) for i in range(len(s) - 1)]
    for i, g in enumerate(names):
        rows.append((GROUPS[g][0], GROUPS[names[(i + 1) % 3]][1], 0))
    return rows


@pytest.fixture(scope="module")
def pair_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    p.write_text("sentence1\tsentence2\tlabel\n" + "".join(f"{a}\t{b}\t{y}\n" for a, b, y in _pair_rows()))
    return p


def test_positive_pairs_join_into_the_original_groups(pair_file):
    with pytest.warns(UserWarning, match="3 of 12 pairs are not paraphrases"):
        texts, groups = load_pair_groups(pair_file, ["sentence1", "sentence2", "label"])
    got = {frozenset(t for t, g in zip(texts, groups) if g == name) for name in set(groups)}
    assert got == {frozenset(v) for v in GROUPS.values()}
    # two positives sharing a sentence link; a pair of one sentence with itself forms no group
    t, g = components(["a", "c", "x"], ["b", "b", "x"], [True, True, True])
    assert t == ["a", "b", "c", "x"] and g == ["pair-group-0"] * 3 + ["pair-group-1"]
    t, g = components(["a", "c"], ["b", "d"], [True, False])
    assert t == ["a", "b"]


def test_scores_need_a_threshold_and_labels_must_be_numbers(tmp_path):
    p = tmp_path / "sts.tsv"
    p.write_text("a\tb\tscore\nx one\tx two\t4.5\ny one\ty two\t4.2\nx one\ty one\t0.4\n"
                 "z one\tz two\t5\n")
    with pytest.raises(Exception, match=r"holds the values 0\.4, 4\.2, 4\.5, 5, not 0/1 .*--positive-min"):
        load_pair_groups(p, ["a", "b", "score"])
    nli = tmp_path / "nli.tsv"  # two classes that are not 0/1: named, not called scores
    nli.write_text("a\tb\tlabel\nx one\tx two\t0\nx one\ty one\t2\n")
    with pytest.raises(Exception, match="holds the values 0, 2, not 0/1 paraphrase labels"):
        load_pair_groups(nli, ["a", "b", "label"])
    many = tmp_path / "many.tsv"
    many.write_text("a\tb\ts\n" + "".join(f"p{i}\tq{i}\t{i / 10}\n" for i in range(8)))
    with pytest.raises(Exception, match=r"holds scores \(8 distinct values, 0 to 0\.7\)"):
        load_pair_groups(many, ["a", "b", "s"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        texts, groups = load_pair_groups(p, ["a", "b", "score"], positive_min=4.0)
    assert len(set(groups)) == 3 and len(texts) == 6
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\tlabel\nx one\tx two\t1\ny one\ty two\tyes\n")
    with pytest.raises(Exception, match="row 2: column 'label' must be numeric"):
        load_pair_groups(bad, ["a", "b", "label"])


def test_binary_figures_equal_a_hand_computation():
    got = binary_figures(np.array([0.9, 0.8, 0.7, 0.6]), np.array([True, False, True, False]))
    # positives at ranks 1 and 3: AUROC 3 of 4 ordered pairs; AP (1/1 + 2/3) / 2
    assert got["pair_auroc"] == pytest.approx(0.75) and got["pair_ap"] == pytest.approx(5 / 6)
    assert got["pair_accuracy"] == pytest.approx(0.75) and got["pair_accuracy_threshold"] == 0.9
    assert got["pair_f1"] == pytest.approx(0.8) and got["pair_f1_threshold"] == 0.7
    # calling no pair a paraphrase beats every threshold here: it is put above the highest cosine
    got = binary_figures(np.array([0.5, 0.5, 0.1]), np.array([False, False, True]))
    assert got["pair_accuracy"] == pytest.approx(2 / 3) and got["pair_accuracy_threshold"] > 0.5


def test_train_on_pairs_then_evaluate_on_pairs_alone(pair_file, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train-similarity", pair_file, "--pair-cols", "sentence1,sentence2,label",
                           "--out", out, "--teacher", "none", "--epochs", "2", "--hidden", "8",
                           "--embed-dim", "8", "--quiet")
    assert code == 0, err
    assert "3 of 12 pairs are not paraphrases" in err
    conf = json.loads((out / "config.json").read_text())
    assert conf["n_train"] + conf["n_eval"] == 12  # the 12 distinct sentences of the 3 groups
    code, stdout, err = run_cli(capsys, "evaluate-similarity", out / "model", "--pairs", pair_file,
                                "--pair-cols", "sentence1,sentence2,label", "--teacher", "none")
    assert code == 0, err
    got = json.loads(stdout)
    assert {"spearman", "pair_auroc", "pair_ap", "pair_accuracy", "pair_f1"} <= set(got)
    assert "loo_top1" not in got and 0.0 <= got["pair_auroc"] <= 1.0


def test_pair_options_refuse_bad_input(pair_file, tmp_path, capsys):
    code, _, err = run_cli(capsys, "train-similarity", pair_file, "--positive-min", "3", "--out",
                           tmp_path / "a")
    assert_one_line_error(code, err, str(pair_file), "--positive-min", "--pair-cols")
    code, _, err = run_cli(capsys, "train-similarity", pair_file, "--pair-cols", "sentence1,nope,label",
                           "--out", tmp_path / "b")
    assert_one_line_error(code, err, "missing column 'nope'")
    code, _, err = run_cli(capsys, "train-similarity", pair_file, "--pair-cols", "sentence1",
                           "--out", tmp_path / "c")
    assert_one_line_error(code, err, "A,B or A,B,LABEL")
    two = tmp_path / "two.tsv"  # two groups of two: nothing to hold out; the error names the file
    two.write_text("a\tb\nhello there\thi there\nbye now\tsee you\n")
    code, _, err = run_cli(capsys, "train-similarity", two, "--pair-cols", "a,b", "--out", tmp_path / "d",
                           "--teacher", "none")
    assert_one_line_error(code, err, f"{two}: groups too small to hold out")
    nan = tmp_path / "nan.tsv"  # a NaN score would make every figure NaN
    nan.write_text("sentence1\tsentence2\tscore\nhello there\thi there\tnan\nbye now\tsee you\t1\n")
    code, _, err = run_cli(capsys, "evaluate-similarity", tmp_path / "nomodel", "--pairs", nan)
    assert_one_line_error(code, err)  # the model is checked first; the pairs alone:
    with pytest.raises(Exception, match="row 1: column 'score' is not a finite number"):
        similarity.load_pairs(nan)
    code, _, err = run_cli(capsys, "evaluate-similarity", tmp_path / "nomodel")
    assert_one_line_error(code, err, "DATA, --pairs")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
