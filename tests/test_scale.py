"""Scale: streaming sharded encode (workers, --shard I/N, resume, full disk) and the on-disk index."""
from __future__ import annotations

import errno
import json

import numpy as np
import pytest

from conftest import assert_one_line_error
from textgan.common.errors import InputError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, faq):
    """A .txt corpus of 2,112 lines (the FAQ sentences four times) and the FAQ model."""
    model, texts, _, _ = faq
    d = tmp_path_factory.mktemp("scale")
    f = d / "corpus.txt"
    f.write_text("\n".join(texts * 4) + "\n", encoding="utf-8")
    return model, f, texts * 4


@pytest.fixture(scope="module")
def shards_dir(corpus, tmp_path_factory):
    from textgan.workflow.encode import encode_shards

    model, f, _ = corpus
    out = tmp_path_factory.mktemp("shards") / "vecs"
    res = encode_shards(model, f, out, shard_size=500, workers=2)
    assert res["complete"] and res["shards"] == 5 and res["rows"] == 2112
    return out


def test_sharded_encode_equals_one_file_encode(corpus, shards_dir):
    from textgan.index.shards import open_shards
    from textgan.workflow.core import load_encoder

    model, _, texts = corpus
    enc = load_encoder(model)
    shards = open_shards(shards_dir, expect_fingerprint=enc.fingerprint)
    assert len(shards) == 5 and shards.n == 2112 and shards.manifest["encoder"]["fingerprint"] == enc.fingerprint
    got = np.concatenate([shards.vectors(s) for s in range(len(shards))])
    np.testing.assert_allclose(got, enc.encode(texts), atol=1e-6)
    assert [t for s in range(len(shards)) for t, _ in shards.rows(s)] == texts
    assert isinstance(shards.vectors(0), np.memmap)


def test_resume_after_a_kill_encodes_only_missing_shards(corpus, shards_dir, tmp_path, monkeypatch):
    import textgan.workflow.encode as sh

    model, f, _ = corpus
    real_write, written = sh.write_shard, []

    def dying_write(out, k, *a):
        if len(written) == 2:
            (out / f".{sh.shard_name(k)}.npy.tmp-killed.npy").write_bytes(b"half")  # a killed write's temp file
            raise KeyboardInterrupt  # the process dies mid-shard
        written.append(k)
        return real_write(out, k, *a)

    monkeypatch.setattr(sh, "write_shard", dying_write)
    with pytest.raises(KeyboardInterrupt):
        sh.encode_shards(model, f, tmp_path / "v", shard_size=500)
    assert not (tmp_path / "v" / sh.MANIFEST).exists()
    monkeypatch.setattr(sh, "write_shard", real_write)
    res = sh.encode_shards(model, f, tmp_path / "v", shard_size=500)
    assert res["complete"] and res["encoded_shards"] == 3  # shards 0 and 1 were kept
    a, b = sh.open_shards(tmp_path / "v"), sh.open_shards(shards_dir)
    for s in range(5):
        np.testing.assert_array_equal(a.vectors(s), b.vectors(s))
    # a rerun with another shard size into the same folder is refused
    with pytest.raises(InputError, match="shard_size"):
        sh.encode_shards(model, f, tmp_path / "v", shard_size=400)


def test_copies_split_shards_and_the_last_writes_the_manifest(corpus, cli_main, tmp_path):
    model, f, _ = corpus
    out = tmp_path / "v"
    code, stdout, _ = cli_main("encode", model, f, "--out", out, "--shard-size", 500, "--shard", "1/2")
    assert code == 0 and "waiting" in stdout and not (out / "manifest.json").exists()
    assert sorted(p.name for p in out.glob("shard-*.npy")) == ["shard-00001.npy", "shard-00003.npy"]
    code, stdout, _ = cli_main("encode", model, f, "--out", out, "--shard-size", 500, "--shard", "0/2")
    assert code == 0 and "complete" in stdout and (out / "manifest.json").is_file()


@pytest.mark.parametrize("spec", ["3/2", "0/0", "a/b", "1"])
def test_bad_shard_spec(corpus, cli_main, tmp_path, spec):
    model, f, _ = corpus
    assert_one_line_error(*cli_main("encode", model, f, "--out", tmp_path / "v", "--shard", spec)[::2], "--shard")


def test_full_disk_leaves_no_partial_shard(corpus, tmp_path, monkeypatch):
    import textgan.workflow.encode as sh

    model, f, _ = corpus
    real_save, calls = np.save, []

    def save(path, *a, **kw):
        calls.append(path)
        if len(calls) == 2:
            real_save(path, *a, **kw)  # the bytes land, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, *a, **kw)

    monkeypatch.setattr(sh.np, "save", save)
    with pytest.raises(InputError, match="disk full"):
        sh.encode_shards(model, f, tmp_path / "v", shard_size=500)
    names = sorted(p.name for p in (tmp_path / "v").iterdir())
    assert names == ["encode.json", "shard-00000.json", "shard-00000.npy", "shard-00000.texts.jsonl"]


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


def test_ondisk_index_loads_searches_and_checks_digests(corpus, shards_dir, tmp_path, cli_main):
    from textgan.index.build import load_index
    from textgan.index.shards import open_shards
    from textgan.common.vectors import cosine_knn

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


def test_sharded_index_searches_its_members_together(corpus, shards_dir, tmp_path, cli_main):
    import shutil

    from textgan.index.build import load_index
    from textgan.index.members import join_indexes
    from textgan.index.shards import open_shards
    from textgan.common.vectors import cosine_knn

    model, _, texts = corpus
    out = tmp_path / "sharded"
    code, stdout, _ = cli_main("index", model, shards_dir, "--out", out, "--storage", "shards", "--groups", "2",
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
                                    "--groups", "9", "--no-progress")[::2], "more than the 5 shards")


def test_index_streams_a_corpus_file_into_shards_then_builds_on_disk(corpus, tmp_path, cli_main, monkeypatch):
    from textgan.workflow import encode as shards_mod
    from textgan.index.build import load_index

    model, _, texts = corpus
    f = tmp_path / "small.txt"  # 600 lines: enough to train 13 lists and 4-bit codes, fast to encode
    f.write_text("\n".join(texts[:600]) + "\n", encoding="utf-8")
    out = tmp_path / "idx"
    # bad settings are refused before the corpus is encoded
    for bad in (["--groups", "0"], ["--target-recall", "1.5"]):
        assert_one_line_error(*cli_main("index", model, f, "--out", out, "--storage", "shards", *bad,
                                        "--no-progress")[::2], bad[0])
        assert not (tmp_path / "idx.vectors").exists() and not out.exists()
    code, stdout, _ = cli_main("index", model, f, "--out", out, "--storage", "disk", "--no-progress")
    assert code == 0 and "on disk" in stdout
    assert (tmp_path / "idx.vectors" / "manifest.json").is_file()
    idx = load_index(out)
    assert idx.ntotal == 600 and idx.texts[599] == texts[599] and idx.meta["storage"] == "disk"
    # a rerun resumes: every shard is done, none is encoded again
    monkeypatch.setattr(shards_mod, "write_shard", lambda *a: (_ for _ in ()).throw(AssertionError("re-encoded")))
    code, _, err = cli_main("index", model, f, "--out", out, "--storage", "shards", "--groups", "1", "--no-progress")
    assert code == 0, err
    assert load_index(out).ntotal == 528  # a member in RAM drops the repeated texts


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


def test_torchrun_two_processes_equal_one(tmp_path):
    """2 gloo processes at the same global batch == 1 process (fresh and resumed); ranks given
    different data refuse to train."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    from textgan.gan import GANConfig, train_gan

    x = np.random.default_rng(0).standard_normal((500, 16)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=f"{root}:{root / 'tests'}", OMP_NUM_THREADS="1")
    p = subprocess.run([str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2",
                        str(root / "tests" / "_ddp_worker.py"), str(tmp_path)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr[:3000] + "\n...\n" + p.stderr[-1500:]
    cfg = dict(steps=40, batch_size=32, width=32, depth=2, noise_dim=8, objective="wgan-gp", penalty="gp",
               checkpoint_every=10)
    train_gan(x, GANConfig(**cfg), tmp_path / "one", progress=False)
    for name in ("generator.safetensors", "critic.safetensors"):
        a, b = load_file(tmp_path / "one" / name), load_file(tmp_path / "two" / name)
        assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    last = [json.loads(ln) for ln in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()][-1]
    last2 = [json.loads(ln) for ln in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["step"] == last2["step"] == 40 and abs(last["d_loss"] - last2["d_loss"]) < 1e-5
    for r in (0, 1):
        assert "different training data" in json.loads((tmp_path / f"rank{r}.json").read_text())


def test_torchrun_similarity_equals_one_process(tmp_path):
    """train-similarity on 2 gloo processes (distilled, resumed; Partial FC with sharded centres)
    gives one process's per-step losses and weights at the same global batch."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import torch
    from safetensors.torch import load_file

    import similarity

    root = Path(__file__).resolve().parents[1]
    data = root / "data" / "faq_en.csv"
    env = dict(os.environ, PYTHONPATH=f"{root}:{root / 'tests'}", OMP_NUM_THREADS="1")
    p = subprocess.run([str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2",
                        str(root / "tests" / "_ddp_similarity_worker.py"), str(tmp_path), str(data)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[:3000] + "\n...\n" + p.stderr[-1500:]
    texts, groups = similarity.load_groups(data, "text", "group")
    similarity.train(similarity.TrainConfig(epochs=3, batch_size=40, lr_decay="constant"), texts, groups,
                     tmp_path / "one", progress=False, cache_dir=tmp_path / "cache")
    similarity.train(similarity.TrainConfig(epochs=2, batch_size=40, teacher="none", partial_fc=0.3), texts,
                     groups, tmp_path / "pfc1", progress=False)
    for one, two in (("one", "two"), ("pfc1", "pfc2")):
        rows = [[json.loads(ln) for ln in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
                for d in (one, two)]
        a, b = ([v for r in rs for v in r["step_losses"]] for rs in rows)
        assert len(a) == len(b) >= 20
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5, (one, a, b)
        wa, wb = (load_file(tmp_path / d / "model" / "model.safetensors") for d in (one, two))
        diff = torch.cat([(wa[k] - wb[k]).abs().flatten() for k in wa])
        # Not all bitwise: rounding can flip a max-pooling argmax, and Adam's first step on the
        # token that then gets the gradient is a full lr. Such tokens are rare.
        assert float((diff > 1e-5).float().mean()) < 1e-3 and float(diff.max()) < 1e-2
        pa, pb = (load_file(tmp_path / d / "model" / "head.safetensors")["prototypes"] for d in (one, two))
        assert pa.shape == pb.shape and float((pa - pb).abs().max()) < 1e-4  # centres gathered whole
    assert json.loads((tmp_path / "two" / "config.json").read_text())["processes"] == 2
    for r in (0, 1):
        assert "different training data" in json.loads((tmp_path / f"rank{r}.json").read_text())


def test_a_killed_worker_is_reported_and_the_rerun_finishes(corpus, shards_dir, tmp_path, monkeypatch, cli_main):
    import os
    import signal

    import textgan.workflow.encode as sh

    model, f, _ = corpus
    real_write = sh.write_shard

    def killed_on_shard_3(out, k, *a):  # runs in the forked worker that owns shard 3
        if k == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(out, k, *a)

    monkeypatch.setattr(sh, "write_shard", killed_on_shard_3)
    code, _, err = cli_main("encode", model, f, "--out", tmp_path / "v", "--shard-size", 500, "--workers", 2)
    assert_one_line_error(code, err, "worker(s) died", "rerun")
    assert not (tmp_path / "v" / "shard-00003.npy").exists() and (tmp_path / "v" / "shard-00004.npy").exists()
    monkeypatch.setattr(sh, "write_shard", real_write)
    code, out, _ = cli_main("encode", model, f, "--out", tmp_path / "v", "--shard-size", 500, "--workers", 2)
    assert code == 0 and "encoded 1 shard(s) of 5" in out and "complete" in out
    assert json.loads((tmp_path / "v" / "manifest.json").read_text())["shards"] == \
        json.loads((shards_dir / "manifest.json").read_text())["shards"]


def test_partial_fc_keeps_positives_and_matches_a_hand_written_cross_entropy():
    import torch
    import torch.nn.functional as F

    from similarity.losses import make_loss
    from similarity.partial_fc import init_rows, sample_classes, sharded_margin_loss

    labels = torch.tensor([3, 7, 3, 999])
    classes = sample_classes(labels, 1000, 50, torch.Generator().manual_seed(0))
    assert len(classes) == 50 and set(labels.tolist()) <= set(classes.tolist())
    assert torch.equal(classes, classes.sort().values)
    assert len(sample_classes(labels, 1000, 1)) == 3  # never fewer than the positives
    # a shard's rows are the same rows whatever the sharding
    assert torch.equal(init_rows(0, 9000, 8, 3)[4000:8500], init_rows(4000, 8500, 8, 3))

    torch.manual_seed(0)
    emb, y = F.normalize(torch.randn(6, 8), dim=1), torch.tensor([0, 5, 5, 19, 2, 2])
    w = torch.randn(20, 8)
    # all classes: AM-Softmax over the 20 centres, written out with F.cross_entropy
    ref = F.cross_entropy(30.0 * (emb @ F.normalize(w, dim=1).T - 0.35 * F.one_hot(y, 20)), y)
    got = sharded_margin_loss(emb, w, 0, y, None, 30.0, lambda c: c - 0.35)
    assert abs(float(got) - float(ref)) < 1e-5
    # sampled classes: the same over the sampled columns only, targets re-indexed
    cls = torch.tensor([0, 2, 5, 11, 19])
    sub = emb @ F.normalize(w[cls], dim=1).T  # (6, 5)
    t = torch.searchsorted(cls, y)
    ref = F.cross_entropy(30.0 * (sub - 0.35 * F.one_hot(t, 5)), t)
    assert abs(float(sharded_margin_loss(emb, w, 0, y, cls, 30.0, lambda c: c - 0.35)) - float(ref)) < 1e-5

    # the head built with --partial-fc: only sampled centres get a gradient
    head = make_loss("am", 8, 10_000, sample_rate=0.01, seed=1)
    head(emb, y).backward()
    touched = len(head.weight.grad.coalesce().indices()[0])  # a sparse gradient: sampled rows only
    assert touched == 100 and head.partial and not make_loss("am", 8, 20).partial
    # a step's sample is the same for every rank and for a resume: it is seeded by the iteration
    a = make_loss("am", 8, 1000, sample_rate=0.05, seed=1)
    b = make_loss("am", 8, 1000, sample_rate=0.05, seed=1)
    assert torch.equal(a(emb, y), b(emb, y)) and torch.equal(a(emb, y), b(emb, y))


def test_lazy_adam_is_adam_on_the_rows_it_touches():
    import torch

    from similarity.partial_fc import lazy_adam_

    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(50, 8))
    ref = torch.nn.Parameter(w.detach().clone())
    opt = torch.optim.Adam([ref], lr=1e-2)
    state = torch.zeros(50, 8), torch.zeros(50, 8), torch.zeros(50, dtype=torch.long)
    for _ in range(20):  # every row every step: bitwise torch.optim.Adam
        g = torch.randn(50, 8)
        w.grad, ref.grad = g.to_sparse(1), g.clone()
        lazy_adam_(w, *state, lr=1e-2)
        opt.step()
    assert torch.equal(w, ref)
    before = w.detach().clone()
    g = torch.zeros(50, 8)
    g[[3, 7]] = 1.0
    w.grad = g.to_sparse(1)
    lazy_adam_(w, *state, lr=1e-2)
    moved = (w != before).any(1).nonzero().flatten().tolist()
    assert moved == [3, 7] and state[2][3] == 21 and state[2][0] == 20


def test_small_shard_folder_is_indexed_in_ram(corpus, shards_dir, tmp_path, cli_main):
    model, _, texts = corpus
    code, stdout, _ = cli_main("index", model, shards_dir, "--out", tmp_path / "idx", "--no-progress")
    assert code == 0 and "1584 duplicates dropped" in stdout and "with Flat" in stdout
    code, stdout, _ = cli_main("search", tmp_path / "idx", texts[7], "--k", "1")
    assert code == 0 and texts[7] in stdout


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
