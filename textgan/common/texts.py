"""Sentences as callers hand them in: what counts as blank, and a list of sentences from any
caller (the CLI's readers, the API of `similarity` and `textgan` alike)."""
from __future__ import annotations

from numbers import Integral

from textgan.common.errors import InputError

# zero-width characters are not whitespace to str.strip, but a sentence of only them is blank
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def is_missing(cell) -> bool:
    """A table cell with no sentence: None, NaN (pandas' empty cell) or blank text."""
    return cell is None or (isinstance(cell, float) and cell != cell) or is_blank(str(cell))


def is_blank(text: str) -> bool:
    """Only whitespace and zero-width characters: it would train, index or search as an empty sentence."""
    return not text.translate(_ZERO_WIDTH).strip()


def as_sentences(texts, what: str = "texts") -> list[str]:
    """A list of sentences from an API caller: one string (iterated, it became one sentence per
    character), None, or an item that is not a string (None, 1, b"..." were encoded as the empty
    sentence) is refused."""
    if texts is None or isinstance(texts, (str, bytes)):
        raise InputError(f"{what}: pass a list of sentences, not {'one string' if texts is not None else 'None'}")
    out = list(texts)
    bad = next((i for i, t in enumerate(out) if not isinstance(t, str)), None)
    if bad is not None:
        raise InputError(f"{what}: item {bad + 1} is {type(out[bad]).__name__} {str(out[bad])[:40]!r}, not a sentence")
    return out


def as_labels(groups, n: int, what: str = "groups") -> list[str]:
    """One group label per row, as strings: a list of str (or int ids, read as their decimal text).
    None, one string, a length other than `n` and other items (None, floats, bools) are refused."""
    if groups is None or isinstance(groups, (str, bytes)):
        raise InputError(f"{what}: pass one label per row, not {'one string' if groups is not None else 'None'}")
    out = list(groups)
    bad = next((i for i, g in enumerate(out) if isinstance(g, bool) or not isinstance(g, (str, Integral))), None)
    if bad is not None:
        raise InputError(f"{what}: item {bad + 1} is {type(out[bad]).__name__} {str(out[bad])[:40]!r}, not a label")
    if len(out) != n:
        raise InputError(f"{what}: {len(out)} labels for {n} rows")
    return [str(g) for g in out]
