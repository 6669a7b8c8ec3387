"""The one exception type the CLI turns into a one-line message and exit code 2.

Raise `InputError` for anything the *user* can fix (a missing file, a bad column,
NaN in their vectors, a model and index that do not match). Bugs stay ordinary
exceptions so they keep their traceback.
"""
from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input: the message names the problem and, where known, the file."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        self.problem = message  # without the path, to name another file (artifacts' temp -> final)
        super().__init__(f"{self.path}: {message}" if self.path else message)
