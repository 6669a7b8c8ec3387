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
    from similarity.heldout_rows import check_eval_groups
    from textgan.common.errors import InputError

    with pytest.raises(InputError, match="each has one sentence"):  # the API path (the CLI reader drops them)
        check_eval_groups(["x", "y"], ["a", "b"], "ev.csv")
    check_eval_groups(["a", "a"], ["a", "b"], "ev.csv")  # kNN against the training rows: a real figure


@pytest.mark.parametrize("args,needle", [
    (["--lexical-weight", "0.5"], "--lexical-weight: sets the lexical part, and this model has none"),
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
    with pytest.raises(Exception, match="sets the lexical part, and this model has none"):
        _check_used({"lexical_weight": 0.3}, for_data_size(given, 10).resolved(), files)


def test_a_batch_below_two_groups_of_an_in_batch_loss_is_a_warning():
    import dataclasses

    import similarity
    from textgan.commands.similarity import _check_used

    eff = dataclasses.replace(similarity.TrainConfig(loss="triplet", teacher="none"), batch_size=2).resolved()
    with pytest.warns(UserWarning, match="batches hold 8 rows"):
        _check_used({"batch_size": 2}, eff, {"unlabeled": None, "outliers": None})


def test_library_arguments_of_other_types_are_read_or_refused_in_one_line(tmp_path):
    """A generator of labels or rows, numpy scalars from a pandas cell, ints past float or seed
    range and a non-path out_dir reached numpy, torch, json or pathlib as raw exceptions."""
    import json

    import numpy as np

    import similarity
    import textgan
    from textgan.common.errors import InputError

    rng = np.random.default_rng(0)
    v = rng.normal(size=(40, 8)).astype("float32")
    texts = [f"s{i}" for i in range(40)]
    idx = textgan.build_index(v, texts, groups=(str(i % 3) for i in range(40)))
    assert idx.groups[:4] == ["0", "1", "2", "0"]
    with pytest.raises(InputError, match="--memory-mb must be a finite number"):
        textgan.build_index(v, texts, memory_budget_mb=10**400)
    with pytest.raises(InputError, match="--target-recall must be a number in \\(0, 1\\], got '0.9'"):
        textgan.build_index(v, texts, target_recall="0.9")
    with pytest.raises(InputError, match="--seed must be in \\[0, 2\\*\\*32 - 1\\]"):
        textgan.GANConfig(steps=5, seed=2**80).validate()
    cfg = textgan.GANConfig(steps=np.int64(3), batch_size=16)
    assert type(cfg.steps) is int
    out = textgan.train_gan((row for row in v), tmp_path / "g", config=cfg, progress=False)
    assert json.loads((out / "config.json").read_text())["config"]["steps"] == 3
    assert type(similarity.TrainConfig(epochs=np.int64(2)).epochs) is int
    with pytest.raises(InputError, match=r"--epochs must be an integer in \[1, 10\*\*9\]"):
        similarity.TrainConfig(epochs=10**20)
    with pytest.raises(InputError, match="--lr must be a finite number"):
        similarity.TrainConfig(lr=10**400)
    with pytest.raises(InputError, match="out_dir must be a path"):
        similarity.train(similarity.TrainConfig(teacher="none"), ["a b", "c d"], ["x", "y"], 5, progress=False)


def test_encode_workers_are_capped_and_more_than_the_cores_warn(monkeypatch):
    from textgan.common.errors import InputError
    from textgan.workflow import encode

    with pytest.raises(InputError, match=f"--workers must be at most {encode.MAX_WORKERS}"):
        encode._check_workers(1000)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    with pytest.warns(UserWarning, match="--workers 3 on 2 CPU core"):
        encode._check_workers(3)
    encode._check_workers(2)


def test_a_pair_file_without_paraphrases_is_one_error_line(tmp_path, cli_main):
    from helpers import assert_one_line_error

    (tmp_path / "neg.tsv").write_text("a\tb\tlabel\nhello there\thi\t0\nbye now\tsee you\t0\n")
    code, _, err = cli_main("train-similarity", tmp_path / "neg.tsv", "--pair-cols", "a,b,label", "--teacher", "none",
                            "--out", tmp_path / "o", "--quiet")
    assert_one_line_error(code, err, "neg.tsv:", "none of the 2 pairs is marked as a paraphrase")
    assert "warning" not in err


def test_a_json_object_and_a_headerless_file_give_short_error_lines(tmp_path):
    import json

    from similarity.data import read_table
    from textgan.common.errors import InputError

    (tmp_path / "d.json").write_text(json.dumps({f"sentence number {i}": "g" for i in range(500)}))
    with pytest.raises(InputError, match="one JSON object of 500 keys, not rows") as e:
        read_table(tmp_path / "d.json", ["text", "group"])
    assert len(str(e.value)) < 300
    long = ",".join("a rather long first sentence that is not a column name " + str(i) for i in range(200))
    (tmp_path / "h.csv").write_text(long + "\n" + long + "\n")
    with pytest.raises(InputError, match="a file without a header row") as e:
        read_table(tmp_path / "h.csv", ["text", "group"])
    assert "... (192 more)" in str(e.value) and len(str(e.value)) < 700


def test_an_on_disk_index_over_its_memory_budget_warns(faq, tmp_path, cli_main):
    """Auto storage took the disk path for --memory-mb 0.001 and kept 33 KB of codebooks in RAM, silently."""
    code, _, err = cli_main("encode", faq[0], FAQ, "--text-col", "text", "--out", tmp_path / "sh", "--shard-size",
                            "100", "--no-progress")
    assert code == 0, err
    code, out, err = cli_main("index", faq[0], tmp_path / "sh", "--memory-mb", "0.001", "--out", tmp_path / "ix",
                              "--no-progress")
    assert code == 0 and "on disk" in out, err
    assert "warning: --memory-mb 0.001: the on-disk index still holds about" in err


def test_data_in_another_vocabulary_warns_at_evaluation(faq):
    import similarity

    model = similarity.load(faq[0])
    zh = ["我忘记了密码怎么办", "如何重置我的密码", "我的包裹在哪里", "快递什么时候到"]
    with pytest.warns(UserWarning, match="tokens are unknown to the model's vocabulary"):
        similarity.evaluate(model, zh, ["a", "a", "b", "b"])


def test_a_model_knows_which_sentences_it_trained_on(faq, tmp_path):
    """Evaluated on its own training file a model read near 1.0 with no word; a --val-in of training
    sentences gave a lenient threshold. The model now keeps 8-byte keys of its training sentences."""
    import shutil

    import numpy as np
    import torch

    import similarity
    from similarity.seen import sentence_keys, trained_share
    from textgan.common.artifacts import save_tensors
    from textgan.common.errors import InputError

    model, texts, groups, _ = faq
    enc = similarity.load(model)
    assert enc.trained is not None and np.all(np.diff(enc.trained) > 0)
    share = trained_share(enc, texts)
    assert 0.6 < share < 0.95  # the training split, not the held-out sentences
    assert trained_share(enc, ["a sentence no FAQ holds", "nor this one"]) == 0.0
    assert np.isin(sentence_keys(["  " + texts[0] + " "]), sentence_keys([texts[0]])).all()  # stripped
    with pytest.warns(UserWarning, match="of the data are sentences the model trained on"):
        similarity.evaluate(enc, texts, groups)
    copy = tmp_path / "m"
    shutil.copytree(model, copy)
    save_tensors({"keys": torch.zeros(3, dtype=torch.float32)}, copy / "trained.safetensors")
    with pytest.raises(InputError, match="trained.safetensors"):  # its digest, or its dtype
        similarity.load(copy)


def test_val_in_of_training_sentences_warns(faq):
    from textgan.workflow.score import _warn_trained_on

    import similarity

    enc = similarity.load(faq[0])
    with pytest.warns(UserWarning, match="are sentences the model trained on: the threshold will keep fewer than 95%"):
        _warn_trained_on(enc, faq[1], 0.95, "val.txt")
