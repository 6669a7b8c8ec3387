"""Reading sentence data with `datasets`: grouped paraphrases, plain corpora, scored pairs.

Files: .csv .tsv .json .jsonl .parquet (and .txt, one sentence per line, for `load_texts`).
A hub dataset is read only when named as `hf:owner/name` (its train split); any other name is a
local path, one that does not exist a "missing file". Every user-fixable problem is one `InputError`.
"""
from __future__ import annotations

import csv
import math
import random
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterator

from similarity.file_quirks import (check_json_labels, columns_hint, csv_unquoted, empty_cells_note, encoding_hint,
                                    header_or_positions, local_after_hub_prefix, missing_column, no_repeated_header,
                                    quoted_header, single_train_file, trailing_empty_rows)
from textgan.common.folders import not_a_file
from textgan.common.saved_dataset import load_saved, saved_folder
from similarity.splits import read_splits, split_of, split_table
from textgan.common.args import flag, path as as_path, whole
from textgan.common.errors import InputError
from textgan.common.texts import (as_labels, as_sentences, check_unicode, is_blank, is_missing, nul_error,
                                  text_lines, warn_numeric_texts, warn_stripped_labels)
from textgan.common.tables import (check_json_depth, dataset_error, datasets_quietly, hub_offline_when_unreachable,
                                   multiline_cells, multiline_warning, spanning_cell, spanning_error)

# suffix -> (datasets builder, extra kwargs)
# keep_default_na=False: "NA", "null", "None" are sentences, not missing cells (an empty cell is
# still refused as blank)
FORMATS: dict[str, tuple[str, dict]] = {
    ".csv": ("csv", {"keep_default_na": False}),
    # TSV has no quoting: a stray `"` would otherwise swallow every row up to the next one
    ".tsv": ("csv", {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "keep_default_na": False}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
}
_TEXT_SUFFIXES = {".csv", ".tsv", ".json", ".jsonl", ".txt"}
HUB_PREFIX = "hf:"


def check_utf8(path: Path) -> None:
    """Refuse a text file that is not UTF-8 (naming the line and the likely encoding) or holds a NUL."""
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if b"\x00" in line:  # valid UTF-8, but UTF-16 without a BOM (or binary) read as text
                raise nul_error(path, lineno)
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"not valid UTF-8 (line {lineno})" + encoding_hint(line, lineno, Path(path).suffix),
                                 path) from None


def read_table(path: str | Path, columns: list[str]) -> dict[str, list]:
    """Read `columns` of a data file (or, for `hf:owner/name`, a hub dataset's train split)."""
    path_s = str(as_path(path, "the data file"))
    p = Path(path_s)
    asked, columns = list(columns), [_column_name(c) for c in columns]
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:  # e.g. --pair-cols s1,s1: every pair would be a sentence and itself
        raise InputError(f"column {twice[0]!r} is named twice among the columns to read "
                         f"({', '.join(map(repr, columns))})", p)
    if (picked := split_of(path_s)) is not None or read_splits_first(p):
        import datasets

        f, split = picked or (p, None)
        ds = datasets.Dataset.from_dict(split_table(f, split))
    elif (saved := saved_folder(path_s.removeprefix(HUB_PREFIX))) is not None:  # save_to_disk output
        ds = load_saved(*saved, p)
    elif path_s.startswith(HUB_PREFIX):
        if not path_s[len(HUB_PREFIX):]:
            raise InputError("empty hub dataset name after 'hf:'", path_s)
        name = path_s[len(HUB_PREFIX):]
        if Path(name).is_dir() and (one := single_train_file(name, set(FORMATS) - {".txt"})) is not None:
            return read_table(one, asked)
        ds = _load_hub(name, path_s)
    elif p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".txt":
            with open(p, "rb") as fh:
                tabs = fh.readline().count(b"\t")
            hint = f" (its first line has {tabs + 1} tab-separated fields: rename it .tsv)" if tabs else ""
            raise InputError(f"a .txt file is one sentence a line, without columns; reading column(s) "
                             f"{', '.join(map(repr, columns))} needs a data file ({', '.join(FORMATS)}){hint}", p)
        if suffix not in FORMATS:
            raise InputError(f"unsupported file type {suffix or '(none)'!r}; "
                             f"use one of {', '.join(FORMATS)}", p)
        if suffix in _TEXT_SUFFIXES:
            check_utf8(p)
        if p.stat().st_size == 0:
            raise InputError("empty dataset", p)
        builder, kwargs = FORMATS[suffix]
        if builder == "csv":
            kwargs = {**kwargs, **header_or_positions(p, kwargs.get("delimiter", ","), columns)}
        ds = _load(builder, p, data_files=str(p), **kwargs, **text_cells(builder, columns))
    else:
        raise InputError(not_a_file(p), p)
    quote_all = p.suffix.lower() == ".tsv" and (names := quoted_header(ds.column_names)) is not None
    if quote_all:  # '"text"\t"group"': every cell of the file is quoted, the header too
        ds = ds.rename_columns(names)
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise missing_column(missing[0], ds.column_names, len(ds), p)
    if len(ds) == 0:
        raise InputError("empty dataset", p)
    csv_file = p.suffix.lower() == ".csv" and not path_s.startswith(HUB_PREFIX)
    table = {c: ds[c] for c in (ds.column_names if csv_file else columns)}
    if csv_file:
        _check_spanning(table, columns, p)
    if p.suffix.lower() == ".tsv":
        table = {c: csv_unquoted(table[c], c, p, every=quote_all) for c in columns}
    if (end := trailing_empty_rows(no_repeated_header(table, columns, p), p)) == 0:
        raise InputError("empty dataset (every row is empty)", p)
    return {a: table[c][:end] for a, c in zip(asked, columns)}


def read_splits_first(p: Path) -> bool:  # a .json of named splits (CLINC150's data_full.json)
    return p.suffix.lower() == ".json" and p.is_file() and read_splits(p) is not None


def _column_name(c) -> str:
    """A column as the API may name it: a string, or an int position (1 = the first column)."""
    if isinstance(c, str) and c:
        return c
    if isinstance(c, int) and not isinstance(c, bool):
        return str(c) if c >= 1 else "0"  # "0": refused below as outside the columns (positions count from 1)
    raise InputError(f"a column must be named by a non-empty string or a position (int from 1), got {c!r}")


def _check_spanning(table: dict[str, list], read: list[str], p: Path) -> None:
    """Refuse a CSV whose quoting swallowed rows (textgan.common.tables.spanning_cell); say how
    many cells of the columns read are quoted over lines and kept."""
    for col, values in table.items():
        for i, v in enumerate(values):
            if isinstance(v, str) and ("\n" in v or "\r" in v) and spanning_cell({col: v}, read):
                raise spanning_error(p, col, i + 1)
    for col in dict.fromkeys(read):
        if n := multiline_cells(table[col]):
            warnings.warn(multiline_warning(n, col, p), stacklevel=3)


def text_cells(builder: str, columns) -> dict:
    """CSV/TSV reader arguments that keep the cells of `columns` as written: pandas would read
    the sentence "007" as 7 and "1e3" as 1000.0."""
    return {"converters": {c: str for c in columns if c}} if builder == "csv" else {}


def _load_hub(name: str, where: str):
    """A hub dataset's train split; from the local cache only when the hub cannot be reached."""
    if local_after_hub_prefix(name, where):
        return _load(name, where)
    with hub_offline_when_unreachable() as reachable:
        try:
            return _load(name, where)
        except InputError as exc:
            if reachable:
                raise
            raise InputError(f"the Hugging Face Hub cannot be reached and the dataset is not in the local cache "
                             f"({exc.problem[:200]}); download it where there is a network and pass the file",
                             where) from None


def _load(name: str, p: Path, **kwargs):
    import datasets

    if name == "json":
        check_json_depth(p)  # Arrow's reader crashed the process on a value nested 100,000 deep
    try:
        with datasets_quietly():
            return datasets.load_dataset(name, split="train", **kwargs)
    except Exception as exc:  # datasets raises many types for unreadable input
        raise dataset_error(exc, p) from None


def cell_text(v, col: str, row: int, path) -> str:
    """A text cell as a stripped string. Missing, blank, or not text-like (a list, an object, true /
    false: str() would make "['a', 'b']" a sentence) is refused naming the row; numbers are text."""
    if isinstance(v, (bytes, bytearray)):  # a Parquet binary column: str() made "b'...'" the sentence
        try:
            v = bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"row {row}: column {col!r} holds bytes that are not UTF-8 text", path) from None
    if isinstance(v, (list, tuple, dict, bool)):
        raise InputError(f"row {row}: column {col!r} holds {type(v).__name__} {str(v)[:40]!r}, expected text", path)
    if is_missing(v):
        raise InputError(f"row {row}: empty value in column {col!r}", path)
    text = check_unicode(str(v).strip(), f"row {row}: column {col!r}", path)
    return " ".join(text.split()) if "\n" in text or "\r" in text else text  # a cell quoted over lines


def _clean(values: list, col: str, path) -> list[str]:
    """Stripped cells (`cell_text` refuses a missing, blank or list cell, as `index` and `encode` do)."""
    try:
        return [cell_text(v, col, i + 1, path) for i, v in enumerate(values)]
    except InputError as exc:
        from textgan.common.tables import json_layout_problem

        layout = json_layout_problem(exc.path) if exc.path is not None else None
        raise InputError(layout or exc.problem + empty_cells_note(values), exc.path) from None


def load_groups(path: str | Path, text_col: str = "text", group_col: str = "group",
                min_groups: int = 1, keep_singles: bool = False) -> tuple[list[str], list[str]]:
    """Read (texts, groups); groups of one sentence are dropped with a counted warning (kept with
    `keep_singles`: test sentences for kNN top-1 against a reference need no partner).

    Args:
        path: data file, or `hf:owner/name` for a hub dataset.
        text_col: column holding the sentences.
        group_col: column holding the paraphrase-group label.
        min_groups: refuse data with fewer groups (of two or more sentences).
    """
    table = read_table(path, [text_col, group_col])
    check_json_labels(path, group_col)
    texts, groups = _clean(table[text_col], text_col, path), _clean(table[group_col], group_col, path)
    warn_stripped_labels(table[group_col], groups, group_col, path)
    return keep_groups(warn_numeric_texts(texts, text_col, path), groups, path, min_groups, keep_singles)


def api_rows(texts, groups, eval_texts=None, eval_groups=None) -> tuple:
    """(texts, groups, eval_texts, eval_groups) from an API caller as lists of str: generators,
    Series and arrays read once; int labels (pandas.factorize) become their text; None, floats
    (NaN: a missing label) and a length mismatch are refused (`as_sentences`, `as_labels`)."""
    texts = as_sentences(texts, "training texts")
    groups = as_labels(groups, len(texts), "group labels")
    if eval_texts is not None:
        eval_texts = as_sentences(eval_texts, "eval texts")
        eval_groups = None if eval_groups is None else as_labels(eval_groups, len(eval_texts), "eval group labels")
    return texts, groups, eval_texts, eval_groups


def keep_groups(texts: list[str], groups: list[str], path, min_groups: int = 1,
                keep_singles: bool = False) -> tuple[list[str], list[str]]:
    """Drop groups of one sentence (counted warning) unless `keep_singles`; refuse what is left if
    it has no group of two (and drops them) or fewer than `min_groups` groups."""
    keep_singles, min_groups = flag(keep_singles, "keep_singles"), whole(min_groups, "min_groups")
    counts = Counter(groups)
    singles = sum(1 for c in counts.values() if c < 2)
    if singles and not keep_singles:
        warnings.warn(f"{path}: dropped {singles} group(s) with a single sentence", stacklevel=3)
        keep = [i for i, g in enumerate(groups) if counts[g] >= 2]
        texts, groups = [texts[i] for i in keep], [groups[i] for i in keep]
    if not texts:  # the warning above is dropped with the error line: the error says it itself
        raise InputError(f"no group has two or more sentences ({singles} group(s) of one; repeated sentences, equal "
                         "up to case and spacing, count once)", path)
    if len(set(groups)) < min_groups:
        raise InputError(f"need at least {min_groups} groups{'' if keep_singles else ' of two or more sentences'}, "
                         f"found {len(set(groups))}", path)
    return texts, groups


def load_texts(path: str | Path, text_col: str | None = None) -> list[str]:
    """Read an ungrouped corpus: a .txt file (one sentence per line), or the `text_col` column of a
    data file (or of `hf:owner/name`, a hub dataset)."""
    p = as_path(path, "the data file")
    if saved_folder(str(p)) is not None:
        if text_col is None:
            raise InputError("pass --text-col to read sentences from a saved dataset folder", p)
    elif not str(path).startswith(HUB_PREFIX) and not p.is_file() and split_of(str(p)) is None:
        raise InputError(not_a_file(p), p)
    if p.suffix.lower() == ".txt" or text_col is None:
        if p.suffix.lower() not in (".txt", *FORMATS):  # naming --text-col would only meet the next refusal
            raise InputError(f"unsupported file type {p.suffix.lower() or '(none)'!r}: a corpus is a .txt file (one "
                             f"sentence a line) or a data file ({', '.join(FORMATS)}) with --text-col", p)
        if p.suffix.lower() != ".txt":
            raise InputError(f"pass --text-col to read sentences from a data file{columns_hint(p)}", p)
        check_utf8(p)
        # utf-8-sig: a BOM (Windows editors) is not part of the first sentence; str.strip keeps it
        lines = text_lines(p.read_text(encoding="utf-8-sig"))
        texts = [ln.strip() for ln in lines if not is_blank(ln)]
        if not texts:
            raise InputError("empty dataset", p)
        if len(texts) < len(lines):  # outputs have a row per sentence, not per line: say so
            warnings.warn(f"{p}: skipped {len(lines) - len(texts)} blank line(s)", stacklevel=2)
        tabbed = sum("\t" in t for t in texts)
        if tabbed:  # a TSV saved as .txt would index "sentence<TAB>label" as one sentence
            warnings.warn(f"{p}: {tabbed} of {len(texts)} line(s) hold a tab and are read whole, one sentence a "
                          "line (a table? name it .tsv and pass --text-col)", stacklevel=2)
        return texts
    return warn_numeric_texts(_clean(read_table(path, [text_col])[text_col], text_col, path), text_col, path)


def load_pairs(path: str | Path, a_col: str = "sentence1", b_col: str = "sentence2",
               score_col: str = "score") -> tuple[list[str], list[str], list[float]]:
    """Read scored sentence pairs (for Spearman) from a data file; NaN / inf scores are refused
    (`similarity.pairs.check_ranked` refuses pairs that all have one score, before a metric)."""
    t = read_table(path, [a_col, b_col, score_col])
    a, b = (warn_numeric_texts(_clean(t[c], c, path), c, path, "--pair-cols") for c in (a_col, b_col))
    return a, b, numbers(t[score_col], score_col, path)


def numbers(values: list, col: str, path, hint: str = "") -> list[float]:
    """Finite floats of a column; a missing, blank, non-numeric, NaN or inf cell is refused with its row."""
    out = []
    for i, v in enumerate(values):
        try:
            f = float(v)
        except (TypeError, ValueError):  # an empty cell: how many more there are (drop those rows, or another column)
            note = empty_cells_note(values) if is_missing(v) else ""
            raise InputError(f"row {i + 1}: column {col!r} must be numeric{hint}, got {v!r}{note}", path) from None
        if not math.isfinite(f):
            raise InputError(f"row {i + 1}: column {col!r} is not a finite number ({v!r})", path)
        out.append(f)
    return out


def split_groups(texts: list[str], groups: list[str], fraction: float,
                 seed: int = 0) -> tuple[list[int], list[int]]:
    """Stratified hold-out: about `fraction` of each group's sentences (seeded), never
    the group's last one. Returns (train indices, held-out indices)."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by_group[g].append(i)
    rng = random.Random(seed)
    train, held = [], []
    for g in sorted(by_group):
        idx = by_group[g][:]
        rng.shuffle(idx)
        k = min(len(idx) - 1, round(fraction * len(idx)))
        held += idx[:k]
        train += idx[k:]
    return sorted(train), sorted(held)


def split_whole_groups(groups: list[str], fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Hold out about `fraction` of the groups whole (seeded; at least 2 held out, at least 2 kept),
    for groups too small to lose a sentence each, such as paraphrase pairs: the held-out groups
    are then unseen, and the held-out metric is leave-one-out among their sentences. ([], []) when
    there are fewer than 4 groups."""
    names = sorted(set(groups))
    if len(names) < 4:
        return [], []
    rng = random.Random(seed)
    rng.shuffle(names)
    size = Counter(groups)
    want, budget = min(len(names) - 2, max(2, round(fraction * len(names)))), max(fraction * len(groups), 4)
    # groups in shuffled order, skipping one that would take the held-out sentences past `budget`:
    # one group of 500 beside pairs was held out whole, and the model never trained on 90% of the data
    held_names: set[str] = set()
    for g in names:
        if len(held_names) == want:
            break
        if sum(size[h] for h in held_names) + size[g] <= budget:
            held_names.add(g)
    if len(held_names) < 2:  # every group is larger than the budget: the smallest ones
        held_names = set(sorted(names, key=lambda g: (size[g], names.index(g)))[:2])
    held = [i for i, g in enumerate(groups) if g in held_names]
    return [i for i, g in enumerate(groups) if g not in held_names], held


class GroupBatchSampler:
    """Batches of P groups x K sentences (seeded), so in-batch losses see positives."""

    def __init__(self, labels: list[int], batch_size: int, per_group: int = 4, seed: int = 0):
        self.per_group = max(2, per_group)
        self.groups_per_batch = max(2, batch_size // self.per_group)
        self.by_group: dict[int, list[int]] = defaultdict(list)
        for i, g in enumerate(labels):
            self.by_group[g].append(i)
        self.n = len(labels)
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return max(1, self.n // (self.groups_per_batch * self.per_group))

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed * 100003 + self.epoch)
        self.epoch += 1
        # Chunk each group's shuffled sentences into K-sized pieces, then shuffle chunks.
        chunks = []
        for g in sorted(self.by_group):
            idx = self.by_group[g][:]
            rng.shuffle(idx)
            chunks += [idx[i:i + self.per_group] for i in range(0, len(idx), self.per_group)
                       if len(idx[i:i + self.per_group]) >= 2]
        rng.shuffle(chunks)
        for b in range(0, len(chunks), self.groups_per_batch):
            yield [i for c in chunks[b:b + self.groups_per_batch] for i in c]
