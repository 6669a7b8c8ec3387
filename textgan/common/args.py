"""Checks of the plain arguments of the Python API (counts, seeds, numbers, paths).

The CLI's click types already refuse `--n abc`; a caller of `textgan.generate(gan, "3")` or
`similarity.load(None)` got a TypeError from deep inside numpy or pathlib instead. Each check
returns the value in its canonical type or raises `InputError` naming the argument.
"""
from __future__ import annotations

import math
import os
from numbers import Integral, Real
from pathlib import Path

from textgan.common.errors import InputError

# torch's CPU generator (mt19937) and numpy keep 32 bits of a seed: 2**32 sampled what 0 did
MAX_SEED = 2**32 - 1


MAX_COUNT = 10**9  # steps, epochs, samples: a billion steps is years on a CPU (10**20 ran until killed)


def whole(value, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer (not a bool, not 2.5 or "3") at least `minimum` (and at most `maximum`)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise InputError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be at most {maximum:,}, got {value:,}")
    return int(value)


def flag(value, name: str) -> bool:
    """True or False (a numpy bool too); "no", 0 or None are refused: `progress="no"` showed bars."""
    if type(value).__name__ == "bool_" or isinstance(value, bool):
        return bool(value)
    raise InputError(f"{name} must be True or False, got {value!r:.40}")


def seed(value, name: str = "seed") -> int | None:
    """A sampling seed: None (fresh) or an integer in [0, 2**32 - 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value <= MAX_SEED:
        raise InputError(f"{name} must be a whole number in [0, 2**32 - 1] (or None), got {value!r}")
    return int(value)


def number(value, name: str, low: float | None = None, high: float | None = None) -> float:
    """A finite real number (not a bool or a string) within [low, high] where given."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value) \
        and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        span = "" if low is None and high is None else \
            f" in [{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise InputError(f"{name} must be a finite number{span}, got {value!r}")
    return float(value)


def path(value, what: str) -> Path:
    """A str or os.PathLike naming a file or folder (not None, a number or an empty string)."""
    if isinstance(value, (str, os.PathLike)) and str(os.fspath(value)).strip():
        return Path(value)
    raise InputError(f"{what} must be a path (str or pathlib.Path), got {value!r}")


def finite(value) -> bool:
    """math.isfinite, and False for an int too large for a float (10**400 raised OverflowError)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def plain_fields(config) -> None:
    """Replace the numpy scalars among a frozen dataclass' fields by Python ones (np.int64(5) -> 5):
    a value read from a pandas cell or numpy array is what the caller meant, and JSON cannot save it."""
    import dataclasses

    import numpy as np

    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if isinstance(v, np.generic):
            object.__setattr__(config, f.name, v.item())
