"""Folders written by `datasets`' `save_to_disk`: a Dataset (state.json, dataset_info.json, *.arrow)
or a DatasetDict (dataset_dict.json and one such folder per split).

They are read with `datasets.load_from_disk` (Arrow files and JSON only: nothing is unpickled),
given as `FOLDER`, `hf:FOLDER` or, for one split of a DatasetDict, `FOLDER:SPLIT` (the train split
when none is named). Before loading, every file name the folder's JSON lists is checked to stay
inside it: `datasets` joins those names to the folder, so a tampered state.json could read any file.
"""
from __future__ import annotations

import json
from pathlib import Path

from textgan.common.errors import InputError

DICT_FILE = "dataset_dict.json"
STATE_FILE = "state.json"
HUB_PREFIX = "hf:"


def is_saved(folder: Path) -> bool:
    """Whether `folder` was written by `save_to_disk` (a Dataset or a DatasetDict)."""
    return folder.is_dir() and ((folder / DICT_FILE).is_file() or (folder / STATE_FILE).is_file())


def saved_folder(path_s: str) -> tuple[Path, str | None] | None:
    """(folder, split or None) when `path_s` (with or without 'hf:') names a saved folder, else None."""
    if path_s.startswith(HUB_PREFIX):  # hf:FOLDER reads as FOLDER in every reader; hf:owner/name is the hub's
        return saved_folder(path_s.removeprefix(HUB_PREFIX))
    if is_saved(p := Path(path_s)):
        return p, None
    head, sep, split = path_s.rpartition(":")
    if sep and split and is_saved(Path(head)) and not p.exists():
        return Path(head), split
    return None


def _json(f: Path, where) -> dict:
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(f"{f.name} of a saved dataset cannot be read ({type(exc).__name__})", where) from None
    if not isinstance(data, dict):
        raise InputError(f"{f.name} of a saved dataset is not a JSON object", where)
    return data


def _inside(folder: Path, name, what: str, where) -> Path:
    """`folder / name` when `name` is a plain relative path that stays inside `folder`."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise InputError(f"{what} names {name!r}, outside the dataset folder: refused (a tampered file?)", where)
    target = folder / name
    if not target.resolve().is_relative_to(folder.resolve()):  # a symlink out of the folder
        raise InputError(f"{what} names {name!r}, which leads outside the dataset folder: refused", where)
    return target


def _check_dataset(folder: Path, where) -> None:
    state = _json(folder / STATE_FILE, where)
    files = state.get("_data_files")
    if not isinstance(files, list) or not files:
        raise InputError(f"{STATE_FILE} lists no data files", where)
    for entry in files:
        name = entry.get("filename") if isinstance(entry, dict) else None
        if not _inside(folder, name, STATE_FILE, where).is_file():
            raise InputError(f"{STATE_FILE} lists {name!r}, which is missing", where)


def split_folder(folder: Path, split: str | None, where) -> Path:
    """The folder of the Dataset to read: `folder` itself, or its split (train by default)."""
    if not (folder / DICT_FILE).is_file():
        if split is not None:
            raise InputError(f"':{split}' picks a split of a saved DatasetDict; this folder is one Dataset "
                             "(give the folder alone)", where)
        _check_dataset(folder, where)
        return folder
    splits = _json(folder / DICT_FILE, where).get("splits")
    if not isinstance(splits, list) or not splits or not all(isinstance(s, str) for s in splits):
        raise InputError(f"{DICT_FILE} lists no splits", where)
    if split is None and "train" not in splits:
        raise InputError(f"holds the splits {', '.join(splits)} and no train split: pick one as "
                         f"{folder}:{splits[0]}", where)
    split = split or "train"
    if split not in splits:
        raise InputError(f"has no split {split!r}; it holds the splits {', '.join(splits)}", where)
    sub = _inside(folder, split, DICT_FILE, where)
    if not is_saved(sub):
        raise InputError(f"split {split!r} is listed in {DICT_FILE} but its folder is missing or holds no "
                         f"{STATE_FILE}", where)
    _check_dataset(sub, where)
    return sub


def folder_digest(folder: Path, split: str | None, where) -> tuple[int, str]:
    """(bytes, sha256) of the files of the Dataset read (names and contents, in name order): what
    `encode` records of its corpus so that a rerun on another dataset does not resume."""
    import hashlib

    target = split_folder(folder, split, where)
    h, size = hashlib.sha256(), 0
    for f in sorted(p for p in target.iterdir() if p.is_file()):
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
                size += len(block)
    return size, h.hexdigest()


def load_saved(folder: Path, split: str | None, where):
    """The `datasets.Dataset` of a saved folder (one split of a DatasetDict); its problems are
    one InputError naming `where`."""
    import datasets

    from textgan.common.tables import dataset_error, datasets_quietly

    target = split_folder(folder, split, where)
    try:
        with datasets_quietly():
            ds = datasets.load_from_disk(str(target))
    except Exception as exc:  # a corrupt Arrow file or JSON datasets cannot read
        raise dataset_error(exc, where) from None
    if not isinstance(ds, datasets.Dataset):  # checked above; a DatasetDict here would be a race
        raise InputError("is not one Dataset", where)
    ds.reset_format()  # a format saved with some columns hides the others from ds[col] (set_format(columns=...))
    try:  # Arrow checks its bytes only when a cell is read: invalid UTF-8 would fail mid-run, as a traceback
        ds.data.table.validate(full=True)
    except Exception as exc:  # pyarrow.ArrowInvalid
        raise InputError(f"a corrupt Arrow file: {str(exc).splitlines()[0][:200]}", where) from None
    return ds
