"""Publishing a rebuilt folder as one step, and reading a folder that may be republished meanwhile.

A rebuilt artefact folder (an index) is written into a temp sibling, then swapped in:

  * `swap_in(tmp, dest, aside)`: Linux's renameat2(RENAME_EXCHANGE) exchanges the two names in one
    step, so `dest` is never missing and always a whole build; where the kernel, libc or file
    system lacks it (another OS, some network file systems) two renames are used, and `dest` is
    missing for the instant between them (readers retry, below).
  * `read_published(folder, marker, load)`: a reader opens files one by one, so a swap between
    two of its opens would hand it files of two builds. It fingerprints the folder's marker
    file (meta.json: written last, it holds the sha256 of every other file and a build id unique
    to each build) before and after loading; if the marker changed, or the load failed while it
    changed, it loads again. The build id makes equal fingerprints mean the same build: two
    builds of one corpus would otherwise have equal marker files, and a reader that saw build
    A, then B's files, then A's rebuild could not tell.

What a reader keeps open after loading (the on-disk index's texts and vector shards) is pinned
by open file descriptors, never reopened by name (textgan.index.ondisk_read).
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import time
from pathlib import Path
from typing import Callable, TypeVar

from textgan.common.errors import InputError

T = TypeVar("T")
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_NOT_SUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}
READ_TRIES = 50  # loads of a folder republished meanwhile before giving up (each build takes far longer)


def _renameat2():
    """libc's renameat2 (glibc >= 2.28), or None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _renameat2()


def exchange(a: str | Path, b: str | Path) -> bool:
    """Swap the names `a` and `b` (both must exist) in one step; False where that is not supported
    (nothing was changed then), an OSError for any other failure."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _NOT_SUPPORTED:
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_in(tmp: Path, dest: Path, aside: Path) -> Path | None:
    """Put the finished folder `tmp` at `dest`. Returns where the old `dest` now lies (to be
    removed by the caller), or None when there was none. `aside` is the name the two-rename
    fallback moves the old folder to."""
    if not os.path.lexists(dest):
        os.replace(tmp, dest)
        return None
    if exchange(tmp, dest):
        return tmp
    os.replace(dest, aside)  # the fallback: `dest` is missing until the next line
    os.replace(tmp, dest)
    return aside


def discard(p: Path | None) -> None:
    """Remove a folder moved aside (or a link that stood where a folder goes); None: nothing."""
    import shutil

    if p is None:
        return
    if p.is_symlink() or not p.is_dir():
        with contextlib.suppress(OSError):
            p.unlink()
    else:
        shutil.rmtree(p, ignore_errors=True)


def _fingerprint(marker: Path) -> str | None:
    try:
        if not marker.is_file():  # a FIFO put there would block the read forever; the loader names it
            return None
        return hashlib.sha256(marker.read_bytes()).hexdigest()
    except OSError:
        return None


def read_published(folder: Path, marker: str, load: Callable[[], T]) -> T:
    """load() of a folder whose `marker` file changes with every publication, retried until one
    load saw a single build from start to end (see the module docstring).

    A failure while the folder stayed the same is the folder's own (a tampered file, a missing
    folder) and is raised; after READ_TRIES republications during loads, one line says so."""
    f = Path(folder) / marker
    for attempt in range(READ_TRIES):
        before = _fingerprint(f)
        try:
            out = load()
        except (InputError, OSError):
            if _fingerprint(f) == before:
                # unchanged: the folder's own failure, unless it is missing between the fallback's renames
                if before is not None or attempt >= 5 or not _moved_aside(folder):
                    raise
                time.sleep(0.002)
            continue
        if before is not None and _fingerprint(f) == before:
            return out
    raise InputError(f"the folder was republished {READ_TRIES} times while it was read (is something rebuilding "
                     "it in a loop?); try again", folder)


def _moved_aside(folder: Path) -> bool:
    """A writer's folder moved aside beside `folder` (the two-rename fallback's brief gap)."""
    folder = Path(folder)
    with contextlib.suppress(OSError):
        prefix = f".{folder.name}.old-"
        return any(p.name.startswith(prefix) for p in folder.parent.iterdir())
    return False
