"""Round 24: every command holds its warnings a while (cli.main), so input refused after a warned
one ends the command with its one error line alone; a long run still prints them soon after.
Search on an index that keeps repeated sentences lists each sentence once."""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from helpers import FAQ, assert_one_line_error

ROOT_DATA = FAQ.parent


def _model_and_index(cli_main, tmp_path, *index_args) -> None:
    """tmp_path/r: a one-epoch FAQ model without a teacher (seconds); tmp_path/ix: its index of FAQ."""
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--epochs", 1, "--no-progress",
                            "--out", tmp_path / "r")
    assert code == 0, err
    code, _, err = cli_main("index", tmp_path / "r" / "model", FAQ, "--text-col", "text", *index_args,
                            "--out", tmp_path / "ix")
    assert code == 0, err


def test_evaluate_with_a_warned_data_file_and_bad_pairs_is_one_error_line(tmp_path, cli_main):
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--epochs", 1, "--no-progress",
                            "--out", tmp_path / "r")
    assert code == 0, err
    data = tmp_path / "d.csv"
    data.write_text(FAQ.read_text() + "a lonely sentence,lonely_group\n")
    (tmp_path / "p.tsv").write_text("a\tb\ts\nhello there\thi\t1\nfoo\tbar\tabc\n")
    args = ["evaluate-similarity", tmp_path / "r" / "model", data, "--teacher", "none"]
    code, _, err = cli_main(*args, "--pairs", tmp_path / "p.tsv", "--pair-cols", "a,b,s")
    assert_one_line_error(code, err, "p.tsv", "row 2", "must be numeric")  # DATA's warning is not printed
    code, _, err = cli_main(*args)  # read to the end: the warning comes, once
    assert code == 0, err
    assert err.count("dropped 1 group(s) with a single sentence") == 1


def test_held_warnings_print_by_themselves_after_hold_s(capsys):
    from textgan.commands.common import warnings_as_lines

    with warnings_as_lines(hold=True, hold_s=0.05):
        warnings.warn("first", stacklevel=1)
        warnings.warn("first", stacklevel=1)  # each text once
        assert "first" not in capsys.readouterr().err  # held
        deadline = time.monotonic() + 5
        seen = ""
        while "first" not in seen and time.monotonic() < deadline:
            time.sleep(0.02)
            seen += capsys.readouterr().err
        assert seen.count("warning: first") == 1  # printed by the timer, inside the block
        warnings.warn("second", stacklevel=1)  # after the release: at once
        assert capsys.readouterr().err == "warning: second\n"


def test_a_nested_block_passes_its_lines_out_and_an_error_drops_them(capsys):
    from textgan.common.errors import InputError
    from textgan.commands.common import warnings_as_lines

    try:
        with warnings_as_lines(hold=True, hold_s=60):
            warnings.warn("outer", stacklevel=1)
            with warnings_as_lines():  # a plain inner block: the outer one holds its lines
                warnings.warn("inner", stacklevel=1)
            assert capsys.readouterr().err == ""
            raise InputError("bad", "later.tsv")
    except InputError:
        pass
    assert capsys.readouterr().err == ""  # dropped: the error line comes alone
    with warnings_as_lines(hold=True, hold_s=60):
        warnings.warn("outer", stacklevel=1)
        with warnings_as_lines(hold=True) as inner:
            warnings.warn("read", stacklevel=1)
            inner.release()  # "every input is read": passed to the command's block, which still holds
            warnings.warn("training", stacklevel=1)
            assert capsys.readouterr().err == ""
    assert capsys.readouterr().err == "warning: outer\nwarning: read\nwarning: training\n"  # the command ended well


def test_train_similarity_refusing_its_data_after_a_warning_says_only_the_error(tmp_path, cli_main):
    """Sweep 26: a text column of numbers warned, then the split refused groups too small: two lines."""
    (tmp_path / "n.csv").write_text("text,group\n1,a\n2,a\n3,b\n4,b\n")
    code, _, err = cli_main("train-similarity", tmp_path / "n.csv", "--teacher", "none", "--epochs", 1,
                            "--no-progress", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "n.csv", "too small to hold out")


def test_held_out_sentences_that_all_encode_alike_leave_a_model_that_loads(tmp_path, cli_main):
    """Sweep 26: every held-out sentence made of unseen words encoded to one vector; the saved
    heldout.safetensors was then refused on load as tampered: a trained model that never loaded."""
    import similarity

    rows = [("hello", "greet"), ("hi", "greet"), ("hey", "greet"), ("greetings", "greet"), ("howdy", "greet"),
            ("bye", "leave"), ("goodbye", "leave"), ("farewell", "leave"), ("later", "leave"), ("ciao", "leave"),
            ("thanks", "thank"), ("cheers", "thank"), ("ta", "thank"), ("gracias", "thank"), ("merci", "thank")]
    (tmp_path / "s.csv").write_text("text,group\n" + "".join(f"{t},{g}\n" for t, g in rows))
    code, _, err = cli_main("train-similarity", tmp_path / "s.csv", "--teacher", "none", "--epochs", 1,
                            "--no-progress", "--out", tmp_path / "r")
    assert code == 0, err
    assert "held-out sentences all encode to one vector" in err
    model = similarity.load(tmp_path / "r" / "model")
    assert model.heldout is None and model.encode(["hello"]).shape == (1, model.dim)


class _RepeatsOnDisk:
    """An on-disk-like index whose rows hold "a" three times: a depth-k search is all copies."""

    ntotal, dim, groups = 6, 2, None
    texts = ["a", "a", "a", "b", "c", "d"]
    meta = {"storage": "disk"}

    def __init__(self):
        self.depths = []

    def search(self, v, k):
        self.depths.append(k)
        scores = np.tile(np.array([0.9, 0.9, 0.9, 0.8, 0.7, 0.6], np.float32)[:k], (len(v), 1))
        return scores, np.tile(np.arange(k, dtype=np.int64), (len(v), 1))


def test_an_index_that_keeps_repeats_is_read_deeper_until_k_distinct_sentences():
    from textgan.workflow.core import neighbours

    idx = _RepeatsOnDisk()
    hits = neighbours(idx, np.ones((2, 2), np.float32), 3)
    assert [[h["text"] for h in row] for row in hits] == [["a", "b", "c"]] * 2
    assert [h["id"] for h in hits[0]] == [0, 3, 4] and idx.depths == [3, 6]  # the best copy's id; 3 -> 6 rows
    with pytest.warns(UserWarning, match="fewer than k=5 neighbours for 2 of 2 queries"):
        assert len(neighbours(_RepeatsOnDisk(), np.ones((2, 2), np.float32), 5)[0]) == 4  # only 4 distinct
    ram = _RepeatsOnDisk()
    ram.meta = {}  # a RAM index has no repeats to step over: one search, as it is
    assert [h["text"] for h in neighbours(ram, np.ones((1, 2), np.float32), 3)[0]] == ["a", "a", "a"]


def test_a_fine_tuned_transformer_is_judged_against_itself_off_the_shelf(tmp_path):
    """heldout.json of a `--backbone minilm` run compared the model with a character TF-IDF, which
    any fine-tuned MiniLM beats: the figure it must beat is MiniLM's own before training."""
    import json

    import similarity
    from similarity.teacher import resolve_teacher

    texts, groups = similarity.load_groups(FAQ)
    keep = sorted(set(groups))[:12]
    rows = [(t, g) for t, g in zip(texts, groups) if g in keep]
    train = [r for i, r in enumerate(rows) if i % 4]
    held = [r for i, r in enumerate(rows) if not i % 4]
    cfg = similarity.TrainConfig(backbone="minilm", max_steps=2, batch_size=8, seed=0)
    similarity.train(cfg, *map(list, zip(*train)), tmp_path / "run", *map(list, zip(*held)), progress=False)
    h = json.loads((tmp_path / "run" / "heldout.json").read_text())
    assert h["baseline_name"] == "minilm off the shelf"
    off = similarity.SentenceEncoder(resolve_teacher("minilm").model, "sentence-transformers")
    ev, tv = off.encode([t for t, _ in held]), off.encode([t for t, _ in train])
    nearest = (ev @ tv.T).argmax(1)  # kNN top-1 by hand: the nearest training sentence's group
    hand = float(np.mean([train[j][1] == g for j, (_, g) in zip(nearest, held)]))
    assert h["baseline"]["knn_top1"] == pytest.approx(hand)


def test_a_symbolic_link_loop_given_as_an_input_is_one_error_line(tmp_path, cli_main):
    """Sweep 26: Path.resolve() on a link loop raised RuntimeError (Python < 3.13): a traceback and
    exit 1 in about ten commands (sample, encode, score, classify, generate-embeddings, ...)."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    code, _, err = cli_main("sample", tmp_path / "a", "--n", 3, "--out", tmp_path / "s.npy")
    assert_one_line_error(code, err, "a", "symbolic link loop")
    code, _, err = cli_main("encode", tmp_path / "a", FAQ, "--text-col", "text", "--out", tmp_path / "e.npy")
    assert_one_line_error(code, err, "symbolic link loop")
    assert not (tmp_path / "s.npy").exists() and not (tmp_path / "e.npy").exists()


def test_index_search_parameters_out_of_range_are_refused(tmp_path, cli_main):
    """Sweep 26: nprobe -1 or 0 in meta.json failed inside FAISS (an assertion, a traceback), and
    10**12 on disk overflowed a C++ vector."""
    import json

    _model_and_index(cli_main, tmp_path, "--factory", "IVF8,Flat")
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    assert meta["params"]["nprobe"] >= 1
    for bad in (-1, 0, 10 ** 12, 2.5):
        (tmp_path / "ix" / "meta.json").write_text(json.dumps({**meta, "params": {"nprobe": bad}}))
        code, _, err = cli_main("search", tmp_path / "ix", "reset my password", "--k", 2)
        assert_one_line_error(code, err, "meta.json", "'nprobe' must be a whole number in [1, 1048576]")
    (tmp_path / "ix" / "meta.json").write_text(json.dumps({**meta, "params": {"nprobe": 8}}))
    code, out, err = cli_main("search", tmp_path / "ix", "reset my password", "--k", 2)
    assert code == 0 and "reset" in out, err
    # an index of group names (--text-col group) cannot fit a gate: its advice names index's own options
    code, _, err = cli_main("index", tmp_path / "r" / "model", FAQ, "--text-col", "group", "--out", tmp_path / "ixg")
    assert_one_line_error(code, err, str(FAQ), "do not vary", "is --text-col the sentences' column?")
    assert "--val-in" not in err and not (tmp_path / "ixg").exists()
    # and a model's similarity_config.json (no digest covers it) must give its weights' width
    import shutil

    shutil.copytree(tmp_path / "r" / "model", tmp_path / "m2")
    info = json.loads((tmp_path / "m2" / "similarity_config.json").read_text())
    (tmp_path / "m2" / "similarity_config.json").write_text(json.dumps({**info, "dim": 999}))
    code, _, err = cli_main("encode", tmp_path / "m2", FAQ, "--text-col", "text", "--out", tmp_path / "e.npy")
    assert_one_line_error(code, err, "similarity_config.json", f"'dim' 999 is not the {info['dim']} of the weights")
    # train-outlier on sentences that all encode to one vector trained "2 sentences" (train-gan refused them)
    (tmp_path / "oov.txt").write_text("zzqx qqzv\nvvkk jjxx\n")
    code, _, err = cli_main("train-outlier", tmp_path / "r" / "model", tmp_path / "oov.txt", "--steps", 5,
                            "--out", tmp_path / "ou")
    assert_one_line_error(code, err, "oov.txt", "all 2 sentences encode to one vector")
    assert not (tmp_path / "ou").exists()


def test_latin1_text_is_advised_as_windows_1252_not_gbk(tmp_path):
    """Sweep 26: GBK decodes almost any bytes, so 'Gr\\xfc\\xdfe aus M\\xfcnchen' was told to convert
    from GB18030, which would have made Chinese characters of the umlauts."""
    import similarity
    from textgan.common.errors import InputError

    (tmp_path / "de.csv").write_bytes("text,group\nGrüße aus München,a\npässwörd vergessen,a\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"line 2\): it reads as Windows-1252.*iconv -f cp1252 -t utf-8"):
        similarity.load_groups(tmp_path / "de.csv")
    (tmp_path / "zh.csv").write_bytes("text,group\n我忘记了密码,a\n".encode("gbk"))  # still GBK
    with pytest.raises(InputError, match=r"it reads as GBK/GB18030"):
        similarity.load_groups(tmp_path / "zh.csv")


def test_an_on_disk_text_offset_table_edited_under_new_digests_names_itself(tmp_path, cli_main):
    """Sweep 26: texts.offsets.npy reversed and its digest recomputed: `error: Invalid argument`."""
    import hashlib
    import json

    _model_and_index(cli_main, tmp_path, "--storage", "disk")
    f = tmp_path / "ix" / "texts.offsets.npy"
    np.save(f, np.load(f)[::-1].copy())
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    meta["digests"]["texts.offsets.npy"] = hashlib.sha256(f.read_bytes()).hexdigest()
    (tmp_path / "ix" / "meta.json").write_text(json.dumps(meta))
    code, _, err = cli_main("search", tmp_path / "ix", "reset my password", "--k", 2)
    assert_one_line_error(code, err, "texts.offsets.npy", "do not rise")


def test_a_grouped_corpus_of_numbers_warns_as_a_plain_one(tmp_path):
    """Sweep 26: `train-kplus1`, `index --group-col` and `augment` read grouped corpora without the
    warning that a text column of numbers gets everywhere else."""
    from textgan.workflow.core import read_corpus

    (tmp_path / "n.csv").write_text("text,group\n1,a\n2,a\n3,b\n")
    with pytest.warns(UserWarning, match="every cell of the text column 'text' is a number"):
        texts, groups = read_corpus(tmp_path / "n.csv", "text", "group")
    assert (texts, groups) == (["1", "2", "3"], ["a", "a", "b"])


def test_a_signal_after_the_console_script_has_ended_is_ignored(tmp_path):
    """Sweep 27: SIGTERM in the second of interpreter shutdown raised KeyboardInterrupt inside torch's
    atexit hooks (tracebacks, exit 0) or killed the finished process with a bare 143."""
    import subprocess
    import sys

    from helpers import ROOT

    script = tmp_path / "s.py"
    script.write_text("import os, signal, sys, time\nsys.argv = ['textgan', 'objectives']\nimport cli\n"
                      "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
                      "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(0.3)\nprint('alive')\n")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0 and p.stdout.rstrip().endswith("alive"), p.stderr[-500:]
    assert "Traceback" not in p.stderr


def test_an_encoder_passed_in_must_give_one_finite_row_per_sentence():
    """Sweep 27: an encoder whose vectors were NaN scored loo_top1 1.0; a list or too few rows gave
    numpy's errors."""
    import similarity
    from textgan.common.errors import InputError

    texts, groups = similarity.load_groups(FAQ)
    texts, groups = texts[:20], groups[:20]

    class Enc:
        def __init__(self, fn):
            self.fn = fn

        def encode(self, t, **_):
            return self.fn(len(list(t)))

    with pytest.raises(InputError, match="the model's vectors contain NaN or inf"):
        similarity.evaluate(Enc(lambda n: np.full((n, 4), np.nan, np.float32)), texts, groups)
    with pytest.raises(InputError, match="the model gave 3 vectors for 20 sentences"):
        similarity.evaluate(Enc(lambda n: np.eye(3, 4, dtype=np.float32)), texts, groups)
    rows = np.eye(20, 4, dtype=np.float32) + 0.01
    assert similarity.evaluate(Enc(lambda n: rows[:n].tolist()), texts, groups)["n"] == 20  # a list is read


def test_labels_that_are_one_number_written_two_ways_warn(tmp_path):
    """Sweep 27: groups '1' and '1.0' (a column saved by two tools) trained as two groups, silently."""
    import similarity

    (tmp_path / "g.csv").write_text("text,group\nhello there,1\nhi there,1.0\nhey you,1\ngood bye,2\nsee you,2\n")
    with pytest.warns(UserWarning, match="labels '1' and '1.0' are one number written two ways, and are two groups"):
        similarity.load_groups(tmp_path / "g.csv")


def test_api_parameters_of_the_wrong_type_are_input_errors(tmp_path):
    """Sweep 27: data_names="x" gave IndexError, options="x" a dataclasses TypeError, progress="no" ran with bars."""
    import similarity
    import textgan
    from textgan.common.errors import InputError

    texts, groups = similarity.load_groups(FAQ)
    cfg = similarity.TrainConfig(epochs=1, teacher="none")
    for bad in ({"data_names": "x"}, {"progress": "no"}, {"resume": "yes"}):
        with pytest.raises(InputError, match="data_names must be a tuple of file names; progress and resume True"):
            similarity.train(cfg, texts, groups, tmp_path / "r", **bad)
    with pytest.raises(InputError, match="options must be an IndexOptions"):
        textgan.index_corpus("model", FAQ, tmp_path / "ix", options="x")
    assert not (tmp_path / "r").exists() and not (tmp_path / "ix").exists()


def test_pair_files_refuse_the_grouped_column_options_they_ignored(tmp_path, cli_main):
    """Sweep 27: `--pair-cols a,b --group-col alsono` trained, the column options silently unused."""
    pairs = ROOT_DATA / "faq_en_pairs.tsv"
    code, _, err = cli_main("train-similarity", pairs, "--pair-cols", "sentence1,sentence2", "--group-col", "g",
                            "--teacher", "none", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "--group-col", "with --pair-cols A,B[,LABEL] the pairs' columns are named there")
    code, _, err = cli_main("train-similarity", pairs, "--pair-cols", "sentence1,sentence2", "--text-col", "t",
                            "--teacher", "none", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "--text-col")
    assert not (tmp_path / "r").exists()


def test_pairs_read_without_the_file_s_label_column_warn(tmp_path):
    """Sweep 27: `--pair-cols A,B` on a file with a 0/1 `label` column trained its 0 rows as paraphrases."""
    from similarity.pairs import load_pair_groups

    (tmp_path / "p.tsv").write_text("sentence1\tsentence2\tlabel\nhello there\thi there\t1\ngood bye\tsee you\t0\n"
                                    "how are you\thow do you do\t1\n")
    with pytest.warns(UserWarning, match="the file has a column 'label': pass --pair-cols A,B,label"):
        texts, groups = load_pair_groups(tmp_path / "p.tsv", ["sentence1", "sentence2"])
    assert len(set(groups)) == 3  # read as asked: every pair a group
