"""Reading tables with `datasets`, quietly: its progress bars, warnings and logger lines silenced,
and a file it cannot parse turned into one InputError that carries the parser's own cause.

`datasets` wraps the cause ("Expected 2 fields in line 3, saw 4") in a DatasetGenerationError
("An error occurred while generating the dataset") and logs it on a line of its own; the cause
belongs in the one `error:` line.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from pathlib import Path
from typing import Iterable

from textgan.common.errors import InputError


def writable_cache(config) -> None:
    """`datasets` writes Arrow files of every table it reads under HF_DATASETS_CACHE (~/.cache): with
    a read-only HOME every CSV was refused as unreadable. Such a cache is swapped, once per process,
    for a temporary folder removed at exit, with a warning naming both."""
    from textgan.common.paths import temp_folder
    from textgan.common.runlock import writable

    cache = config.HF_DATASETS_CACHE
    if not writable(cache):
        config.HF_DATASETS_CACHE = temp_folder("textgan-datasets-")
        warnings.warn(f"{cache}: the datasets cache is not writable; tables are cached in "
                      f"{config.HF_DATASETS_CACHE} for this run (set HF_HOME to a writable folder)", stacklevel=3)


@contextlib.contextmanager
def datasets_quietly(python_warnings: bool = True):
    """Silence `datasets`' progress bars, its logger's "Failed to read file" line (the cause
    belongs in the one `error:` line, see `dataset_error`) and, unless told not to (a
    generator that yields inside this block must not hold the warnings filters), its warnings."""
    import datasets

    writable_cache(datasets.config)
    datasets.disable_progress_bars()
    level = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL + 10)
    # huggingface_hub logs each retry of an unreachable hub (`hf:` names offline) as two lines
    hub = logging.getLogger("huggingface_hub")
    hub_level = hub.level
    hub.setLevel(logging.CRITICAL + 10)
    try:
        with warnings.catch_warnings() if python_warnings else contextlib.nullcontext():
            if python_warnings:
                warnings.simplefilter("ignore")
            yield
    finally:
        datasets.logging.set_verbosity(level)
        hub.setLevel(hub_level)


def dataset_error(exc: BaseException, p) -> InputError:
    """The InputError for a file `datasets` could not read, with the cause that `datasets` wraps
    ("DatasetGenerationError: An error occurred") spelled out: the parser's line and fields."""
    if isinstance(exc, InputError):
        return exc
    root, seen = exc, {id(exc)}
    while (nxt := root.__cause__) is not None and id(nxt) not in seen:  # `raise ... from cause` only
        seen.add(id(nxt))
        root = nxt
    if any("corresponds to no data" in str(e) for e in (exc, root)) or _no_parquet_rows(p):  # a header, no rows
        return InputError("empty dataset", p)
    if (line := jsonl_problem(p) or json_layout_problem(p)) is not None:  # Arrow says "row 0" of its own blocks
        return InputError(line, p)
    msg = " ".join(str(root).split()) or root.__class__.__name__
    if m := re.search(r"EOF inside string starting at row (\d+)", msg):  # pandas counts rows from 0, the header's
        return InputError(f"line {int(m.group(1)) + 1}: a quote opened there is never closed (a stray '\"' in a "
                          "sentence? double it as \"\" or remove it)", p)
    return InputError(f"cannot read dataset ({root.__class__.__name__}: {msg[:300]})", p)


def _no_parquet_rows(p) -> bool:
    """A Parquet file of zero rows (Arrow: "BatchSize must be greater than 0"), asked once reading failed."""
    try:
        import pyarrow.parquet as pq

        return Path(p).suffix.lower() == ".parquet" and pq.ParquetFile(p).metadata.num_rows == 0
    except Exception:  # unreadable: the caller reports the original error
        return False


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
               type(None): "null"}


MAX_JSON_DEPTH = 200  # rows of sentences and labels nest a few levels; Arrow crashed at 100,000
_JSON_STRING = re.compile(rb'"(?:[^"\\\n]|\\.)*"')


def check_json_depth(p, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse a .json / .jsonl data file whose values nest deeper than `limit`, naming the line.

    Why before reading: Arrow's JSON reader (under `datasets`) recursed into a segmentation fault on
    a value nested 100,000 deep (no Python error to catch), and Python's json raises RecursionError
    from about 1,000. Strings are cut out first (a sentence may hold brackets); a line whose opening
    brackets cannot take the depth past `limit` is passed at C speed, so a good file costs one read.
    """
    p = Path(p)
    if p.suffix.lower() not in (".json", ".jsonl") or not p.is_file():
        return
    depth = 0
    with open(p, "rb") as fh:
        for n, line in enumerate(fh, 1):
            bare = _JSON_STRING.sub(b"", line) if b'"' in line else line
            opens = bare.count(b"[") + bare.count(b"{")
            if depth + opens > limit:
                for ch in bare:
                    depth += (ch in b"[{") - (ch in b"]}")
                    if depth > limit:
                        raise InputError(f"line {n}: a value nested more than {limit} levels deep (a data file "
                                         f"holds rows of sentences and labels)", p)
            else:
                depth += opens - bare.count(b"]") - bare.count(b"}")
            depth = max(depth, 0)


def jsonl_problem(p) -> str | None:
    """The first line of a .jsonl file that is not one JSON object ("line 3 is not a JSON object
    (a list)"), or None: asked only once `datasets` failed, so a good file is never read twice."""
    p = Path(p)
    if p.suffix.lower() != ".jsonl" or not p.is_file():
        return None
    with open(p, encoding="utf-8-sig", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                return f"line {n} is not valid JSON (one JSON object a line)"
            if not isinstance(row, dict):
                kind = _JSON_KINDS.get(type(row), type(row).__name__)
                return f"line {n} is not a JSON object (it is {kind}; one object a line)"
    return None


def spanning_cell(row: dict, read: Iterable[str], delimiter: str = ",") -> str | None:
    """The column of a CSV row whose cell swallowed rows across line breaks, or None.

    A stray `"` at the start of a CSV field opens a quoted field that runs to the next `"`,
    swallowing the rows between into one cell (48 lines in, 41 rows out). Swallowed rows show as
    the delimiter after a line break, or, in a column that is read (a one-column file has no
    delimiter to show), as more than two lines with text. A cell quoted over lines otherwise is
    CSV and is kept: BANKING77's train.csv quotes "\nI can't seem to be able to use my card\n\n\n"
    (`multiline_cells` counts them; `similarity.data.cell_text` reads them as one line)."""
    read = set(read)
    for col, v in row.items():
        if isinstance(v, str) and ("\n" in v or "\r" in v):
            lines = v.replace("\r", "\n").split("\n")
            if delimiter in "\n".join(lines[1:]) or (col in read and sum(bool(x.strip()) for x in lines) > 2):
                return col
    return None


def multiline_cells(values: Iterable) -> int:
    """How many cells hold a line break (quoted over lines: kept, read as one line)."""
    return sum(isinstance(v, str) and ("\n" in v or "\r" in v) for v in values)


def multiline_warning(n: int, column: str, path) -> str:
    return (f"{path}: {n} cell(s) of column {column!r} are quoted over several lines: each is read as one "
            "line (line breaks become spaces)")


def quoted_span(path, delimiter: str = ",") -> tuple[int, int] | None:
    """(first, last) physical line of the first CSV record that runs over several lines."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader, prev = csv.reader(fh, delimiter=delimiter), 0
            for rec in reader:
                if reader.line_num - prev > 1 and any("\n" in f or "\r" in f for f in rec):
                    return prev + 1, reader.line_num
                prev = reader.line_num
    except (csv.Error, OSError, UnicodeDecodeError):  # e.g. a swallowed span past csv's 128 KiB field limit
        return None  # the error then names the row instead of the lines
    return None


def spanning_error(path, column: str, row: int, delimiter: str = ",") -> InputError:
    """The one line for a cell that spans lines: where it starts and ends in the file."""
    span = quoted_span(path, delimiter)
    where = f"lines {span[0]}-{span[1]}" if span else f"row {row}"
    return InputError(f"{where}: a quoted cell of column {column!r} runs over several lines (a stray '\"' opens a "
                      "quoted field that swallows the rows up to the next one); a sentence cannot span lines: remove "
                      "the quote, or quote the whole cell and double the quotes inside it", path)


@contextlib.contextmanager
def hub_offline_when_unreachable(timeout_s: float = 3.0):
    """Read an `hf:` dataset from the local cache only when the hub's host does not answer a TCP
    connection within `timeout_s`: offline, `datasets` otherwise retries for about 25 s before
    failing (measured here: 25.4 s against 2.3 s offline), and a cached copy still loads."""
    import socket
    from urllib.parse import urlparse

    import datasets.config
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=timeout_s).close()
        reachable = True
    except OSError:
        reachable = False
    saved = constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE
    if not reachable:
        constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True
    try:
        yield reachable
    finally:
        constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved


_RECORDS = 'write a list of records [{"text": ..., "group": ...}, ...] or JSON Lines, one record per line'
LAYOUT_MAX_BYTES = 64 * 2**20  # asked after a failed or odd read; a larger file keeps the reader's own error


def json_layout_problem(p) -> str | None:
    """What is wrong with the layout of a .json data file that `datasets` failed on or read oddly: a
    single value, a list of arrays (fields without names), or one array per column. None when it
    is a list of records (or cannot be told): asked only after a read went wrong."""
    p = Path(p)
    try:
        if p.suffix.lower() != ".json" or not p.is_file() or p.stat().st_size > LAYOUT_MAX_BYTES:
            return None
        with open(p, encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, (list, dict)):
        return f"the file holds {_JSON_KINDS.get(type(data), type(data).__name__)}, not rows: {_RECORDS}"
    if isinstance(data, list) and data and all(isinstance(r, list) for r in data[:100]):
        return f"a list of arrays (fields without names), not records: {_RECORDS}"
    if isinstance(data, dict) and len(data) >= 1 and all(isinstance(v, list) for v in data.values()) \
            and len({len(v) for v in data.values()}) == 1 and len(next(iter(data.values()))) > 1:
        return f"one array per column ({', '.join(map(repr, list(data)[:4]))}), not rows: {_RECORDS}"
    return None
