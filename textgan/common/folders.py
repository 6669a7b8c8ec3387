"""What a textgan folder is, from the file that marks each artefact: loaders that meet the wrong
kind say which kind it is ("this is a similarity model folder, not an index folder"), instead of
naming the marker file they miss."""
from __future__ import annotations

from pathlib import Path

# marker file -> the artefact it marks (checked in order: run folders hold a config.json too)
MARKERS = (
    ("similarity_config.json", "a similarity model folder"),
    ("meta.json", "an index folder"),
    ("manifest.json", "a shard folder of encoded vectors (encode)"),
    ("encode.json", "an unfinished shard folder of encoded vectors (encode)"),
    ("model/similarity_config.json", "a train-similarity run folder (its model is in model/)"),
    ("report.md", "a demo run folder"),
    ("config.json", "a generator / scorer folder (train-gan, train-outlier, train-kplus1)"),
)


def folder_kind(path: str | Path) -> str | None:
    """The artefact `path` holds, by its marker file, or None (not a textgan folder). A config.json
    counts only beside weights: many folders hold a config.json."""
    p = Path(path)
    for marker, what in MARKERS:
        if (p / marker).is_file() and (marker != "config.json" or any(p.glob("*.safetensors"))):
            return what
    return None


def wrong_kind(path: str | Path, expected: str) -> str | None:
    """'this is X, not Y' when `path` is another textgan artefact than `expected`, else None."""
    what = folder_kind(path)
    return None if what is None or what == expected else f"this is {what}, not {expected}"


def not_a_file(path: str | Path, what: str = "a data file") -> str:
    """Why `path` cannot be read as a file: missing, another textgan artefact (named), or a folder."""
    p = Path(path)
    if not p.exists():
        return "missing file"
    kind = folder_kind(p) if p.is_dir() else None
    return f"this is {kind}, not {what}" if kind else "not a file"
