"""Checks of a run's schedule, made once the batches (steps per epoch) are known.

`--max-steps` that ends the run before the outlier loss starts, a `--warmup` too short to
rise, and a resumed run with nothing left to train: each would pass silently otherwise.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from similarity.config import TrainConfig
from textgan.common.errors import InputError


def check_vo_steps(cfg: TrainConfig, outliers: bool, per_epoch: int, total: int) -> None:
    """`--max-steps` may end the run before epoch `--vo-start` as well (known once batches are made)."""
    if (cfg.virtual_outliers != "none" or outliers) and total <= (cfg.vo_start - 1) * per_epoch:
        raise InputError(f"--max-steps {cfg.max_steps} ends the run in epoch {-(-total // per_epoch)} ({per_epoch} "
                         f"steps an epoch), before the outlier loss starts (--vo-start {cfg.vo_start}): the model "
                         "would be the one without it")


def warmup_steps(cfg: TrainConfig, total: int, main: bool = True) -> int:
    """Steps of rising learning rate; a warm-up of one step is none (its first factor is 1), so say so."""
    warm = round(cfg.warmup * total)
    if cfg.warmup > 0 and warm < 2 and main:
        warnings.warn(f"--warmup {cfg.warmup:g} of {total} step(s) rounds to {warm}: no warm-up (give a larger "
                      "share or train longer)", stacklevel=3)
    return warm


def say_nothing_left(cfg: TrainConfig, epoch: int, step: int, bad: int, total: int) -> None:
    """A resumed checkpoint that has already run its course trains nothing: a warning, not silence, with
    the way on that exists (only --epochs may change on resume)."""
    if epoch == 0 and step == 0:
        return
    if bad >= cfg.patience:
        why = (f"it stopped early ({bad} epochs without a better held-out top-1, --patience {cfg.patience}, "
               "which a resume cannot change)")
    elif step >= total and cfg.max_steps is not None and step >= cfg.max_steps:
        why = f"its {step} steps reach --max-steps {cfg.max_steps}, which a resume cannot change: train a new run"
    elif epoch >= cfg.epochs or step >= total:
        why = f"its {epoch} epoch(s) reach --epochs {cfg.epochs}: pass a larger --epochs to go on"
    else:
        return
    warnings.warn(f"the checkpoint has finished: {why}; nothing trained", stacklevel=3)


def resumed(cfg: TrainConfig, chosen: dict, checkpoint: Path) -> TrainConfig:
    """The run's own settings where the caller chose none (`chosen`: `config.non_default`), so that
    `--resume` alone continues the run as it was set: its --epochs (not the default length), its
    --patience, batch size, ... A setting given must still match the checkpoint's (checked on load).
    An unreadable record leaves `cfg` as it is: `load_checkpoint` then names the problem."""
    import dataclasses

    try:
        recorded = json.loads((checkpoint / "state.json").read_text("utf-8"))["config"]
        kept = {f.name: recorded[f.name] for f in dataclasses.fields(cfg)
                if f.name not in chosen and f.name in recorded}
        return dataclasses.replace(cfg, **kept).resolved()
    except (OSError, ValueError, KeyError, TypeError):  # InputError is a ValueError: a record out of range
        return cfg
