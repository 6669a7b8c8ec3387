"""What real files hold beyond the plain format: header-less tables read by position, `;` as the
CSV separator, TSV cells written with CSV quoting, the empty rows a spreadsheet leaves at the end,
and the encoding of a file that is not UTF-8."""
from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

from textgan.common.errors import InputError
from textgan.common.texts import is_missing, name_list

# a sentence may be longer than the csv module's default field limit (128 KiB): read it whole
# (the encoders truncate to max_length tokens) rather than fail inside the reader
csv.field_size_limit(2**31 - 1)


def encoding_hint(line: bytes, lineno: int, suffix: str = ".csv") -> str:
    """What the bytes probably are and how to re-save them as UTF-8 (into a file of the same
    `suffix`: the advised FILE.utf8 was then refused as no file type we read)."""
    if lineno == 1 and line[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return ": it is UTF-32; re-save it as UTF-8 (iconv -f utf-32 -t utf-8)"
    if lineno == 1 and line[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return ": it is UTF-16 (Excel's \"Unicode Text\"); re-save it as UTF-8 (iconv -f utf-16 -t utf-8)"
    codecs = [("gb18030", "GBK/GB18030 (Chinese Windows)"), ("cp1252", "Windows-1252 (Excel's CSV)")]
    if sum(b >= 0x80 for b in line) < 0.3 * len(line):  # a few accents among ASCII letters ("M\xfcnchen"),
        codecs.reverse()  # which GBK decodes too, as ideographs; Chinese text is mostly two-byte characters
    for codec, name in codecs:
        try:
            line.decode(codec)
        except UnicodeDecodeError:
            continue
        return f": it reads as {name}; re-save it as UTF-8 (iconv -f {codec} -t utf-8 FILE > FILE-utf8{suffix})"
    return ""


# column names of public sentence sets: a first row of such names read by position is a header
HEADER_WORDS = frozenset({"text", "sentence", "sentence1", "sentence2", "sentence_a", "sentence_b", "label", "group",
                          "intent", "query", "question", "question1", "question2", "score", "id", "category", "class",
                          "utterance", "similarity", "is_duplicate", "text_a", "text_b", "domain", "answer"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,39}$")


def header_or_positions(p: Path, delimiter: str, columns: list[str]) -> dict:
    """CSV reader arguments for the first row. Columns asked for by position ("1", "2", counting
    from 1 like `cut -f`) mean a file without a header (LCQMC, BQ and the original STS-B files have
    none): every row is data, columns are called "1".."k". Only a first row that numbers its
    columns (0..k-1 or 1..k, as pandas writes) is then a header: LCQMC's first label cell is "1".
    Otherwise the first row is the header, refused when it names a column twice: the reader would
    rename the second copy ("text.1"), so the file would seem to hold a column it does not have."""
    def first_row(sep: str) -> list[str]:  # blank lines are skipped, as the reader skips them
        with open(p, encoding="utf-8-sig", newline="") as fh:
            rows = csv.reader(fh, delimiter=sep, quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL)
            return next((r for r in rows if any(c.strip() for c in r)), [])

    first, extra = first_row(delimiter), {}
    if not first:  # only blank lines: not a table with no tab in it
        raise InputError("empty dataset (only blank lines)", p)
    if delimiter == "," and len(tabbed := "\t".join(first).split("\t")) > len(first):
        raise InputError(f"the first line has {len(tabbed)} tab-separated fields and {len(first)} comma-separated: "
                         f"a tab-separated file, name it .tsv", p)
    if delimiter == "," and _semicolons(p):  # HWU64, Excel in many locales
        first, extra = first_row(";"), {"delimiter": ";"}
    names = [h.strip() for h in first]
    k = len(names)
    numbered = set(names) in ({str(i) for i in range(k)}, {str(i + 1) for i in range(k)})  # "0,1,2": a header
    if columns and all(c.isdigit() for c in columns) and not numbered:
        bad = [c for c in columns if not 1 <= int(c) <= len(names)]
        if bad:
            raise InputError(f"column position {bad[0]} is outside the first row's {len(names)} columns "
                             f"(positions count from 1)", p)
        trailing = _check_row_widths(p, extra.get("delimiter", delimiter), k)
        if any(n.casefold() in HEADER_WORDS for n in names) and all(_IDENTIFIER.match(n) for n in names):
            warnings.warn(f"{p}: columns named by position read the first row as data, and it looks like a header "
                          f"({', '.join(map(repr, names[:4]))}): name the columns by those names instead",
                          stacklevel=4)
        return {**extra, "header": None, "column_names": [str(i + 1) for i in range(len(names))], **trailing}
    twice = [h for i, h in enumerate(names) if h and h in names[:i]]
    if twice:
        raise InputError(f"the header names column {twice[0]!r} twice", p)
    return {**extra, **_check_row_widths(p, extra.get("delimiter", delimiter), k)}


def _semicolons(p: Path, rows: int = 50) -> bool:
    """Whether a .csv file is ';'-separated, judged on its first `rows` non-blank rows, not the first
    alone: in a file without a header that row is a sentence, and two ';' in it made a comma file
    read as ';' (every other row's label glued onto its text). The separator whose field count
    repeats on more rows wins; ';' only with two fields or more, and on a tie with more fields."""
    def fit(sep: str) -> tuple[float, int]:
        with open(p, encoding="utf-8-sig", newline="") as fh:
            counts = []
            for r in csv.reader(fh, delimiter=sep):
                if any(c.strip() for c in r):
                    counts.append(len(r))
                if len(counts) == rows:
                    break
        mode = max(set(counts), key=counts.count) if counts else 1
        return counts.count(mode) / max(len(counts), 1), mode

    try:
        comma, semi = fit(","), fit(";")
    except csv.Error:  # a stray quote: the reader names it
        return False
    return semi[1] > 1 and (semi[0], semi[1]) > comma


# index_col=False below drops only empty trailing fields (checked first): pandas' warning about
# "a loss of data" would mislead
warnings.filterwarnings("ignore", message="Length of header or names does not match length of data")


def _check_row_widths(p: Path, sep: str, k: int) -> dict:
    """A row with more non-empty fields than the header is refused: the reader drops (or shifts)
    cells, so an unquoted delimiter inside a sentence would silently cut it. Rows with empty
    trailing fields (a delimiter at each line's end, as some exports write) give index_col=False:
    else pandas makes the first column the index and shifts every cell left (text read as group)."""
    trailing = False
    with open(p, encoding="utf-8-sig", newline="") as fh:
        rows = csv.reader(fh, delimiter=sep, quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL)
        try:
            start = 1
            for row in rows:
                if len(row) > k:
                    if any(c.strip() for c in row[k:]) and rows.line_num > start and sep != "\t":
                        raise InputError(f"line {start}: a quote opened there runs to line {rows.line_num}, joining "
                                         f"{rows.line_num - start + 1} lines into one row (a stray '\"' in a "
                                         "sentence? double it as \"\" or remove it)", p)
                    if any(c.strip() for c in row[k:]):
                        fix = ("a tab inside a sentence? a TSV cell cannot hold one: replace it with a space, or save "
                               "the file as CSV" if sep == "\t" else f"an unquoted {sep!r} inside a sentence? quote "
                               "that cell")
                        raise InputError(f"line {rows.line_num}: Expected {k} fields, saw {len(row)} ({fix})", p)
                    trailing = True
                start = rows.line_num + 1
        except csv.Error:  # a stray quote swallowing a huge span: the reader names it (spanning_cell)
            pass
    return {"index_col": False} if trailing else {}


_CSV_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


def unquote_cell(v):
    """One TSV cell with CSV quoting read as its text (streamed readers decide cell by cell: a
    writer that quotes a cell holding a quote always doubles it, so the doubled quote is the sign)."""
    if isinstance(v, str) and '""' in v[1:-1] and _CSV_QUOTED.fullmatch(v):
        return v[1:-1].replace('""', '"')
    return v


def quoted_header(names: list[str]) -> dict[str, str] | None:
    """{quoted name: name} when every header cell of a TSV is CSV-quoted ('"text"\t"group"': R's
    write.table, pandas QUOTE_ALL): the whole file was written so, and its cells are unquoted too."""
    if names and all(isinstance(c, str) and _CSV_QUOTED.fullmatch(c) for c in names):
        return {c: c[1:-1].replace('""', '"') for c in names}
    return None


def csv_unquoted(values: list, col: str, p: Path, every: bool = False) -> list:
    """A TSV column written with CSV quoting (pandas and `datasets` `to_csv(sep="\t")` quote cells
    holding a quote: '"He said ""hi""."') read as the text it stands for, with a warning. Only when
    a cell shows the doubled quotes, or `every` cell was quoted (`quoted_header`): a sentence that
    merely starts and ends with a quote is kept."""
    quoted = [isinstance(v, str) and _CSV_QUOTED.fullmatch(v) is not None for v in values]
    if not (every and any(quoted)) and not any(q and '""' in v[1:-1] for q, v in zip(quoted, values)):
        return values
    how = ": every cell, the header too (R's write.table, QUOTE_ALL)" if every else ' (\"...\"\"...\")'
    warnings.warn(f"{p}: column {col!r} has CSV-style quoted cells{how}; read without their quoting "
                  f"({sum(quoted)} cell(s))", UserWarning, stacklevel=4)
    return [v[1:-1].replace('""', '"') if q else v for q, v in zip(quoted, values)]


def empty_row(cells) -> bool:
    """Every cell missing or blank: the ",,," rows Excel writes below the data."""
    return all(map(is_missing, cells))


def no_repeated_header(table: dict[str, list], columns: list[str], p, first_row: int = 0) -> dict[str, list]:
    """`table`, unless a row repeats the header in every column read: two exports joined with
    `cat a.csv b.csv` left the sentence "text" in a group "group", indexed and trained on."""
    named = [c for c in columns if not c.isdigit()]  # positions: a file without a header has none to repeat
    if named and len(named) > 1:
        rows = zip(*(table[c] for c in named))
        if (i := next((i for i, r in enumerate(rows) if [str(v).strip() for v in r] == named), None)) is not None:
            raise InputError(f"row {first_row + i + 1} repeats the header ({', '.join(named)}): files joined with "
                             "cat? keep one header line", p)
    return table


def trailing_empty_rows(table: dict[str, list], p) -> int:
    """How many rows at the end of `table` (all its columns) are empty; said in a warning. Only
    trailing ones are skipped: dropping an empty row inside would shift every later row number
    an error names, so those are refused as an empty cell of that row."""
    n = len(next(iter(table.values()), []))
    end = n
    while end > 0 and empty_row(values[end - 1] for values in table.values()):
        end -= 1
    if 0 < end < n:
        warnings.warn(f"{p}: skipped {n - end} empty row(s) at the end of the file", UserWarning, stacklevel=4)
    return end


def empty_cells_note(values: list) -> str:
    """" (N of M rows have an empty cell there)" for an error about the first one: a corpus with a few
    empty cells (QQP has two) is fixed by dropping those rows, one with many by another column."""
    n = sum(map(is_missing, values))
    return f" ({n:,} of {len(values):,} rows have an empty cell there: drop those rows or name another column)" \
        if n > 1 else ""


def missing_column(name: str, names: list[str], n_rows: int, p) -> InputError:
    """The error for a column `name` the file lacks: a JSON object read as one row of many keys,
    a file whose header row is a sentence (no header), or a wrong name."""
    from textgan.common.tables import json_layout_problem

    if (layout := json_layout_problem(p)) is not None:
        return InputError(layout, p)
    if names and not any(str(n).strip() for n in names):
        return InputError("the header row names no column (its names are blank): write a header such as "
                          "text,group, or name the columns by position, counting from 1", p)
    if p.suffix.lower() == ".json" and n_rows == 1 and len(names) > 3:
        return InputError(f"one JSON object of {len(names)} keys, not rows: write a list of records "
                          '[{"text": ..., "group": ...}, ...] or JSON Lines, one record per line', p)
    data_like = any(" " in n.strip() or len(n) > 30 or sum(ord(ch) > 0x2E80 for ch in n) >= 6  # CJK sentence
                    for n in names)  # the first row is a sentence, not names
    hint = " (name them with --text-col / --group-col / --pair-cols)" if not data_like else \
        " (a file without a header row: name its columns by position, counting from 1, e.g. 1,2,3)"
    return InputError(f"missing column {name!r}; columns are: {name_list(names)}{hint}", p)


def local_after_hub_prefix(name: str, where: str) -> bool:
    """Whether `hf:NAME` names a local dataset folder (read as `datasets` reads one). A local file
    after `hf:` is refused (the hub would be blamed for it); a folder without a train split is
    refused naming its splits; a train split of several files, which `datasets` joins into one
    table, gets a warning naming them."""
    local = Path(name)
    if local.is_file():
        raise InputError("a local file: drop 'hf:' to read it ('hf:' names a hub dataset or a dataset folder)",
                         where)
    if not local.is_dir():
        return False
    from datasets.data_files import DataFilesDict, get_data_patterns

    try:
        files = {str(k): list(v) for k, v in DataFilesDict.from_patterns(get_data_patterns(name), name).items()}
    except Exception:  # no data files at all: datasets' own error says so when it loads
        return True
    if "train" not in files:
        raise InputError(f"the dataset folder has no train split (its splits: {', '.join(sorted(files))}); "
                         "name the file to read without 'hf:'", where)
    if len(train := files["train"]) > 1:
        shown = ", ".join(Path(f).name for f in train[:4]) + (", ..." if len(train) > 4 else "")
        warnings.warn(f"{where}: the folder's {len(train)} data files are read as one train split ({shown}); "
                      "name one file without 'hf:' to read only it", stacklevel=3)
    return True


def single_train_file(name: str, suffixes) -> Path | None:
    """The one data file of a local dataset folder's train split when its type is in `suffixes`:
    read as that file is read, labels kept as written. `datasets` infers column types over the
    folder, and group labels 1, 01 and 1.0 (CSV), or 1 and "1" (JSON), became one group."""
    from datasets.data_files import DataFilesDict, get_data_patterns

    try:
        train = list(DataFilesDict.from_patterns(get_data_patterns(name), name).get("train", []))
    except Exception:  # no data files: datasets' own error says so
        return None
    return Path(train[0]) if len(train) == 1 and Path(train[0]).suffix.lower() in suffixes else None


def check_json_labels(p, col: str) -> None:
    """A .json / .jsonl data file whose `col` holds 1 and "1" is refused (`check_label_types`):
    `datasets` casts the column to one type, so the clash is looked for in the file itself."""
    import json

    from textgan.common.texts import check_label_types

    if str(p).startswith("hf:") and Path(str(p)[3:]).is_dir():  # a dataset folder of one train file
        p = single_train_file(str(p)[3:], (".json", ".jsonl")) or p
    p = Path(p)
    suffix = p.suffix.lower()
    if suffix not in (".json", ".jsonl") or not p.is_file():
        return

    def cells():
        with open(p, encoding="utf-8-sig") as fh:
            rows = (json.loads(line) for line in fh if line.strip()) if suffix == ".jsonl" else json.load(fh)
            yield from (r.get(col) if isinstance(r, dict) else None for r in ([] if isinstance(rows, dict) else rows))

    try:
        check_label_types(cells(), f"column {col!r}", p)
    except InputError:  # a ValueError too: the refusal itself
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):  # unreadable: the reader's own error names the line
        return


def columns_hint(p: Path) -> str:
    """" (its columns: text, group)" from a CSV/TSV header line, for a "pass --text-col" error (a
    user of `index` on train-similarity's own file expected `text` to be read as it is there)."""
    delimiter = {".csv": ",", ".tsv": "\t"}.get(Path(p).suffix.lower())
    if delimiter is None:
        return ""
    try:
        with open(p, encoding="utf-8-sig", newline="") as fh:
            first = fh.readline(10_000)
    except (OSError, UnicodeDecodeError):
        return ""
    cols = [c.strip() for c in next(csv.reader([first], delimiter=delimiter), []) if c.strip()]
    return f" (its columns: {name_list(cols)})" if cols else ""
