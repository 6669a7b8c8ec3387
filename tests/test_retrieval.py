"""textgan.index.build: exactness, automatic index recall, round trips and refusals."""
from __future__ import annotations

import json
import re

import faiss
import numpy as np
import pytest

from textgan.common.errors import InputError
from textgan.index import build as retrieval, choice as index_choice
from textgan.index.options import IndexOptions

faiss.omp_set_num_threads(1)  # the test machine is shared: spinning OpenMP threads thrash
ENC = {"fingerprint": "enc-aaa", "dim": 32, "path": "models/a"}
# meta.json of an in-RAM index as every version since checksums has written it: a key renamed or
# dropped would leave older readers (and the format's documentation) behind
RAM_META_KEYS = {"format", "version", "fingerprint", "encoder", "dim", "metric", "factory", "n", "params",
                 "recall_at_10", "recall_queries", "recall_leave_self_out", "seed", "stats", "index_bytes",
                 "digests", "versions", "build_id"}


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clustered(n, d, n_centres, seed):
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((n_centres, d)))
    x = centres[rng.integers(0, n_centres, n)] + rng.standard_normal((n, d)) / np.sqrt(d)
    return _unit(x), centres, rng


def test_flat_search_equals_brute_force_topk():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 32)) * 3.0  # not normalised: build_index does it
    q = rng.standard_normal((40, 32))
    idx = retrieval.build_index(x, [f"t{i}" for i in range(500)], encoder=ENC)
    assert idx.meta["factory"] == "Flat" and idx.meta["recall_at_10"] == 1.0
    scores, ids = idx.search(q, k=10)
    cos = _unit(q) @ _unit(x).T  # (40, 500)
    np.testing.assert_array_equal(ids, np.argsort(-cos, axis=1)[:, :10])
    np.testing.assert_allclose(scores, -np.sort(-cos, axis=1)[:, :10], atol=1e-5)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    np.testing.assert_allclose(idx.reconstruct_all(), _unit(x), atol=1e-6)
    np.testing.assert_allclose(idx.vector(7), _unit(x)[7], atol=1e-6)


def test_choose_factory_thresholds():
    assert retrieval.choose_factory(10_000, 256) == "Flat"
    assert retrieval.choose_factory(100_000, 256) == "IVF1024,Flat"
    assert retrieval.choose_factory(1_000_000, 256) == "IVF4096,Flat"
    # 1M x 256 float32 needs ~980 MB; a 100 MB budget forces product quantisation
    tight = retrieval.choose_factory(1_000_000, 256, memory_budget_mb=100)
    assert tight.startswith("IVF4096,PQ")
    assert retrieval.estimate_bytes(tight, 1_000_000, 256) <= 100 * 2**20
    assert retrieval.choose_factory(1000, 64, memory_budget_mb=1) == "Flat"
    with pytest.raises(InputError, match="memory budget"):
        retrieval.choose_factory(1_000_000, 256, memory_budget_mb=1)


def test_automatic_index_reaches_stated_recall(monkeypatch):
    # a small FLAT_MAX_N makes the automatic choice pick IVF on a 20k corpus
    monkeypatch.setattr(index_choice, "FLAT_MAX_N", 1000)
    x, centres, rng = _clustered(20_000, 32, 200, seed=1)
    idx = retrieval.build_index(x, [str(i) for i in range(len(x))], encoder=ENC, seed=0)
    assert idx.meta["factory"].startswith("IVF") and "nprobe" in idx.meta["params"]
    stated = idx.meta["recall_at_10"]
    assert stated >= retrieval.TARGET_RECALL
    # held-out queries from the same mixture: recall close to the stated leave-self-out figure
    q = _unit(centres[rng.integers(0, 200, 300)] + rng.standard_normal((300, 32)) / np.sqrt(32))
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
    assert retrieval.recall_at_k(idx.search(q, 10)[1], truth) >= stated - 0.02
    # and nprobe=1 would not have reached it: the tuner did real work
    retrieval.set_params(idx.index, {"nprobe": 1})
    assert retrieval.recall_at_k(idx.search(q, 10)[1], truth) < stated


def test_structureless_data_falls_back_to_exact(monkeypatch):
    monkeypatch.setattr(index_choice, "FLAT_MAX_N", 1000)
    # uniform on the sphere in 256-d: IVF needs nprobe ~ nlist for 0.95 recall, at which
    # point it is ~4x slower than exact search; the tuner's timing check hits far earlier
    x = np.random.default_rng(2).standard_normal((20_000, 256)).astype(np.float32)
    idx = retrieval.build_index(x, [str(i) for i in range(len(x))])
    assert idx.meta["factory"] == "Flat" and "fell_back_to_flat" in idx.stats


@pytest.mark.parametrize("factory", ["Flat", "IVF64,Flat", "HNSW16,Flat", "IVF64,PQ8"])
def test_save_load_round_trip(tmp_path, factory):
    x, _, rng = _clustered(4000, 32, 40, seed=3)
    texts = [f"sentence {i}" for i in range(len(x))]
    groups = [f"g{i % 7}" for i in range(len(x))]
    idx = retrieval.build_index(x, texts, groups=groups, encoder=ENC, factory=factory)
    q = rng.standard_normal((25, 32))
    before = idx.search(q, 10)
    idx.save(tmp_path / "ix")
    back = retrieval.load_index(tmp_path / "ix", expect_fingerprint="enc-aaa")
    after = back.search(q, 10)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])
    assert back.texts == texts and back.groups == groups
    assert back.meta["params"] == idx.meta["params"] and back.meta["factory"] == factory
    assert (back.ntotal, back.dim) == (4000, 32)
    np.testing.assert_array_equal(back.reconstruct_all(), idx.reconstruct_all())
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    assert set(meta) == RAM_META_KEYS and meta["stats"] == {"n_input": 4000, "duplicates_dropped": 0}


def test_a_folder_of_an_old_format_loads_but_not_without_digests(tmp_path):
    """meta.json without versions, index_bytes, stats or the recall sample, no vectors.npy: loads.
    The oldest format (no digests either) is refused: a folder whose digests were deleted looks the
    same, and deleting a key must not switch checking off (an index is rebuilt from its corpus)."""
    x, _, rng = _clustered(600, 16, 10, seed=13)
    texts, groups = [f"s{i}" for i in range(600)], [f"g{i % 3}" for i in range(600)]
    idx = retrieval.build_index(x, texts, groups=groups, encoder=dict(ENC, dim=16), factory="IVF8,Flat")
    idx.save(tmp_path / "ix")
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    oldest = {k: meta[k] for k in ("format", "version", "fingerprint", "encoder", "dim", "metric", "factory",
                                   "recall_at_10", "n", "params")}
    (tmp_path / "ix" / "meta.json").write_text(json.dumps(oldest))
    (tmp_path / "ix" / "vectors.npy").unlink()
    with pytest.raises(InputError, match="meta.json: meta.json records no digests .*rebuild the index"):
        retrieval.load_index(tmp_path / "ix", expect_fingerprint="enc-aaa")
    _rehash(tmp_path / "ix")
    back = retrieval.load_index(tmp_path / "ix", expect_fingerprint="enc-aaa")
    q = rng.standard_normal((20, 16))
    np.testing.assert_array_equal(back.search(q, 10)[1], idx.search(q, 10)[1])
    assert back.groups == groups and back.meta["params"] == meta["params"] and back.stats == {}
    np.testing.assert_allclose(back.vector(5), idx.vector(5), atol=1e-6)


@pytest.mark.parametrize("options, needle", [
    (dict(storage="cloud"), "--storage must be one of auto, ram, disk, shards, got 'cloud'"),
    (dict(memory_budget_mb=0), "--memory-mb must be a finite number > 0, got 0"),
    (dict(memory_budget_mb=float("inf")), "--memory-mb must be a finite number > 0, got inf"),
    (dict(target_recall=1.5), "--target-recall must be a number in (0, 1], got 1.5"),
    (dict(target_recall=True), "--target-recall must be a number in (0, 1], got True"),
    (dict(members=0, storage="shards"), "--members must be an integer >= 1, got 0"),
    (dict(members=2), "--members is for --storage shards"),
    (dict(rerank=-1), "rerank must be an integer >= 0, got -1"),
    (dict(factory=" "), "--factory must be a FAISS index_factory string"),
    (dict(nprobe=4), "unknown index option(s) nprobe; valid: factory, memory_budget_mb, target_recall"),
])
def test_index_options_are_checked_where_they_enter(options, needle):
    with pytest.raises(InputError, match=re.escape(needle)):
        IndexOptions.of(**options)
    with pytest.raises(InputError, match=re.escape(needle)):  # build_index takes them as keywords too
        retrieval.build_index(np.eye(4), list("abcd"), **options)


def test_index_options_are_one_frozen_value():
    import dataclasses

    opts = IndexOptions.of(factory="IVF16,Flat", target_recall=0.8, seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.factory = "Flat"
    assert opts.recall_target == 0.8 and IndexOptions().recall_target == retrieval.TARGET_RECALL
    x, _, _ = _clustered(2000, 16, 20, seed=14)
    a = retrieval.build_index(x, [str(i) for i in range(2000)], options=opts)
    b = retrieval.build_index(x, [str(i) for i in range(2000)], factory="IVF16,Flat", target_recall=0.8, seed=3)
    assert a.meta["factory"] == "IVF16,Flat" and a.meta["seed"] == 3 and a.meta["params"] == b.meta["params"]
    assert 0.8 <= a.meta["recall_at_10"] == b.meta["recall_at_10"]
    with pytest.raises(InputError, match="bad FAISS factory"):  # refused before anything is encoded
        IndexOptions(factory="NotAFactory").check_factory(16)
    with pytest.raises(InputError, match="needs at least 16 vectors"):
        IndexOptions(factory="IVF16,Flat").check_factory(16, n=10)


def test_encoder_mismatch_is_refused(tmp_path):
    x = np.random.default_rng(4).standard_normal((50, 32))
    retrieval.build_index(x, [str(i) for i in range(50)], encoder=ENC).save(tmp_path / "ix")
    with pytest.raises(InputError, match="built with encoder enc-aaa, not enc-bbb"):
        retrieval.load_index(tmp_path / "ix", expect_fingerprint="enc-bbb")
    assert retrieval.load_index(tmp_path / "ix").ntotal == 50  # no expectation: loads


def test_truncated_or_missing_index_file(tmp_path):
    x = np.random.default_rng(5).standard_normal((300, 32))
    retrieval.build_index(x, [str(i) for i in range(300)], factory="IVF8,Flat").save(tmp_path / "ix")
    f = tmp_path / "ix" / "index.faiss"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="index.faiss"):
        retrieval.load_index(tmp_path / "ix")
    # same size but garbage: the recorded checksum catches it before FAISS parses it
    f.write_bytes(b"\0" * len(data))
    with pytest.raises(InputError, match="index.faiss: checksum mismatch"):
        retrieval.load_index(tmp_path / "ix")
    _rehash(tmp_path / "ix")  # digests recomputed over the garbage: FAISS itself must reject it
    with pytest.raises(InputError, match="corrupt FAISS index"):
        retrieval.load_index(tmp_path / "ix")
    f.unlink()
    with pytest.raises(InputError, match="missing index file"):
        retrieval.load_index(tmp_path / "ix")
    with pytest.raises(InputError, match="not found"):
        retrieval.load_index(tmp_path / "nope")


def test_truncated_texts_file(tmp_path):
    x = np.random.default_rng(6).standard_normal((30, 8))
    retrieval.build_index(x, [str(i) for i in range(30)]).save(tmp_path / "ix")
    t = tmp_path / "ix" / "texts.jsonl"
    t.write_text("".join(t.read_text().splitlines(keepends=True)[:20]))
    with pytest.raises(InputError, match="texts.jsonl: checksum mismatch"):
        retrieval.load_index(tmp_path / "ix")
    _rehash(tmp_path / "ix")
    with pytest.raises(InputError, match="texts file has 20 rows"):
        retrieval.load_index(tmp_path / "ix")


def _rehash(folder):
    """Record the digests of the folder's files as they are now (a tamperer who recomputes them)."""
    from textgan.common.artifacts import folder_digests

    meta = json.loads((folder / "meta.json").read_text())
    meta["digests"] = folder_digests(folder, skip=("meta.json",))
    (folder / "meta.json").write_text(json.dumps(meta))


def _flip_middle_byte(f):
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["index.faiss", "texts.jsonl", "vectors.npy"])
def test_bit_flip_is_refused_by_checksum(tmp_path, name):
    x = np.random.default_rng(10).standard_normal((200, 16))
    retrieval.build_index(x, [f"sentence {i}" for i in range(200)]).save(tmp_path / "ix")
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    assert set(meta["digests"]) == {"index.faiss", "texts.jsonl", "vectors.npy"}
    assert meta["versions"]["faiss-cpu"] and meta["versions"]["numpy"]
    size = (tmp_path / "ix" / name).stat().st_size
    _flip_middle_byte(tmp_path / "ix" / name)
    assert (tmp_path / "ix" / name).stat().st_size == size  # the size check alone would pass
    with pytest.raises(InputError, match=f"{name}: checksum mismatch"):
        retrieval.load_index(tmp_path / "ix")


def test_index_out_must_be_an_index_folder(tmp_path):
    idx = retrieval.build_index(np.random.default_rng(11).standard_normal((20, 8)), [str(i) for i in range(20)])
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="file: output path is a file"):
        idx.save(tmp_path / "file")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.safetensors").write_text("keep me")
    with pytest.raises(InputError, match="not a textgan index"):
        idx.save(tmp_path / "model")
    assert (tmp_path / "model" / "weights.safetensors").read_text() == "keep me"
    idx.save(tmp_path / "ix")
    idx.save(tmp_path / "ix")  # an index folder is replaced
    assert retrieval.load_index(tmp_path / "ix").ntotal == 20


@pytest.mark.parametrize("factory, n, needle", [
    ("IVF4096,Flat", 528, "needs at least 4096 vectors to train its 4096 IVF lists, the corpus has 528"),
    ("IVF8,PQ4", 100, "needs at least 256 vectors to train its 8-bit PQ codebooks, the corpus has 100"),
    ("OPQ4,IVF8,PQ4", 100, "needs at least 256 vectors"),
    ("NotAFactory", 100, "bad FAISS factory string 'NotAFactory' for"),
])
def test_untrainable_factory_is_refused_up_front(factory, n, needle):
    with pytest.raises(InputError, match=re.escape(needle)):
        retrieval.make_empty_index(factory, n, 16)
    with pytest.raises(InputError, match=re.escape(needle)):
        retrieval.build_index(np.random.default_rng(12).standard_normal((n, 16)), [str(i) for i in range(n)],
                              factory=factory)
    assert retrieval.make_empty_index("IVF8,Flat", 8, 16).nlist == 8  # one row per list is enough


def test_duplicates_dropped_and_counted():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 8))
    texts = ["a", "b", "a", "c", "b", "a"]
    idx = retrieval.build_index(x, texts, groups=["1", "2", "3", "4", "5", "6"])
    assert idx.texts == ["a", "b", "c"] and idx.groups == ["1", "2", "4"]
    assert idx.stats["duplicates_dropped"] == 3 and idx.ntotal == 3
    np.testing.assert_allclose(idx.reconstruct_all(), _unit(x[[0, 1, 3]]), atol=1e-6)


def test_bad_inputs_are_input_errors():
    rng = np.random.default_rng(8)
    with pytest.raises(InputError, match="empty corpus"):
        retrieval.build_index(np.zeros((0, 8)), [])
    x = rng.standard_normal((10, 8))
    bad = x.copy()
    bad[4, 2] = np.nan
    with pytest.raises(InputError, match="NaN.*row 5, counting from 1"):
        retrieval.build_index(bad, [str(i) for i in range(10)])
    with pytest.raises(InputError, match="10 vectors but 9 texts"):
        retrieval.build_index(x, [str(i) for i in range(9)])
    with pytest.raises(InputError, match="encoder says 32"):
        retrieval.build_index(x, [str(i) for i in range(10)], encoder=ENC)
    with pytest.raises(InputError, match="bad FAISS factory"):
        retrieval.build_index(x, [str(i) for i in range(10)], factory="NotAnIndex")
    idx = retrieval.build_index(x, [str(i) for i in range(10)])
    with pytest.raises(InputError, match="dimension 5, expected 8"):
        idx.search(rng.standard_normal((3, 5)))
    with pytest.raises(InputError, match="NaN"):
        idx.search(np.full((1, 8), np.nan))
    assert idx.search(x[0], k=50)[1].shape == (1, 10)  # k capped at the corpus size
    with pytest.raises(InputError, match="k must be a whole number >= 1, got 0"):
        idx.search(x[0], k=0)


def test_vectors_reconstructed_when_not_stored(tmp_path, monkeypatch):
    from textgan.index import store as index_store

    monkeypatch.setattr(index_store, "VECTORS_MAX_BYTES", 0)  # as for a corpus over 200 MB
    x, _, _ = _clustered(2000, 16, 20, seed=9)
    retrieval.build_index(x, [str(i) for i in range(2000)], factory="IVF16,Flat").save(tmp_path / "ix")
    assert not (tmp_path / "ix" / "vectors.npy").exists()
    back = retrieval.load_index(tmp_path / "ix")
    np.testing.assert_allclose(back.vector(123), x[123], atol=1e-6)
    np.testing.assert_allclose(back.reconstruct_all(), x, atol=1e-6)
