"""The folder of a trained in-domain scorer (outlier classifier, OpenGAN discriminator), saved and
read the one way: `config.json` (format, kind, config, dim, the scorer's own keys, library
versions, sha256 of every other file) + the network's safetensors + `held_out.safetensors`
(scores of in-domain rows the network never trained on: a threshold's calibration).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from textgan.common.artifacts import (atomic_dir, folder_digests, library_versions, listed_files, load_json,
                                      load_tensors, save_json, save_tensors, verify_digests)
from textgan.common.errors import InputError

CONFIG = "config.json"
HELD_OUT = "held_out.safetensors"


def save_scorer(out: str | Path, weights: str, state: dict, info: dict, held_out=None,
                held_out_rows=None) -> Path:
    """Write `state` as `weights`, the held-out scores (n,) (and their row ids) and `info` + versions
    + digests as config.json, atomically; returns the folder."""
    out = Path(out)
    with atomic_dir(out) as tmp:
        save_tensors(state, tmp / weights)
        if held_out is not None:
            held = {"score": torch.from_numpy(np.asarray(held_out, np.float32))}
            if held_out_rows is not None:
                held["rows"] = torch.from_numpy(np.asarray(held_out_rows, np.int64))
            save_tensors(held, tmp / HELD_OUT)
        save_json({**info, "versions": library_versions(), "files": folder_digests(tmp)}, tmp / CONFIG)
    return out


def read_scorer(path: str | Path, fmt: str, what: str) -> dict:
    """config.json of a scorer folder of format `fmt`, its digests verified (every file covered)."""
    path = Path(path)
    info = load_json(path / CONFIG)
    if not isinstance(info, dict) or info.get("format") != fmt:
        raise InputError(f"not {what} folder (config.json has no {fmt.split('/')[0]} format)", path)
    verify_digests(path, info.get("files"), path / CONFIG, cover=listed_files(path, skip=[CONFIG]))
    return info


def read_held_out(path: str | Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(held-out scores (n,) float64, their row ids (n,) or None), or (None, None) without the file."""
    f = Path(path) / HELD_OUT
    if not f.is_file():
        return None, None
    t = load_tensors(f)
    score, rows = t.get("score"), t.get("rows")
    if score is None or score.ndim != 1 or (rows is not None and rows.shape != score.shape):
        raise InputError("expected an (n,) 'score' tensor (and (n,) 'rows')", f)
    return score.numpy().astype(np.float64), None if rows is None else rows.numpy()
