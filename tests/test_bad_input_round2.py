"""Bad inputs found by a hostile sweep of the CLI (2026-12-04): each is one `error:` line and exit 2
(or, for valid-but-odd input, a result), never a traceback or a silently wrong answer."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from helpers import FAQ, assert_one_line_error


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    """A tiny GAN on random unit vectors (and the vectors' file)."""
    import cli

    d = tmp_path_factory.mktemp("gan")
    x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    np.save(d / "v.npy", x / np.linalg.norm(x, axis=1, keepdims=True))
    cli.main(["train-gan", str(d / "v.npy"), "--steps", "4", "--batch-size", "16", "--out", str(d / "g"),
              "--no-progress"])  # returns on success (an error would exit)
    return d


def test_option_errors_are_one_line(cli_main):
    code, _, err = cli_main("sample", "somewhere", "--n", "abc")
    assert_one_line_error(code, err, "--n", "textgan sample --help")
    code, _, err = cli_main("search", "--no-such-option")
    assert_one_line_error(code, err, "--no-such-option")


@pytest.mark.parametrize("seed", ["99999999999999999999999", "-1", str(2**32)])
def test_every_command_range_checks_its_seed(cli_main, gan, tmp_path, seed):
    code, _, err = cli_main("train-gan", str(gan / "v.npy"), "--steps", "2", "--out", str(tmp_path / "o"),
                            "--seed", seed)
    assert_one_line_error(code, err, "--seed must be an integer in [0, 2**32)")
    assert not (tmp_path / "o").exists()
    code, _, err = cli_main("sample", str(gan / "g"), "--n", "3", "--out", str(tmp_path / "s.npy"), "--seed", seed)
    assert_one_line_error(code, err, "--seed")


@pytest.mark.parametrize("edit, needle", [
    (lambda j: j.__setitem__("meta", "x"), "'meta' must be an object"),
    (lambda j: j.__setitem__("meta", None), "'meta' must be an object"),
    (lambda j: j["meta"].__setitem__("encoder", "x"), "'meta.encoder' must be an object"),
    (lambda j: j["meta"].__setitem__("encoder", {"fingerprint": 5}), "'meta.encoder.fingerprint' must be a string"),
    (lambda j: j["meta"].__setitem__("typical_nn_cosine", "x"), "'meta.typical_nn_cosine' must be a finite number"),
])
def test_a_tampered_gan_meta_is_refused(cli_main, gan, tmp_path, edit, needle):
    g = tmp_path / "g"
    shutil.copytree(gan / "g", g)
    info = json.loads((g / "config.json").read_text())
    edit(info)
    (g / "config.json").write_text(json.dumps(info))
    code, _, err = cli_main("sample", str(g), "--n", "3", "--out", str(tmp_path / "s.npy"))
    assert_one_line_error(code, err, needle, "config.json")
    assert not (tmp_path / "s.npy").exists()


def test_resume_past_the_requested_steps_is_refused(cli_main, gan, tmp_path):
    out = tmp_path / "r"
    args = ("train-gan", str(gan / "v.npy"), "--batch-size", "16", "--out", str(out), "--no-progress")
    assert cli_main(*args, "--steps", "6")[0] == 0
    before = (out / "config.json").read_text()
    code, _, err = cli_main(*args, "--steps", "3", "--resume")
    assert_one_line_error(code, err, "checkpoint is at step 6, past --steps 3")
    assert (out / "config.json").read_text() == before  # the 6-step model is not relabelled


def test_training_vectors_beyond_float32_range_are_refused(cli_main, gan, tmp_path):
    np.save(tmp_path / "huge.npy", np.load(gan / "v.npy") * 1e30)
    code, _, err = cli_main("train-gan", str(tmp_path / "huge.npy"), "--steps", "2", "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "huge.npy", "standardise")
    x = np.load(gan / "v.npy")
    x[4, 0] = np.nan
    np.save(tmp_path / "nan.npy", x)
    code, _, err = cli_main("train-gan", str(tmp_path / "nan.npy"), "--steps", "2", "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "nan.npy", "1 of 64 rows, first: row 5")
    assert not (tmp_path / "o").exists()


def test_outputs_inside_a_saved_folder_are_refused(cli_main, gan, faq):
    model = faq[0]
    for args in (("quantize-similarity", str(model), "--out", str(model / "q")),
                 ("train-gan", str(gan / "v.npy"), "--steps", "2", "--out", str(gan / "g" / "inner")),
                 ("index", str(model), str(FAQ), "--text-col", "text", "--out", str(model / "ix"))):
        code, _, err = cli_main(*args)
        assert_one_line_error(code, err, "inside the saved model/index folder")
    assert not (model / "q").exists() and not (model / "ix").exists() and not (gan / "g" / "inner").exists()


def test_index_meta_of_the_wrong_type_is_refused(cli_main, faq, tmp_path):
    from textgan.workflow.core import index_corpus

    index_corpus(faq[0], FAQ, tmp_path / "ix", text_col="text", progress=False)
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    meta["encoder"]["path"] = 5
    (tmp_path / "ix" / "meta.json").write_text(json.dumps(meta))
    code, _, err = cli_main("search", str(tmp_path / "ix"), "reset my password")
    assert_one_line_error(code, err, "'meta.encoder.path' must be a string", "meta.json")


def test_a_validation_file_of_one_sentence_cannot_place_a_threshold(cli_main, faq, tmp_path):
    (tmp_path / "q.txt").write_text("reset my password\nwhere is my parcel\n")
    (tmp_path / "one.txt").write_text("reset my password\nreset my password\n")
    code, _, err = cli_main("score", str(faq[0]), str(tmp_path / "q.txt"), "--method", "knn",
                            "--val-in", str(tmp_path / "one.txt"))
    assert_one_line_error(code, err, "one.txt", "1 distinct validation sentence")


def test_a_column_named_twice_is_refused(cli_main, faq, tmp_path):
    code, _, err = cli_main("evaluate-similarity", str(faq[0]), "--pairs", str(FAQ.with_name("faq_en_pairs.tsv")),
                            "--pair-cols", "sentence1,sentence1,score", "--teacher", "none")
    assert_one_line_error(code, err, "'sentence1' is named twice")
    (tmp_path / "dup.csv").write_text("text,text,group\na,b,g\nc,d,g\n")
    code, _, err = cli_main("encode", str(faq[0]), str(tmp_path / "dup.csv"), "--text-col", "text",
                            "--out", str(tmp_path / "v.npy"))
    assert_one_line_error(code, err, "dup.csv", "header names column 'text' twice")


def test_an_absurd_margin_is_refused(cli_main, tmp_path):
    code, _, err = cli_main("train-similarity", str(FAQ), "--out", str(tmp_path / "m"), "--margin", "1e30")
    assert_one_line_error(code, err, "--margin", "[-2, 16]")
    assert not (tmp_path / "m").exists()


def test_an_outlier_classifier_trains_beside_a_group_of_one_sentence(cli_main, faq, tmp_path):
    rows = FAQ.read_text(encoding="utf-8").rstrip("\n") + "\na totally lonely sentence,lonely_group\n"
    (tmp_path / "single.csv").write_text(rows, encoding="utf-8")
    code, out, err = cli_main("train-outlier", str(faq[0]), str(tmp_path / "single.csv"), "--text-col", "text",
                              "--group-col", "group", "--steps", "3", "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert "1 group(s) with a single sentence" in err and "Traceback" not in err
    assert (tmp_path / "o" / "config.json").is_file()


@pytest.mark.parametrize("labels", [[None] * 64, [True] * 64, [""] * 64, [["a"]] * 64])
def test_blank_or_null_json_labels_are_refused(cli_main, gan, tmp_path, labels):
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    code, _, err = cli_main("train-gan", str(gan / "v.npy"), "--labels", str(tmp_path / "labels.json"),
                            "--kind", "conditional", "--steps", "2", "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "labels.json", "label 1 is")


def test_options_that_would_be_ignored_are_refused(cli_main, gan, faq, tmp_path):
    code, _, err = cli_main("train-gan", str(gan / "v.npy"), "--key", "x", "--steps", "2", "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "v.npy", "drop them")
    code, _, err = cli_main("train-outlier", str(faq[0]), str(FAQ), "--text-col", "text", "--source", "mixup",
                            "--generator", str(gan / "g"), "--steps", "2", "--out", str(tmp_path / "t"))
    assert_one_line_error(code, err, "uses no generator")
    assert not (tmp_path / "o").exists() and not (tmp_path / "t").exists()


def test_an_index_whose_vectors_hold_nan_is_refused_naming_the_file(cli_main, faq, tmp_path):
    from textgan.common.artifacts import file_sha256
    from textgan.workflow.core import index_corpus

    index_corpus(faq[0], FAQ, tmp_path / "ix", text_col="text", progress=False)
    vf = tmp_path / "ix" / "vectors.npy"
    v = np.load(vf)
    v[2, 0] = np.nan
    np.save(vf, v)
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    meta["digests"]["vectors.npy"] = file_sha256(vf)  # a tamperer who recomputes the digest
    (tmp_path / "ix" / "meta.json").write_text(json.dumps(meta))
    code, _, err = cli_main("search", str(tmp_path / "ix"), "reset my password")
    assert_one_line_error(code, err, "vectors.npy", "first: row 3")


def test_a_conditional_generator_and_kplus1_say_which_groups_have_one_sentence(cli_main, faq, tmp_path):
    """Kept (a few-shot set has them) but counted: the user learns a group is modelled from one vector."""
    rows = FAQ.read_text(encoding="utf-8").rstrip("\n") + "\na totally lonely sentence,lonely_group\n"
    (tmp_path / "single.csv").write_text(rows, encoding="utf-8")
    code, _, err = cli_main("train-gan", str(tmp_path / "single.csv"), "--model", str(faq[0]), "--text-col", "text",
                            "--group-col", "group", "--steps", "2", "--out", str(tmp_path / "g"), "--no-progress")
    assert code == 0, err
    assert "warning: 1 of " in err and "group(s) have a single sentence" in err and "Traceback" not in err
    code, _, err = cli_main("train-kplus1", str(faq[0]), str(tmp_path / "single.csv"), "--unlabeled",
                            str(FAQ.with_name("queries.txt")),
                            "--text-col", "text", "--group-col", "group", "--steps", "2", "--out", str(tmp_path / "k"))
    assert code == 0, err
    assert "group(s) have a single sentence" in err


def test_an_output_below_a_file_is_the_same_one_line_in_every_command(cli_main, gan, faq, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    below = str(afile / "x")
    model, data = str(faq[0]), str(FAQ)
    for args in (["score", model, data, "--text-col", "text", "--out", below],
                 ["index", model, data, "--text-col", "text", "--out", below],
                 ["augment", model, data, "--text-col", "text", "--per-group", "2", "--out", below],
                 ["encode", model, data, "--text-col", "text", "--out", below + ".npy"],
                 ["train-gan", str(gan / "v.npy"), "--steps", "2", "--out", below],
                 ["demo", data, "--out", below]):
        code, _, err = cli_main(*args)
        assert_one_line_error(code, err, "afile: not a folder (cannot write below it)")
    assert afile.read_text() == "x"
