"""Tampered index folders and shard manifests: each is one InputError (one `error:` line), never a
traceback, endless recursion, or a file read outside the folder; checking cannot be switched off by
deleting the digests."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from textgan.common.artifacts import folder_digests
from textgan.common.errors import InputError
from textgan.index.build import build_index, load_index
from textgan.index.members import join_indexes


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(a RAM index folder of 60 rows, a sharded index of two RAM members, a shard folder)."""
    from textgan.workflow.encode import finalize, shard_name, write_shard

    root = tmp_path_factory.mktemp("tamper")
    x = np.random.default_rng(0).standard_normal((60, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    texts = [f"sentence {i}" for i in range(60)]
    enc = {"fingerprint": "a" * 16, "dim": 8}
    build_index(x[:30], texts[:30], encoder=enc, factory="IVF4,Flat").save(root / "ram")
    build_index(x[30:], texts[30:], encoder=enc).save(root / "ram2")
    join_indexes([root / "ram", root / "ram2"], root / "sharded")
    v = root / "vecs"
    v.mkdir()
    (v / "encode.json").write_text(json.dumps({"fingerprint": "a" * 16, "dim": 8, "shard_size": 30, "corpus": {}}))
    for k in range(2):
        write_shard(v, k, [(t, None) for t in texts[30 * k:30 * k + 30]], x[30 * k:30 * k + 30], "a" * 16)
    assert finalize(v, 2, 60) is not None
    return root


def _edit(folder, key, change, rehash=False):
    meta = json.loads((folder / key).read_text())
    change(meta)
    if rehash:
        meta["digests"] = folder_digests(folder, skip=("meta.json",))
    (folder / key).write_text(json.dumps(meta))


def _set(k, v):
    return lambda m: m.__setitem__(k, v)


def _member(i, v):
    return lambda m: m["members"].__setitem__(i, v)


RAM_CASES = [  # (what, change of meta.json, words of the error)
    ("params a string", _set("params", "nprobe=4"), "'params' must map"),
    ("params a list", _set("params", [4]), "'params' must map"),
    ("params an unknown knob", _set("params", {"warp_speed": 3}), "FAISS refused"),
    ("storage disk on a RAM index", _set("storage", "disk"), "'shards' must hold"),
    ("storage unknown", _set("storage", "cloud"), "unknown storage"),
    ("digests a list", _set("digests", ["index.faiss"]), "'digests' must map"),
    ("digests deleted", lambda m: m.pop("digests"), "records no digests"),
    ("digest outside", lambda m: m["digests"].__setitem__("../../etc/hostname", "0" * 64), "outside the folder"),
    ("n a string", _set("n", "30"), "'n' must be an integer"),
]


@pytest.mark.parametrize("what,change,words", RAM_CASES, ids=[c[0] for c in RAM_CASES])
def test_tampered_ram_index_meta(built, tmp_path, what, change, words):
    ix = tmp_path / "ix"
    shutil.copytree(built / "ram", ix)
    assert load_index(ix).ntotal == 30
    _edit(ix, "meta.json", change)
    with pytest.raises(InputError, match=words):
        load_index(ix)


def test_non_utf8_texts_are_one_error_even_with_digests_recomputed(built, tmp_path):
    ix = tmp_path / "ix"
    shutil.copytree(built / "ram", ix)
    lines = (ix / "texts.jsonl").read_bytes().splitlines(keepends=True)
    lines[4] = b'{"text": "caf\xe9"}\n'  # Latin-1, not UTF-8
    (ix / "texts.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(InputError, match="texts.jsonl: checksum mismatch"):
        load_index(ix)
    _edit(ix, "meta.json", lambda m: None, rehash=True)
    with pytest.raises(InputError, match="texts.jsonl: corrupt texts file at line 5"):
        load_index(ix)


SHARDED_CASES = [
    ("member '.' (itself: endless recursion)", _member(0, {"path": ".", "n": 30}), "outside the folder"),
    ("member a string", _member(1, "part-00001"), "is not an object"),
    ("member outside the folder", _member(0, {"path": "../../..", "n": 30}), "outside the folder"),
    ("member an absolute path", _member(0, {"path": "/tmp", "n": 30}), "not a relative path"),
    ("members not a list", _set("members", "part-00000"), "lists no members"),
    ("a member's digest deleted", lambda m: m["digests"].pop("part-00001/meta.json"), "no digest of member"),
]


@pytest.mark.parametrize("what,change,words", SHARDED_CASES, ids=[c[0] for c in SHARDED_CASES])
def test_tampered_sharded_index_meta(built, tmp_path, what, change, words):
    ix = tmp_path / "sub" / "deeper" / "ix"
    shutil.copytree(built / "sharded", ix)
    assert load_index(ix).ntotal == 60
    _edit(ix, "meta.json", change)
    with pytest.raises(InputError, match=words):
        load_index(ix)


def test_member_linked_outside_the_folder_is_refused(built, tmp_path):
    ix = tmp_path / "ix"
    shutil.copytree(built / "sharded", ix)
    shutil.rmtree(ix / "part-00001")
    (ix / "part-00001").symlink_to(built / "ram2")  # the same bytes, but served from another folder
    with pytest.raises(InputError, match="outside the folder"):
        load_index(ix)


MANIFEST_CASES = [
    ("no encoder", lambda m: m.pop("encoder"), "no encoder fingerprint"),
    ("encoder a string", _set("encoder", "aaaa"), "no encoder fingerprint"),
    ("shard name outside", lambda m: m["shards"][0].__setitem__("name", "../shard-00000"), "outside the folder"),
    ("sha256 of a file outside", lambda m: m["shards"][0]["sha256"].__setitem__("../../x", "0"), "outside the folder"),
    ("shards a dict", _set("shards", {}), "lists no shards"),
    ("rows not a count", lambda m: m["shards"][1].__setitem__("rows", "30"), "lacks a name, rows or sha256"),
    ("n disagrees with the rows", _set("n", 61), "'n' says 61"),
]


@pytest.mark.parametrize("what,change,words", MANIFEST_CASES, ids=[c[0] for c in MANIFEST_CASES])
def test_tampered_shard_manifest(built, tmp_path, what, change, words):
    from textgan.index.shards import open_shards

    v = tmp_path / "v"
    shutil.copytree(built / "vecs", v)
    assert open_shards(v).n == 60
    _edit(v, "manifest.json", change)
    with pytest.raises(InputError, match=words):
        open_shards(v)
