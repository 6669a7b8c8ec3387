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
