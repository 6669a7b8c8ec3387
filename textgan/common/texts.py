"""Sentences as callers hand them in: what counts as blank, and a list of sentences from any
caller (the CLI's readers, the API of `similarity` and `textgan` alike)."""
from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Mapping
from numbers import Integral
from pathlib import Path

from textgan.common.errors import InputError

# zero-width characters are not whitespace to str.strip, but a sentence of only them is blank
# (and so are the invisible format marks: soft hyphen, bidirectional marks, embeddings and isolates)
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u061c\u200e\u200f"
                                     "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate (a JSON "\\udc80" escape, a bad decode) of `text`, or None: it is not
    Unicode text, and the tokenizers and Arrow fail on it deep inside with a traceback."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def check_unicode(text: str, where: str, path=None) -> str:
    """`text`, or an InputError naming `where` (a row, an item) when it holds a lone surrogate."""
    if (ch := lone_surrogate(text)) is not None:
        raise InputError(f"{where} is not valid Unicode text (a lone surrogate {ch!r})", path)
    return text


def text_lines(text: str) -> list[str]:
    """The lines of a text file: split on \\n, \\r\\n and \\r only, as `open()` iterates a file.
    str.splitlines also splits on U+2028, NEL, form feed and vertical tab, which are characters
    inside a sentence: one line would become two rows and the outputs would not match the lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":  # the newline that ends the file starts no line
        lines.pop()
    return lines


def nul_error(path, lineno: int) -> InputError:
    """The error for a text file with a NUL byte on line `lineno` (NUL is valid UTF-8, so decoding
    passes): UTF-16 without a byte-order mark, ASCII text with every other byte NUL, when the file's
    head looks like it (which half holds the NULs says the byte order), else a binary file."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    half = max(len(head) // 2, 1)
    order = ("le" if head[1::2].count(0) > 0.6 * half and head[0::2].count(0) < 0.1 * half else
             "be" if head[0::2].count(0) > 0.6 * half and head[1::2].count(0) < 0.1 * half else None)
    codec = f"utf-16{order}"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # its byte-order mark says it (Excel's "Unicode Text")
        order, codec = ("le" if head[:2] == b"\xff\xfe" else "be"), "utf-16"
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):  # UTF-32's marks (its LE one starts as UTF-16's)
        order, codec = ("le" if head[:1] == b"\xff" else "be"), "utf-32"
    if order is None:
        return InputError(f"line {lineno} holds a NUL byte: a binary file, not text", path)
    suffix = Path(str(path)).suffix  # the converted copy keeps it: a .utf8 name is no file type we read
    return InputError(f"line {lineno} holds NUL bytes: the file is {codec[:6].upper()} ({order.upper()}), not UTF-8; "
                      f"re-save it as UTF-8 (iconv -f {codec} -t utf-8 FILE > FILE-utf8{suffix})", path)


def is_missing(cell) -> bool:
    """A table cell with no sentence: None, NaN (pandas' empty cell) or blank text."""
    return cell is None or (isinstance(cell, float) and cell != cell) or is_blank(str(cell))


_NO_CONTENT = frozenset({"Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp"})  # controls, formats, lone combining marks


def is_blank(text: str) -> bool:
    """Only whitespace, zero-width, control or format characters and combining marks with nothing to
    combine with: tokenizers drop them all, so it would train, index or search as an empty sentence
    ("\x01\x02" and "\u0301" had the empty sentence's vector)."""
    rest = text.translate(_ZERO_WIDTH).strip()
    return not rest or all(unicodedata.category(c) in _NO_CONTENT for c in rest)


def _listed(values, what: str, want: str) -> list:
    """list(values), a number or a 0-d array (not iterable: "iteration over a 0-d array") named instead;
    so are a set (no row order), a mapping (list() gives its keys: a dict of labels trained on its
    row numbers) and a DataFrame (list() gives its column names: encoded as the sentence "text")."""
    if hasattr(values, "columns") and hasattr(values, "iloc"):
        raise InputError(f"{what}: pass {want}, not a DataFrame (its rows are not read by iterating it): one "
                         "column, e.g. df['text']")
    if isinstance(values, (set, frozenset, Mapping)):
        raise InputError(f"{what}: pass {want}, not a {type(values).__name__} (rows need an order; a dict's "
                         "keys are not its values)")
    try:
        return list(values)
    except TypeError:
        raise InputError(f"{what}: pass {want}, not {type(values).__name__} {str(values)[:40]!r}") from None


def as_sentences(texts, what: str = "texts") -> list[str]:
    """A list of sentences from an API caller: one string (iterated, it became one sentence per
    character), None, or an item that is not a string (None, 1, b"..." were encoded as the empty
    sentence) is refused."""
    if texts is None or isinstance(texts, (str, bytes)):
        raise InputError(f"{what}: pass a list of sentences, not {'one string' if texts is not None else 'None'}")
    out = _listed(texts, what, "a list of sentences")
    bad = next((i for i, t in enumerate(out) if not isinstance(t, str)), None)
    if bad is not None:
        raise InputError(f"{what}: item {bad + 1} is {type(out[bad]).__name__} {str(out[bad])[:40]!r}, not a sentence")
    for i, t in enumerate(out):
        check_unicode(t, f"{what}: item {i + 1}")
    return out


def as_labels(groups, n: int, what: str = "groups") -> list[str]:
    """One group label per row, as strings: a list of str (or int ids, read as their decimal text).
    None, one string, a length other than `n` and other items (None, floats, bools) are refused."""
    if groups is None or isinstance(groups, (str, bytes)):
        raise InputError(f"{what}: pass one label per row, not {'one string' if groups is not None else 'None'}")
    out = _listed(groups, what, "one label per row")
    bad = next((i for i, g in enumerate(out) if isinstance(g, bool) or not isinstance(g, (str, Integral))), None)
    if bad is not None:
        raise InputError(f"{what}: item {bad + 1} is {type(out[bad]).__name__} {str(out[bad])[:40]!r}, not a label")
    if len(out) != n:
        raise InputError(f"{what}: {len(out)} labels for {n} rows")
    ints = {str(g) for g in out if isinstance(g, Integral)}
    clash = next((g for g in out if isinstance(g, str) and g in ints), None)
    if clash is not None:  # as text they are one group; the caller most likely meant two
        raise InputError(f"{what}: label {clash!r} appears both as a number and as a string: pass one type")
    return [str(g) for g in out]


def warn_numeric_texts(texts: list[str], col: str, path, option: str = "--text-col", first: bool = False) -> list[str]:
    """Every sentence a number (an id or a label column named as the text) is almost never meant: say so.
    `first`: `texts` are the first rows of a file read as a stream."""
    def number(t: str) -> bool:
        try:
            float(t.replace(",", ""))
        except ValueError:
            return False
        return True

    if texts and all(number(t) for t in texts):
        cells = f"the first {len(texts):,} cells" if first else "every cell"
        warnings.warn(f"{path}: {cells} of the text column {col!r} is a number ({texts[0]!r}, ...): "
                      f"is it the right {option}?", stacklevel=3)
    return texts


def shown(text) -> str:
    """A sentence as a terminal table prints it: control characters as escapes (`\\x1b`), so a corpus
    or query holding ANSI sequences cannot clear the screen or recolour the output (JSON escapes
    them already)."""
    t = str(text)
    if t.isprintable():
        return t
    return "".join(f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in t)


def unicode_key(text: str) -> str:
    """NFKC form (NFD accents, full-width letters), none of the invisible characters `is_blank` ignores
    (zero-width, direction marks, soft hyphen), no surrounding spaces: two labels alike to the eye."""
    return unicodedata.normalize("NFKC", str(text)).translate(_ZERO_WIDTH).strip()


def text_key(text: str) -> str:
    """What two copies of one sentence share: `unicode_key`, case folded, runs of spaces as one.
    Every "is this the same sentence?" check uses it: a copy with a zero-width space read loo_top1
    1.0, trained as out-of-scope and broke the search gate; an upper-cased copy read loo_top1 1.0
    too, since the default (uncased) tokenizer encodes it to the very same vector."""
    return " ".join(unicode_key(text).casefold().split())


def distinct_rows(texts: list[str]) -> tuple[list[int], list[int]]:
    """(the first row of each distinct sentence by `text_key`, each row's position among those): encode
    the distinct sentences once and expand (`index` of a file of 1M lines holding 6 sentences encoded
    every line, 37 s and 3.7 GB, then dropped all but 6)."""
    where: dict[str, int] = {}
    firsts: list[int] = []
    inverse = []
    for i, t in enumerate(texts):
        k = text_key(t)
        if k not in where:
            where[k] = len(firsts)
            firsts.append(i)
        inverse.append(where[k])
    return firsts, inverse


MISSING_WORDS = frozenset({"nan", "null", "none", "n/a", "#n/a", "na"})  # how tools write a missing cell as text


def warn_stripped_labels(raw, labels: list[str], col: str, path) -> None:
    """Labels are read stripped, so ' a ' and 'a' become one group: say so rather than merge silently;
    labels that only look alike ('a' and 'a\u200b', NFC and NFD forms) stay two groups: say that too."""
    forms: dict[str, set] = {}
    for v in raw:
        if isinstance(v, str):
            forms.setdefault(v.strip(), set()).add(v)
    merged = sorted(g for g, f in forms.items() if len(f) > 1)
    if merged:
        pair = sorted(forms[merged[0]], key=repr)[:2]
        warnings.warn(f"{path}: column {col!r}: labels differing only in surrounding spaces are read as one group "
                      f"({len(merged)} such, e.g. {pair[0]!r} and {pair[1]!r})", stacklevel=3)
    alike: dict[str, str] = {}
    for g in dict.fromkeys(labels):
        if (other := alike.setdefault(unicode_key(g), g)) != g:
            warnings.warn(f"{path}: column {col!r}: labels {other!r} and {g!r} differ only in invisible characters "
                          "or Unicode form, and are two groups", stacklevel=3)
            break
    cased: dict[str, str] = {}
    for g in dict.fromkeys(labels):  # 'RESET_PASSWORD' and 'reset_password': two groups, most likely one intent
        if (other := cased.setdefault(g.casefold(), g)) != g:
            warnings.warn(f"{path}: column {col!r}: labels {other!r} and {g!r} differ only in case, and are two "
                          "groups", stacklevel=3)
            break
    if missing := sorted({g for g in labels if g.casefold() in MISSING_WORDS}):  # pandas writes NaN as blank
        warnings.warn(f"{path}: column {col!r}: {sum(g in missing for g in labels)} row(s) have the label "
                      f"{missing[0]!r}, a missing value written as text? They are read as one group of that name",
                      stacklevel=3)
    numbers: dict[float, str] = {}
    for g in dict.fromkeys(labels):  # '50' and '50.0' (a column saved by two tools): two groups, say so
        try:
            value = float(g)
        except ValueError:
            continue
        if value == value and (other := numbers.setdefault(value, g)) != g:
            warnings.warn(f"{path}: column {col!r}: labels {other!r} and {g!r} are one number written two ways, and "
                          "are two groups (write them alike to join them)", stacklevel=3)
            break


def name_list(names: list[str], most: int = 8, width: int = 40) -> str:
    """Names (columns, groups) for a one-line message: the first `most`, each cut at `width` characters
    (a headerless file of long sentences gave a 21 KB line)."""
    shown = [n if len(n) <= width else n[:width - 3] + "..." for n in names[:most]]
    return ", ".join(shown) + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def known_groups(groups) -> str:
    """`N known groups: a, b, ... (M more)`: an error about a group names a few, not thousands."""
    return f"{len(groups)} known group{'s' if len(groups) != 1 else ''}: {name_list([str(g) for g in groups])}"


def check_label_types(values, what: str, where=None) -> None:
    """Labels read from JSON keep their type: 1 and "1" in one column would become one group as
    text, while the file most likely means two. Refused naming both rows (`values` may stream)."""
    seen: dict[tuple[bool, str], int] = {}  # (is a number, text) -> first row; only int-like strings kept
    big, decimal = None, None  # first row of a whole number past 2**53 / of a decimal number
    for i, v in enumerate(values):
        number = isinstance(v, Integral) and not isinstance(v, bool)
        if number and not -(2**63) <= v < 2**63:  # past int64 Arrow reads the column as float64: labels merge
            raise InputError(f"{what}: row {i + 1} holds {v}, past 64-bit integers: it would be read as a "
                             "decimal and distinct labels could merge; write the labels as strings", where)
        if number and abs(v) > 2**53:
            big = (i, v) if big is None else big
        if isinstance(v, float):
            decimal = (i, v) if decimal is None else decimal
        if big is not None and decimal is not None:  # a mixed column is read as float64, exact only to 2**53
            raise InputError(f"{what}: row {big[0] + 1} holds {big[1]} and row {decimal[0] + 1} the decimal "
                             f"{decimal[1]}: read as decimals, whole numbers past 2**53 merge; write the labels "
                             "as strings", where)
        if not number and not (isinstance(v, str) and v.lstrip("-").isdigit()):
            continue
        key = str(v)
        if (not number, key) in seen:
            rows = sorted([seen[(not number, key)], i])
            raise InputError(f"{what}: rows {rows[0] + 1} and {rows[1] + 1} hold {key} as a number and as a string: "
                             "as text they would be one group; write every label one way", where)
        seen.setdefault((number, key), i)


def warn_two_groups(texts: list[str], groups: list[str], path, stacklevel: int = 4) -> None:
    """A `warning:` when a sentence repeats under another group: train-kplus1, train-gan --group-col
    and augment learned one vector under two labels without a word."""
    first: dict[str, str] = {}
    both = []
    for t, g in zip(texts, groups):
        if g and (a := first.setdefault(text_key(t), g)) != g:
            both.append((t, a, g))
    if both:
        t, a, b = both[0]
        warnings.warn(f"{path}: {len(both)} row(s) repeat a sentence under another group (e.g. {t!r:.60} in {a!r} "
                      f"and {b!r}): the same vector is learned under both labels", stacklevel=stacklevel)
