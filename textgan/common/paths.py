"""What an output path may be, and how a failed write names it.

An output file replaces only a regular file or takes a new path: the atomic rename of
`textgan.common.artifacts` would otherwise turn a device (/dev/full), a pipe or a symlink into
a plain file. A folder output replaces only a folder. A failed save (a full disk) names the
file being written, never the temp name beside it, and says the problem in words.
"""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Iterable, Iterator

from textgan.common.errors import InputError


def os_problem(exc: OSError) -> str:
    """What an OSError says went wrong, in words ("No space left on device"), never a bare
    class name nor "[Errno None] None": some writers (numpy into a file handle, safetensors)
    raise one without errno or text, and naming its file then makes str(exc) that."""
    if exc.strerror:
        return exc.strerror
    if exc.errno:
        return os.strerror(exc.errno)
    said = " ".join(str(a) for a in exc.args if a is not None and str(a) != "None").strip()
    return f"write or read failed ({said}): is the disk full?" if said else "write or read failed (is the disk full?)"


# what writers that raise their own exception types (safetensors' SafetensorError, faiss'
# RuntimeError) say when the OS refused a write; those are not OSErrors, so cli.main printed a traceback
_IO_WORDS = (("No space left on device", "No space left on device"), ("os error 28", "No space left on device"),
             ("Disk quota exceeded", "Disk quota exceeded"), ("I/O error", "I/O error"),
             ("write error", "write error"))


def io_failure(exc: BaseException) -> str | None:
    """The OS problem a non-OSError write failure reports, or None when it is not one."""
    if isinstance(exc, (OSError, InputError)):
        return None
    text = str(exc)
    for needle, said in _IO_WORDS:
        if needle in text:
            return "No space left on device" if "No space left" in text or "os error 28" in text else said
    return None


def _rebase(path: str | None, tmp: Path, dest: Path) -> str | None:
    """A path inside the temp folder/file as the user will know it: inside `dest`."""
    if path is None:
        return None
    p = str(path)
    return str(dest) + p[len(str(tmp)):] if p == str(tmp) or p.startswith(str(tmp) + os.sep) else p


def name_failed_save(exc: BaseException, tmp: Path, dest: Path) -> BaseException:
    """Make a failed save (full disk, quota, I/O error) name the file being written, never the temp
    name, and say its problem in words. An OSError stays an OSError (callers that degrade on
    one, e.g. an optional cache, still catch it; `cli.main` prints it as one `error:` line)."""
    if isinstance(exc, OSError):
        f = _rebase(None if exc.filename is None else str(exc.filename), tmp, dest)
        exc.filename = str(dest) if f is None else f
        exc.strerror = os_problem(exc)
    elif isinstance(exc, InputError) and exc.path is not None and _rebase(exc.path, tmp, dest) != exc.path:
        return InputError(getattr(exc, "problem", str(exc)), _rebase(exc.path, tmp, dest))
    elif (problem := io_failure(exc)) is not None:
        return InputError(f"cannot write ({problem})", dest)
    return exc


@contextlib.contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """An OSError raised inside that names no file (a write into an open handle) names `path`."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename, exc.strerror = str(path), os_problem(exc)
        raise


def check_folder_replaceable(dest: str | Path) -> Path:
    """A folder output may replace a folder (or a link, which is moved aside, never followed);
    never a file or a device: the rename would move /dev/full aside and put a folder there."""
    dest = Path(dest)
    try:
        mode = os.lstat(dest).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return dest
    if not (stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
        kind = "a regular file" if stat.S_ISREG(mode) else "a device, pipe or socket"
        raise InputError(f"is {kind}, not a folder; refusing to replace it (choose a new path)", dest)
    return dest


def check_replaceable(dest: str | Path, option: str | None = None) -> Path:
    """Refuse to replace anything but a regular file: the atomic rename would turn a device
    (/dev/full, a mknod node), a pipe or a symlink (to /proc/self/fd/1, to another file) into
    a plain file, destroying the node or silently writing beside the file the link names."""
    dest = Path(dest)
    try:
        mode = os.lstat(dest).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a new path (a bad parent is reported by the writer)
        return dest
    except OSError as exc:
        raise InputError(f"{option + ': ' if option else ''}cannot inspect the output path ({exc.strerror})",
                         dest) from None
    if not stat.S_ISREG(mode):
        kind = ("a symlink" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode)
                else "a device, pipe or socket")
        raise InputError(f"{option + ' ' if option else ''}is {kind}, not a regular file; refusing to replace it "
                         "(choose a new path)", dest)
    return dest


# the files written under one --out stem: generate-embeddings (.npy + .jsonl), augment (.npy + .labels.txt)
STEM_SUFFIXES = (".npy", ".jsonl", ".labels.txt")


def output_files(out: str | Path, suffixes: Iterable[str]) -> list[Path]:
    """The files of an output stem that writes several (OUT.npy + OUT.jsonl): OUT plus each
    suffix, after dropping one of these suffixes that OUT already ends with. Other dots stay
    in the name: `runs/gen.v2` -> runs/gen.v2.npy, never runs/gen.npy (Path.with_suffix would
    cut at the last dot and overwrite another run)."""
    suffixes = list(suffixes)
    name = str(out)
    if name.endswith(("/", os.sep)) or Path(name).is_dir():  # "runs/": runs/.npy, a hidden file, overwritten
        raise InputError(f"--out is a folder, expected a file path (a stem: {' and '.join('OUT' + x for x in suffixes)} "
                         "are written)", out)
    for suf in suffixes:
        if name.endswith(suf) and len(Path(name).name) > len(suf):
            name = name[:-len(suf)]
            break
    stale = [name + x for x in STEM_SUFFIXES if x not in suffixes and Path(name + x).is_file()]
    if stale:  # another command's file of this stem would sit beside the new ones and no longer match them
        raise InputError(f"{stale[0]} (written by another command with this --out) would no longer match the new "
                         f"{name + suffixes[0]}: choose another --out, or remove it", out)
    return [Path(name + suf) for suf in suffixes]


def check_named(out, what: str, option: str = "--out") -> None:
    """An output path must name something: Path("") is the working folder itself, and "-" would be
    a file or folder called "-" (textgan never writes to stdout)."""
    if out is None or str(out).strip() in ("", "-"):
        raise InputError(f"needs {what}, got {None if out is None else str(out)!r}", option)


def check_inputs_outside(out: str | Path, inputs: Iterable[str | Path | None], option: str = "--out") -> Path:
    """Refuse an output folder that is, or holds, one of the command's inputs (symlinks resolved).

    A folder output replaces what was there (an earlier run is moved aside and deleted; a rerun
    repairs its shards): `demo data.csv --out runs/x` with runs/x/data.csv deleted the data. Inputs
    that do not exist (a model name such as "minilm", "hf:..." datasets) hold nothing to lose.
    """
    check_named(out, "a folder path", option)
    out = Path(out)
    try:
        res = out.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
        raise InputError(f"{option}: cannot resolve the output path (symlink loop?)", out) from None
    for inp in inputs:
        if inp is None or not isinstance(inp, (str, os.PathLike)) or not os.path.lexists(inp):
            continue
        try:
            r = Path(inp).resolve()
        except (OSError, RuntimeError):
            continue  # a broken link is reported by the reader
        if r == res or res in r.parents:
            where = "is" if r == res else "holds"
            raise InputError(f"{option} {where} the input {inp}: writing the output there would replace it; "
                             f"choose another {option} or move the input out of it", out)
    return out


def check_suffix(out, want: str, what: str) -> None:
    """An output file whose name says another format than the bytes written is refused (a
    reader would open labels.npy as an array)."""
    suffix = Path(str(out)).suffix.lower()
    if suffix != want:
        named = f"a {suffix} file" if suffix else "a file without a suffix"
        raise InputError(f"--out names {named}, but {what} are written: name it {want}", out)


def temp_folder(prefix: str) -> str:
    """A new temporary folder, removed when the process exits: a cache for a library whose own
    cache folder is not writable."""
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


# the cache roots of huggingface_hub / datasets / matplotlib: each library joins "" onto its own
# name, so XDG_CACHE_HOME="" wrote a huggingface/ folder into the current directory
CACHE_VARS = ("XDG_CACHE_HOME", "HF_HOME", "HF_DATASETS_CACHE", "HF_HUB_CACHE", "MPLCONFIGDIR")


def drop_empty_cache_vars(environ=os.environ) -> None:
    """Treat a cache variable set to the empty string as unset, as the XDG spec says. Must run
    before those libraries are imported: they read their environment once, at import."""
    for name in CACHE_VARS:
        if name in environ and not environ[name].strip():
            del environ[name]
