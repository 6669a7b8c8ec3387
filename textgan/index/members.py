"""Indexes built from a shard folder (`textgan encode --out DIR`): in RAM, on disk, or one per group.

`build_from_shards` picks RAM or disk from the size and memory budget (index_choice.choose_storage);
`build_sharded` splits the shards into groups of about equal rows and builds one member index per
group (textgan.index.sharded searches them together).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from textgan.common.errors import InputError


def build_from_shards(shards, out, encoder: dict, factory: str | None = None,
                      memory_budget_mb: float | None = None, storage: str = "auto", progress: bool = False,
                      target_recall: float | None = None):
    """Index one `ShardSet` into `out`; storage "auto", "ram" or "disk". Returns the loaded index."""
    from textgan.index.choice import choose_storage
    from textgan.index.ondisk import build_ondisk
    from textgan.index.build import build_index

    if storage not in ("auto", "ram", "disk"):
        raise InputError(f"storage must be auto, ram or disk, got {storage!r}")
    if storage == "auto":
        storage = choose_storage(shards.n, shards.dim, memory_budget_mb)
    if storage == "disk":
        return build_ondisk(shards, out, encoder=encoder, factory=factory, progress=progress,
                            memory_budget_mb=memory_budget_mb, target_recall=target_recall)
    rows = [r for s in range(len(shards)) for r in shards.rows(s)]
    vectors = np.concatenate([np.asarray(shards.vectors(s)) for s in range(len(shards))])
    groups = [g for _, g in rows] if any(g is not None for _, g in rows) else None
    index = build_index(vectors, [t for t, _ in rows], groups=groups, encoder=encoder, factory=factory,
                        memory_budget_mb=memory_budget_mb, progress=progress, target_recall=target_recall)
    index.save(out)
    return index


def split_shards(shards, groups: int) -> list:
    """`groups` ShardSets of consecutive shards with about equal rows (never an empty group)."""
    from textgan.index.shards import ShardSet

    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise InputError(f"--groups must be an integer >= 1, got {groups}")
    if groups > len(shards):
        raise InputError(f"--groups {groups} is more than the {len(shards)} shards of this folder", shards.folder)
    entries = shards.manifest["shards"]
    # cut at the shard boundary nearest each multiple of n / groups, keeping >= 1 shard per group
    cuts = [int(np.argmin(np.abs(shards.offsets - shards.n * g / groups))) for g in range(1, groups)]
    bounds, lo = [], 0
    for g, c in enumerate(cuts):
        c = int(min(max(c, lo + 1), len(entries) - (groups - 1 - g)))
        bounds.append((lo, c))
        lo = c
    bounds.append((lo, len(entries)))
    return [ShardSet(shards.folder, dict(shards.manifest, n=sum(e["rows"] for e in entries[a:b]),
                                         shards=entries[a:b])) for a, b in bounds]


def build_sharded(shards, out, groups: int | None, encoder: dict, factory: str | None = None,
                  memory_budget_mb: float | None = None, storage: str = "auto", progress: bool = False,
                  target_recall: float | None = None):
    """One member index per group of shards under `out` (written atomically), searched together.

    Each member picks RAM or disk for its own size (storage "auto"), so the budget bounds one
    member's build, not the whole corpus's. groups None: enough that each group's raw vectors
    fit the budget (1 GiB without one), at least 2.
    """
    from textgan.common.artifacts import atomic_dir
    from textgan.index.choice import ONDISK_RAW_BYTES
    from textgan.index.store import check_index_out
    from textgan.index.build import load_index
    from textgan.index.sharded import MEMBER

    if groups is None:
        per = ONDISK_RAW_BYTES if memory_budget_mb is None else memory_budget_mb * 2**20
        groups = min(len(shards), max(2, int(np.ceil(shards.n * shards.dim * 4 / per))))
    out = check_index_out(out)
    parts = split_shards(shards, groups)
    with atomic_dir(out) as tmp:
        members = []
        for g, part in enumerate(parts):
            idx = build_from_shards(part, tmp / MEMBER.format(g), encoder, factory=factory,
                                    memory_budget_mb=memory_budget_mb, storage=storage, progress=progress,
                                    target_recall=target_recall)
            names = [s["name"] for s in part.manifest["shards"]]
            members.append(dict(_member_entry(MEMBER.format(g), idx), shards=names))
            del idx
        _write_composite(tmp, members, encoder, shards.dim, shards.n)
    return load_index(out)


def join_indexes(paths, out):
    """A sharded index over index folders built apart (say one per machine, each from its own shard
    folder or `--shard I/N` copies): each is hard-linked (copied across file systems) into OUT/part-K.
    Every folder is loaded (and so checksummed) first; all must come from one encoder."""
    import os
    import shutil
    from pathlib import Path

    from textgan.common.artifacts import atomic_dir
    from textgan.index.store import check_index_out
    from textgan.index.build import load_index
    from textgan.index.sharded import MEMBER

    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no index folders to join")
    out = check_index_out(out)
    members, first = [], None
    for k, p in enumerate(paths):
        idx = load_index(p)
        first = first or idx.meta
        if idx.meta.get("fingerprint") != first.get("fingerprint") or idx.dim != first.get("dim"):
            raise InputError(f"index was built with encoder {str(idx.meta.get('fingerprint'))[:12]}, the first one "
                             f"with {str(first.get('fingerprint'))[:12]}", p / "meta.json")
        members.append(_member_entry(MEMBER.format(k), idx))
        del idx
    with atomic_dir(out) as tmp:
        for p, m in zip(paths, members):
            for f in sorted(p.rglob("*")):
                dst = tmp / m["path"] / f.relative_to(p)
                if f.is_dir():
                    continue
                dst.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(f, dst)
                except OSError:
                    shutil.copyfile(f, dst)
        _write_composite(tmp, members, first.get("encoder") or {"fingerprint": first.get("fingerprint")},
                         int(first["dim"]), sum(m["n_input"] for m in members))
    return load_index(out)


def _member_entry(name: str, idx) -> dict:
    m = idx.meta
    return {"path": name, "n": idx.ntotal, "dim": idx.dim, "factory": m.get("factory"),
            "storage": m.get("storage", "ram"), "recall_at_10": m.get("recall_at_10"),
            "n_input": int(m.get("stats", {}).get("n_input", idx.ntotal))}


def _write_composite(tmp, members: list, encoder: dict, dim: int, n_input: int) -> None:
    from textgan.common.artifacts import file_sha256, library_versions, save_json
    from textgan.index.store import FORMAT, METRIC

    n = sum(m["n"] for m in members)
    sizes = sum(f.stat().st_size for f in tmp.glob("part-*/**/*") if f.name in ("index.faiss", "lists.ivfdata"))
    meta = {"format": FORMAT, "version": 1, "storage": "shards", "fingerprint": encoder.get("fingerprint"),
            "encoder": dict(encoder), "dim": dim, "metric": METRIC,
            "factory": "+".join(sorted({str(m["factory"]) for m in members})), "n": n, "members": members,
            # the weakest member bounds the composite's recall (each is searched for the full k)
            "recall_at_10": min(float(m["recall_at_10"]) for m in members), "params": {},
            "bytes_per_vector": sizes / max(1, n), "stats": {"n_input": n_input, "duplicates_dropped": n_input - n},
            "digests": {f"{m['path']}/meta.json": file_sha256(tmp / m["path"] / "meta.json") for m in members},
            "versions": library_versions()}
    save_json(meta, tmp / "meta.json")
