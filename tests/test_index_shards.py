"""textgan.index from a shard folder: the shard reader's refusals, RAM or member indexes (storage
"shards", members.py + sharded.py), joined indexes, a corpus file streamed into shards first."""
from __future__ import annotations

import json

import numpy as np
import pytest

from _shards import corpus, shards_dir  # noqa: F401  (fixtures)
from helpers import assert_one_line_error
from textgan.common.errors import InputError


def test_missing_or_foreign_shards_are_refused(corpus, shards_dir, tmp_path, cli_main):
    import shutil

    model, _, _ = corpus
    bad = tmp_path / "bad"
    shutil.copytree(shards_dir, bad)
    (bad / "shard-00002.npy").unlink()
    assert_one_line_error(*cli_main("index", model, bad, "--out", tmp_path / "i1")[::2], "missing shard file")
    shutil.copy(shards_dir / "shard-00002.npy", bad / "shard-00002.npy")
    shutil.copy(shards_dir / "shard-00001.npy", bad / "shard-00003.npy")  # a shard that is not this one
    assert_one_line_error(*cli_main("index", model, bad, "--out", tmp_path / "i2")[::2], "checksum mismatch")
    shutil.copy(shards_dir / "shard-00003.npy", bad / "shard-00003.npy")
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["encoder"]["fingerprint"] = "f" * 16  # vectors of another encoder
    (bad / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_error(*cli_main("index", model, bad, "--out", tmp_path / "i3")[::2], "encoded by encoder")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(shards_dir / "encode.json", unfinished / "encode.json")
    assert_one_line_error(*cli_main("index", model, unfinished, "--out", tmp_path / "i4")[::2], "not finished")


def test_small_shard_folder_is_indexed_in_ram(corpus, shards_dir, tmp_path, cli_main):
    model, _, texts = corpus
    code, stdout, _ = cli_main("index", model, shards_dir, "--out", tmp_path / "idx", "--no-progress")
    assert code == 0 and "1584 duplicates dropped" in stdout and "with Flat" in stdout
    code, stdout, _ = cli_main("search", tmp_path / "idx", texts[7], "--k", "1")
    assert code == 0 and texts[7] in stdout


def test_sharded_index_searches_its_members_together(corpus, shards_dir, tmp_path, cli_main):
    import shutil

    from textgan.index.build import load_index
    from textgan.index.members import join_indexes
    from textgan.index.shards import open_shards
    from textgan.common.vectors import cosine_knn

    model, _, texts = corpus
    out = tmp_path / "sharded"
    code, stdout, _ = cli_main("index", model, shards_dir, "--out", out, "--storage", "shards", "--members", "2",
                               "--no-progress")
    assert code == 0 and "in 2 index shards" in stdout, stdout
    idx = load_index(out)
    assert idx.meta["storage"] == "shards" and [m["shards"] for m in idx.meta["members"]] == [
        ["shard-00000", "shard-00001"], ["shard-00002", "shard-00003", "shard-00004"]]
    shards = open_shards(shards_dir)
    x = np.concatenate([shards.vectors(s) for s in range(len(shards))])
    q = x[::97]
    scores, ids = idx.search(q, 5)
    exact, _ = cosine_knn(q, x, 5)
    np.testing.assert_allclose(scores[:, 0], exact[:, 0], atol=1e-5)  # members in RAM: exact, merged by score
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    top = int(ids[3, 0])
    assert idx.texts[top] in texts and np.allclose(idx.vector(top) @ q[3], scores[3, 0], atol=1e-5)
    np.testing.assert_array_equal(idx.search(q * 4.0, 5)[1], ids)  # normalised once, for every member
    assert idx.search(q[0], 10**6)[1].shape == (1, idx.ntotal)
    assert set(idx.meta) == {"format", "version", "storage", "fingerprint", "encoder", "dim", "metric", "factory",
                             "n", "members", "recall_at_10", "params", "bytes_per_vector", "stats", "digests",
                             "versions", "build_id"}
    code, stdout, _ = cli_main("search", out, texts[5], "--k", "1")
    assert code == 0 and texts[5] in stdout
    # indexes built apart (one per machine) joined into one: the same answers
    joined = join_indexes([out / "part-00000", out / "part-00001"], tmp_path / "joined")
    np.testing.assert_array_equal(joined.search(q, 5)[1], ids)
    other = tmp_path / "other"
    shutil.copytree(out / "part-00001", other)
    meta = json.loads((other / "meta.json").read_text())
    (other / "meta.json").write_text(json.dumps(dict(meta, fingerprint="e" * 16)))
    with pytest.raises(InputError, match="built with encoder"):
        join_indexes([out / "part-00000", other], tmp_path / "joined2")
    # a member from another encoder, a changed member, a missing member: one line naming the file
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    meta = json.loads((bad / "part-00001" / "meta.json").read_text())
    (bad / "part-00001" / "meta.json").write_text(json.dumps(dict(meta, fingerprint="f" * 16)))
    assert_one_line_error(*cli_main("search", bad, "x")[::2], "built with encoder",
                          str(bad / "part-00001" / "meta.json"))
    (bad / "part-00001" / "meta.json").write_text(json.dumps(dict(meta, recall_at_10=1.0)))
    assert_one_line_error(*cli_main("search", bad, "x")[::2], "checksum mismatch", "part-00001")
    shutil.rmtree(bad / "part-00001")
    assert_one_line_error(*cli_main("search", bad, "x")[::2], "missing index shard", str(bad / "part-00001"))
    assert_one_line_error(*cli_main("index", model, shards_dir, "--out", tmp_path / "g", "--storage", "shards",
                                    "--members", "9", "--no-progress")[::2], "more than the 5 shards")


def test_index_streams_a_corpus_file_into_shards_then_builds_on_disk(corpus, tmp_path, cli_main, monkeypatch):
    from textgan.workflow import encode as shards_mod
    from textgan.index.build import load_index

    model, _, texts = corpus
    f = tmp_path / "small.txt"  # 600 lines: enough to train 13 lists and 4-bit codes, fast to encode
    f.write_text("\n".join(texts[:600]) + "\n", encoding="utf-8")
    out = tmp_path / "idx"
    # bad settings are refused before the corpus is encoded
    for bad, needle in ((["--members", "0"], "--members"), (["--target-recall", "1.5"], "--target-recall"),
                        (["--memory-mb", "nan"], "--memory-mb"), (["--factory", "NotAFactory"], "bad FAISS factory")):
        assert_one_line_error(*cli_main("index", model, f, "--out", out, "--storage", "shards", *bad,
                                        "--no-progress")[::2], needle)
        assert not (tmp_path / "idx.vectors").exists() and not out.exists()
    code, stdout, _ = cli_main("index", model, f, "--out", out, "--storage", "disk", "--no-progress")
    assert code == 0 and "on disk" in stdout
    assert (tmp_path / "idx.vectors" / "manifest.json").is_file()
    idx = load_index(out)
    assert idx.ntotal == 600 and idx.texts[599] == texts[599] and idx.meta["storage"] == "disk"
    # a rerun resumes: every shard is done, none is encoded again (--groups: the old name of --members)
    monkeypatch.setattr(shards_mod, "write_shard", lambda *a: (_ for _ in ()).throw(AssertionError("re-encoded")))
    code, _, err = cli_main("index", model, f, "--out", out, "--storage", "shards", "--groups", "1", "--no-progress")
    assert code == 0, err
    assert load_index(out).ntotal == 528  # a member in RAM drops the repeated texts


def test_members_count_is_an_option_and_groups_its_hidden_old_name(corpus, cli_main, tmp_path):
    from textgan.index.options import IndexOptions

    model, _, _ = corpus
    code, out, _ = cli_main("index", "--help")
    assert code == 0 and "--members" in out and "--groups" not in out and "--group-col" in out
    assert_one_line_error(*cli_main("index", model, tmp_path / "x.txt", "--out", tmp_path / "i", "--storage", "disk",
                                    "--members", "2")[::2], "--members is for --storage shards")
    assert_one_line_error(*cli_main("index", model, tmp_path / "x.txt", "--out", tmp_path / "i", "--storage", "shards",
                                    "--members", "2", "--groups", "2")[::2], "old name of --members")
    assert IndexOptions.of(storage="shards", members=3).members == 3
    with pytest.raises(InputError, match="unknown index option.*groups.*valid: factory, memory_budget_mb"):
        IndexOptions.of(groups=3)
