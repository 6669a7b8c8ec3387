"""Results of the twenty-eighth sweep and of the known list's leftovers."""
from __future__ import annotations

import warnings

import pytest

from helpers import FAQ


def _caught(fn, *args, **kwargs) -> list[str]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    return [str(w.message) for w in seen]


def test_join_indexes_counts_sentences_held_by_several_members(tmp_path, faq):
    """Members that share some sentences were joined silently: a query near one got it back once per
    member that holds it. Joining is still allowed (common queries), with the count said."""
    import textgan
    from textgan.index.members import join_indexes

    texts = faq[1]
    (tmp_path / "a.txt").write_text("".join(t + "\n" for t in texts[:300]))
    (tmp_path / "b.txt").write_text("".join(t + "\n" for t in texts[250:] + [texts[10] + "\u200b"]))
    for name in ("a", "b"):
        textgan.index_corpus(faq[0], tmp_path / f"{name}.txt", tmp_path / name)
    msgs = _caught(join_indexes, [tmp_path / "a", tmp_path / "b"], tmp_path / "j")
    shared = len({t for t in texts[:300]} & set(texts[250:])) + 1  # the zero-width copy is one of them
    assert [m for m in msgs if "more than one joined index" in m] == [
        f"{shared} sentence(s) are in more than one joined index (most shared: {tmp_path / 'a'} and "
        f"{tmp_path / 'b'}): a query near one gets it back once per index that holds it"]
    assert textgan.load_index(tmp_path / "j").ntotal == 300 + len(texts) - 250 + 1
