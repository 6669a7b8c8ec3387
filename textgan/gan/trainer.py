"""The one training loop every model kind runs on (after Mimicry's trainer: kinds override the step).

A kind is a `Step` subclass: it builds its networks and optimisers and performs one update
(`train_step`). Everything else comes from `run` and is therefore the same for every kind:
seeding, input checks, the run lock, the learning-rate schedule, the generator EMA, the
non-finite guard, metrics logging, the loss plot, exact checkpoints and resume, the
final model folder, and data-parallel training under torchrun (textgan.common.distributed).
Batches are drawn with replacement from the global torch RNG, which is checkpointed, so
`resume=True` continues bitwise-exactly after a kill at any point.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from textgan.common import distributed as ddp
from textgan.common.args import path as as_path
from textgan.common.artifacts import check_new_out_dir, is_nonempty_dir, non_finite_tensors, run_lock, save_json
from textgan.common.errors import InputError
from textgan.common.runs import RunFolder, run_identity
from textgan.common.state import seed_all
from textgan.common.vectors import check_finite_rows
from textgan.gan.checkpoint import load_checkpoint, read_checkpoint_meta, save_checkpoint
from textgan.gan.config import KindConfig, check_training_memory
from textgan.gan.saved import write_model_config

Tensor = torch.Tensor
# config fields a resumed run may change (a diverged run resumes with lower learning rates)
RESUMABLE_CHANGES = ("steps", "lr_g", "lr_d", "log_every", "checkpoint_every")


def make_optimizer(params, cfg, lr: float) -> torch.optim.Optimizer:
    """Adam (with the config's betas) or RMSProp, as the config says."""
    if getattr(cfg, "optimizer", "adam") == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas))


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float, step: int) -> None:
    """ema <- d ema + (1-d) net, d warmed up as min(decay, (1+t)/(10+t)); buffers are copied."""
    d = min(decay, (1 + step) / (10 + step))
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.lerp_(p, 1 - d)
    for be, b in zip(ema.buffers(), net.buffers()):
        be.copy_(b)


def frozen_copy(net: nn.Module) -> nn.Module:
    """A parameter-free-of-grad copy of `net` (the EMA generator starts equal to it)."""
    import copy

    return copy.deepcopy(net).requires_grad_(False)


def check_training_data(data, batch_size: int, images: bool = False) -> Tensor:
    """Finite float tensor (N, D) with D >= 1 (or (N, C, H, W) when `images`) and N >= batch_size."""
    from textgan.common.vectors import check_real

    check_real(data, "training vectors")  # a float copy kept the real part: the weights of the real part alone
    if not torch.is_tensor(data):
        try:
            data = torch.as_tensor(np.asarray(data, dtype=np.float32))
        except (TypeError, ValueError) as exc:
            raise InputError(f"training vectors are not a numeric array ({exc})") from None
    ok_dims = (2, 4) if images else (2,)
    if data.dim() not in ok_dims:
        want = "(N, D) or (N, C, H, W)" if images else "(N, D)"
        raise InputError(f"training data must have shape {want}, got {tuple(data.shape)}")
    if any(s == 0 for s in data.shape[1:]):
        raise InputError(f"training vectors have no dimensions (shape {tuple(data.shape)})")
    if data.shape[0] < batch_size:
        raise InputError(f"only {data.shape[0]} training rows, fewer than one batch ({batch_size}); "
                         f"lower --batch-size")
    data = data.detach().float().contiguous()
    check_finite_rows(data.numpy(), "training rows")
    if bool((data == data[0]).all()):  # all zero, or one vector repeated: a generator would learn a point
        raise InputError(f"all {data.shape[0]} training rows are the same vector: there is no distribution to learn")
    return data


def data_digest(data: Tensor, labels: Tensor | None) -> str:
    """sha256 of the training rows (and labels): resume refuses other data of the same shape."""
    h = hashlib.sha256(data.numpy().tobytes())
    if labels is not None:
        h.update(labels.numpy().tobytes())
    return h.hexdigest()


class Step:
    """One kind's networks, optimisers and update rule; `run` owns everything else.

    Subclasses set `kind` and `loss_keys`, build networks in `build` (registering them in
    `self.modules`, optimisers in `self.optimizers` with their base learning-rate field in
    `self.lr_fields`, EMA copies in `self.ema_pairs` and extra state in `self.state`),
    implement `train_step` and `save` (the weight files; config.json is written by `run`).
    """

    kind = ""
    loss_keys: tuple[str, ...] = ()
    needs_labels = False
    min_groups = 2  # with labels: one group gives the label nothing to tell apart (anchored: one prototype is fine)
    images = False  # accepts (N, C, H, W) data

    def __init__(self, cfg, data: Tensor, labels: Tensor | None = None, label_names: list[str] | None = None):
        self.cfg, self.data, self.labels, self.label_names = cfg, data, labels, label_names
        self.n, self.shape = data.shape[0], tuple(data.shape[1:])
        self.dim = int(np.prod(self.shape))
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.lr_fields: dict[str, str] = {}  # optimiser name -> config field of its base lr
        self.ema_pairs: list[tuple[nn.Module, nn.Module]] = []  # (ema copy, live net)
        self.state: dict[str, Tensor] = {}
        self.build()

    def build(self) -> None:
        raise NotImplementedError

    def train_step(self, step: int) -> dict[str, float]:
        """One update; returns the losses to log (keys of `loss_keys`)."""
        raise NotImplementedError

    def save(self, out: Path) -> dict:
        """Write the model's weight files into `out`; return extra config.json entries."""
        raise NotImplementedError

    def rows(self, b: int | None = None) -> Tensor:
        """A batch of training rows drawn with replacement: (B, *shape)."""
        return self.data[torch.randint(self.n, (b or self.cfg.batch_size,))]

    def rows_and_labels(self, b: int | None = None) -> tuple[Tensor, Tensor]:
        idx = torch.randint(self.n, (b or self.cfg.batch_size,))
        return self.data[idx], self.labels[idx]

    def set_lrs(self, step: int) -> None:
        """Base learning rates from the config, decayed linearly when `lr_decay="linear"`."""
        frac = 1 - step / self.cfg.steps if getattr(self.cfg, "lr_decay", "none") == "linear" else 1.0
        for name, opt in self.optimizers.items():
            lr = getattr(self.cfg, self.lr_fields[name]) * frac
            for grp in opt.param_groups:
                grp["lr"] = lr


def _identity(step: Step, cfg, data: Tensor, labels: Tensor | None, meta: dict | None) -> dict:
    enc = ((meta or {}).get("encoder") or {}).get("fingerprint")
    return run_identity(cfg.to_dict(), RESUMABLE_CHANGES, kind=step.kind, shape=list(data.shape[1:]),
                        rows=int(data.shape[0]), data_sha256=data_digest(data, labels), encoder_fingerprint=enc,
                        labels=step.label_names)


def run(step_cls: type[Step], data, config: KindConfig, out_dir: str | Path, labels: Tensor | None = None,
        label_names: list[str] | None = None, meta: dict | None = None, progress: bool = True,
        resume: bool = False, callback: Callable[[int, dict], None] | None = None) -> Path:
    """Train `step_cls` on `data` into `out_dir` (the run folder is also the model folder).

    Args:
        step_cls: the kind's `Step` class. data: (N, D) float tensor (or images for the core GAN).
        config: the kind's config (resolved here). labels / label_names: (N,) class ids and names.
        out_dir: new or empty folder (or, with `resume`, a previous run of the same config and data).
        meta: JSON-able dict saved with the model (encoder fingerprint, ...).
        progress: tqdm bar. resume: continue from `out_dir/checkpoint`.
        callback: called as callback(steps_done, losses) after every step (logging, tests).
    """
    rank, world = ddp.init()  # (0, 1) unless started by torchrun
    main = rank == 0
    cfg = config.resolved()
    data = check_training_data(data, cfg.batch_size, images=step_cls.images)
    check_training_memory(cfg, math.prod(data.shape[1:]))
    out = check_new_out_dir(as_path(out_dir, "out"), resume)
    # each rank computes on its share of the global batch; draws and gradients make it one batch
    local_cfg = cfg if world == 1 else dataclasses.replace(cfg, batch_size=ddp.local_batch(cfg.batch_size))
    with run_lock(out) if main else contextlib.nullcontext():
        seed_all(cfg.seed)
        step = step_cls(local_cfg, data, labels, label_names)
        ident = _identity(step, cfg, data, labels, meta)
        ddp.check_same_across_ranks(json.dumps(ident, sort_keys=True), "training data or settings")
        if world > 1:
            ddp.average_gradients_on_step(step.optimizers.values())
        folder = RunFolder(out, "step", main, lower="lower learning rates (--lr-g / --lr-d)")
        start = _start(step, folder, ident, resume, cfg.steps)
        # a resume of a finished run trains nothing: its records keep the settings it ran with (a new
        # --lr-g was written as if used); one killed before its model was written writes it now
        done = start >= cfg.steps and _steps_saved(out) == start and (out / "resolved_config.json").is_file()
        if main and not done:
            save_json({"kind": step.kind, "config": cfg.to_dict(), "shape": list(data.shape[1:]),
                       "rows": int(data.shape[0]), "meta": meta or {}}, out / "resolved_config.json")
        draws = (contextlib.nullcontext if world == 1
                 else lambda: ddp.GlobalBatchDraws(local_cfg.batch_size, rank, world))
        _loop(step, cfg, folder, ident, start, draws, progress and main, callback)
        if main and not done:
            extra = step.save(out)
            write_model_config(out, step.kind, cfg, data.shape[1:], cfg.steps, meta, extra)
            folder.plot(step.loss_keys, "losses.png", f"{step.kind} losses")
    ddp.barrier()  # the other ranks return once rank 0 has written the model folder
    return out


def _steps_saved(out: Path) -> int | None:
    """`steps_done` of the model folder's config.json (None without one): whether the model already
    holds the checkpoint's step (a kill between the last checkpoint and the model leaves it behind)."""
    try:
        return json.loads((out / "config.json").read_text("utf-8")).get("steps_done")
    except (OSError, ValueError, AttributeError):
        return None


# what a GAN run writes before its first checkpoint (a run killed that early resumes from step 0)
EARLY_RUN_FILES = ("metrics.jsonl", "resolved_config.json", "checkpoint", "losses.png")


def _start(step: Step, folder: RunFolder, ident: dict, resume: bool, steps: int) -> int:
    """The step to start from: the checkpoint's when resuming one of the same run, else 0 (a
    checkpoint past `steps` is refused: saving it as a `steps`-step model would misreport it)."""
    ckpt = folder.checkpoint
    start = 0
    if resume and (ckpt / "state.json").exists():
        folder.check_resume(read_checkpoint_meta(ckpt).get("identity", {}), ident, RESUMABLE_CHANGES)
        start = load_checkpoint(ckpt, step.modules, step.optimizers, step.state)["step"]
        if start > steps:
            raise InputError(f"the checkpoint is at step {start}, past --steps {steps}: resume with "
                             f"--steps {start} or more", ckpt)
        if start == steps and folder.main:  # it exited 0 in silence
            warnings.warn(f"the checkpoint has finished its {steps} steps; nothing trained: pass a larger --steps "
                          "to go on", stacklevel=3)
    elif folder.main and resume and is_nonempty_dir(folder.out):
        other = sorted(p.name for p in folder.out.iterdir() if p.name not in EARLY_RUN_FILES and p.name[0] != ".")
        if other:  # an index, a model, anything else: training into it would replace it
            raise InputError(f"--resume continues a GAN run, and this folder holds no checkpoint but other files "
                             f"({', '.join(other[:4])}{', ...' if len(other) > 4 else ''}): choose a new --out",
                             folder.out)
        warnings.warn(f"{folder.out}: no checkpoint yet, training from step 0", stacklevel=3)
    elif folder.main and resume:  # a new or empty folder: a typo in --out would lose the run silently
        warnings.warn(f"{folder.out}: --resume found no run here (a typo in --out?): training from step 0",
                      stacklevel=3)
    folder.restart(start)
    return start


def _loop(step: Step, cfg, folder: RunFolder, ident: dict, start: int, draws, bar_on: bool,
          callback: Callable[[int, dict], None] | None) -> None:
    """Steps `start` .. cfg.steps: update, EMA, finite guard, metric rows, checkpoints."""
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.steps, initial=start, disable=not bar_on, desc=step.kind)
    t0 = time.perf_counter()
    for t in range(start, cfg.steps):
        step.set_lrs(t)
        with draws():
            losses = step.train_step(t)
        losses = ddp.mean_across_ranks(losses)
        folder.check_finite(losses, f"training of kind {step.kind!r} diverged at step {t + 1}")
        for ema, live in step.ema_pairs:
            ema_update(ema, live, cfg.ema, t)
        done = t + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            folder.log({"step": done, **losses, "seconds": round(time.perf_counter() - t0, 3)})
            bar.set_postfix({k: f"{v:.3f}" for k, v in list(losses.items())[:3]})
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            bad = {"weights": any(non_finite_tensors(m.state_dict()) for m in step.modules.values()),
                   # Adam's moments overflow (a huge penalty or temperature) before the weights do
                   "optimizer state": any(non_finite_tensors({k: v for k, v in st.items() if torch.is_tensor(v)})
                                          for o in step.optimizers.values() for st in o.state_dict()["state"].values())}
            if any(bad.values()):
                folder.check_finite({k: float("nan") for k, v in bad.items() if v},
                                    f"training of kind {step.kind!r} diverged at step {done}")
            if folder.main:
                save_checkpoint(folder.checkpoint, done, step.modules, step.optimizers, step.state, {"identity": ident})
            folder.checkpointed(done)
        bar.update(1)
        if callback is not None:
            callback(done, losses)
    bar.close()
