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
