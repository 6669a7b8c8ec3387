"""Publishing an index folder: one writer at a time (run lock), a rebuild swapped in as one step
(a reader loads the old index or the new one, never a mix), stale temp folders of dead writers cleaned."""
from __future__ import annotations

import os

import numpy as np

from helpers import assert_one_line_error


def test_two_index_runs_into_one_out_are_refused(faq, tmp_path, cli_main):
    from textgan.common.artifacts import run_lock

    model, texts, _, _ = faq
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(texts[:40]) + "\n", encoding="utf-8")
    out = tmp_path / "idx"
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)
    with run_lock(out.resolve()):  # another `index` run is writing this folder
        for spelled in (out, tmp_path / "link" / "idx"):
            assert_one_line_error(*cli_main("index", model, corpus, "--out", spelled, "--no-progress")[::2],
                                  "another run is writing")
    assert not out.exists()
    code, stdout, err = cli_main("index", model, corpus, "--out", out, "--no-progress")
    assert code == 0 and "indexed 40 sentences" in stdout, err


def test_a_killed_writers_temp_folders_are_cleaned_by_the_next_save(tmp_path):
    import socket
    import subprocess
    import sys

    from textgan.index.build import build_index

    x = np.random.default_rng(0).standard_normal((20, 8))
    build_index(x, [str(i) for i in range(20)]).save(tmp_path / "idx")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no process holds now (kill -9 during a save leaves its temp folder)
    host = socket.gethostname()
    stale = tmp_path / f".idx.tmp-{host}-{dead.pid}-abc123"
    stale.mkdir()
    (stale / "index.faiss").write_bytes(b"half")
    old = tmp_path / f".idx.old-{host}-{dead.pid}"
    old.mkdir()
    live = tmp_path / f".idx.tmp-{host}-{os.getppid()}-def456"  # a running writer's: kept
    live.mkdir()
    other_host = tmp_path / f".idx.tmp-otherhost-{dead.pid}-ghi789"  # cannot be checked from here: kept
    other_host.mkdir()
    build_index(x, [str(i) for i in range(20)]).save(tmp_path / "idx")
    assert not stale.exists() and not old.exists() and live.exists() and other_host.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other_host.name, "idx"])


def _rows(idx) -> tuple:
    return tuple(idx.texts[i] for i in range(idx.ntotal))


def test_a_reader_sees_the_old_or_the_new_index_while_it_is_rebuilt(faq, tmp_path, cli_main):
    """One process rebuilds one --out 9 times (RAM from 40 sentences, sharded and on-disk from
    60), another loads it in a tight loop: every load is one whole build. With the old two-rename
    publication and no reload this failed within seconds (a member's meta.json missing mid-swap)."""
    from helpers import cli_code, fork_child
    from textgan.common.errors import InputError
    from textgan.index.build import load_index

    model, texts, _, _ = faq
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("\n".join(texts[:40]) + "\n", encoding="utf-8")
    b.write_text("\n".join(texts[40:100]) + "\n", encoding="utf-8")
    vecs, out = tmp_path / "v", tmp_path / "idx"
    assert cli_main("encode", model, b, "--out", vecs, "--shard-size", "20", "--no-progress")[0] == 0
    builds = [("index", model, a, "--out", out, "--no-progress"),
              ("index", model, vecs, "--out", out, "--storage", "shards", "--members", "2", "--no-progress"),
              ("index", model, vecs, "--out", out, "--storage", "disk", "--no-progress")]
    assert cli_main(*builds[2])[0] == 0
    held = load_index(out)  # an on-disk index loaded before the rebuilds, used after them
    want = {None: tuple(texts[:40]), "shards": tuple(texts[40:100]), "disk": tuple(texts[40:100])}

    def rebuild():  # 9 swaps, 3 of each kind
        return max(cli_code(*builds[n % 3]) for n in range(9))

    pid = fork_child(rebuild)
    seen, errors = {}, []
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        try:
            idx = load_index(out)
        except InputError as exc:
            errors.append(str(exc))
            continue
        kind = idx.meta.get("storage")
        assert _rows(idx) == want[kind] and idx.meta["n"] == len(want[kind]), kind
        seen[kind] = seen.get(kind, 0) + 1
    assert os.waitstatus_to_exitcode(status) == 0  # every rebuild succeeded
    assert errors == [], errors[:3]
    assert len(seen) == 3 and sum(seen.values()) >= 30, seen  # the loads spanned the swaps
    # the index loaded before: its texts are the ones it was built with (kept open), its vectors are
    # either read from its own folder or refused in one line, never another build's
    assert _rows(held) == want["disk"]
    try:
        ids = held.search(np.eye(held.dim, dtype=np.float32)[:2], 3)[1]
        assert ids.shape == (2, 3)
    except InputError as exc:
        assert "rebuilt or removed since it was loaded" in str(exc)


def test_a_load_during_a_swap_is_repeated_and_a_failure_of_the_folder_itself_is_not(tmp_path):
    """read_published, driven by hand: a load that saw meta.json change is done again; a load that
    fails while meta.json stayed the same is the folder's own error, raised at once."""
    import pytest

    from textgan.common.errors import InputError
    from textgan.common.publish import read_published

    (tmp_path / "meta.json").write_text('{"build_id": "a"}')
    calls = []

    def load_while_republished():
        calls.append(1)
        if len(calls) == 1:  # a rebuild is swapped in while this load reads
            (tmp_path / "meta.json").write_text('{"build_id": "b"}')
            return "files of a and b"
        return "files of b"

    assert read_published(tmp_path, "meta.json", load_while_republished) == "files of b" and len(calls) == 2
    calls.clear()

    def broken():
        calls.append(1)
        raise InputError("checksum mismatch", tmp_path / "texts.jsonl")

    with pytest.raises(InputError, match="checksum mismatch"):
        read_published(tmp_path, "meta.json", broken)
    assert len(calls) == 1


def test_without_renameat2_a_rebuild_is_published_by_two_renames(tmp_path, monkeypatch):
    """Where the exchange is not supported (another OS, some network file systems) the old folder is
    moved aside, the new one renamed in and the old one removed: nothing else is left."""
    from textgan.common import publish
    from textgan.common.artifacts import atomic_dir

    monkeypatch.setattr(publish, "exchange", lambda a, b: False)
    for text in ("old", "new"):
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "f.txt").write_text(text)
    assert (tmp_path / "out" / "f.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
