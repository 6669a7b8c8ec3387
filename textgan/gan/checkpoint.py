"""Exact, pickle-free training checkpoints: safetensors for tensors, JSON for the rest.

A checkpoint holds every module of the run (networks and EMA copies), every optimiser
state, any extra state tensors (e.g. a replay buffer) and the torch / numpy / python RNG
states, so a resumed run continues bitwise-identically; `digests.json` (sha256 of every
file) is required on load.
"""
from __future__ import annotations

from pathlib import Path

import torch

from textgan.common.artifacts import atomic_dir, load_json, load_tensors, save_json, save_tensors
from textgan.common.digests import check_sealed, seal
from textgan.common.errors import InputError
from textgan.common.state import optimizer_from_flat, optimizer_to_flat, rng_state, set_rng_state

FORMAT = "textgan-gan-checkpoint/1"


def save_checkpoint(path: Path, step: int, modules: dict, optimizers: dict, state: dict, extra: dict) -> None:
    """Write `path/` (state.safetensors + state.json) atomically; the old one stays until the rename.

    Args: modules / optimizers: name -> nn.Module / Optimizer; state: name -> extra tensor;
        extra: JSON-able identity of the run (config, data hash, ...).
    """
    tensors: dict = {f"state.{k}": v for k, v in state.items()}
    meta: dict = {"format": FORMAT, "step": step, "optimizers": {}, **extra}
    for name, mod in modules.items():
        tensors.update({f"{name}.{k}": v for k, v in mod.state_dict().items()})
    for name, opt in optimizers.items():
        t, m = optimizer_to_flat(opt, name)
        tensors.update(t)
        meta["optimizers"][name] = m
    t, meta["rng"] = rng_state()
    tensors.update(t)
    with atomic_dir(path) as tmp:
        save_tensors(tensors, tmp / "state.safetensors")
        save_json(meta, tmp / "state.json")
        seal(tmp)


def read_checkpoint_meta(path: Path) -> dict:
    """The JSON part of a checkpoint whose files match their recorded digests."""
    if path.is_dir():
        check_sealed(path)
    meta = load_json(path / "state.json")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        from textgan.common.folders import folder_kind

        if (kind := folder_kind(path.parent)) is not None and not kind.startswith("a generator"):
            raise InputError(f"--resume: this is {kind}, not a train-gan run folder", path.parent)
        raise InputError(f"not a textgan GAN checkpoint (format {meta.get('format') if isinstance(meta, dict) else None!r})",
                         path)
    step = meta.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise InputError(f"field 'step' is {str(step)[:40]!r}: expected an integer >= 0; start a new run",
                         path / "state.json")
    for key in ("optimizers", "rng"):
        if not isinstance(meta.get(key), dict):
            raise InputError(f"field {key!r} is {str(meta.get(key))[:40]!r}: expected an object; start a new run",
                             path / "state.json")
    if not isinstance(meta.get("identity", {}), dict):
        raise InputError("field 'identity' is not an object; start a new run", path / "state.json")
    return meta


def load_checkpoint(path: Path, modules: dict, optimizers: dict, state: dict) -> dict:
    """Restore modules, optimisers, state tensors (in place) and RNGs from `path/`; returns the JSON part."""
    meta = read_checkpoint_meta(path)
    tensors = load_tensors(path / "state.safetensors")
    try:
        for name, mod in modules.items():
            head = f"{name}."
            mod.load_state_dict({k[len(head):]: v for k, v in tensors.items() if k.startswith(head)})
        for name, opt in optimizers.items():
            optimizer_from_flat(opt, name, tensors, meta["optimizers"][name])
        for name, buf in state.items():
            with torch.no_grad():
                buf.copy_(tensors[f"state.{name}"])
        set_rng_state(tensors, meta["rng"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(f"corrupt or mismatched checkpoint ({msg[:200]})", path) from None
    return meta
