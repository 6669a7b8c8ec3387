"""Reading tables with `datasets`, quietly: its progress bars, warnings and logger lines silenced,
and a file it cannot parse turned into one InputError that carries the parser's own cause.

`datasets` wraps the cause ("Expected 2 fields in line 3, saw 4") in a DatasetGenerationError
("An error occurred while generating the dataset") and logs it on a line of its own; the cause
belongs in the one `error:` line.
"""
from __future__ import annotations

import contextlib
import warnings

from textgan.common.errors import InputError


@contextlib.contextmanager
def datasets_quietly(python_warnings: bool = True):
    """Silence `datasets`' progress bars, its logger's "Failed to read file" line (the cause
    belongs in the one `error:` line, see `dataset_error`) and, unless told not to (a
    generator that yields inside this block must not hold the warnings filters), its warnings."""
    import datasets

    datasets.disable_progress_bars()
    level = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL + 10)
    try:
        with warnings.catch_warnings() if python_warnings else contextlib.nullcontext():
            if python_warnings:
                warnings.simplefilter("ignore")
            yield
    finally:
        datasets.logging.set_verbosity(level)


def dataset_error(exc: BaseException, p) -> InputError:
    """The InputError for a file `datasets` could not read, with the cause that `datasets` wraps
    ("DatasetGenerationError: An error occurred") spelled out: the parser's line and fields."""
    if isinstance(exc, InputError):
        return exc
    root, seen = exc, {id(exc)}
    while (nxt := root.__cause__) is not None and id(nxt) not in seen:  # `raise ... from cause` only
        seen.add(id(nxt))
        root = nxt
    if any("corresponds to no data" in str(e) for e in (exc, root)):  # a header without rows
        return InputError("empty dataset", p)
    msg = " ".join(str(root).split()) or root.__class__.__name__
    return InputError(f"cannot read dataset ({root.__class__.__name__}: {msg[:300]})", p)
