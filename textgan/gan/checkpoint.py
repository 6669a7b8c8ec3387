"""Exact, pickle-free training checkpoints: safetensors for tensors, JSON for the rest.

A checkpoint holds both networks, the generator EMA, both optimiser states and the
torch / numpy / python RNG states, so a resumed run continues bitwise-identically.
`torch.get_rng_state()` is a uint8 tensor and numpy's MT19937 key is 624 uint32 words
(stored as int64), so nothing here needs pickle.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from textgan.artifacts import atomic_dir, load_json, load_tensors, save_json, save_tensors
from textgan.errors import InputError

FORMAT = "textgan-gan-checkpoint/1"


def _flatten_optimizer(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict, dict]:
    """Split `opt.state_dict()` into tensors (keyed `prefix.state.i.key`) and a JSON part."""
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


def _restore_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict, meta: dict) -> None:
    state: dict[int, dict] = {}
    head = f"{prefix}.state."
    for name, val in tensors.items():
        if name.startswith(head):
            idx, key = name[len(head):].split(".", 1)
            state.setdefault(int(idx), {})[key] = val
    for name, val in meta["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = val
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})


def rng_state() -> tuple[dict, dict]:
    """(tensors, json) capturing the torch, numpy and python global RNGs."""
    kind, key, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    tensors = {"rng.torch": torch.get_rng_state(), "rng.numpy": torch.from_numpy(key.astype(np.int64))}
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [py_version, list(py_state), py_gauss]}
    return tensors, meta


def set_rng_state(tensors: dict, meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    py_version, py_state, py_gauss = meta["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))


def save_checkpoint(path: Path, step: int, modules: dict, optimizers: dict, extra: dict) -> None:
    """Write `path/` (state.safetensors + state.json) atomically; the old one stays until the rename."""
    tensors: dict = {}
    meta: dict = {"format": FORMAT, "step": step, "optimizers": {}, **extra}
    for name, mod in modules.items():
        tensors.update({f"{name}.{k}": v for k, v in mod.state_dict().items()})
    for name, opt in optimizers.items():
        t, m = _flatten_optimizer(opt, name)
        tensors.update(t)
        meta["optimizers"][name] = m
    t, meta["rng"] = rng_state()
    tensors.update(t)
    with atomic_dir(path) as tmp:
        save_tensors(tensors, tmp / "state.safetensors")
        save_json(meta, tmp / "state.json")


def load_checkpoint(path: Path, modules: dict, optimizers: dict) -> dict:
    """Restore modules, optimisers and RNGs from `path/`; returns the JSON part (has `step`)."""
    meta = load_json(path / "state.json")
    if meta.get("format") != FORMAT:
        raise InputError(f"not a textgan GAN checkpoint (format {meta.get('format')!r})", path)
    tensors = load_tensors(path / "state.safetensors")
    try:
        for name, mod in modules.items():
            head = f"{name}."
            mod.load_state_dict({k[len(head):]: v for k, v in tensors.items() if k.startswith(head)})
        for name, opt in optimizers.items():
            _restore_optimizer(opt, name, tensors, meta["optimizers"][name])
        set_rng_state(tensors, meta["rng"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(f"corrupt or mismatched checkpoint ({msg[:200]})", path) from None
    return meta
