"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

Layout of `<run>/checkpoint/`: `module/` (the encoder, saved by its own `save`),
`state.safetensors` (loss-head weights, Adam moments, RNG state) and `state.json`
(epoch, step, best score, patience counter, param-group hyper-parameters, history).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from textgan.artifacts import atomic_dir, load_json, load_tensors, save_json, save_tensors
from textgan.errors import InputError


def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into named tensors and a JSON-able rest."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"opt.{pid}.{key}"] = val
            else:
                scalars[f"{pid}.{key}"] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict, rest: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        if name.startswith("opt."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = val
    for name, val in rest.get("scalars", {}).items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = val
    opt.load_state_dict({"state": state, "param_groups": rest["param_groups"]})


def save_checkpoint(folder: Path, module_save, head: torch.nn.Module,
                    opt: torch.optim.Optimizer, meta: dict) -> None:
    """Write the checkpoint folder atomically. `module_save(path)` saves the encoder."""
    with atomic_dir(folder) as tmp:
        module_save(str(tmp / "module"))
        tensors, rest = optimizer_to_flat(opt)
        tensors.update({f"head.{k}": v for k, v in head.state_dict().items()})
        tensors["rng.torch"] = torch.get_rng_state()
        save_tensors(tensors, tmp / "state.safetensors")
        save_json(dict(meta, optimizer=rest), tmp / "state.json")


def load_checkpoint(folder: Path) -> tuple[dict, dict]:
    """(tensors, meta) of a checkpoint folder; missing or corrupt files are InputErrors."""
    if not folder.is_dir():
        raise InputError("no checkpoint to resume from", folder)
    meta = load_json(folder / "state.json")
    tensors = load_tensors(folder / "state.safetensors")
    if "rng.torch" not in tensors or "optimizer" not in meta:
        raise InputError("incomplete checkpoint", folder)
    return tensors, meta
