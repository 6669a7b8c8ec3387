"""FAISS's C++ exceptions read as one plain sentence.

FAISS raises RuntimeError("Error in <C++ signature> at <file>:<line>: Error: '<assertion>' failed: <why>"):
the signature, the source line and the assertion are for FAISS's developers; the user needs <why>.
"""
from __future__ import annotations

import re

_WHERE = re.compile(r"^Error in .*? at \S+:\d+:\s*")
_ASSERTION = re.compile(r"^Error:\s*'.*?' failed:?\s*")


def faiss_problem(exc: BaseException, limit: int = 160, line: int = 0) -> str:
    """The reason of a FAISS error: `line` picks a line of a multi-line message (-1 the last)."""
    lines = str(exc).strip().splitlines()
    text = lines[line] if lines else ""
    text = _ASSERTION.sub("", _WHERE.sub("", text.strip()))
    return (text or exc.__class__.__name__)[:limit]
