"""Checks of a model folder's own records that its digests cannot cover or do not bound:
`similarity_config.json` holds the digests, so its `train_config` is checked field by field, and
the saved vectors (head prototypes, held-out vectors) must be what an encoder writes (unit rows)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from textgan.common.errors import InputError


def unit_rows(w: np.ndarray) -> bool:
    """Every row finite and of unit length (encoder outputs and head prototypes are saved normalised)."""
    n = np.linalg.norm(np.asarray(w, np.float64), axis=1)
    return bool(np.isfinite(n).all() and (np.abs(n - 1) < 1e-3).all())


def check_train_config(info: dict, where: Path) -> None:
    """The fields of `train_config` that commands read (the energy-head's scale, the teacher to
    compare with, the lexical part's size): similarity_config.json holds the digests, so no digest
    covers it, and a hand edit gave tracebacks or scores that were all alike (scale 0)."""
    tc = info.get("train_config")
    if tc is None:
        return
    if not isinstance(tc, dict):
        raise InputError(f"'train_config' must be an object, got {type(tc).__name__}", where)
    scale, teacher = tc.get("scale"), tc.get("teacher")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))
                              or not np.isfinite(scale) or scale <= 0):
        raise InputError(f"'train_config.scale' must be a number > 0, got {scale!r:.40}", where)
    if teacher is not None and not isinstance(teacher, str):
        raise InputError(f"'train_config.teacher' must be a name or path, got {teacher!r:.40}", where)
    dim, weight = tc.get("lexical_dim"), tc.get("lexical_weight")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 0):
        raise InputError(f"'train_config.lexical_dim' must be a whole number >= 0, got {dim!r:.40}", where)
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))
                               or not 0 <= weight <= 1):
        raise InputError(f"'train_config.lexical_weight' must be a number in [0, 1], got {weight!r:.40}", where)
