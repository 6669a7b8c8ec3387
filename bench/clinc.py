"""CLINC150 helpers shared by the G3 / G5 / G2-conditional benches: the data, the name-sorted
intent split, and a GRU encoder trained once with the library defaults into a cached folder."""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared/data/clinc150/data_full.json"


def load(path: Path = DEFAULT) -> dict:
    """{"train"/"val"/"test"/...: [[text, intent], ...]} (CLINC150 data_full.json)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def split_intents(clinc: dict, n_base: int = 100) -> tuple[list[str], list[str]]:
    """Intents sorted by name: (first n_base, the rest)."""
    intents = sorted({g for _, g in clinc["train"]})
    return intents[:n_base], intents[n_base:]


def encoder(clinc: dict, work: Path, intents: list[str] | None = None, seed: int = 0):
    """A GRU + AM-Softmax encoder (library defaults) trained on the train sentences of `intents`
    (all when None), cached in `work`; returns the loaded encoder and its folder."""
    import similarity

    keep = set(intents) if intents is not None else None
    name = f"encoder_{len(keep) if keep else 'all'}intents_s{seed}"
    out = Path(work) / name
    if not (out / "model").is_dir():
        tr = [(t, g) for t, g in clinc["train"] if keep is None or g in keep]
        similarity.train(similarity.TrainConfig(seed=seed), [t for t, _ in tr], [g for _, g in tr], out,
                         progress=False)
    return similarity.load(out / "model"), out / "model"
