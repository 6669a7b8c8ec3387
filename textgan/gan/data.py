"""Load training vectors from .npy, .safetensors or a `datasets` folder/file with a vector column."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from textgan.common.errors import InputError


def _from_datasets(path: Path, column: str | None) -> np.ndarray:
    import datasets

    from textgan.common.saved_dataset import load_saved, saved_folder
    from textgan.common.tables import check_json_depth, dataset_error, datasets_quietly

    saved = saved_folder(str(path))
    if path.is_dir() and saved is None:
        what = " (it holds a config.json: a model folder?)" if (path / "config.json").exists() else ""
        raise InputError(f"a folder that `Dataset.save_to_disk` did not write{what}: give a .npy or .safetensors "
                         "file of vectors (e.g. from `textgan encode`), or a datasets folder", path)
    try:
        with datasets_quietly():
            if saved is not None:  # the train split of a DatasetDict (FOLDER:SPLIT for another)
                ds = load_saved(*saved, path)
            else:
                kind = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".arrow": "arrow"}
                if path.suffix not in kind:
                    raise InputError(f"unsupported vector file type {path.suffix!r}; use .npy, .safetensors, "
                                     f".parquet, .jsonl, .arrow or a datasets folder", path)
                check_json_depth(path)  # Arrow's JSON reader crashed the process on deep nesting
                ds = datasets.load_dataset(kind[path.suffix], data_files=str(path), split="train")
    except Exception as exc:  # datasets raises many types for unreadable files
        raise dataset_error(exc, path) from None
    if column is None:
        cands = [c for c, f in ds.features.items() if isinstance(f, (datasets.Sequence, datasets.List))
                 or getattr(f, "_type", "") in ("Array2D", "LargeList")] if hasattr(datasets, "List") else []
        if len(cands) != 1:
            raise InputError(f"pass --vector-col; columns: {', '.join(ds.column_names)}", path)
        column = cands[0]
    if column not in ds.column_names:
        raise InputError(f"no column {column!r}; columns: {', '.join(ds.column_names)}", path)
    feature = ds.features[column]
    while hasattr(feature, "feature"):  # Sequence / List / LargeList of values
        feature = feature.feature
    kind = str(getattr(feature, "dtype", ""))
    if kind == "bool" or "string" in kind:  # numpy read True as 1.0 and "1" as 1.0 without a word
        raise InputError(f"column {column!r} holds {kind} values, expected numbers", path)
    if path.suffix in (".json", ".jsonl"):
        _check_json_numbers(path, column)
    try:
        return np.asarray(ds.with_format("numpy")[column], dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise InputError(f"column {column!r} is not a fixed-length float vector ({exc})", path) from None


def _check_json_numbers(path: Path, column: str) -> None:
    """Arrow casts a JSON `true` among numbers to 1.0: every cell of the vectors must be a number."""
    import json

    def rows():
        with open(path, encoding="utf-8-sig") as fh:
            if path.suffix == ".jsonl":
                yield from (json.loads(line) for line in fh if line.strip())
            else:
                data = json.load(fh)
                yield from (data if isinstance(data, list) else [])

    try:
        for i, row in enumerate(rows(), 1):
            cell = row.get(column) if isinstance(row, dict) else None
            bad = next((v for v in (cell if isinstance(cell, list) else []) if isinstance(v, (bool, str))), None)
            if bad is not None:
                raise InputError(f"row {i}: column {column!r} holds {type(bad).__name__} {bad!r}, expected numbers",
                                 path)
    except InputError:  # a ValueError too: the refusal itself
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):  # unreadable: datasets already named its line
        return


MAX_ABS = 1e6  # the largest magnitude of a training value (images are 0-255, sentence vectors unit)


def load_vectors(path: str | Path, key: str | None = None, column: str | None = None) -> torch.Tensor:
    """Args: path: .npy, .safetensors (tensor `key`, or the only one) or datasets folder/file;
    column: vector column for datasets. Returns a float32 tensor (N, D) or (N, C, H, W)."""
    from textgan.common.saved_dataset import saved_folder

    path = Path(path)
    if not path.exists() and saved_folder(str(path)) is None:  # FOLDER:SPLIT of a saved DatasetDict
        raise InputError("missing file", path)
    if path.suffix == ".npy" and (key is not None or column is not None):  # they would be ignored
        raise InputError("--key names a .safetensors tensor and --vector-col a dataset column: a .npy "
                         "file holds one array, drop them", path)
    if path.suffix == ".npy":
        from textgan.common.artifacts import load_npy

        arr = load_npy(path)
    elif path.suffix == ".safetensors":
        from textgan.common.artifacts import load_tensors

        tensors = load_tensors(path)
        if key is None and len(tensors) != 1:
            raise InputError(f"pass --key; tensors: {', '.join(sorted(tensors))}", path)
        name = key if key is not None else next(iter(tensors))
        if name not in tensors:
            raise InputError(f"no tensor {name!r}; tensors: {', '.join(sorted(tensors))}", path)
        arr = tensors[name].float().numpy()
    else:
        arr = _from_datasets(path, column)
    if arr.dtype.kind not in "fiu" or arr.ndim not in (2, 4):
        raise InputError(f"expected a numeric array (N, D) or (N, C, H, W), got {arr.dtype} {arr.shape}", path)
    if arr.shape[0] == 0:
        raise InputError("no rows", path)
    from textgan.common.vectors import check_finite_rows

    check_finite_rows(arr, "training vectors", path)
    rows = arr.reshape(len(arr), -1)
    # float(): a float16 array's max compared with 1e6 would cast 1e6 to float16 (an overflow warning)
    if rows.size and float(np.abs(rows).max()) > MAX_ABS:  # float32 squares and moments overflow past this
        raise InputError(f"values up to {float(np.abs(rows).max()):.3g}: training overflows float32 beyond "
                         f"{MAX_ABS:g}; standardise the vectors first", path)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
