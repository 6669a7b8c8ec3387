"""Run folders: the lock a run holds while it writes into its folder, and the checks made before.

A run writes its folder file by file (metrics, checkpoints, the model last), so unlike an
artefact it cannot be renamed into place; the lock keeps two runs from mixing their files, and
a run that fails before its first checkpoint leaves its new folder as it found it.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from textgan.common.errors import InputError


def is_nonempty_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and any(p.iterdir())


def check_writable(path: str | Path) -> Path:
    """Refuse an output path whose nearest existing ancestor is a file or a folder this user
    cannot write: one clear line up front instead of an OS error at the first save."""
    path = Path(path)
    for parent in [path.absolute(), *path.absolute().parents]:
        if parent.exists():
            if not parent.is_dir():
                raise InputError("not a folder (cannot write below it)", parent)
            if not os.access(parent, os.W_OK | os.X_OK):
                raise InputError("folder is not writable", parent)
            break
    return path


def writable(path: str | Path) -> bool:
    """`check_writable` as a yes/no: may a library cache below `path` be written (a read-only HOME)?"""
    try:
        check_writable(path)
    except InputError:
        return False
    return True


@contextlib.contextmanager
def run_lock(out: str | Path) -> Iterator[None]:
    """Hold an exclusive lock for the run writing into `out` (released even on kill -9).

    The lock file `.<name>.lock` sits beside the folder, so the folder itself stays clean.
    A second run into the same folder is refused instead of mixing two runs' files.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():  # the API's callers too (the CLI checks before any work)
        raise InputError("output folder is a file", out)
    check_writable(out)
    try:  # one lock per folder however it is spelled: runs/x, ./runs/../runs/x, a symlink to it
        real = out.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
        raise InputError("cannot resolve the output path (symlink loop?)", out) from None
    real.parent.mkdir(parents=True, exist_ok=True)
    fresh, existed = not is_nonempty_dir(real), real.exists()  # a failed run's leftovers in a new folder go
    with _exclusive(real, out, "folder"):
        try:
            yield
        except BaseException:
            if fresh:
                _drop_failed_run(real, remove=not existed)
            raise


@contextlib.contextmanager
def output_lock(out: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on an output file while a command writes it (for a stem, the first
    of its files): each file is renamed into place whole, but two runs writing one OUT.npy +
    OUT.jsonl pair could leave one run's vectors beside the other's sentences."""
    out = Path(out)
    check_writable(out.parent)  # the file itself may exist: a rerun replaces it
    try:
        real = out.parent.resolve() / out.name
    except (OSError, RuntimeError):
        raise InputError("cannot resolve the output path (symlink loop?)", out) from None
    real.parent.mkdir(parents=True, exist_ok=True)  # as the atomic writes that follow would
    with _exclusive(real, out, "file"):
        yield


def maybe_locked(out: str | Path | None):
    """`output_lock(out)`, or nothing when there is no output file (the command only prints)."""
    return contextlib.nullcontext() if out is None or out == "" else output_lock(out)


@contextlib.contextmanager
def _exclusive(real: Path, out: Path, what: str) -> Iterator[None]:
    """The lock `.<name>.lock` beside `real` (released even on kill -9), or an InputError at once."""
    import fcntl

    lock = real.with_name(f".{real.name}.lock")
    try:
        fh = open(lock, "a+")  # noqa: SIM115  (held for the whole run)
    except OSError as exc:  # /proc, a read-only mount: the output is the path to name, not the lock
        raise InputError(f"cannot write there ({exc.strerror or exc})", out) from None
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # the holder unlinks the file when done: a lock taken on an unlinked file locks nothing
            if os.fstat(fh.fileno()).st_ino != os.stat(lock).st_ino:
                raise BlockingIOError
        except (BlockingIOError, FileNotFoundError):
            raise InputError(f"another run is writing to this {what} (locked); wait for it or choose "
                             "another --out", out) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()  # while still held: a racing run fails to lock, it never waits
    finally:
        fh.close()


def _drop_failed_run(out: Path, remove: bool) -> None:
    """Empty the folder of a run that failed before its first checkpoint (a full disk at the
    first write, bad input met mid-run): its config.json and metrics.jsonl alone made a rerun
    refuse the folder as not empty, and there was nothing to --resume. A checkpoint stays."""
    if not out.is_dir() or out.is_symlink() or (out / "checkpoint").exists():
        return
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                child.unlink()
    if remove:
        with contextlib.suppress(OSError):
            out.rmdir()
