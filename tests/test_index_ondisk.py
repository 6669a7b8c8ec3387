"""textgan.index.ondisk / ondisk_read: the IVF-PQ index past RAM, re-ranked with exact vectors on disk."""
from __future__ import annotations

import numpy as np
import pytest

from _shards import corpus, shards_dir  # noqa: F401  (fixtures)
from helpers import assert_one_line_error
from textgan.common.errors import InputError


# meta.json of an on-disk index as every version so far has written it (keys are only ever added)
DISK_META_KEYS = {"format", "version", "storage", "fingerprint", "encoder", "dim", "metric", "factory", "n",
                  "params", "recall_at_10", "recall_queries", "recall_leave_self_out", "seed", "stats", "lists",
                  "rerank", "target_recall", "typical_nn_cosine", "has_groups", "bytes_per_vector", "shards",
                  "block_rows", "build_seconds", "build_peak_rss_mb", "index_bytes", "digests", "versions", "build_id"}


def test_ondisk_index_loads_searches_and_checks_digests(corpus, shards_dir, tmp_path, cli_main, monkeypatch):
    from textgan.common.vectors import cosine_knn
    from textgan.index.build import load_index
    from textgan.index.ondisk_read import OnDiskIndex
    from textgan.index.shards import open_shards

    model, _, texts = corpus
    out = tmp_path / "idx"
    code, stdout, _ = cli_main("index", model, shards_dir, "--out", out, "--storage", "disk", "--no-progress")
    assert code == 0 and "on disk" in stdout and "bytes/vector" in stdout
    idx = load_index(out)
    assert idx.meta["storage"] == "disk" and idx.ntotal == 2112 and idx.meta["recall_at_10"] >= 0.9
    assert idx.meta["factory"].startswith("IVF") and "PQ" in idx.meta["factory"]
    shards = open_shards(shards_dir)
    x = np.concatenate([shards.vectors(s) for s in range(len(shards))])
    q = x[::97]
    scores, ids = idx.search(q, 5)
    exact, _ = cosine_knn(q, x, 5)
    np.testing.assert_allclose(scores[:, 0], exact[:, 0], atol=1e-5)  # re-ranked with the exact vectors
    assert idx.texts[int(ids[0, 0])] == texts[int(ids[0, 0])] and len(idx.texts) == 2112
    # VectorIndex.search checks, normalises and caps k for every kind of index; OnDiskIndex is one class
    np.testing.assert_array_equal(idx.search(q * 4.0, 5)[1], ids)
    import faiss  # lists.ivfdata is mapped read-only: FAISS's default "r+" failed on a read-only file system

    flags, real = [], faiss.read_index
    monkeypatch.setattr(faiss, "read_index", lambda f, fl=0: flags.append(fl) or real(f, fl))
    np.testing.assert_array_equal(load_index(out).search(q, 5)[1], ids)
    assert flags and flags[-1] & faiss.IO_FLAG_READ_ONLY and flags[-1] & faiss.IO_FLAG_ONDISK_SAME_DIR
    assert idx.search(q[0], 10**6)[1].shape == (1, 2112)
    assert type(idx) is type(load_index(out)) is OnDiskIndex
    assert set(idx.meta) == DISK_META_KEYS  # the folder format older readers know
    code, stdout, _ = cli_main("search", out, texts[5], "--k", "1")
    assert code == 0 and texts[5] in stdout, _
    # 8-bit PQ: inverted lists on disk, checksummed like every index file
    out = tmp_path / "idx8"
    code, stdout, _ = cli_main("index", model, shards_dir, "--out", out, "--storage", "disk", "--no-progress",
                               "--factory", "IVF16,PQ8")
    assert code == 0 and load_index(out).meta["lists"] == "disk"
    np.testing.assert_allclose(load_index(out).search(q, 5)[0][:, 0], exact[:, 0], atol=1e-5)
    lists = out / "lists.ivfdata"
    data = bytearray(lists.read_bytes())
    data[100] ^= 1
    lists.write_bytes(bytes(data))
    assert_one_line_error(*cli_main("search", out, "x")[::2], "checksum mismatch", "lists.ivfdata")


def test_storage_choice_follows_the_memory_budget():
    from textgan.index.choice import choose_storage, ondisk_factory

    assert choose_storage(10_000, 256) == "ram"
    assert choose_storage(10_000_000, 256) == "disk"
    assert choose_storage(1_000_000, 256, memory_budget_mb=100_000) == "ram"
    assert choose_storage(1_000_000, 256, memory_budget_mb=500) == "disk"
    # 4-bit fast-scan codes while they fit (2 GiB, or half the budget), else 8-bit PQ lists on disk
    assert ondisk_factory(2_000_000, 256) == "IVF8192,PQ64x4fs"
    assert ondisk_factory(2_000_000, 256, memory_budget_mb=100) == "IVF8192,PQ32"
    assert ondisk_factory(100_000_000, 384).endswith("PQ48")


def test_exact_rows_are_read_by_id_and_blocks_follow_the_budget(tmp_path):
    from textgan.index.ondisk import ADD_ROWS, BLOCK_ROWS, ShardVectors, block_rows_for

    x = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    np.save(tmp_path / "a.npy", x[:3])
    np.save(tmp_path / "b.npy", x[3:])
    sv = ShardVectors([tmp_path / "a.npy", tmp_path / "b.npy"], [3, 4], 4)
    ids = np.array([[6, -1, 0], [3, 2, 6]])
    got = sv.gather(ids)
    assert got.shape == (2, 3, 4) and not got[0, 1].any()
    np.testing.assert_array_equal(got[ids >= 0], x[ids[ids >= 0]])
    with pytest.raises(InputError, match="vector shard holds"):
        ShardVectors([tmp_path / "a.npy"], [4], 4)
    assert block_rows_for(40, None) == BLOCK_ROWS
    assert block_rows_for(40, 1) == ADD_ROWS and block_rows_for(40, 200) == int(200 * 2**20 / 4 / 96)
