"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

Layout of `<run>/checkpoint/`: `module/` (the encoder, saved by its own `save`),
`state.safetensors` (loss-head weights and iteration, Adam moments, RNG states) and
`state.json` (epoch, step, best score, patience counter, data digest, param-group
hyper-parameters, history) and `digests.json` (sha256 of every file, required on resume). Optimiser and RNG states go through `textgan.common.state`.
"""
from __future__ import annotations

from pathlib import Path

import torch

from textgan.common.artifacts import atomic_dir, load_json, load_tensors, save_json, save_tensors
from textgan.common.digests import check_sealed, seal
from textgan.common.errors import InputError
from textgan.common.state import optimizer_from_flat, optimizer_to_flat, rng_state, set_rng_state

META_KEYS = ("config", "groups", "data_sha256", "epoch", "step", "best", "bad", "history",
             "optimizer", "rng")


def save_checkpoint(folder: Path, module_save, head: torch.nn.Module,
                    opt: torch.optim.Optimizer, meta: dict, whole: dict | None = None) -> None:
    """Write the checkpoint folder atomically. `module_save(path)` saves the encoder; `whole`
    replaces tensors that this process holds a shard of (class centres under torchrun)."""
    with atomic_dir(folder) as tmp:
        module_save(str(tmp / "module"))
        tensors, rest = optimizer_to_flat(opt, "opt")
        tensors.update({f"head.{k}": v for k, v in head.state_dict().items()})
        tensors.update(whole or {})
        rng_tensors, rng_meta = rng_state()
        tensors.update(rng_tensors)
        save_tensors(tensors, tmp / "state.safetensors")
        save_json(dict(meta, optimizer=rest, rng=rng_meta), tmp / "state.json")
        seal(tmp)


def load_checkpoint(folder: Path) -> tuple[dict, dict]:
    """(tensors, meta) of a checkpoint folder; missing or corrupt files are InputErrors."""
    if not folder.is_dir():
        raise InputError("no checkpoint to resume from", folder)
    check_sealed(folder)
    meta = load_json(folder / "state.json")
    tensors = load_tensors(folder / "state.safetensors")
    missing = [k for k in META_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing or "rng.torch" not in tensors:
        raise InputError(f"incomplete checkpoint (no {(missing or ['rng.torch'])[0]!r}; "
                         "written by an older version?); start a new run", folder / "state.json")
    return tensors, meta


def restore(folder: Path, tensors: dict, meta: dict, head: torch.nn.Module,
            opt: torch.optim.Optimizer) -> None:
    """Load head, optimiser and RNG states; a checkpoint that does not fit is an InputError."""
    try:
        head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
        optimizer_from_flat(opt, "opt", tensors, meta["optimizer"])
        set_rng_state(tensors, meta["rng"])
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__
        raise InputError(f"checkpoint does not fit this run ({msg})", folder / "state.safetensors") from None
