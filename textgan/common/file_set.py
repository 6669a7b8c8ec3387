"""Files that only make sense together (a vectors file and its decode), published as a set.

Each is written whole into a temp file beside it; then all are renamed over their names in one run
of `os.replace`, with SIGINT and SIGTERM held back until the last one: Ctrl-C or a scheduler's
SIGTERM leaves the earlier set or the new one, never a new vectors file beside an old decode
(sweep 32 caught that between two renames of `generate-embeddings`). kill -9 cannot be held back;
it can still land in the microseconds between two renames. A killed writer's temp files carry its
host and pid, and the next writer of the same names removes them (`clean_stale_temps`).
"""
from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from textgan.common.artifacts import _share, _writer_tag, clean_stale_temps
from textgan.common.paths import check_replaceable, name_failed_save


@contextlib.contextmanager
def atomic_files(*dests: str | Path) -> Iterator[list[Path]]:
    """Yield one temp path per destination; on success, rename them all over their destinations."""
    dests = [check_replaceable(d) for d in dests]
    tmps: list[Path] = []
    try:
        for d in dests:
            d.parent.mkdir(parents=True, exist_ok=True)
            clean_stale_temps(d)  # a kill -9 of an earlier writer left ~200 MB temps that nothing removed
            fd, t = tempfile.mkstemp(prefix=f".{d.name}.tmp-{_writer_tag()}-", suffix=d.suffix, dir=d.parent)
            os.close(fd)
            tmps.append(Path(t))
        yield tmps
        for t, d in zip(tmps, dests):
            _share(t)
            check_replaceable(d)  # again: the path may have become a link while we wrote
        with _signals_held():
            for t, d in zip(tmps, dests):
                os.replace(t, d)
    except BaseException as exc:
        for t in tmps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(t)
        which = next((i for i, t in enumerate(tmps) if getattr(exc, "filename", None) == str(t)), 0)
        err = name_failed_save(exc, tmps[which] if tmps else dests[which], dests[which])
        if err is exc:
            raise
        raise err from None


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT / SIGTERM wait until the block ends (then they act as usual); only the main thread
    can hold them, elsewhere the block runs as it is."""
    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
