"""Results of the twenty-eighth sweep and of the known list's leftovers."""
from __future__ import annotations

import warnings

import pytest

from helpers import FAQ


def _caught(fn, *args, **kwargs) -> list[str]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    return [str(w.message) for w in seen]


def test_join_indexes_counts_sentences_held_by_several_members(tmp_path, faq):
    """Members that share some sentences were joined silently: a query near one got it back once per
    member that holds it. Joining is still allowed (common queries), with the count said."""
    import textgan
    from textgan.index.members import join_indexes

    texts = faq[1]
    (tmp_path / "a.txt").write_text("".join(t + "\n" for t in texts[:300]))
    (tmp_path / "b.txt").write_text("".join(t + "\n" for t in texts[250:] + [texts[10] + "\u200b"]))
    for name in ("a", "b"):
        textgan.index_corpus(faq[0], tmp_path / f"{name}.txt", tmp_path / name)
    msgs = _caught(join_indexes, [tmp_path / "a", tmp_path / "b"], tmp_path / "j")
    shared = len({t for t in texts[:300]} & set(texts[250:])) + 1  # the zero-width copy is one of them
    assert [m for m in msgs if "more than one joined index" in m] == [
        f"{shared} sentence(s) are in more than one joined index (most shared: {tmp_path / 'a'} and "
        f"{tmp_path / 'b'}): a query near one gets it back once per index that holds it"]
    assert textgan.load_index(tmp_path / "j").ntotal == 300 + len(texts) - 250 + 1


@pytest.fixture
def saved(tmp_path):
    """A Dataset and a DatasetDict written by `save_to_disk` from the sample FAQ file."""
    import datasets
    import pandas as pd

    d = pd.read_csv(FAQ)
    ds = datasets.Dataset.from_pandas(d, preserve_index=False)
    ds.save_to_disk(str(tmp_path / "one"))
    datasets.DatasetDict({"train": ds.select(range(400)), "test": ds.select(range(400, len(d)))}).save_to_disk(
        str(tmp_path / "dict"))
    datasets.DatasetDict({"dev": ds}).save_to_disk(str(tmp_path / "devonly"))
    return tmp_path, d


def test_save_to_disk_folders_are_read_with_their_splits(saved):
    """A folder written by `Dataset.save_to_disk` (the usual local copy of a hub dataset) was refused
    as 'not a file', or read through `hf:` as its Arrow and state.json files joined."""
    from similarity.data import load_groups, load_texts
    from textgan.common.errors import InputError

    tmp, d = saved
    assert load_groups(tmp / "one", min_groups=2)[0] == d.text.tolist()
    assert load_groups(f"hf:{tmp / 'dict'}")[0] == d.text.tolist()[:400]  # the train split
    assert load_texts(f"{tmp / 'dict'}:test", text_col="text") == d.text.tolist()[400:]
    from similarity.distil import load_unlabeled

    assert load_unlabeled(f"{tmp / 'dict'}:test") == d.text.tolist()[400:]
    with pytest.raises(InputError, match=r"dict:nope: has no split 'nope'; it holds the splits train, test"):
        load_texts(f"{tmp / 'dict'}:nope", text_col="text")
    with pytest.raises(InputError, match=r"devonly: holds the splits dev and no train split: pick one as .*ly:dev"):
        load_groups(tmp / "devonly")
    with pytest.raises(InputError, match=r"one:train: ':train' picks a split of a saved DatasetDict"):
        load_groups(f"{tmp / 'one'}:train")
    with pytest.raises(InputError, match="missing column 'label'"):
        load_groups(tmp / "one", group_col="label")


def test_a_tampered_state_json_cannot_read_outside_its_folder(saved):
    """`datasets` joins the file names of state.json to the folder: '../x.arrow' read another file."""
    import json

    from similarity.data import load_groups
    from textgan.common.errors import InputError

    tmp, _ = saved
    state = tmp / "one" / "state.json"
    meta = json.loads(state.read_text())
    meta["_data_files"] = [{"filename": "../dict/train/" + meta["_data_files"][0]["filename"]}]
    state.write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"one: state.json names '\.\./dict/train/.*', outside the dataset folder"):
        load_groups(tmp / "one")
    (tmp / "dict" / "dataset_dict.json").write_text('{"splits": ["../one", "test"]}')
    with pytest.raises(InputError, match=r"dataset_dict.json names '\.\./one', outside the dataset folder"):
        load_groups(f"{tmp / 'dict'}:../one")


def test_encode_and_index_read_a_saved_folder_and_its_split(saved, faq):
    """encode stat()ed 'FOLDER:SPLIT' as a file; index took any folder for a shard folder."""
    from textgan.workflow.core import index_corpus
    from textgan.workflow.encode import encode_shards
    from textgan.workflow.rows import stream_rows

    tmp, d = saved
    assert [t for t, _ in stream_rows(f"{tmp / 'dict'}:test", "text", "group")] == d.text.tolist()[400:]
    done = encode_shards(faq[0], f"{tmp / 'dict'}:test", tmp / "enc", text_col="text", group_col="group")
    assert done["rows"] == len(d) - 400 and done["complete"]
    index = index_corpus(faq[0], tmp / "one", tmp / "ix", text_col="text")
    assert index.ntotal == len(set(d.text))


def _small(tmp_path, n: int = 96):
    """The first `n` rows of the sample FAQ file (a few seconds of training)."""
    lines = FAQ.read_text().splitlines()
    (tmp_path / "small.csv").write_text("\n".join(lines[:n + 1]) + "\n")
    return tmp_path / "small.csv"


def test_api_train_gan_refuses_values_beyond_float32_training(tmp_path):
    """Sweep 28: train-gan refused values above 1e6, the API trained on them (critic losses in the
    millions, samples of size 0.15 against data of 6.6e6; at 1e20 a "diverged" run)."""
    import numpy as np

    import textgan
    from textgan.common.errors import InputError

    x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32) * 6.6e6
    with pytest.raises(InputError, match=r"vectors: values up to 2\.\d+e\+07: training overflows float32 beyond"):
        textgan.train_gan(x, tmp_path / "g")
    assert not (tmp_path / "g").exists()


def test_max_steps_ending_before_vo_start_is_refused(tmp_path, cli_main):
    """Sweep 28: --max-steps 3 ended the run inside epoch 1 and the outlier loss (from epoch 2) never
    applied: the model was the one without --virtual-outliers, byte for byte, and nothing said so."""
    from helpers import assert_one_line_error

    code, _, err = cli_main("train-similarity", _small(tmp_path), "--out", tmp_path / "r", "--teacher", "none",
                            "--epochs", "2", "--max-steps", "3", "--virtual-outliers", "sphere", "--vo-start", "2",
                            "--no-progress")
    assert_one_line_error(code, err, "--max-steps 3 ends the run in epoch 1 (5 steps an epoch), before the outlier "
                          "loss starts (--vo-start 2)")
    assert not (tmp_path / "r" / "model").exists()


def test_eval_fraction_with_eval_data_is_refused(tmp_path, cli_main):
    """Sweep 28: --eval-fraction was silently not read when --eval-data gives the held-out set."""
    from helpers import assert_one_line_error

    data = _small(tmp_path)
    code, _, err = cli_main("train-similarity", data, "--eval-data", data, "--eval-fraction", "0.5",
                            "--out", tmp_path / "r")
    assert_one_line_error(code, err, "--eval-fraction holds out part of DATA; --eval-data is the held-out set")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("cmd", ["score", "classify"])
def test_score_and_classify_lock_their_out_file(tmp_path, cli_main, faq, cmd):
    """Sweep 28: two runs into one --out both exited 0 and one run's rows were lost."""
    from helpers import assert_one_line_error
    from textgan.common.artifacts import output_lock

    out = tmp_path / "out.jsonl"
    (tmp_path / "q.txt").write_text("how do i reset my password\n")
    with output_lock(out):  # another run holds it
        code, _, err = cli_main(cmd, faq[0], tmp_path / "q.txt", "--out", out)
    assert_one_line_error(code, err, "another run is writing to this file (locked)")
    assert not out.exists()


def test_word_tokenizer_given_for_unspaced_text_warns():
    """Sweep 28: --tokenizer word on Chinese made every sentence one token (held-out top-1 0.000),
    silently; Korean, which separates words by spaces, is not warned about."""
    import dataclasses

    from similarity import TrainConfig
    from similarity.language import for_language

    cfg = dataclasses.replace(TrainConfig(), tokenizer="word", teacher="none")
    zh = ["我想查一下我的账户余额", "怎么修改登录密码", "信用卡丢了怎么办"]
    msgs = _caught(for_language, cfg, zh)
    assert len(msgs) == 1 and msgs[0].startswith("--tokenizer word splits on spaces, and 100% of the sentences")
    assert for_language(cfg, zh, announce=False) is cfg  # kept as given
    assert _caught(for_language, cfg, ["계좌 잔액을 알려 주세요", "비밀번호를 어떻게 바꾸나요"]) == []


def test_train_gan_refuses_labels_with_a_corpus(tmp_path, cli_main, faq):
    """Sweep 28: --model with --labels failed with 'needs one group label per vector (--labels or
    --group-col)', advising the option just given, which was not read."""
    from helpers import assert_one_line_error

    (tmp_path / "labels.txt").write_text("".join(g + "\n" for g in faq[2]))
    code, _, err = cli_main("train-gan", FAQ, "--model", faq[0], "--text-col", "text", "--labels",
                            tmp_path / "labels.txt", "--out", tmp_path / "g")
    assert_one_line_error(code, err, "labels.txt: --labels labels the rows of a vectors file; with --model name the "
                          "corpus's group column with --group-col")


def test_expected_coverage_refuses_impossible_counts():
    from textgan.common.errors import InputError
    from textgan.metrics import expected_coverage

    assert expected_coverage(2000, 2000, 5) == pytest.approx(1 - 0.5 ** 5, abs=2e-3)
    with pytest.raises(InputError, match=r"n_real must be an integer >= 6 \(k \+ 1\), got -5"):
        expected_coverage(-5, 10, 5)


def test_interpolate_between_one_sentence_warns(tmp_path, faq):
    import textgan

    textgan.index_corpus(faq[0], FAQ, tmp_path / "ix", text_col="text")
    msgs = _caught(textgan.interpolate, tmp_path / "ix", "reset my password", "reset my password", steps=3)
    assert any(m.startswith("sentences A and B encode to the same vector: every step is one point") for m in msgs)
