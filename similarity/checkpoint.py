"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

Layout of `<run>/checkpoint/`: `module/` (the encoder, saved by its own `save`),
`state.safetensors` (loss-head weights and iteration, Adam moments, RNG states) and
`state.json` (epoch, step, best score, patience counter, data digest, param-group
hyper-parameters, history) and `digests.json` (sha256 of every file, required on resume). Optimiser and RNG states go through `textgan.common.state`.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from textgan.common.artifacts import atomic_dir, library_versions, load_json, load_tensors, save_json, save_tensors
from textgan.common import distributed as ddp
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


RUN_KIND = "a train-similarity run folder (its model is in model/)"  # textgan.common.folders.MARKERS


def load_checkpoint(folder: Path) -> tuple[dict, dict]:
    """(tensors, meta) of a checkpoint folder; missing or corrupt files are InputErrors."""
    from textgan.common.folders import folder_kind

    if (kind := folder_kind(folder.parent)) not in (None, RUN_KIND):  # --resume --out of another command's folder
        raise InputError(f"--resume: this is {kind}, not a train-similarity run folder", folder.parent)
    if not folder.is_dir():
        raise InputError("no checkpoint to resume from", folder)
    check_sealed(folder)
    meta = load_json(folder / "state.json")
    tensors = load_tensors(folder / "state.safetensors")
    missing = [k for k in META_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing or "rng.torch" not in tensors:
        raise InputError(f"incomplete checkpoint (no {(missing or ['rng.torch'])[0]!r}; "
                         "written by an older version?); start a new run", folder / "state.json")
    bad = next((k for k, ok in _META_CHECKS.items() if not ok(meta[k])), None)
    if bad is not None:  # digests match only a file that was re-sealed: still never a traceback mid-resume
        raise InputError(f"field {bad!r} is {str(meta[bad])[:40]!r}: {_META_WANT[bad]}; start a new run",
                         folder / "state.json")
    return tensors, meta


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


# state.json field -> check (the types `similarity.train` writes)
_META_CHECKS = {
    "config": lambda v: isinstance(v, dict),
    "groups": lambda v: isinstance(v, list) and len(v) >= 2 and all(isinstance(g, str) for g in v),
    "data_sha256": lambda v: isinstance(v, str),
    "epoch": _count, "step": _count, "bad": _count,
    "best": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and -1.0 <= v <= 1.0,
    "history": lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
    "optimizer": lambda v: isinstance(v, dict), "rng": lambda v: isinstance(v, dict),
}
_META_WANT = {"config": "expected an object", "groups": "expected a list of group names",
              "data_sha256": "expected a sha256", "epoch": "expected an integer >= 0",
              "step": "expected an integer >= 0", "bad": "expected an integer >= 0",
              "best": "expected a number in [-1, 1]", "history": "expected a list of metric records",
              "optimizer": "expected an object", "rng": "expected an object"}


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


def weights_digest(module) -> str:
    """sha256 of a module's named tensors: ranks that must start alike compare these."""
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def write_run_config(cfg_json: dict, data, names: list[str], teacher_cost, use_knn: bool, out: Path) -> None:
    """The run folder's config.json: settings, data counts and digest, teacher cost, versions."""
    save_json({"train": cfg_json, "n_train": len(data.texts), "n_eval": len(data.eval_texts),
               "n_groups": len(names), "n_duplicates_dropped": data.n_duplicates,
               "n_unlabeled": len(data.unlabeled), "n_outliers": len(data.outliers), "teacher": teacher_cost,
               "heldout_metric": "knn_top1" if use_knn else "loo_top1", "processes": ddp.world(),
               "data_sha256": data.sha256, "versions": library_versions()}, out / "config.json")
