"""The corpus and shard folder shared by test_encode_shards.py, test_index_shards.py and
test_index_ondisk.py: encoded once per test process (a plain cached function, like helpers.faq_model)."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest


@functools.lru_cache(maxsize=None)
def scale_corpus() -> tuple[Path, Path, list[str], Path]:
    """(FAQ model, corpus.txt of 2,112 lines (the FAQ sentences four times), those lines, the corpus
    encoded into 5 shards of 500 rows by 2 workers)."""
    from helpers import faq_model, scratch

    from textgan.workflow.encode import encode_shards

    model, texts, _, _ = faq_model()
    d = scratch("textgan-scale-")
    f = d / "corpus.txt"
    f.write_text("\n".join(texts * 4) + "\n", encoding="utf-8")
    res = encode_shards(model, f, d / "vecs", shard_size=500, workers=2)
    assert res["complete"] and res["shards"] == 5 and res["rows"] == 2112
    return model, f, texts * 4, d / "vecs"


@pytest.fixture(scope="module")
def corpus():
    """(FAQ model, corpus.txt, its lines) of `scale_corpus`."""
    return scale_corpus()[:3]


@pytest.fixture(scope="module")
def shards_dir():
    """The shard folder of `scale_corpus`."""
    return scale_corpus()[3]
