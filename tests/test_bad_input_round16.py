"""Results of the sixteenth and seventeenth sweeps: inputs that were refused with a message that
did not say what to give instead."""
from __future__ import annotations

import pytest

from textgan.common.errors import InputError


def test_train_gan_on_a_model_folder_says_what_a_vector_file_is(tmp_path):
    """A model folder given as VECTORS read "cannot read dataset (FileNotFoundError: Directory ... is
    neither a `Dataset` directory nor ...)": now it names the folder and what to give."""
    from textgan.gan.data import load_vectors

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match=r"did not write \(it holds a config.json: a model folder\?\).*\.npy"):
        load_vectors(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(InputError, match="a folder that `Dataset.save_to_disk` did not write: give a .npy"):
        load_vectors(tmp_path)


def test_json_group_ids_past_int64_or_mixed_with_decimals_are_refused(tmp_path):
    """uint64 ids were read as float64 (two distinct groups merged); so were ints past 2**53 in a
    column holding a decimal."""
    import json

    import similarity

    def write(name, labels):
        p = tmp_path / name
        p.write_text("".join(json.dumps({"text": f"s {i}", "group": g}) + "\n" for i, g in enumerate(labels)))
        return p

    big = write("big.jsonl", [2**64 - 1, 2**64 - 1, 2**64 - 2, 2**64 - 2])
    with pytest.raises(InputError, match="row 1 holds 18446744073709551615, past 64-bit integers"):
        similarity.load_groups(big)
    mixed = write("mixed.jsonl", [1.5, 1.5, 2**53 + 1, 2**53 + 1, 2**53, 2**53])
    with pytest.raises(InputError, match="row 3 holds 9007199254740993 and row 1 the decimal 1.5"):
        similarity.load_groups(mixed)
    fine = write("fine.jsonl", [2**62, 2**62, 2**62 + 1, 2**62 + 1])  # exact in int64: kept apart
    assert len(set(similarity.load_groups(fine)[1])) == 2


def test_a_flow_refuses_a_holdout_that_leaves_less_than_a_batch(tmp_path):
    import torch

    from textgan.gan import train_by_name

    x = torch.randn(48, 4)
    with pytest.raises(InputError, match=r"only 1 training rows after --set holdout 0.99 kept 47 out, fewer than one "
                                         r"batch \(16\)"):
        train_by_name("flow", x, tmp_path / "f", steps=2, batch_size=16, holdout=0.99)


def test_anchor_shots_beyond_the_largest_group_are_refused(tmp_path):
    import torch

    from textgan.gan import train_by_name

    x = torch.nn.functional.normalize(torch.randn(48, 4), dim=1)
    with pytest.raises(InputError, match="--set anchor_shots 100 is more than the largest group's 16 rows"):
        train_by_name("anchored", x, tmp_path / "a", groups=[f"g{i % 3}" for i in range(48)], steps=2,
                      batch_size=16, anchor_shots=100)


@pytest.mark.parametrize("kind, field, value, message", [
    ("glann", "lr_t", -1.0, "--set lr_t must be > 0, got -1.0"),
    ("glann", "imle_pool", 0, "--set imle_pool must be >= 1, got 0"),
    ("bigan-qp", "rec_x", -1.0, "--set rec_x must be >= 0, got -1.0"),
    ("kplus1", "input_noise", float("nan"), "--set input_noise must be a finite number"),
    ("ebm-langevin", "buffer_size", 1, r"--set buffer_size \(1\) must be at least --batch-size \(256\)"),
])
def test_kind_fields_are_named_one_by_one_as_set_options(kind, field, value, message):
    """glann, bigan-qp and kplus1 named flags that do not exist ("--imle-pool and --latent-dim ...")."""
    from textgan.gan import KINDS

    with pytest.raises(InputError, match=message):
        KINDS[kind].config(**{field: value}).validate()


def test_a_diverged_optimizer_state_is_named_as_divergence(tmp_path, cli_main):
    """A huge penalty overflowed Adam's moments while the weights stayed finite: the run was reported
    as "refusing to save non-finite weights (... optD.state.0.exp_avg_sq)" of the checkpoint file."""
    import numpy as np

    from helpers import assert_one_line_error

    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(48, 16)).astype(np.float32))
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--steps", "5", "--batch-size", "16", "--penalty-weight",
                            "1e30", "--out", tmp_path / "g", "--quiet")
    assert_one_line_error(code, err, "diverged at step 5", "optimizer state")


def test_sample_names_an_outlier_folder_and_refuses_a_no_ema_it_would_ignore(tmp_path, cli_main):
    import json

    import numpy as np

    from helpers import assert_one_line_error

    (tmp_path / "ol").mkdir()
    (tmp_path / "ol" / "config.json").write_text(json.dumps({"format": "textgan-outlier/1", "kind": "outlier"}))
    code, _, err = cli_main("sample", tmp_path / "ol", "--n", "2", "--out", tmp_path / "s.npy")
    assert_one_line_error(code, err, "this is an outlier scorer folder (train-outlier)", "generates nothing")
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--kind", "flow", "--steps", "2", "--batch-size", "16",
                            "--out", tmp_path / "f", "--quiet")
    assert code == 0, err
    code, _, err = cli_main("sample", tmp_path / "f", "--n", "2", "--no-ema", "--out", tmp_path / "s.npy")
    assert_one_line_error(code, err, "--no-ema: this flow model has no EMA generator weights")
    assert not (tmp_path / "s.npy").exists()


def test_train_kplus1_unlabeled_column_hint_names_the_shared_text_col(tmp_path, faq, cli_main):
    from helpers import assert_one_line_error

    (tmp_path / "lab.csv").write_text("text,group\nreset my password,a\nforgot my password,a\nwhere is my parcel,b\n"
                                      "track my order,b\n")
    (tmp_path / "unl.csv").write_text("sentence\nhello there\nwhat time is it\n")
    code, _, err = cli_main("train-kplus1", faq[0], tmp_path / "lab.csv", "--unlabeled", tmp_path / "unl.csv",
                            "--steps", "2", "--out", tmp_path / "k")
    assert_one_line_error(code, err, "missing column 'text'", "LABELLED and --unlabeled alike", ".txt file")


def test_metric_helpers_refuse_what_they_cannot_read():
    import numpy as np

    import textgan
    from textgan.ood.scoring import choose_threshold

    x = np.random.default_rng(0).normal(size=(20, 8)).astype("float32")
    for kwargs, message in [({"sample": 0}, "sample must be a whole number >= 1"), ({"sample": 2.5}, "sample must"),
                            ({"seed": -1}, "seed must be a whole number"), ({"seed": 2**64}, "seed must")]:
        with pytest.raises(InputError, match=message):
            textgan.typical_nn_cosine(x, **kwargs)
    with pytest.raises(InputError, match="item 1 is NoneType .None., not a label"):
        textgan.group_coverage(x, [None] * 20, x)
    with pytest.raises(InputError, match="not one string"):
        textgan.group_coverage(x, "a" * 20, x)
    with pytest.raises(InputError, match="must be numbers, got the string '0.5'"):
        choose_threshold("0.5", 0.9)
    assert 0 < textgan.typical_nn_cosine(x, sample=5) <= 1


def skewed_groups():
    """One group of 40 sentences beside ten pairs: a 20% split holds out sentences of the big group only."""
    texts = [f"big group sentence number {i} about topic alpha" for i in range(40)]
    groups = ["big"] * 40
    for g in range(10):
        texts += [f"small group {g} first phrasing word{g}", f"small group {g} second phrasing word{g}"]
        groups += [f"g{g}", f"g{g}"]
    return texts, groups


def test_a_held_out_split_of_one_group_holds_out_whole_groups_instead():
    """loo_top1 and knn_top1 read 1.0 for any model when the held-out sentences were of one group."""
    import similarity
    from similarity.train import _prepare_groups

    texts, groups = skewed_groups()
    with pytest.warns(UserWarning, match=r"held out \d+ sentences in 2 whole groups instead"):
        data = _prepare_groups(similarity.TrainConfig(teacher="none"), texts, groups, None, None, None, (None, None))
    assert len(set(data.eval_groups)) == 2 and not set(data.eval_groups) & set(data.groups)


def test_the_demo_refuses_a_held_out_part_of_one_group_before_training(tmp_path, monkeypatch):
    import csv

    import similarity
    from textgan.workflow.demo import run_demo

    monkeypatch.setattr(similarity, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    texts, groups = skewed_groups()
    with open(tmp_path / "skew.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("text", "group"), *zip(texts, groups)])
    with pytest.raises(InputError, match=r"keeps 10 sentences of 1 group\(s\) out of training"):
        run_demo(tmp_path / "skew.csv", tmp_path / "demo")


def test_eval_data_of_one_seen_group_warns_that_leave_one_out_reads_one():
    from similarity.heldout_rows import check_eval_groups

    with pytest.warns(UserWarning, match="ev.csv: one group: leave-one-out among its sentences is 1.0 for any model"):
        check_eval_groups(["a", "a"], ["a", "b"], "ev.csv")


def test_resume_refuses_a_run_whose_model_folder_was_deleted(tmp_path):
    """It trained one more epoch, then said "training ran no epoch (checkpoint already finished?)"."""
    import shutil

    import similarity

    texts, groups = skewed_groups()
    cfg = similarity.TrainConfig(teacher="none", epochs=1, batch_size=16)
    similarity.train(cfg, texts, groups, tmp_path / "run", progress=False)
    shutil.rmtree(tmp_path / "run" / "model")
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    with pytest.raises(InputError, match=r"its model/ \(the best epoch's weights\) is missing"):
        similarity.train(similarity.TrainConfig(teacher="none", epochs=2, batch_size=16), texts, groups,
                         tmp_path / "run", progress=False, resume=True)
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before  # nothing trained


def test_an_unwritable_datasets_cache_is_swapped_for_a_temporary_one(tmp_path, monkeypatch):
    """A read-only HOME made every CSV "cannot read dataset (OSError: Read-only file system)"."""
    import os
    from types import SimpleNamespace

    from textgan.common import paths
    from textgan.common.tables import writable_cache

    config = SimpleNamespace(HF_DATASETS_CACHE=str(tmp_path / "home" / ".cache" / "datasets"))
    writable_cache(config)  # writable (nothing exists below tmp_path yet): kept
    assert config.HF_DATASETS_CACHE.startswith(str(tmp_path))
    monkeypatch.setattr(paths.os, "access", lambda p, mode: not str(p).startswith(str(tmp_path)))
    with pytest.warns(UserWarning, match="the datasets cache is not writable; tables are cached in"):
        writable_cache(config)
    assert os.path.isdir(config.HF_DATASETS_CACHE) and not config.HF_DATASETS_CACHE.startswith(str(tmp_path))


def test_encoder_save_refuses_a_folder_of_other_files_and_a_model_folder(tmp_path, faq):
    """save() replaced a folder's contents whole: a folder of notes was deleted without a word."""
    import similarity

    enc = similarity.load(faq[0])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.txt").write_text("years of work")
    with pytest.raises(InputError, match="not empty and holds no similarity model"):
        enc.save(tmp_path / "notes")
    assert (tmp_path / "notes" / "thesis.txt").read_text() == "years of work"
    saved = enc.save(tmp_path / "m")
    with pytest.raises(InputError, match="lies inside the saved model/index folder"):
        enc.save(saved / "copy")
    assert enc.save(saved) == saved and similarity.load(saved).dim == enc.dim  # re-saving a model folder: fine
    with pytest.raises(InputError, match="needs a folder path, got None"):
        enc.save(None)


def test_similarity_train_and_augment_refuse_outputs_inside_a_model_or_a_used_folder(tmp_path, faq):
    import similarity
    import textgan

    texts, groups = skewed_groups()
    cfg = similarity.TrainConfig(teacher="none", epochs=1)
    with pytest.raises(InputError, match="lies inside the saved model/index folder"):
        similarity.train(cfg, texts, groups, f"{faq[0]}/run", progress=False)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "mine.txt").write_text("x")
    with pytest.raises(InputError, match="output folder is not empty"):
        similarity.train(cfg, texts, groups, tmp_path / "used", progress=False)
    from helpers import FAQ

    with pytest.raises(InputError, match="lies inside the input folder"):
        textgan.augment(faq[0], FAQ, 5, f"{faq[0]}/aug")


def test_gan_scores_carry_no_autograd_graph(tmp_path):
    import torch

    from textgan.gan import load, train_by_name

    x = torch.nn.functional.normalize(torch.randn(64, 8), dim=1)
    m = load(train_by_name("gan", x, tmp_path / "g", steps=2, batch_size=16, width=16, depth=1))
    s = m.score(x)
    assert s.shape == (64,) and not s.requires_grad and s.grad_fn is None


def test_train_semisup_checks_tpr_before_any_work(tmp_path):
    import numpy as np

    import textgan

    x = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
    with pytest.raises(InputError, match=r"--tpr must be in \(0, 1\), got 1.5"):
        textgan.train_semisup(x, ["a", "b"] * 10, x, tmp_path / "k", tpr=1.5)
    assert not (tmp_path / "k").exists()


def test_api_arguments_that_were_misread():
    import numpy as np

    from textgan.common.texts import as_sentences
    from textgan.ood.scoring import choose_threshold, knn_score

    v = np.eye(3, dtype="float32")
    for bad in (1, "no", np.array([0, 1])):  # 1 was "row 1 for every query"
        with pytest.raises(InputError, match=r"exclude_self must be True, False or \(3,\) integer row ids"):
            knn_score(v, v, exclude_self=bad)
    assert knn_score(v, v, exclude_self=np.array([0, 1, 2])).tolist() == knn_score(v, v, exclude_self=True).tolist()
    with pytest.raises(InputError, match="not a set"):
        as_sentences({"b c", "a b"})
    with pytest.raises(InputError, match=r"one score per row, got an array of shape \(2, 2\)"):
        choose_threshold(np.array([[0.1, 0.9], [0.5, 0.7]]), 0.95)
    with pytest.raises(InputError, match="a number in"):
        choose_threshold([0.1, 0.2], "0.9")
    assert choose_threshold(np.array([[0.1], [0.9]]), 0.5) == 0.9  # a column is one score per row


def test_pair_metrics_reads_generators_and_bytes_paths(faq):
    import similarity

    a, b, s = ["reset my password", "track my order", "cancel it"], ["forgot my password", "where is it", "stop"], \
        [1.0, 0.0, 1.0]
    want = similarity.pair_metrics(similarity.load(faq[0]), a, b, s)
    assert similarity.pair_metrics(str(faq[0]).encode(), iter(a), iter(b), iter(s)) == want
    with pytest.raises(InputError, match="equal length"):
        similarity.pair_metrics(faq[0], [], [], [])


def test_the_above_every_pair_threshold_holds_on_float32_cosines():
    import numpy as np

    from similarity.pairs import binary_figures

    cos = np.array([0.99585617, 0.5, 0.4], dtype=np.float32)
    out = binary_figures(cos, np.array([False, False, True]))  # no "paraphrase" call is best: 2 of 3
    assert out["pair_accuracy"] == pytest.approx(2 / 3)
    assert not (cos >= out["pair_accuracy_threshold"]).any()  # numpy compares in float32: a float64 ulp rounded back


def test_the_csv_separator_is_judged_on_many_rows_not_a_headerless_first_sentence(tmp_path):
    """A header-less comma file whose first sentence held two ';' was read as ';'-separated (every other
    row's label glued onto its text); a ';' file whose first line held more commas was read as commas."""
    import similarity

    rows = ["Card lost; blocked; help me,lost", '"Rate for pounds, please",rate', "My top up failed,top",
            "Report a stolen card,lost", "What rate for dollars?,rate", "Why did my top-up fail?,top"]
    (tmp_path / "c.csv").write_text("\n".join(rows) + "\n")
    texts, groups = similarity.load_groups(tmp_path / "c.csv", text_col="1", group_col="2")
    assert texts[:2] == ["Card lost; blocked; help me", "Rate for pounds, please"]
    assert groups[:3] == ["lost", "rate", "top"]
    (tmp_path / "s.csv").write_text("lost;Hi, I lost my card, please, block it\nrate;Rate for pounds, please\n"
                                    "lost;Card stolen, help\nrate;Euro rate, today\n")
    texts, groups = similarity.load_groups(tmp_path / "s.csv", text_col="2", group_col="1")
    assert list(zip(texts, groups))[:2] == [("Hi, I lost my card, please, block it", "lost"),
                                             ("Rate for pounds, please", "rate")]


def test_pair_columns_get_the_numeric_column_and_unknown_token_warnings(tmp_path, faq, monkeypatch):
    """`--pair-cols qid1,qid2,...` trained on the ids without a word; French pairs on an English word
    model printed a Spearman with no warning, where the same sentences as grouped data warned."""
    import similarity

    (tmp_path / "qqp.csv").write_text("qid1,qid2,q1,q2,is_duplicate\n" + "".join(
        f"{2 * i},{2 * i + 1},how do I reset pass {i},reset my pass {i},{i % 2}\n" for i in range(6)))
    with pytest.warns(UserWarning, match="text column 'qid1' is a number .* is it the right --pair-cols"):
        similarity.load_pairs(tmp_path / "qqp.csv", "qid1", "q2", "is_duplicate")
    import importlib

    evaluate = importlib.import_module("similarity.evaluate")  # the module; `similarity.evaluate` is its function
    monkeypatch.setattr(evaluate, "unknown_token_share", lambda model, texts: 0.9)  # as a word GRU on French
    fr = ["quelle heure est-il maintenant", "où est mon colis aujourd'hui", "je veux annuler ma commande"]
    with pytest.warns(UserWarning, match="of the data's tokens are unknown to the model's vocabulary"):
        similarity.pair_metrics(faq[0], fr, fr[::-1], [1.0, 0.0, 0.5])


def test_a_pandas_split_oriented_json_is_named_as_such(tmp_path):
    """It was taken for a splits file and the advice (`FILE.json:columns`) was refused in turn."""
    import json

    import similarity

    (tmp_path / "s.json").write_text(json.dumps({"columns": ["group", "text"], "index": [0, 1],
                                                 "data": [["x", "a b"], ["x", "c d"]]}))
    with pytest.raises(InputError, match=r"a pandas to_json\(orient='split'\) table.*orient='records'"):
        similarity.load_groups(tmp_path / "s.json")
