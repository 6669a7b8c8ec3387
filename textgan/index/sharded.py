"""Several index folders searched together (storage "shards"), top-k merged by score.

One index per group of shards keeps every build and every member's RAM bounded by its group,
lets groups be built on different machines, and is what FAISS's IndexShards does for plain
FAISS indexes. Members are whole textgan index folders (in RAM or on disk, each with its own
re-ranking and checksums), so a merge by exact score is exact across members: each member
returns its own top-k by cosine and the best k of their union are the composite's top-k.

Folder:
    part-00000/ ...   member index folders (built by textgan.index.members)
    meta.json         format "textgan-index", storage "shards", encoder, members (path, n, dim,
                      factory, storage), digests of the members' meta.json files (each member's
                      meta.json holds the digests of its own files, checked when it loads)

Global id i is row i - offset[m] of member m, members in the order of meta.json.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from textgan.common.artifacts import file_sha256, load_json
from textgan.common.errors import InputError
from textgan.index.folder import check_shape
from textgan.index.store import VectorIndex

MEMBER = "part-{:05d}"


class _Rows:
    """texts / groups of the composite: global id -> the member that holds it (nothing copied)."""

    def __init__(self, parts: list, offsets: np.ndarray):
        self.parts, self.offsets = parts, offsets

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int):
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(i)
        m = int(np.searchsorted(self.offsets, i, side="right") - 1)
        part = self.parts[m]
        return None if part is None else part[i - int(self.offsets[m])]


class ShardedIndex(VectorIndex):
    """A VectorIndex over member indexes; search asks each member and keeps the best k."""

    def __init__(self, members: list, meta: dict):
        self.members = members
        self.offsets = np.cumsum([0] + [m.ntotal for m in members])
        texts = _Rows([m.texts for m in members], self.offsets)
        has_groups = any(m.groups is not None for m in members)
        groups = _Rows([m.groups for m in members], self.offsets) if has_groups else None
        super().__init__(None, texts, groups, meta, None)

    @property
    def ntotal(self) -> int:
        return int(self.offsets[-1])

    @property
    def dim(self) -> int:
        return int(self.members[0].dim)

    def _search(self, q: np.ndarray, k: int):
        all_s, all_i = [], []
        for off, m in zip(self.offsets, self.members):
            s, i = m._search(q, min(k, m.ntotal))  # q is checked and normalised already
            all_s.append(np.where(i >= 0, s, -np.inf))
            all_i.append(np.where(i >= 0, i + off, -1))
        scores, ids = np.concatenate(all_s, 1), np.concatenate(all_i, 1)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, top, 1).astype(np.float32), np.take_along_axis(ids, top, 1)

    def _member(self, i: int) -> tuple[VectorIndex, int]:
        i = int(i)
        if not 0 <= i < self.ntotal:
            raise InputError(f"id {i} is not in this index of {self.ntotal} vectors")
        m = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.members[m], i - int(self.offsets[m])

    def vector(self, i: int) -> np.ndarray:
        member, j = self._member(i)
        return member.vector(j)

    def reconstruct_all(self) -> np.ndarray:
        return np.concatenate([m.reconstruct_all() for m in self.members])

    def save(self, path):
        raise InputError("a sharded index is written by `textgan index --storage shards`, not saved whole")


def load_sharded(path: Path, meta: dict, load) -> ShardedIndex:
    """The ShardedIndex of a folder whose meta.json says storage "shards": each member must exist,
    come from the same encoder (checked first: the likelier mistake, and the clearer message) and
    match the digest of its meta.json recorded here.

    load: textgan.index.build.load_index (passed in: build imports this module).
    """
    members = []
    fp, dim = meta.get("fingerprint"), meta.get("dim")
    entries = meta["members"]  # read_meta: a non-empty list of {"path"} inside the folder
    for k, entry in enumerate(entries):
        p = path / entry["path"]
        if not (p / "meta.json").is_file():
            raise InputError(f"missing index shard (member {k + 1} of {len(entries)})", p)
        sub = load_json(p / "meta.json")
        if not isinstance(sub, dict) or sub.get("fingerprint") != fp:
            got = sub.get("fingerprint") if isinstance(sub, dict) else None
            raise InputError(f"index shard was built with encoder {str(got)[:12]}, the sharded index with "
                             f"{str(fp)[:12]}", p / "meta.json")
        want = meta["digests"].get(f"{entry['path']}/meta.json")  # read_meta: digests is a dict
        if want is None:
            raise InputError(f"meta.json records no digest of member {entry['path']!r}", path / "meta.json")
        if file_sha256(p / "meta.json") != want:
            raise InputError("checksum mismatch: the index shard changed since the sharded index was written",
                             p / "meta.json")
        idx = load(p)  # checks the member's own files against its meta.json
        check_shape(idx.ntotal, idx.dim, entry.get("n"), dim, p / "meta.json", "index shard")
        members.append(idx)
    out = ShardedIndex(members, meta)
    check_shape(out.ntotal, out.dim, meta.get("n"), dim, path / "meta.json", "the index shards together")
    return out
