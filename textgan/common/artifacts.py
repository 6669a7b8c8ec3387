"""Atomic, pickle-free artefacts: JSON configs, safetensors weights, checksums, locks.

Every artefact folder is written into a temporary sibling and renamed into place,
so an interrupted or failed save never leaves a half-written model behind.
Nothing here ever unpickles a user file. Files get the usual permissions (0644 files,
0755 folders under the common umask 022), not the private ones `tempfile` starts with,
so a saved model can be shared with other users.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from textgan.common.digests import (  # noqa: F401 (API)
    check_self_digest, file_sha256, folder_digests, listed_files, sealed, verify_digests)
from textgan.common.errors import InputError
from textgan.common.paths import (check_folder_replaceable, check_inputs_outside, check_named, check_replaceable,
                                  name_failed_save)
from textgan.common.publish import discard, swap_in
from textgan.common.runlock import (check_writable, is_nonempty_dir, maybe_locked, output_lock,  # noqa: F401 (API)
                                    run_lock)


def _umask() -> int:
    old = os.umask(0o022)  # os.umask can only be read by setting it
    os.umask(old)
    return old


_UMASK = _umask()
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK


def _share(path: Path) -> None:
    """Give a temp file/folder (0600/0700 from tempfile) the normal permissions."""
    with contextlib.suppress(OSError):
        os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)


def _writer_tag() -> str:
    """host-pid of this process, in the names of its temp folders: a later run can tell a dead
    writer's leftovers (kill -9) from a live writer's work, even on a shared file system."""
    import socket

    return f"{socket.gethostname().replace('/', '_')}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def clean_stale_temps(dest: str | Path, any_name: bool = False) -> list[Path]:
    """Remove `.<name>.tmp-HOST-PID-*` / `.<name>.old-HOST-PID` beside `dest` left by a writer on
    this host whose process is gone (provably stale); returns what was removed. Temp folders of
    live processes, of other hosts, or without a pid (older versions) are left alone.
    any_name: those of every name in the folder `dest` (a folder written file by file)."""
    import re
    import socket

    dest = Path(dest)
    host = socket.gethostname().replace("/", "_")
    name = ".+" if any_name else re.escape(dest.name)
    pat = re.compile(rf"^\.{name}\.(?:tmp|old)-{re.escape(host)}-(\d+)(?:-|$)")
    removed = []
    with contextlib.suppress(OSError):
        for p in (dest if any_name else dest.parent).iterdir():
            m = pat.match(p.name)
            if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        p.unlink()
                removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_dir(dest: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temp folder beside `dest`; on success it replaces `dest` in one rename. Temp
    folders that a killed writer left for `dest` are removed first (clean_stale_temps); a failed
    write (full disk, ...) names the file inside `dest`, not the temp folder."""
    dest = check_folder_replaceable(dest)
    tmp = dest.with_name(f".{dest.name}.tmp-")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(dest)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-{_writer_tag()}-", dir=dest.parent))
    except OSError as exc:
        name_failed_save(exc, Path(exc.filename or tmp), dest)
        raise
    try:
        yield tmp
        _share(tmp)
        check_folder_replaceable(dest)  # again: something else may have appeared there meanwhile
        if dest.exists() and not overwrite:
            raise InputError("already exists (pass overwrite)", dest)
        # one step where the OS allows (textgan.common.publish): `dest` is never missing or mixed
        discard(swap_in(tmp, dest, dest.with_name(f".{dest.name}.old-{_writer_tag()}")))
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        err = name_failed_save(exc, tmp, dest)
        if err is exc:
            raise
        raise err from None


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temp *path* (for libraries that write by filename, e.g. faiss, numpy).

    A failed write (full disk, ...) names `dest` and the problem."""
    dest = check_replaceable(dest)
    tmp = dest.with_name(f".{dest.name}.tmp-")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # host-pid in the name: a killed writer's temp file is provably stale (clean_stale_temps)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.tmp-{_writer_tag()}-", suffix=dest.suffix, dir=dest.parent)
        os.close(fd)
    except OSError as exc:  # the temp name mkstemp tried is the one the error names: say `dest`
        name_failed_save(exc, Path(exc.filename or tmp), dest)
        raise
    try:
        yield Path(tmp)
        _share(Path(tmp))
        check_replaceable(dest)  # again: the path may have become a link while we wrote
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        err = name_failed_save(exc, Path(tmp), dest)
        if err is exc:
            raise
        raise err from None


@contextlib.contextmanager
def atomic_file(dest: str | Path, mode: str = "w") -> Iterator[Any]:
    """Open a temp file beside `dest` for writing; rename it over `dest` on success."""
    with atomic_path(dest) as tmp:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh


def save_json(obj: Any, path: str | Path) -> None:
    with atomic_file(path) as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False, sort_keys=False)
        fh.write("\n")


def save_jsonl(rows, path: str | Path) -> None:
    """One JSON object a line, written atomically."""
    with atomic_file(path) as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def save_npy(path: str | Path, array) -> Path:
    """An array as a .npy file, written atomically and without pickle (object arrays are refused)."""
    import numpy as np

    path = Path(path)
    # a file handle: given a file name, np.save would append ".npy" to the temp name
    with atomic_file(path, "wb") as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)
    return path


def load_npy(path: str | Path, what: str = ".npy file", mmap: bool = False):
    """One array of a .npy file, never unpickled; unreadable bytes and an .npz archive saved
    under a .npy name (np.load returns an archive of arrays: no .shape) are InputErrors."""
    import zipfile

    import numpy as np

    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
        if head and not head.startswith((b"\x93NUMPY", b"PK")):  # numpy then tries pickle, and says so
            raise InputError(f"not a {what}: it lacks the .npy header (text, or another format, under a .npy name)",
                             path)
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        msg = str(exc).splitlines()[0][:160] if str(exc) else exc.__class__.__name__
        if "pickle" in msg:  # an object array: numpy's advice is to unpickle it, which textgan never does
            msg = "it holds Python objects, which textgan never unpickles; save numbers (a float array)"
        raise InputError(f"corrupt {what} ({msg})", path) from None
    if not isinstance(arr, np.ndarray):
        with contextlib.suppress(Exception):
            arr.close()
        raise InputError(f"corrupt {what}: an .npz archive of arrays, not one .npy array", path)
    return arr


def load_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError("not a regular file" if path.exists() else "missing file", path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: also a 5,000-digit integer
        raise InputError(f"corrupt JSON ({exc.__class__.__name__}: {str(exc)[:200]})", path) from None


def save_tensors(tensors: dict, path: str | Path, metadata: dict[str, str] | None = None,
                 check_finite: bool = True) -> None:
    """Write a dict of torch tensors as safetensors, atomically; NaN/inf floats are refused."""
    from safetensors.torch import save_file

    clean = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    if check_finite:
        bad = non_finite_tensors(clean)
        if bad:
            raise InputError(f"refusing to save non-finite weights (NaN or inf in {', '.join(bad[:5])})", path)
    with atomic_path(path) as tmp:
        save_file(clean, str(tmp), metadata=metadata)


def non_finite_tensors(tensors: dict) -> list[str]:
    """Names of floating-point tensors holding NaN or inf."""
    import torch

    return [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def load_tensors(path: str | Path, check_finite: bool = True, floats: bool = False) -> dict:
    """Read safetensors into torch tensors; a truncated, foreign or NaN-holding file is an InputError.
    bfloat16 tensors come back as float32 (numpy has no bfloat16: `.numpy()` raised TypeError).
    `floats`: weights and vectors, where an integer or bool tensor is refused (loaded into a
    float model it silently became zeros: every sentence encoded to the zero vector)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise InputError("missing file", path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(f"corrupt safetensors file ({msg})", path) from None
    if floats and (odd := [f"{k} ({str(v.dtype).replace('torch.', '')})" for k, v in tensors.items()
                           if not v.is_floating_point()]):
        raise InputError(f"expected floating-point tensors, got {', '.join(odd[:3])}", path)
    tensors = {k: v.float() if v.dtype == torch_bfloat16() else v for k, v in tensors.items()}
    if check_finite:
        bad = non_finite_tensors(tensors)
        if bad:
            raise InputError(f"tensors contain NaN or inf ({', '.join(bad[:5])})", path)
    return tensors


def torch_bfloat16():
    import torch

    return torch.bfloat16


# --- library versions ------------------------------------------------------------------------

_VERSIONED = ("textgan", "torch", "transformers", "sentence-transformers", "faiss-cpu", "numpy")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries an artefact depends on (recorded in every config)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# --- output folders, locks and output paths ------------------------------------------------

def check_new_out_dir(out: str | Path, resume: bool = False, hint: str = "pass --resume to continue, "
                      "or choose a new --out", inputs: Iterable[str | Path | None] = ()) -> Path:
    """An output folder must be new or empty unless resuming; a file there is refused, and so is a
    folder that is or holds one of the `inputs` (check_inputs_outside)."""
    out = check_inputs_outside(out, inputs)  # which also refuses "" and "-" (check_named)
    try:
        out.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
        raise InputError("cannot resolve the output path (symlink loop?)", out) from None
    if out.exists() and not out.is_dir():
        raise InputError("output folder is a file", out)
    check_outside_artefacts(out)
    if not resume and is_nonempty_dir(out):
        raise InputError(f"output folder is not empty ({hint})", out)
    return check_writable(out)  # below a file: one line before any work, in every command alike


def check_replaced_folder(path: str | Path, file_problem: str = "output folder is a file") -> Path:
    """An output folder built aside and renamed over `path` (an index, a demo run): a file there is
    refused, and so is a symbolic link (the rename would replace the link, not fill its target)."""
    check_named(path, "a folder path")
    path = Path(path)
    if path.is_symlink():
        raise InputError("output folder is a symbolic link (the new folder would replace the link): pass the "
                         "folder it points to", path)
    if path.exists() and not path.is_dir():
        raise InputError(file_problem, path)
    return path


def _artefact_folder(p: Path) -> Path | None:
    """The textgan model/index folder that `p` lies in (p itself included), if any."""
    for parent in [p, *p.parents]:
        if parent.is_dir() and (parent / "similarity_config.json").is_file():
            return parent
        if parent.is_dir() and (parent / "digests.json").is_file():  # a run's checkpoint/: --resume checks it
            return parent
        for marker in ("config.json", "meta.json"):
            f = parent / marker
            if parent.is_dir() and f.is_file():
                try:
                    info = json.loads(f.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, ValueError, RecursionError):
                    continue
                if isinstance(info, dict) and str(info.get("format", "")).startswith("textgan"):
                    return parent
    return None


def resolved(path: str | Path) -> Path:
    """Path.resolve(), a symbolic link loop being one InputError naming the path."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
        raise InputError("cannot resolve the path (a symbolic link loop?)", path) from None


def check_outside_artefacts(out: str | Path, what: str = "output folder", itself: bool = False) -> None:
    """Refuse an output folder inside a saved model/index folder: a new file there breaks the
    host's digests, so the host would no longer load. `itself`: a folder written into, not
    replaced (a cache, a shard folder), may not be such a folder either."""
    real = resolved(out)
    owner = _artefact_folder(real if itself else real.parent)
    if owner is not None:
        raise InputError(f"{what} lies inside the saved model/index folder {owner}; choose another path", out)


def check_output_file(out: str | Path, inputs: Iterable[str | Path | None] = (), option: str = "--out") -> Path:
    """Refuse an output file that would destroy an input or a saved model/index.

    Args:
        out: the output file path.
        inputs: files and folders the command reads; `out` may equal none of them and may
            not lie inside any of these folders.
        option: the flag name, for the message.
    """
    check_named(out, "a file path", option)
    out = Path(out)
    try:
        res = out.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loop
        raise InputError(f"{option}: cannot resolve the path ({exc})", out) from None
    if res.is_dir():
        raise InputError(f"{option} is a folder, expected a file path", out)
    check_replaceable(out, option)
    for inp in inputs:
        if inp is None:
            continue
        r = resolved(inp)
        if res == r:
            raise InputError(f"{option} is the input file itself; choose another path", out)
        if r.is_dir() and r in res.parents:
            raise InputError(f"{option} lies inside the input folder {inp}; choose another path", out)
    owner = _artefact_folder(res.parent)
    if owner is not None:
        raise InputError(f"{option} lies inside the saved model/index folder {owner}; choose another path", out)
    check_writable(out.parent)
    return out
