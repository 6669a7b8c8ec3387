"""Seeding and pickle-free RNG / optimiser state, shared by both trainers' checkpoints.

`torch.get_rng_state()` is a uint8 tensor and numpy's MT19937 key is 624 uint32 words
(stored as int64), so RNG states go to safetensors + JSON without pickle. Optimiser
states are split into named tensors and a JSON-able rest.
"""
from __future__ import annotations

import contextlib
import random
from typing import Any, Iterator

import numpy as np
import torch


def seed_all(seed: int) -> None:
    """Seed torch, numpy and python's global RNGs."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


@contextlib.contextmanager
def isolated_rng() -> Iterator[None]:
    """Run third-party code without letting it move the torch, numpy or python global RNGs.

    `model2vec.distill` draws from torch's and python's global RNGs, so a run that distilled
    (cold cache) initialised its weights from another stream than one that read the cache."""
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def rng_state() -> tuple[dict, dict]:
    """(tensors, json) capturing the torch, numpy and python global RNGs."""
    kind, key, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    tensors = {"rng.torch": torch.get_rng_state(), "rng.numpy": torch.from_numpy(key.astype(np.int64))}
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [py_version, list(py_state), py_gauss]}
    return tensors, meta


def set_rng_state(tensors: dict, meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.numpy" in tensors and meta:
        kind, pos, has_gauss, cached = meta["numpy"]
        np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
        py_version, py_state, py_gauss = meta["python"]
        random.setstate((py_version, tuple(py_state), py_gauss))


def optimizer_to_flat(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Split `opt.state_dict()` into tensors keyed `prefix.state.<param>.<key>` and a JSON part."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{prefix}.state.{idx}.{key}"] = val
            else:
                scalars[f"{idx}.{key}"] = val
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_from_flat(opt: torch.optim.Optimizer, prefix: str, tensors: dict, rest: dict) -> None:
    """Inverse of `optimizer_to_flat`."""
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for name, val in tensors.items():
        if name.startswith(head):
            idx, key = name[len(head):].split(".", 1)
            state.setdefault(int(idx), {})[key] = val
    for name, val in rest.get("scalars", {}).items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = val
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in rest["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})
