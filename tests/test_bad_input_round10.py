"""Inputs of the tenth sweep: validation sentences that are index rows, a held-out evaluation
set of one group, option values a run would silently ignore, and library-API arguments of the
wrong type that reached numpy, torch or the filesystem as raw exceptions."""
from __future__ import annotations

import pytest

from helpers import FAQ


def test_val_in_sentences_that_are_index_rows_are_scored_without_themselves(faq, tmp_path):
    """--val-in = the indexed corpus: each sentence found itself at kNN similarity 1.0, so the
    threshold sat at ~1.0 and every query was flagged out of domain."""
    from textgan.workflow.core import index_corpus
    from textgan.workflow.score import score_texts

    model, texts, groups, _ = faq
    index_corpus(model, FAQ, tmp_path / "ix", text_col="text", progress=False)
    queries = ["how do i reset my password", "I forgot my password"]
    with pytest.warns(UserWarning, match=rf"{len(texts)} of {len(texts)} validation sentences are index rows"):
        res = score_texts(model, queries, "knn", index=tmp_path / "ix", val_in=texts, tpr=0.95)
    assert "without themselves" in res["threshold_source"]
    assert res["threshold"] < 0.99  # a self-match threshold would be 1.0
    assert 0.9 <= res["expected_tpr"] <= 1.0
    assert all(res["in_domain"])  # paraphrases of an indexed question


def test_eval_data_of_one_new_group_is_refused(tmp_path, cli_main):
    """One held-out group the training never saw: leave-one-out among its sentences read 1.0 each epoch."""
    from helpers import assert_one_line_error

    (tmp_path / "ev.csv").write_text("text,group\nhello world,zz\nfoo bar,zz\n")
    code, _, err = cli_main("train-similarity", FAQ, "--eval-data", tmp_path / "ev.csv", "--epochs", "1",
                            "--teacher", "none", "--out", tmp_path / "o", "--quiet")
    assert_one_line_error(code, err, "ev.csv:", "its one group is not a training group")
    assert not (tmp_path / "o").exists()


def test_eval_groups_are_checked_for_a_figure_that_can_move():
    from similarity.data import check_eval_groups
    from textgan.common.errors import InputError

    with pytest.raises(InputError, match="each has one sentence"):  # the API path (the CLI reader drops them)
        check_eval_groups(["x", "y"], ["a", "b"], "ev.csv")
    check_eval_groups(["a", "a"], ["a", "b"], "ev.csv")  # kNN against the training rows: a real figure


@pytest.mark.parametrize("args,needle", [
    (["--lexical-weight", "0.5"], "--lexical-weight: sets the lexical part's share"),
    (["--loss", "triplet", "--scale", "10"], "--scale: sets a logit scale"),
    (["--loss", "infonce", "--head-lr-mult", "3"], "--head-lr-mult: sets the class-weight head"),
    (["--max-unlabeled", "5"], "--max-unlabeled: sets the size cap"),
], ids=["lexical-weight", "triplet-scale", "infonce-head-lr", "max-unlabeled"])
def test_train_similarity_refuses_options_the_run_would_ignore(tmp_path, cli_main, args, needle):
    from helpers import assert_one_line_error

    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--epochs", "1", *args,
                            "--out", tmp_path / "o", "--quiet")
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "o").exists()


def test_lexical_weight_is_accepted_where_the_data_size_adds_a_lexical_part():
    """From SMALL_DATA sentences on the GRU gets a lexical part by default: the CLI's check must
    see the config train() will use, not the one before the data size fills it."""
    import dataclasses

    import similarity
    from similarity.config import SMALL_DATA, for_data_size
    from textgan.commands.similarity import _check_used

    given = dataclasses.replace(similarity.TrainConfig(), lexical_weight=0.3, teacher="none")
    files = {"unlabeled": None, "outliers": None}
    _check_used({"lexical_weight": 0.3}, for_data_size(given, SMALL_DATA).resolved(), files)
    with pytest.raises(Exception, match="lexical part's share"):
        _check_used({"lexical_weight": 0.3}, for_data_size(given, 10).resolved(), files)


def test_a_batch_below_two_groups_of_an_in_batch_loss_is_a_warning():
    import dataclasses

    import similarity
    from textgan.commands.similarity import _check_used

    eff = dataclasses.replace(similarity.TrainConfig(loss="triplet", teacher="none"), batch_size=2).resolved()
    with pytest.warns(UserWarning, match="batches hold 8 rows"):
        _check_used({"batch_size": 2}, eff, {"unlabeled": None, "outliers": None})
