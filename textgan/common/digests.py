"""Checksums of artefact folders: sha256 of every file, recorded when a folder is saved and
verified when it is loaded. Deleting or editing the record does not switch checking off: a
folder without digests, or with a file the loader reads but the record omits, is refused."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from textgan.common.errors import InputError


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def folder_digests(folder: str | Path, skip: Iterable[str] = ()) -> dict[str, str]:
    """sha256 of every file below `folder` (relative POSIX paths), except the names in `skip`
    (the metadata file that will hold the digests) and hidden files."""
    folder = Path(folder)
    return {rel: file_sha256(folder / rel) for rel in listed_files(folder, skip)}


def verify_digests(folder: str | Path, digests: Any, where: str | Path | None = None,
                   cover: Iterable[str] = ()) -> None:
    """Refuse a folder whose files no longer match the digests recorded when it was saved.

    Checking cannot be switched off by editing the config that holds the digests: a folder
    without them (None: the key deleted) is refused, every recorded name must lie inside the
    folder, and each file of `cover` (what the loader reads) that is present must be recorded.

    Args:
        where: the file that holds the digests, for the message (default: the folder).
        cover: names relative to `folder`.
    """
    folder = Path(folder)
    where = folder if where is None else where
    if digests is None:
        raise InputError("records no digests (saved by an old version, or tampered): its files cannot be "
                         "checked; save it again with this version", where)
    if not isinstance(digests, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in digests.items()):
        raise InputError("the digests must map file names to sha256 strings", where)
    base = folder.resolve()
    for rel, want in digests.items():
        f = folder / rel
        if not rel or Path(rel).is_absolute() or base not in f.resolve().parents:
            raise InputError(f"digest of {rel!r} lies outside the folder", where)
        if not f.is_file():
            raise InputError("missing file (recorded when the folder was saved)", f)
        if file_sha256(f) != want:
            raise InputError("checksum mismatch: the file changed or is corrupt since it was saved", f)
    for rel in cover:
        card = "/" not in rel and rel.lower().endswith(".md")  # a model card (README.md): no loader reads it
        if rel not in digests and not card and (folder / rel).exists():
            raise InputError(f"{rel} has no recorded digest: it was not part of the folder when it was saved "
                             "(or its digest was deleted)", where)


def listed_files(folder: str | Path, skip: Iterable[str] = ()) -> list[str]:
    """The names `folder_digests` would record for the folder as it is now (what a loader must see covered)."""
    folder, skip = Path(folder), set(skip)
    return [f.relative_to(folder).as_posix() for f in sorted(folder.rglob("*"))
            if f.is_file() and f.relative_to(folder).as_posix() not in skip
            and not any(part.startswith(".") for part in f.relative_to(folder).parts)]


SEAL = "digests.json"


def seal(folder: str | Path) -> None:
    """Record the sha256 of every file of a folder being written (a checkpoint: its state.json
    holds run settings that must not change unnoticed either) in `folder/digests.json`."""
    import json

    folder = Path(folder)
    (folder / SEAL).write_text(json.dumps(folder_digests(folder, skip=[SEAL]), indent=1, sort_keys=True),
                               encoding="utf-8")


def check_sealed(folder: str | Path) -> None:
    """Refuse a sealed folder whose record is missing, unreadable, or no longer matches its files."""
    import json

    folder = Path(folder)
    path = folder / SEAL
    if not path.is_file():
        raise InputError(f"no {SEAL} (written by an older version, or tampered): its files cannot be checked; "
                         "start a new run", folder)
    try:
        digests = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(f"unreadable digests ({exc.__class__.__name__})", path) from None
    verify_digests(folder, digests, where=path, cover=listed_files(folder, skip=[SEAL]))


SELF_DIGEST = "sha256"  # a config file's digest of its own other fields (the other files' digests among them)


def _self_digest(info: dict) -> str:
    rest = {k: v for k, v in info.items() if k != SELF_DIGEST}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def sealed(info: dict) -> dict:
    """`info` with its own digest. The config file of a folder (a GAN's config.json, a similarity
    model's similarity_config.json) carries the other files' digests, not its own, so an edit of a
    setting that sizes nothing (a generator's head) changed the outputs unseen. Folders written
    before this have none and are read as before."""
    return {**info, SELF_DIGEST: _self_digest(info)}


def check_self_digest(info: dict, where: Path) -> None:
    """Refuse a config file whose fields are not the ones it was sealed with (`sealed`); run after
    the field checks, so an edit they can name (a size, a type) is told as such."""
    if isinstance(info, dict) and SELF_DIGEST in info and info[SELF_DIGEST] != _self_digest(info):
        raise InputError("does not match its recorded digest (edited after it was written?); retrain the model or "
                         "restore the file", where)

