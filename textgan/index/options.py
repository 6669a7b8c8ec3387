"""How an index is built: one frozen set of options, checked once where it enters (the CLI or a
public function) and passed whole down to the builders (build, members, ondisk)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, get_args

from textgan.common.args import finite, flag, plain_fields
from textgan.common.errors import InputError

Storage = Literal["auto", "ram", "disk", "shards"]
STORAGES: tuple[str, ...] = get_args(Storage)


@dataclass(frozen=True)
class IndexOptions:
    """Args:
        factory: a FAISS index_factory string ("Flat", "IVF1024,Flat", "IVF64,PQ8", ...); None picks
            one from the size and budget (choice.choose_factory, or choice.ondisk_factory on disk).
        memory_budget_mb: RAM bound steering the automatic choices (index type, RAM or disk, block
            size, member count); None: unbounded (on disk past 1 GiB of raw vectors).
        target_recall: recall@10 (against exact search) the search-time knob is raised to;
            None: choice.TARGET_RECALL.
        storage: "auto" (RAM or disk by size, choice.choose_storage), "ram" (build.build_index),
            "disk" (IVF-PQ re-ranked from exact vectors on disk, textgan.index.ondisk) or "shards"
            (one member index per group of shards, searched together, textgan.index.members).
        members: member indexes for storage "shards" (None: each member's raw vectors fit the budget).
        rerank: on-disk re-rank factor (0: codes only; None: tuned with nprobe).
        seed: the training sample and the recall sample.
        progress: tqdm bars while adding vectors.
        gate: calibrate the out-of-domain gate `search` applies when an index in RAM is built
            (`textgan.workflow.heldout.calibrate_index_gate`); False: a retrieval-only build, the
            gate is fitted at the first gated search instead.
    """
    factory: str | None = None
    memory_budget_mb: float | None = None
    target_recall: float | None = None
    storage: Storage = "auto"
    members: int | None = None
    rerank: int | None = None
    seed: int = 0
    progress: bool = False
    gate: bool = True

    def __post_init__(self) -> None:
        plain_fields(self)  # np.int64(8) from a pandas cell is 8

    @classmethod
    def of(cls, options: IndexOptions | None = None, **overrides) -> IndexOptions:
        """`options` (default: the defaults) with keyword overrides, validated; unknown names fail."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise InputError(f"unknown index option(s) {', '.join(unknown)}; valid: {', '.join(names)}")
        if options is not None and not isinstance(options, cls):
            raise InputError(f"options must be an IndexOptions (or None), got {type(options).__name__}")
        out = dataclasses.replace(options or cls(), **overrides)
        out.validate()
        return out

    def validate(self) -> None:
        """Refuse bad values (messages name the CLI flags)."""
        if self.storage not in STORAGES:
            raise InputError(f"--storage must be one of {', '.join(STORAGES)}, got {self.storage!r}")
        if self.factory is not None and (not isinstance(self.factory, str) or not self.factory.strip()):
            raise InputError(f"--factory must be a FAISS index_factory string, got {self.factory!r}")
        if self.storage == "disk" and self.factory is not None and \
                not any(part.strip().upper().startswith("IVF") for part in self.factory.split(",")):
            raise InputError(f"--factory: an on-disk index needs an IVF factory (its inverted lists are what lives on "
                             f"disk; e.g. IVF1,Flat for a small corpus), got {self.factory!r}")
        m = self.memory_budget_mb
        if m is not None and (_not_number(m) or not (finite(m) and m > 0)):
            raise InputError(f"--memory-mb must be a finite number > 0, got {m!r:.60}")
        t = self.target_recall
        if t is not None and (_not_number(t) or not 0 < t <= 1):
            raise InputError(f"--target-recall must be a number in (0, 1], got {t!r:.60}")
        if t is not None and isinstance(self.factory, str) and self.factory.strip().lower() == "flat":
            raise InputError("--target-recall: a Flat index searches exactly (recall 1) and has no setting to tune; "
                             "drop it, or pass an approximate --factory")
        if self.members is not None:
            if _not_int(self.members) or self.members < 1:
                raise InputError(f"--members must be an integer >= 1, got {self.members}")
            if self.storage != "shards":
                raise InputError("--members is for --storage shards")
        if self.rerank is not None and (_not_int(self.rerank) or self.rerank < 0):
            raise InputError(f"rerank must be an integer >= 0, got {self.rerank}")
        for name in ("progress", "gate"):
            flag(getattr(self, name), name)
        if _not_int(self.seed) or not 0 <= self.seed < 2**63:
            raise InputError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")

    @property
    def recall_target(self) -> float:
        from textgan.index.choice import TARGET_RECALL

        return TARGET_RECALL if self.target_recall is None else float(self.target_recall)

    def check_factory(self, dim: int, n: int | None = None) -> None:
        """Refuse a bad factory string (and, with `n`, one that `n` vectors cannot train) before any
        vector is encoded: encoding a corpus takes far longer than this check."""
        from textgan.index.choice import make_empty_index

        if self.factory is not None:
            make_empty_index(self.factory, 2**40 if n is None else n, dim)
            if n is not None and self.storage in ("auto", "ram"):
                from textgan.index.choice import check_budget

                check_budget(self.factory, n, dim, self.memory_budget_mb)


def _not_number(x) -> bool:
    return isinstance(x, bool) or not isinstance(x, (int, float))


def _not_int(x) -> bool:
    return isinstance(x, bool) or not isinstance(x, int)
