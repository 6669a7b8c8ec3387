"""Publishing an index folder: one writer at a time (run lock), a rebuild swapped in as one step
(a reader loads the old index or the new one, never a mix), stale temp folders of dead writers cleaned."""
from __future__ import annotations

import numpy as np
import pytest

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
