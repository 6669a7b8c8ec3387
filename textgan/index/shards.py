"""A finished folder of vector shards (`textgan encode --out DIR`, written by
`textgan.workflow.encode`): the folder format and the reader the index builders use.

    shard-00000.npy           (rows, D) float32 unit vectors, memory-mappable
    shard-00000.texts.jsonl   one {"text"[, "group"]} per row
    shard-00000.json          rows + sha256 of both files (written last: the shard is done)
    manifest.json             encoder, n, dim, shard list (written when every shard is done)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from textgan.common.artifacts import file_sha256, load_json, load_npy
from textgan.common.errors import InputError

FORMAT = "textgan-shards"
RUN_FILE, MANIFEST = "encode.json", "manifest.json"


def shard_name(k: int) -> str:
    return f"shard-{k:05d}"


class ShardSet:
    """A finished shard folder: memory-mapped vectors and texts, shard by shard."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder, self.manifest = folder, manifest
        self.n, self.dim = int(manifest["n"]), int(manifest["dim"])
        self.fingerprint = manifest["encoder"]["fingerprint"]
        self.names = [s["name"] for s in manifest["shards"]]
        self.offsets = np.cumsum([0] + [s["rows"] for s in manifest["shards"]])  # (S+1,)

    def __len__(self) -> int:
        return len(self.names)

    def vectors(self, s: int) -> np.ndarray:
        """Shard s's vectors (rows, D), memory-mapped read-only."""
        f = self.folder / f"{self.names[s]}.npy"
        x = load_npy(f, "shard", mmap=True)
        rows = int(self.offsets[s + 1] - self.offsets[s])
        if x.shape != (rows, self.dim) or x.dtype != np.float32:
            raise InputError(f"shard holds {x.dtype} {x.shape}, manifest says float32 {(rows, self.dim)}", f)
        return x

    def rows(self, s: int) -> list[tuple[str, str | None]]:
        f = self.folder / f"{self.names[s]}.texts.jsonl"
        try:
            with open(f, encoding="utf-8") as fh:
                return [(r["text"], r.get("group")) for r in map(json.loads, fh)]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise InputError(f"corrupt shard texts ({exc.__class__.__name__})", f) from None

    def sample(self, m: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """(global ids (m,), vectors (m, D)) drawn uniformly without replacement, shard by shard."""
        ids = np.sort(rng.choice(self.n, min(m, self.n), replace=False))
        out = np.empty((len(ids), self.dim), np.float32)
        for s in range(len(self)):
            lo, hi = np.searchsorted(ids, [self.offsets[s], self.offsets[s + 1]])
            if hi > lo:
                out[lo:hi] = self.vectors(s)[ids[lo:hi] - self.offsets[s]]
        return ids, out


def open_shards(folder, expect_fingerprint: str | None = None, verify: bool = True) -> ShardSet:
    """A finished shard folder; a missing or changed shard, or one of another encoder, is refused.

    Args:
        expect_fingerprint: the encoder about to be used with these vectors.
        verify: recompute every shard's sha256 (reads the whole folder once).
    """
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        if (folder / RUN_FILE).is_file():
            raise InputError("the encode into this folder is not finished (no manifest.json): rerun it, "
                             "or wait for the other --shard copies", folder)
        raise InputError("not a shard folder (no manifest.json)", folder)
    manifest = load_json(folder / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError("not a textgan shard manifest", folder / MANIFEST)
    _check_manifest(folder, manifest)
    fp = manifest["encoder"]["fingerprint"]
    if expect_fingerprint is not None and fp != expect_fingerprint:
        raise InputError(f"the shards were encoded by encoder {fp[:12]}, not by this one ({expect_fingerprint[:12]})",
                         folder)
    for s in manifest["shards"]:
        for f, digest in s["sha256"].items():
            p = folder / f
            if not p.is_file():
                raise InputError(f"missing shard file (shard {s['name']} of {len(manifest['shards'])})", p)
            if verify and file_sha256(p) != digest:
                raise InputError("checksum mismatch: the shard changed or is corrupt since it was written", p)
        marker = folder / f"{s['name']}.json"
        info = load_json(marker) if marker.is_file() else {}
        if not isinstance(info, dict) or (marker.is_file() and info.get("fingerprint") != fp):
            raise InputError("shard was encoded by another encoder than the manifest's", marker)
    return ShardSet(folder, manifest)


MANIFEST_VERSION = 1  # the "version" encode writes into manifest.json


def _check_manifest(folder: Path, m: dict) -> None:
    """The keys the reader uses have the writer's types; every file it names lies in the folder
    (a tampered manifest is one `error:` line, never a traceback or a file read elsewhere)."""
    from textgan.index.folder import inside

    f = folder / MANIFEST
    version = m.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MANIFEST_VERSION:
        raise InputError(f"'version' {version!r:.20} is not a shard format this textgan reads (1 to "
                         f"{MANIFEST_VERSION}){': upgrade textgan' if isinstance(version, int) and version > 1 else ''}",
                         f)
    enc = m.get("encoder")
    if not isinstance(enc, dict) or not isinstance(enc.get("fingerprint"), str):
        raise InputError("manifest records no encoder fingerprint", f)

    def count(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if not (count(m.get("n")) and count(m.get("dim")) and m["dim"] > 0):
        raise InputError(f"'n' and 'dim' must be integers >= 0, got {m.get('n')!r} and {m.get('dim')!r}", f)
    shards = m.get("shards")
    if not isinstance(shards, list) or not shards:
        raise InputError("manifest lists no shards", f)
    for s in shards:
        if not (isinstance(s, dict) and isinstance(s.get("name"), str) and count(s.get("rows"))
                and isinstance(s.get("sha256"), dict) and all(isinstance(v, str) for v in s["sha256"].values())):
            raise InputError(f"shard entry {str(s.get('name') if isinstance(s, dict) else s)!r:.60} needs a name, "
                             "a whole number of rows >= 0 and a sha256 map of file digests", f)
        for rel in (f"{s['name']}.npy", f"{s['name']}.texts.jsonl", f"{s['name']}.json", *s["sha256"]):
            inside(folder, rel, f, "shard file")
        for need in (f"{s['name']}.npy", f"{s['name']}.texts.jsonl"):  # deleting one must not skip its check
            if need not in s["sha256"]:
                raise InputError(f"shard {s['name']} records no sha256 of {need}", f)
    if sum(s["rows"] for s in shards) != m["n"]:
        raise InputError(f"the shards hold {sum(s['rows'] for s in shards)} rows, 'n' says {m['n']}", f)
