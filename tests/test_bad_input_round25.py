"""Round 25: options that would be accepted and ignored are refused (a weight without a penalty,
Adam's betas with RMSProp, a recall target for exact search, a memory budget an explicit factory
exceeds); JSON data files laid out as columns, arrays or one value say how to lay them out; an
invalid OMP_NUM_THREADS is named, not silently replaced; complex vectors are refused."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from helpers import FAQ, assert_one_line_error


@pytest.fixture
def vecs(tmp_path):
    path = tmp_path / "v.npy"
    np.save(path, np.random.default_rng(0).normal(size=(64, 4)).astype("float32"))
    return path


@pytest.mark.parametrize("args, needle", [
    (["--penalty", "none", "--penalty-weight", "3"], "--penalty-weight: this run has no critic penalty"),
    (["--objective", "gan-ns", "--penalty-weight", "3"], "--penalty-weight: this run has no critic penalty"),
    (["--optimizer", "rmsprop", "--set", "betas=[0.1,0.9]"], "--set betas: betas are Adam's"),
    (["--objective", "wgan", "--set", "betas=[0.1,0.9]"], "--set betas: betas are Adam's"),  # the row's RMSProp
])
def test_train_gan_refuses_settings_the_run_would_ignore(tmp_path, cli_main, vecs, args, needle):
    code, _, err = cli_main("train-gan", vecs, "--out", tmp_path / "g", *args)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "g").exists()


def test_train_gan_keeps_betas_with_adam_and_a_weight_with_a_penalty(tmp_path, cli_main, vecs):
    code, _, err = cli_main("train-gan", vecs, "--out", tmp_path / "g", "--objective", "wgan", "--optimizer", "adam",
                            "--set", "betas=[0.1,0.9]", "--penalty", "gp", "--penalty-weight", "3", "--steps", 2,
                            "--batch-size", 16, "--no-progress")
    assert code == 0, err
    config = json.loads((tmp_path / "g" / "config.json").read_text())
    cfg = config.get("config", config)
    assert cfg["betas"] == [0.1, 0.9] and cfg["penalty_weight"] == 3.0 and cfg["optimizer"] == "adam"


def test_exact_index_refuses_a_recall_target_and_a_factory_over_budget_before_encoding(tmp_path, cli_main, faq):
    model = faq[0]
    args = ["index", model, FAQ, "--text-col", "text", "--out", tmp_path / "ix"]
    code, _, err = cli_main(*args, "--factory", "Flat", "--target-recall", "0.9")
    assert_one_line_error(code, err, "--target-recall: a Flat index searches exactly")
    # 528 sentences x dim floats x 4 bytes is well over 0.01 MB: refused with the size it needs
    code, _, err = cli_main(*args, "--factory", "IVF4,Flat", "--memory-mb", "0.01")
    assert_one_line_error(code, err, "--factory 'IVF4,Flat' needs about", "over --memory-mb 0.01")
    assert not (tmp_path / "ix").exists()
    code, _, err = cli_main(*args, "--factory", "Flat", "--memory-mb", "100")  # it fits: built
    assert code == 0, err


def test_budget_estimate_matches_raw_vectors():
    from textgan.common.errors import InputError
    from textgan.index.choice import check_budget

    check_budget("Flat", 1000, 256, 1000 * 256 * 4 / 2**20)  # exactly the raw vectors: fits
    with pytest.raises(InputError, match="needs about 0.977 MB"):
        check_budget("Flat", 1000, 256, 0.9)
    check_budget("Flat", 10**9, 256, None)  # no budget: nothing to check


@pytest.mark.parametrize("content, needle", [
    ('{"text": ["a b", "c d", "e f", "g h"], "group": ["x", "x", "y", "y"]}', "one array per column ('text', 'group')"),
    ('[["a b", "x"], ["c d", "x"], ["e f", "y"], ["g h", "y"]]', "a list of arrays (fields without names)"),
    ("42", "the file holds a number, not rows"),
    ('"a sentence"', "the file holds a string, not rows"),
])
def test_json_layouts_that_are_not_records_say_how_to_write_them(tmp_path, cli_main, content, needle):
    data = tmp_path / "d.json"
    data.write_text(content)
    code, _, err = cli_main("train-similarity", data, "--teacher", "none", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "d.json", needle, "list of records")


def test_a_header_of_blank_names_is_named(tmp_path, cli_main):
    data = tmp_path / "d.csv"
    data.write_text("  ,   \na b,x\nc d,x\ne f,y\ng h,y\n")
    code, _, err = cli_main("train-similarity", data, "--teacher", "none", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "d.csv", "the header row names no column")


def test_eval_fraction_above_half_is_refused(tmp_path, cli_main):
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--eval-fraction", "0.99",
                            "--out", tmp_path / "r")
    assert_one_line_error(code, err, "--eval-fraction must be a number in (0, 0.5], got 0.99")


@pytest.mark.parametrize("value, dropped", [("abc", True), ("0", True), ("-2", True), ("2,1", False), ("3", False)])
def test_an_invalid_omp_num_threads_is_dropped_and_named(monkeypatch, value, dropped):
    from textgan.common import threads

    env = {"OMP_NUM_THREADS": value}
    monkeypatch.setattr(threads, "_IGNORED", {})
    threads.drop_invalid_thread_count(env)
    assert ("OMP_NUM_THREADS" not in env) is dropped
    if dropped:
        with pytest.warns(UserWarning, match=f"OMP_NUM_THREADS='{value}' is not a positive whole number"):
            assert threads.default_threads(env, affinity={0, 1, 2}, self_cgroup="") == 3
    else:
        assert threads.default_threads(env) == int(value.split(",")[0])


def test_train_gan_api_refuses_complex_and_missing_vectors(tmp_path):
    from textgan.common.errors import InputError
    from textgan.workflow.gan_train import train_gan

    with pytest.raises(InputError, match="complex numbers"):
        train_gan(np.ones((32, 4)) * (1 + 1j), tmp_path / "g")
    with pytest.raises(InputError, match="not NoneType"):
        train_gan(None, tmp_path / "g")
    assert not (tmp_path / "g").exists()


class _Copies:
    """An on-disk-like index whose three best rows are one sentence: a top-3 mean over them is 0.9."""

    ntotal, dim = 6, 2
    texts = ["a", "a", "a", "b", "c", "d"]
    meta = {"storage": "disk"}

    def search(self, v, k):
        scores = np.array([0.9, 0.9, 0.9, 0.6, 0.3, 0.0], np.float32)[:k]
        return np.tile(scores, (len(v), 1)), np.tile(np.arange(k, dtype=np.int64), (len(v), 1))


def test_knn_score_on_an_index_that_keeps_repeats_counts_each_sentence_once():
    from textgan.ood.scoring import knn_score

    v = np.ones((2, 2), np.float32)
    np.testing.assert_allclose(knn_score(v, _Copies(), k=3), [0.6, 0.6], rtol=1e-6)  # (0.9 + 0.6 + 0.3) / 3
    np.testing.assert_allclose(knn_score(v, _Copies(), k=1), [0.9, 0.9], rtol=1e-6)
    ram = _Copies()
    ram.meta = {}  # a RAM index holds no repeats: its rows are averaged as found
    np.testing.assert_allclose(knn_score(v, ram, k=3), [0.9, 0.9], rtol=1e-6)


def test_an_index_whose_gate_fails_or_is_interrupted_leaves_the_older_index_whole(faq, tmp_path, cli_main,
                                                                                   monkeypatch):
    """Sweep 28: `index` replaced an existing index, then its gate refused the corpus (a column of
    numbers): the old index was gone and the new one had no gate. The gate is now fitted in the
    written folder before it replaces OUT."""
    import hashlib

    import textgan.workflow.heldout as heldout

    def digests(folder):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}

    code, _, err = cli_main("index", faq[0], FAQ, "--text-col", "text", "--out", tmp_path / "ix")
    assert code == 0, err
    before = digests(tmp_path / "ix")
    from textgan.common.errors import InputError

    def refused(*args, **kwargs):  # as the gate refuses a corpus whose sentences all encode alike
        raise InputError("the knn scores of the in-domain calibration rows do not vary", "numbers.csv")

    monkeypatch.setattr(heldout, "calibrate_index_gate", refused)
    code, _, err = cli_main("index", faq[0], FAQ, "--text-col", "group", "--out", tmp_path / "ix")
    assert code == 2 and "do not vary" in err, err
    assert digests(tmp_path / "ix") == before  # the older index, whole

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(heldout, "calibrate_index_gate", interrupted)
    code, _, err = cli_main("index", faq[0], FAQ, "--text-col", "group", "--out", tmp_path / "ix")
    assert code == 130 and err.strip() == "error: aborted", err
    assert digests(tmp_path / "ix") == before
    code, _, err = cli_main("index", faq[0], FAQ, "--text-col", "text", "--out", tmp_path / "new")
    assert code == 130 and not (tmp_path / "new").exists()
    code, out, err = cli_main("search", tmp_path / "ix", "reset my password", "--k", 1)
    assert code == 0 and "password" in out, err


def test_resume_into_another_command_s_run_folder_names_that_folder(tmp_path, cli_main, vecs):
    """It said "not a textgan GAN checkpoint (format None)" or "incomplete checkpoint (no 'config';
    written by an older version?)" about a perfectly good run of the other command."""
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--epochs", 1, "--no-progress",
                            "--out", tmp_path / "sim")
    assert code == 0, err
    code, _, err = cli_main("train-gan", vecs, "--steps", 2, "--batch-size", 16, "--no-progress", "--out",
                            tmp_path / "gan")
    assert code == 0, err
    code, _, err = cli_main("train-gan", vecs, "--steps", 4, "--batch-size", 16, "--resume", "--out", tmp_path / "sim")
    assert_one_line_error(code, err, "--resume: this is a train-similarity run folder", "not a train-gan run folder")
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--epochs", 2, "--resume",
                            "--out", tmp_path / "gan")
    assert_one_line_error(code, err, "--resume: this is a generator", "not a train-similarity run folder")


def test_a_whole_group_hold_out_never_takes_one_large_group():
    """Sweep 28: one group of 500 beside 30 pairs was held out whole (6 random groups of 31): the model
    trained on 50 of 560 sentences and its held-out figure was mostly that one group's."""
    from similarity.data import split_whole_groups

    groups = ["big"] * 500 + [f"p{i}" for i in range(30) for _ in range(2)]
    for seed in range(5):
        train, held = split_whole_groups(groups, 0.2, seed)
        assert "big" not in {groups[i] for i in held} and len({groups[i] for i in held}) == 6  # round(0.2 * 31)
        assert len(held) == 12 and len(train) == 548
    pairs = [f"p{i}" for i in range(100) for _ in range(2)]
    assert len({pairs[i] for i in split_whole_groups(pairs, 0.2, 0)[1]}) == 20  # pairs: as many groups as before


def test_a_newline_in_a_path_keeps_the_error_on_one_line(tmp_path, cli_main):
    code, _, err = cli_main("train-similarity", tmp_path / "no\nsuch.csv", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "no\\x0asuch.csv: missing file")


@pytest.mark.parametrize("encoding, needle", [("utf-16", "the file is UTF-16"), ("cp1252", "Windows-1252")])
def test_a_streamed_corpus_that_is_not_utf8_is_one_line_and_leaves_no_folder(faq, tmp_path, cli_main, encoding,
                                                                            needle):
    """Sweep 28: `encode --out DIR` and `index --storage disk` read a CSV through datasets' stream, which
    raised UnicodeDecodeError mid-run (a traceback) and left encode.json behind."""
    data = tmp_path / "d.csv"
    data.write_bytes(("text\n" + "".join(f"café number {i}\n" for i in range(50))).encode(encoding))
    code, _, err = cli_main("encode", faq[0], data, "--text-col", "text", "--out", tmp_path / "shards")
    assert_one_line_error(code, err, "d.csv", needle)
    assert not (tmp_path / "shards").exists()
    code, _, err = cli_main("index", faq[0], data, "--text-col", "text", "--storage", "disk", "--out", tmp_path / "ix")
    assert_one_line_error(code, err, "d.csv", needle)
    assert not (tmp_path / "ix").exists() and not (tmp_path / "ix.vectors").exists()


def test_index_encodes_each_distinct_sentence_once(faq, tmp_path, monkeypatch):
    from similarity.model import SentenceEncoder
    from textgan.workflow.core import index_corpus

    calls = []
    real = SentenceEncoder.encode

    def counting(self, texts, *args, **kwargs):
        calls.append(len(texts))
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(SentenceEncoder, "encode", counting)
    corpus = tmp_path / "c.txt"
    corpus.write_text("reset my password\nRESET  my password\ntrack my order\n" * 40)
    idx = index_corpus(faq[0], corpus, tmp_path / "ix", progress=False, gate=False)
    assert calls[0] == 2 and idx.ntotal == 2 and idx.meta["stats"]["n_input"] == 120


def test_an_edited_generator_setting_that_sizes_nothing_is_refused(tmp_path, cli_main, vecs):
    """Sweep 28: config.json carries the weights' digests but not its own: `head` sphere -> tanh
    loaded without a word and changed every sample."""
    code, _, err = cli_main("train-gan", vecs, "--steps", 2, "--batch-size", 16, "--head", "sphere", "--no-progress",
                            "--out", tmp_path / "g")
    assert code == 0, err
    code, _, err = cli_main("sample", tmp_path / "g", "--n", 2, "--out", tmp_path / "a.npy")
    assert code == 0, err
    cfg = tmp_path / "g" / "config.json"
    info = json.loads(cfg.read_text())
    assert info["config"]["head"] == "sphere" and len(info["sha256"]) == 64
    info["config"]["head"] = "tanh"
    cfg.write_text(json.dumps(info))
    code, _, err = cli_main("sample", tmp_path / "g", "--n", 2, "--out", tmp_path / "b.npy")
    assert_one_line_error(code, err, "config.json: does not match its recorded digest")
    assert not (tmp_path / "b.npy").exists()


def test_a_fifo_in_place_of_an_index_s_meta_json_is_refused_not_waited_on(faq, tmp_path, cli_main):
    """Sweep 28: search, interpolate and score blocked forever reading it."""
    import os
    import shutil

    code, _, err = cli_main("index", faq[0], FAQ, "--text-col", "text", "--out", tmp_path / "ix")
    assert code == 0, err
    shutil.copytree(tmp_path / "ix", tmp_path / "f")
    (tmp_path / "f" / "meta.json").unlink()
    os.mkfifo(tmp_path / "f" / "meta.json")
    code, _, err = cli_main("search", tmp_path / "f", "reset my password")
    assert_one_line_error(code, err, "meta.json: not a regular file")


def test_generate_embeddings_replaces_its_pair_of_files_together(faq, tmp_path, cli_main, monkeypatch):
    """Sweep 28: a full disk while writing OUT.jsonl left the new OUT.npy beside the old decode."""
    import errno

    import textgan.workflow.core as core

    code, _, err = cli_main("train-gan", FAQ, "--model", faq[0], "--text-col", "text", "--steps", 5,
                            "--batch-size", 64, "--no-progress", "--out", tmp_path / "g")
    assert code == 0, err
    code, _, err = cli_main("index", faq[0], FAQ, "--text-col", "text", "--out", tmp_path / "ix")
    assert code == 0, err
    args = ["generate-embeddings", tmp_path / "g", "--n", 4, "--index", tmp_path / "ix", "--k", 2,
            "--out", tmp_path / "ge"]
    code, _, err = cli_main(*args, "--seed", 0)
    assert code == 0, err
    before = {s: (tmp_path / f"ge{s}").read_bytes() for s in (".npy", ".jsonl")}

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "ge.npy"))

    monkeypatch.setattr(core.np, "save", full)  # the vectors' write fails once the decode is written
    code, _, err = cli_main(*args, "--seed", 1)
    assert_one_line_error(code, err, "ge.npy", "No space left on device")
    assert {s: (tmp_path / f"ge{s}").read_bytes() for s in (".npy", ".jsonl")} == before


def test_columns_by_position_on_a_file_with_a_header_warn(tmp_path):
    """Sweep 28: `--text-col 1 --group-col 2` on a file with a header indexed "text" as a sentence."""
    from similarity.data import load_groups

    with pytest.warns(UserWarning, match=r"read the first row as data, and it looks like a header \('text', 'group'\)"):
        texts, _ = load_groups(FAQ, "1", "2", keep_singles=True)
    assert texts[0] == "text"  # read as asked, and said
    plain = tmp_path / "p.csv"
    plain.write_text("hello there,greet\nhi there,greet\nbye now,leave\nsee you,leave\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_groups(plain, "1", "2")[0][0] == "hello there"


def test_labels_written_as_missing_or_differing_in_case_warn(tmp_path):
    from similarity.data import load_groups

    data = tmp_path / "d.csv"
    rows = [("reset my password", "reset"), ("forgot my password", "reset"), ("where is my order", "NaN"),
            ("i want a refund", "NaN"), ("track my parcel", "Track"), ("parcel tracking", "Track"),
            ("where is the parcel", "track"), ("find my parcel", "track")]
    data.write_text("text,group\n" + "".join(f"{t},{g}\n" for t, g in rows))
    with pytest.warns(UserWarning) as said:
        _, groups = load_groups(data)
    lines = [str(w.message) for w in said]
    assert any("2 row(s) have the label 'NaN', a missing value written as text?" in x for x in lines), lines
    assert any("labels 'Track' and 'track' differ only in case, and are two groups" in x for x in lines), lines
    assert sorted(set(groups)) == ["NaN", "Track", "reset", "track"]  # warned, not changed


def test_validation_sentences_the_model_reads_alike_count_once(faq, tmp_path, cli_main):
    from textgan.workflow.score import _check_validation_vectors
    from textgan.common.errors import InputError

    a, b = np.eye(4)[0], np.eye(4)[1]
    with pytest.warns(UserWarning, match="reads the validation sentences as 2 distinct ones"):
        _check_validation_vectors(np.stack([a, a, a, a, a, b]), 6, 0.95)
    with pytest.raises(InputError, match="all encode to one vector"):
        _check_validation_vectors(np.stack([a] * 30), 30, 0.95)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_validation_vectors(np.eye(4), 4, 0.95)  # as many as the texts: `_check_validation` said it


def test_a_stray_quote_is_blamed_on_the_line_that_opens_it(tmp_path, cli_main):
    """Sweep 28: it said "line 21: Expected 2 fields, saw 3 (an unquoted ',' ...)" for a quote opened at line 3."""
    data = tmp_path / "d.csv"
    lines = ["text,group", "reset my password,reset", '"stray quote here,reset'] + \
        [f"sentence number {i},group{i % 3}" for i in range(8)]
    data.write_text("\n".join(lines) + "\n")
    code, _, err = cli_main("train-similarity", data, "--teacher", "none", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "d.csv: line 3: a quote opened there is never closed", "a stray '\"'")
    lines.append('closing quote here" and more,reset')  # closed 9 lines later: one row of 10 lines
    lines += [f"sentence number {i},group{i % 3}" for i in range(8, 12)]
    data.write_text("\n".join(lines) + "\n")
    code, _, err = cli_main("train-similarity", data, "--teacher", "none", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "d.csv: lines 3-12", "a stray '\"'")  # textgan.common.tables.spanning_cell
    lines[11] = '"a quoted cell, with a comma",reset'  # the stray quote closes at its opening quote: 3 fields
    data.write_text("\n".join(lines) + "\n")
    code, _, err = cli_main("train-similarity", data, "--teacher", "none", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "d.csv: line 3: a quote opened there runs to line 12", "a stray '\"'")


def test_an_edited_similarity_config_value_that_sizes_nothing_is_refused(faq, tmp_path):
    """Sweep 28: similarity_config.json carries the other files' digests, not its own: an edited
    recorded teacher was read without a word."""
    import shutil

    import similarity
    from textgan.common.errors import InputError

    shutil.copytree(faq[0], tmp_path / "m")
    f = tmp_path / "m" / "similarity_config.json"
    info = json.loads(f.read_text())
    assert len(info["sha256"]) == 64
    info["train_config"]["teacher"] = "none"
    f.write_text(json.dumps(info))
    with pytest.raises(InputError, match="similarity_config.json: does not match its recorded digest"):
        similarity.load(tmp_path / "m")


def test_api_refuses_complex_numbers_dicts_and_data_frames_where_it_read_them_wrongly(faq, tmp_path):
    """Sweep 29 (the API): complex input trained on its real part; a dict of labels was read as its
    keys; a DataFrame was encoded as its column names; generate_embeddings wrote into a model folder."""
    import shutil

    import torch

    import similarity
    import textgan
    from textgan.common.errors import InputError
    from textgan.gan import train_gan as core_train
    from textgan.gan.config import GANConfig
    from textgan.metrics import group_coverage

    model, texts, groups, v = faq
    with pytest.raises(InputError, match="training vectors: complex numbers"):
        core_train(torch.complex(torch.tensor(v[:64]), torch.ones(64, v.shape[1])), GANConfig(steps=2, batch_size=16),
                   tmp_path / "g")
    with pytest.raises(InputError, match="a: complex numbers"):
        textgan.slerp(v[0].astype(complex), v[1], 3)
    with pytest.raises(InputError, match="pair scores: complex numbers"):
        similarity.spearman(similarity.load(model), texts[:4], texts[4:8], np.array([1.0, 2, 3, 4]) + 1j)
    with pytest.raises(InputError, match="pair scores: pass one score per pair, in order, not a dict"):
        similarity.spearman(similarity.load(model), texts[:3], texts[3:6], {10: 1.0, 20: 3.0, 30: 2.0})
    with pytest.raises(InputError, match="train_groups: pass one label per row, not a dict"):
        group_coverage(v, dict(enumerate(groups)), v[:10])
    pd = pytest.importorskip("pandas")
    with pytest.raises(InputError, match="not a DataFrame"):
        textgan.encode(model, pd.DataFrame({"text": ["reset my password", "track my order"]}))
    assert textgan.encode(model, pd.Series(["reset my password", "track my order"])).shape[0] == 2
    shutil.copytree(model, tmp_path / "m")
    np.save(tmp_path / "v.npy", v.astype(np.float32))
    code = textgan.train_gan(v, tmp_path / "gan", config=GANConfig(steps=2, batch_size=16), progress=False)
    with pytest.raises(InputError, match="lies inside the saved model/index folder"):
        textgan.generate_embeddings(code, 3, tmp_path / "m" / "x")
    assert not (tmp_path / "m" / "x.npy").exists() and similarity.load(tmp_path / "m").dim == v.shape[1]


def test_api_switches_must_be_true_or_false(vecs, tmp_path):
    """Sweep 29: keep_singles="no" kept single-sentence groups, progress="no" showed bars, gate="no" gated."""
    import textgan
    import similarity
    from textgan.common.errors import InputError
    from textgan.index.options import IndexOptions

    with pytest.raises(InputError, match="keep_singles must be True or False, got 'no'"):
        similarity.load_groups(FAQ, keep_singles="no")
    with pytest.raises(InputError, match="min_groups must be a whole number >= 1, got '2'"):
        similarity.load_groups(FAQ, min_groups="2")
    with pytest.raises(InputError, match="gate must be True or False"):
        IndexOptions.of(gate="no")
    assert IndexOptions.of(gate=np.bool_(False)).gate is False  # a numpy bool is a bool
    with pytest.raises(InputError, match="progress must be True or False"):
        textgan.train_gan(np.load(vecs), tmp_path / "g", progress="no")
    assert not (tmp_path / "g").exists()


def test_api_arguments_of_the_wrong_type_are_named(faq, tmp_path):
    """Sweep 29: bare TypeError / ValueError / IndexError / AttributeError from argument types."""
    import similarity
    from textgan.common.errors import InputError
    from textgan.index.build import build_index
    from textgan.workflow.demo import run_demo
    from textgan.workflow.kplus1 import train as train_semisup

    model, texts, groups, v = faq
    idx = build_index(v, texts, groups=groups, gate=False)
    assert idx.vector(3).shape == (v.shape[1],)
    for bad, needle in ((-1, ">= 0, got -1"), (True, "got True"), (10**6, "below the index's")):
        with pytest.raises(InputError, match=needle):
            idx.vector(bad)
    with pytest.raises(InputError, match="--pair-cols needs A,B or A,B,LABEL"):
        similarity.load_pair_groups(FAQ.parent / "faq_en_pairs.tsv", None)
    with pytest.raises(InputError, match="unlabelled vectors are not a numeric array"):
        train_semisup(v[:20], groups[:20], ["a", "b"], tmp_path / "k")
    with pytest.raises(InputError, match="config must be a DemoConfig, got dict"):
        run_demo(FAQ, tmp_path / "d", config={"gan_steps": 5})
    assert not (tmp_path / "k").exists() and not (tmp_path / "d").exists()


@pytest.mark.parametrize("args, needle", [
    (["--kind", "conditional", "--one-loss"], "--one-loss: kind conditional trains with alternating updates only"),
    (["--one-loss", "--n-critic", "5"], "--n-critic: --one-loss makes one update of both players per step"),
    (["--kind", "anchored", "--set", "critic_fourier=16"], "--set critic_fourier: only kind gan has a Fourier"),
    (["--set", "critic_fourier_scale=5"], "the critic has no Fourier features (critic_fourier=0)"),
    (["--kind", ""], "--kind: an empty value"),
    (["--steps", "99999999999999999999"], "--steps must be at most 1,000,000,000"),
])
def test_train_gan_refuses_settings_its_kind_does_not_read_and_endless_runs(tmp_path, cli_main, vecs, args, needle):
    """Sweep 29D: these trained without a word (metrics bitwise equal to the run without them, or
    until killed), and the saved config recorded the setting as if it had acted."""
    (tmp_path / "l.txt").write_text("a\nb\n" * 32)
    labels = ["--labels", tmp_path / "l.txt"] if "conditional" in args or "anchored" in args else []
    code, _, err = cli_main("train-gan", vecs, "--out", tmp_path / "g", *labels, *args)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("args, needle", [
    (["--virtual-outliers", "gaussian", "--vo-weight", "0"], "--vo-weight must be a finite number > 0"),
    (["--tail-synth", "replay", "--tail-synth-weight", "0"], "--tail-synth-weight must be a finite number > 0"),
])
def test_a_zero_weight_for_a_feature_asked_for_is_refused(tmp_path, cli_main, args, needle):
    """Sweep 29D: a weight of 0 trained bitwise as the run without the feature, without a word."""
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--out", tmp_path / "r", *args)
    assert_one_line_error(code, err, needle)


def test_evaluate_with_pairs_alone_refuses_the_columns_of_grouped_data(faq, cli_main):
    code, _, err = cli_main("evaluate-similarity", faq[0], "--pairs", FAQ.parent / "faq_en_pairs.tsv",
                            "--text-col", "nosuch", "--teacher", "none")
    assert_one_line_error(code, err, "--text-col: names a column of grouped DATA")


def test_score_k_without_an_index_is_refused_for_the_combined_method(faq, tmp_path, cli_main):
    """Sweep 29D: with --gan and no --index the combined score has no knn part; --k 2 changed nothing."""
    code, _, err = cli_main("train-gan", FAQ, "--model", faq[0], "--text-col", "text", "--group-col", "group",
                            "--steps", 5, "--batch-size", 64, "--no-progress", "--out", tmp_path / "g")
    assert code == 0, err
    code, _, err = cli_main("score", faq[0], FAQ.parent / "queries.txt", "--gan", tmp_path / "g", "--k", 2)
    assert_one_line_error(code, err, "--k: sets knn's top-k, and --method combined has no knn part without --index")
