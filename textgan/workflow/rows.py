"""A corpus read as a stream of (text, group-or-None) rows in bounded memory (a .txt line by
line, a data file through `datasets` streaming), and cut into shards: what
`textgan.workflow.encode` encodes shard by shard."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterator

from textgan.common.errors import InputError
from textgan.common.texts import is_blank, nul_error, warn_numeric_texts

NUMBER_CHECK_ROWS = 1000  # rows a streamed text column is checked on for being all numbers


def stream_rows(path, text_col: str | None = None, group_col: str | None = None) -> Iterator[tuple[str, str | None]]:
    """(text, group-or-None) rows of a corpus, in bounded memory; blank .txt lines are skipped."""
    from similarity.data import _TEXT_SUFFIXES, FORMATS, cell_text, check_utf8, text_cells
    from similarity.file_quirks import (check_json_labels, empty_row, header_or_positions, no_repeated_header,
                                        unquote_cell)
    from textgan.common.folders import not_a_file
    from textgan.common.saved_dataset import load_saved, saved_folder
    from similarity.splits import read_splits, split_of, split_table
    from textgan.common.tables import (check_json_depth, dataset_error, datasets_quietly, multiline_cells,
                                       multiline_warning, spanning_cell, spanning_error)

    p = Path(path)
    picked = split_of(str(p))
    if picked is not None or (p.suffix.lower() == ".json" and p.is_file() and read_splits(p) is not None):
        table = split_table(*(picked or (p, None)))  # CLINC150's data_full.json:train (similarity.splits)
        for col in (text_col, group_col):
            if col not in (None, "text", "group"):
                raise InputError(f"missing column {col!r}; a split's columns are: text, group", p)
        yield from zip(table["text"], table["group"] if group_col else [None] * len(table["text"]))
        return
    if (saved := saved_folder(str(p))) is not None:  # save_to_disk output: Arrow, memory-mapped
        yield from _saved_rows(load_saved(*saved, p), text_col, group_col, p)
        return
    if not p.is_file():
        raise InputError(not_a_file(p), p)
    suffix = p.suffix.lower()
    if suffix == ".txt" and group_col is None:
        with open(p, encoding="utf-8-sig") as fh:  # a BOM is not part of the first sentence
            try:
                blank = 0
                for lineno, line in enumerate(fh, 1):
                    if "\x00" in line:  # valid UTF-8, but UTF-16 without a BOM (or binary) read as text
                        raise nul_error(p, lineno)
                    if is_blank(line):
                        blank += 1
                    else:
                        yield line.strip(), None
                if blank:  # the vectors have a row per sentence, not per line: say so
                    warnings.warn(f"{p}: skipped {blank} blank line(s)", stacklevel=2)
            except UnicodeDecodeError:
                with open(p, "rb") as raw:
                    head = raw.read(4096)
                if b"\x00" in head:  # UTF-16: its non-ASCII characters fail to decode before any line is read
                    raise nul_error(p, head[:head.index(b"\x00")].count(b"\n") + 1) from None
                raise InputError("not valid UTF-8", p) from None
        return
    if suffix == ".txt":
        raise InputError(f"a .txt corpus is one sentence a line, without columns; --group-col {group_col} needs "
                         f"a data file ({', '.join(FORMATS)})", p)
    if suffix not in FORMATS:
        raise InputError(f"unsupported corpus type {suffix or '(none)'!r}; use .txt or one of {', '.join(FORMATS)}", p)
    if text_col is None:
        from similarity.file_quirks import columns_hint

        raise InputError(f"pass --text-col to read sentences from a data file{columns_hint(p)}", p)
    if suffix in _TEXT_SUFFIXES:  # as read in memory: a UTF-16 or cp1252 file was a UnicodeDecodeError mid-stream
        check_utf8(p)
    check_json_depth(p)  # before any JSON parser: Arrow's crashed the process on deep nesting
    if group_col:
        check_json_labels(p, group_col)
    import datasets

    builder, kwargs = FORMATS[suffix]
    if builder == "csv":  # header-less files read by position, `;` CSVs (similarity.file_quirks)
        kwargs = {**kwargs, **header_or_positions(p, kwargs.get("delimiter", ","), [c for c in (text_col, group_col) if c])}
    try:
        with datasets_quietly(python_warnings=False):
            ds = datasets.load_dataset(builder, data_files=str(p), split="train", streaming=True, **kwargs,
                                       **text_cells(builder, [text_col, group_col]))
            pending, multi = [], 0  # empty rows held back: skipped at the end of the file, refused inside
            head: list[str] = []  # the first rows: a column of numbers is named, as read in memory
            for i, row in enumerate(ds):
                if empty_row(row.values()):
                    pending.append(i)
                    continue
                if pending:
                    cell_text("", text_col, pending[0] + 1, p)  # raises: an empty row inside the data
                if text_col not in row or (group_col and group_col not in row):
                    missing = text_col if text_col not in row else group_col
                    raise InputError(f"missing column {missing!r}; columns are: {', '.join(row)}", p)
                if suffix == ".csv" and (col := spanning_cell(row, (text_col, group_col))) is not None:
                    raise spanning_error(p, col, i + 1)
                multi += multiline_cells([row[text_col]])
                t = cell_text(unquote_cell(row[text_col]) if suffix == ".tsv" else row[text_col], text_col, i + 1, p)
                g = cell_text(row.get(group_col), group_col, i + 1, p) if group_col else None  # blank: refused
                if group_col and suffix in (".csv", ".tsv"):  # as read in memory (similarity.file_quirks)
                    no_repeated_header({text_col: [t], group_col: [g]}, [text_col, group_col], p, first_row=i)
                if len(head) < NUMBER_CHECK_ROWS:
                    head.append(t)
                    if len(head) == NUMBER_CHECK_ROWS:
                        warn_numeric_texts(head, text_col, p, first=True)
                yield t, g
            if 0 < len(head) < NUMBER_CHECK_ROWS:  # the whole file, as read in memory
                warn_numeric_texts(head, text_col, p)
            if pending:
                warnings.warn(f"{p}: skipped {len(pending)} empty row(s) at the end of the file", stacklevel=2)
            if multi and suffix == ".csv":
                warnings.warn(multiline_warning(multi, text_col, p), stacklevel=2)
    except InputError:
        raise
    except Exception as exc:  # datasets raises many types for unreadable input
        raise dataset_error(exc, p) from None


def _saved_rows(ds, text_col, group_col, p) -> Iterator[tuple[str, str | None]]:
    """Rows of a saved Dataset, a batch at a time; cells checked as a data file's are."""
    from similarity.data import cell_text

    if text_col is None:
        raise InputError("pass --text-col to read sentences from a saved dataset folder", p)
    for col in (text_col, group_col):
        if col and col not in ds.column_names:
            raise InputError(f"missing column {col!r}; columns are: {', '.join(ds.column_names)}", p)
    if len(ds) == 0:
        raise InputError("empty dataset", p)
    cols = [c for c in (text_col, group_col) if c]
    for start in range(0, len(ds), 4096):
        batch = ds.select_columns(cols)[start:start + 4096]
        for i, t in enumerate(batch[text_col]):
            row = start + i + 1
            text = cell_text(t, text_col, row, p)
            yield text, cell_text(batch[group_col][i], group_col, row, p) if group_col else None


def chunks(rows: Iterator, size: int) -> Iterator[tuple[int, list]]:
    """(shard number, rows) of `size` rows each (the last may be shorter)."""
    buf: list = []
    k = 0
    for row in rows:
        buf.append(row)
        if len(buf) == size:
            yield k, buf
            k, buf = k + 1, []
    if buf:
        yield k, buf
