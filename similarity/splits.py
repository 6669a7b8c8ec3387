"""JSON files of named splits, each a list of [sentence, label] pairs (CLINC150's data_full.json:
{"train": [["what is my balance", "balance"], ...], "val": ..., "oos_train": ...}).

`FILE.json:SPLIT` reads one split as columns `text` and `group` (the readers' defaults), so
`textgan train-similarity data_full.json:train --eval-data data_full.json:val` works as it is;
the file without a split is refused naming its splits.
"""
from __future__ import annotations

import json
from pathlib import Path

from textgan.common.errors import InputError
from textgan.common.texts import check_label_types, check_unicode

MAX_PEEK_BYTES = 512 * 2**20  # a splits file is read whole; larger JSON goes to `datasets` as usual


def split_of(path_s: str) -> tuple[Path, str] | None:
    """(file, split) for `FILE.json:SPLIT` when FILE.json exists and the name as a whole does not."""
    head, sep, split = path_s.rpartition(":")
    if sep and split and head.lower().endswith(".json") and Path(head).is_file() and not Path(path_s).exists():
        return Path(head), split
    return None


def read_splits(p: Path) -> dict[str, list] | None:
    """The file's {split: [[sentence, label], ...]} when it is a splits file, else None."""
    if p.suffix.lower() != ".json" or p.stat().st_size > MAX_PEEK_BYTES:
        return None
    with open(p, encoding="utf-8-sig") as fh:
        if fh.read(1024).lstrip()[:1] != "{":
            return None
        fh.seek(0)
        try:
            data = json.load(fh)
        except (ValueError, RecursionError):  # the reader refuses it (check_json_depth), naming the file
            return None
    if isinstance(data, dict) and {"columns", "data"} <= set(data) <= {"columns", "index", "data"}:
        raise InputError("a pandas to_json(orient='split') table, not splits of [sentence, label] pairs: write it "
                         "with orient='records' (or lines=True for JSON Lines) and name its columns", p)
    # one good split makes a splits file: an empty or odd one ("val": [], "meta": {...}) is refused
    # only when it is the split asked for (`split_table`), not for the whole file
    if isinstance(data, dict) and any(_pairs(v) for v in data.values()):
        return data
    return None


def _pairs(v) -> bool:
    return isinstance(v, list) and bool(v) and all(
        isinstance(r, list) and len(r) == 2 and all(isinstance(c, (str, int)) for c in r) for r in v)


def split_table(p: Path, split: str | None) -> dict[str, list]:
    """Columns {"text": [...], "group": [...]} of one split; a splits file without one is refused."""
    splits = read_splits(p)
    if splits is None:
        if split is not None:
            raise InputError(f"':{split}' picks a split of a JSON file of splits ({{\"train\": [[sentence, label], "
                             "...], ...}); this file is not one", p)
        return {}
    if split is None or split not in splits:
        names = ", ".join(splits)
        what = "holds" if split is None else f"has no split {split!r}; it holds"
        raise InputError(f"{what} the splits {names} of [sentence, label] pairs: pick one as "
                         f"{p}:{'train' if 'train' in splits else next(iter(splits))} (columns text and group)", p)
    rows = splits[split]
    if not _pairs(rows):
        bad = "empty" if rows in ([], {}, None, "") else "not a list of [sentence, label] pairs"
        raise InputError(f"split {split!r} is {bad}", p)
    check_label_types([r[1] for r in rows], f"split {split!r}: labels", p)
    for i, r in enumerate(rows):
        check_unicode(str(r[0]), f"split {split!r}: row {i + 1}", p)
        check_unicode(str(r[1]), f"split {split!r}: row {i + 1}: its label", p)
    return {"text": [str(r[0]) for r in rows], "group": [str(r[1]) for r in rows]}
