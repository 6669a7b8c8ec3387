"""Indexes built from a shard folder (`textgan encode --out DIR`): in RAM, on disk, or one per group.

`build_from_shards` picks RAM or disk from the size and memory budget (choice.choose_storage);
with storage "shards" it splits the shards into groups of about equal rows and builds one member
index per group (`build_sharded`; textgan.index.sharded searches them together). `join_indexes`
makes one sharded index of index folders built apart.
"""
from __future__ import annotations

import functools

from pathlib import Path

import numpy as np

from textgan.common.errors import InputError
from textgan.common.artifacts import load_json
from textgan.index.folder import check_index_out, code_bytes, link_or_copy, new_meta, write_meta
from textgan.index.options import IndexOptions
from textgan.index.sharded import MEMBER


def build_from_shards(shards, out, encoder: dict, options: IndexOptions | None = None, before_publish=None):
    """Index one `ShardSet` into `out` as `options.storage` says ("auto": RAM or disk by size and
    budget); returns the loaded index. `options` are validated by the caller. `before_publish`: an
    index in RAM is handed to it before it replaces `out` (`VectorIndex.save`)."""
    from textgan.index.build import build_index
    from textgan.index.choice import choose_storage
    from textgan.index.ondisk import build_ondisk

    options = options or IndexOptions()
    storage = options.storage
    if storage == "shards":
        return build_sharded(shards, out, encoder, options)
    if storage == "auto":
        storage = choose_storage(shards.n, shards.dim, options.memory_budget_mb)
    if storage == "disk":
        return build_ondisk(shards, out, encoder, options)
    rows = [r for s in range(len(shards)) for r in shards.rows(s)]
    vectors = np.concatenate([np.asarray(shards.vectors(s)) for s in range(len(shards))])
    groups = [g for _, g in rows] if any(g is not None for _, g in rows) else None
    index = build_index(vectors, [t for t, _ in rows], groups=groups, encoder=encoder, options=options)
    index.save(out, None if before_publish is None else functools.partial(before_publish, index))
    return index


def split_shards(shards, members: int) -> list:
    """`members` ShardSets of consecutive shards with about equal rows (never an empty one)."""
    from textgan.index.shards import ShardSet

    if members > len(shards):
        raise InputError(f"--members {members} is more than the {len(shards)} shards of this folder (its encoded "
                         f"vectors are kept: a rerun with --members {len(shards)} or fewer reuses them)", shards.folder)
    entries = shards.manifest["shards"]
    # cut at the shard boundary nearest each multiple of n / members, keeping >= 1 shard per member
    cuts = [int(np.argmin(np.abs(shards.offsets - shards.n * g / members))) for g in range(1, members)]
    bounds, lo = [], 0
    for g, c in enumerate(cuts):
        c = int(min(max(c, lo + 1), len(entries) - (members - 1 - g)))
        bounds.append((lo, c))
        lo = c
    bounds.append((lo, len(entries)))
    return [ShardSet(shards.folder, dict(shards.manifest, n=sum(e["rows"] for e in entries[a:b]),
                                         shards=entries[a:b])) for a, b in bounds]


def build_sharded(shards, out, encoder: dict, options: IndexOptions):
    """One member index per group of shards under `out` (written atomically), searched together.

    Each member picks RAM or disk for its own size (storage "auto"), so the budget bounds one
    member's build, not the whole corpus's. options.members None: enough that each member's raw
    vectors fit the budget (1 GiB without one), at least 2.
    """
    import dataclasses

    from textgan.common.artifacts import atomic_dir
    from textgan.index.build import load_index
    from textgan.index.choice import ONDISK_RAW_BYTES

    count = options.members
    if count is None:
        per = ONDISK_RAW_BYTES if options.memory_budget_mb is None else options.memory_budget_mb * 2**20
        count = min(len(shards), max(2, int(np.ceil(shards.n * shards.dim * 4 / per))))
    out = check_index_out(out)
    parts = split_shards(shards, count)
    each = dataclasses.replace(options, storage="auto", members=None)
    with atomic_dir(out) as tmp:
        members = []
        for g, part in enumerate(parts):
            idx = build_from_shards(part, tmp / MEMBER.format(g), encoder, each)
            names = [s["name"] for s in part.manifest["shards"]]
            members.append(dict(_member_entry(MEMBER.format(g), idx), shards=names))
            del idx
        _write_composite(tmp, members, encoder, shards.dim, shards.n)
    return load_index(out)


def _build_ids(folder: Path, meta: dict) -> list[str]:
    """The build ids an index folder holds: its own and, for a joined index, its members' (recursively)."""
    ids = [meta.get("build_id")]
    for m in meta.get("members") or []:
        f = folder / str(m.get("path", "")) / "meta.json" if isinstance(m, dict) else None
        if f is not None and f.is_file():  # member paths stay inside the folder: checked when it was loaded
            try:
                ids += _build_ids(f.parent, load_json(f))
            except InputError:
                continue
    return [i for i in ids if isinstance(i, str)]


def join_indexes(paths, out):
    """A sharded index over index folders built apart (say one per machine, each from its own shard
    folder or `--shard I/N` copies): each is hard-linked (copied across file systems) into OUT/part-K.
    Every folder is loaded (and so checksummed) first; all must come from one encoder."""
    from textgan.common.artifacts import atomic_dir
    from textgan.common.publish import read_published
    from textgan.index.build import load_index

    if isinstance(paths, (str, bytes, Path)):  # a string was joined character by character
        raise InputError(f"paths: pass a list of index folders, not one {type(paths).__name__}")
    from textgan.common.args import path as as_path

    paths = [as_path(p, f"paths item {i + 1}") for i, p in enumerate(paths)]
    if not paths:
        raise InputError("no index folders to join")
    seen = {}
    for p in paths:  # one folder twice returned every hit twice
        if (real := p.resolve()) in seen:
            raise InputError(f"given twice (also as {seen[real]}): each index folder joins once", p)
        seen[real] = p
    out = check_index_out(out)
    if (Path(out).resolve()) in seen:  # atomic_dir would replace that member with the joined index
        raise InputError("is one of the folders joined: write the joined index to a new folder", out)
    members, first, builds, heads, owners, inside = [], None, {}, {}, {}, {}
    with atomic_dir(out) as tmp:
        for k, p in enumerate(paths):
            # loaded and copied under one check: a folder rebuilt meanwhile is copied again, whole
            idx = read_published(p, "meta.json", lambda p=p, k=k: _load_and_copy(p, tmp / MEMBER.format(k), load_index))
            if (bid := idx.meta.get("build_id")) is not None and bid in builds:  # `cp -r`: every hit twice
                raise InputError(f"a copy of {builds[bid]} (the same build_id): each index joins once", p)
            builds[bid] = p
            for sub in _build_ids(p, idx.meta)[1:]:  # a member joined again inside an earlier join: also twice
                if sub in builds or sub in inside:
                    what = f"{builds[sub]} again" if sub in builds else f"an index that {inside[sub]} holds too"
                    raise InputError(f"holds {what} (the same build_id): each index joins once", p)
                inside[sub] = p
            if bid in inside:
                raise InputError(f"is already joined inside {inside[bid]}: each index joins once", p)
            _not_rebuilt(idx, p, heads)
            _note_owners(idx, k, owners)
            first = first or idx.meta
            if idx.meta.get("fingerprint") != first.get("fingerprint") or idx.dim != first.get("dim"):
                raise InputError(f"index was built with encoder {str(idx.meta.get('fingerprint'))[:12]}, the first "
                                 f"one with {str(first.get('fingerprint'))[:12]}", p / "meta.json")
            members.append(_member_entry(MEMBER.format(k), idx))
            del idx
        _write_composite(tmp, members, first.get("encoder") or {"fingerprint": first.get("fingerprint")},
                         int(first["dim"]), sum(m["n_input"] for m in members))
    _warn_shared(owners, paths)
    return load_index(out)


def _note_owners(idx, k: int, owners: dict) -> None:
    """Record which members hold each sentence (by `text_key`), to count those held by several."""
    from textgan.common.texts import text_key

    for i in range(idx.ntotal):
        owners.setdefault(text_key(idx.texts[i]), set()).add(k)


def _warn_shared(owners: dict, paths: list) -> None:
    """Members may share sentences (common queries), but each member returns its own copy: say how
    many come back more than once, and from which members most."""
    import warnings
    from collections import Counter

    shared = [ks for ks in owners.values() if len(ks) > 1]
    if shared:
        pairs = Counter(tuple(sorted(ks))[:2] for ks in shared).most_common(1)[0][0]
        warnings.warn(f"{len(shared)} sentence(s) are in more than one joined index (most shared: "
                      f"{paths[pairs[0]]} and {paths[pairs[1]]}): a query near one gets it back once per index "
                      "that holds it")


HEAD = 200  # first sentences of each member compared: a second build of one corpus has them all, in order


def _not_rebuilt(idx, p: Path, heads: dict) -> None:
    """Refuse a member with another member's size and first sentences in the same order: a rebuild of
    one corpus (another build_id) returned every hit twice. Members may share sentences (common
    queries), so only the same sequence counts."""
    head = (idx.ntotal, tuple(idx.texts[i] for i in range(min(HEAD, idx.ntotal))))
    for other, seen in heads.items():
        if seen == head:
            raise InputError(f"holds the same {idx.ntotal} sentences as {other}, in the same order: another build "
                             "of one corpus, every hit would come back twice", p)
    heads[p] = head


def _load_and_copy(src: Path, dst: Path, load):
    """load(src), then its files linked (or copied) into `dst` (emptied first)."""
    import shutil

    idx = load(src)
    shutil.rmtree(dst, ignore_errors=True)
    for f in sorted(src.rglob("*")):
        if not f.is_dir():
            (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(f, dst / f.relative_to(src))
    return idx


def _member_entry(name: str, idx) -> dict:
    m = idx.meta
    return {"path": name, "n": idx.ntotal, "dim": idx.dim, "factory": m.get("factory"),
            "storage": m.get("storage", "ram"), "recall_at_10": m.get("recall_at_10"),
            "n_input": int(m.get("stats", {}).get("n_input", idx.ntotal))}


def _write_composite(tmp: Path, members: list, encoder: dict, dim: int, n_input: int) -> None:
    """meta.json of the sharded index: its digests are those of the members' meta.json files (each
    of which holds the digests of its member's own files, checked when the member loads)."""
    from textgan.common.artifacts import file_sha256

    n = sum(m["n"] for m in members)
    factory = "+".join(sorted({str(m["factory"]) for m in members}))
    # the weakest member bounds the composite's recall (each is searched for the full k)
    recall = min(float(m["recall_at_10"]) for m in members)
    meta = new_meta(encoder, dim, factory, n, recall, {}, storage="shards", n_input=n_input, members=members,
                    bytes_per_vector=code_bytes(tmp) / max(1, n))
    write_meta(meta, tmp, digests={f"{m['path']}/meta.json": file_sha256(tmp / m["path"] / "meta.json")
                                   for m in members})
