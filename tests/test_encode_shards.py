"""workflow.encode: the streaming sharded encode (workers, --shard I/N, resume, full disk, a killed worker)."""
from __future__ import annotations

import errno
import json

import numpy as np
import pytest

from _shards import corpus, shards_dir  # noqa: F401  (fixtures)
from helpers import assert_one_line_error
from textgan.common.errors import InputError


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


def _same_size_other_corpus(f, tmp_path):
    """A corpus of the same name and byte size as `f` whose content differs (two lines swapped)."""
    lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0], lines[1] = lines[1], lines[0]
    other = tmp_path / "other" / f.name
    other.parent.mkdir()
    other.write_text("".join(lines), encoding="utf-8")
    assert other.stat().st_size == f.stat().st_size and other.read_bytes() != f.read_bytes()
    return other


def test_a_folder_is_matched_to_its_corpus_by_content(corpus, shards_dir, tmp_path, cli_main):
    import shutil

    model, f, _ = corpus
    other = _same_size_other_corpus(f, tmp_path)
    ident = json.loads((shards_dir / "encode.json").read_text())
    assert len(ident["corpus"]["sha256"]) == 64
    assert json.loads((shards_dir / "manifest.json").read_text())["corpus"] == ident["corpus"]
    # an edited corpus of the same size resuming onto the stale shards
    v = tmp_path / "v"
    shutil.copytree(shards_dir, v)
    (v / "manifest.json").unlink()
    (v / "shard-00004.json").unlink()
    assert_one_line_error(*cli_main("encode", model, other, "--out", v, "--shard-size", 500)[::2],
                          "another corpus", "use a new --out")
    # two corpora of one name and size mixed by two --shard copies
    half = tmp_path / "half"
    half.mkdir()
    for name in ["encode.json"] + [f"shard-0000{k}{ext}" for k in (1, 3) for ext in (".npy", ".texts.jsonl", ".json")]:
        shutil.copy(shards_dir / name, half / name)
    assert_one_line_error(*cli_main("encode", model, other, "--out", half, "--shard-size", 500, "--shard", "0/2")[::2],
                          "another corpus")
    # `index --storage disk --vectors V` with V encoded from another corpus
    assert_one_line_error(*cli_main("index", model, other, "--storage", "disk", "--vectors", v, "--out",
                                    tmp_path / "idx")[::2], "another corpus")
    assert not (tmp_path / "idx").exists()
    # a folder started before the sha256 was recorded cannot be matched: refused, never resumed
    del ident["corpus"]["sha256"]
    (v / "encode.json").write_text(json.dumps(ident))
    assert_one_line_error(*cli_main("encode", model, f, "--out", v, "--shard-size", 500)[::2], "older version")


def test_rerunning_a_finished_encode_repairs_it(corpus, shards_dir, tmp_path, cli_main):
    import shutil

    from textgan.index.shards import open_shards

    model, f, _ = corpus
    v = tmp_path / "v"
    shutil.copytree(shards_dir, v)
    manifest = (v / "manifest.json").read_bytes()
    code, out, err = cli_main("encode", model, f, "--out", v, "--shard-size", 500)
    assert code == 0 and "encoded 0 shard(s) of 5" in out and "complete" in out, err
    assert (v / "manifest.json").read_bytes() == manifest
    shard = v / "shard-00002.npy"
    data = bytearray(shard.read_bytes())
    data[-7] ^= 0x10  # a bit flip of the same size: only the sha256 tells
    shard.write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum mismatch"):
        open_shards(v)
    code, out, err = cli_main("encode", model, f, "--out", v, "--shard-size", 500, "--workers", 2)
    assert code == 0 and "encoded 1 shard(s) of 5" in out and "complete" in out, err
    assert (v / "manifest.json").read_bytes() == manifest
    a, b = open_shards(v), open_shards(shards_dir)
    np.testing.assert_array_equal(a.vectors(2), b.vectors(2))
    # vectors of another model in that folder: one clear line, nothing rewritten
    ident = json.loads((v / "encode.json").read_text())
    ident["fingerprint"] = "f" * 16
    (v / "encode.json").write_text(json.dumps(ident))
    assert_one_line_error(*cli_main("encode", model, f, "--out", v, "--shard-size", 500)[::2],
                          "another model", "use a new --out")
    assert (v / "manifest.json").read_bytes() == manifest
