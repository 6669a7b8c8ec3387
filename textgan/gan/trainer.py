"""One trainer for every objective: alternating (n_critic : 1) or one-loss synchronous updates.

Data is any float tensor (N, D) or (N, C, H, W); batches are drawn with replacement from
the global torch RNG, which is checkpointed, so `resume=True` continues bitwise-exactly.
"""
from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from textgan.artifacts import atomic_file, load_json, save_json
from textgan.errors import InputError
from textgan.gan.checkpoint import load_checkpoint, save_checkpoint
from textgan.gan.config import GANConfig
from textgan.gan.objectives import Objective, make_objective
from textgan.gan.penalties import clip_weights, make_penalty
from textgan.gan.saved import build_networks, save_gan


def check_data(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Validate training data: float, 2-d or 4-d, finite, at least one batch of rows."""
    if not torch.is_tensor(data) or data.dim() not in (2, 4):
        raise InputError(f"training data must be a tensor of shape (N, D) or (N, C, H, W), got "
                         f"{tuple(data.shape) if torch.is_tensor(data) else type(data).__name__}")
    if data.shape[0] < batch_size:
        raise InputError(f"only {data.shape[0]} rows, fewer than one batch ({batch_size}); lower --batch-size")
    data = data.detach().float().contiguous()
    bad = (~torch.isfinite(data)).flatten(1).any(1)
    if bad.any():
        raise InputError(f"{int(bad.sum())} rows contain NaN or inf (first: row {int(bad.nonzero()[0])})")
    return data


def make_optimizer(params, cfg: GANConfig, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=cfg.betas)


def decay_lr(cfg: GANConfig, step: int, *opts_and_lrs: tuple) -> None:
    """`lr_decay="linear"`: set each (optimizer, base lr) to base * (1 - step / steps)."""
    if cfg.lr_decay != "linear":
        return
    frac = 1 - step / cfg.steps
    for opt, lr in opts_and_lrs:
        for grp in opt.param_groups:
            grp["lr"] = lr * frac


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float, step: int) -> None:
    """ema <- d ema + (1-d) net, with d warmed up as min(decay, (1+t)/(10+t))."""
    d = min(decay, (1 + step) / (10 + step))
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.lerp_(p, 1 - d)
    for be, b in zip(ema.buffers(), net.buffers()):
        be.copy_(b)


class Stepper:
    """The update rules; holds networks, optimisers and the objective row."""

    def __init__(self, cfg: GANConfig, obj: Objective, g, d, opt_g, opt_d):
        self.cfg, self.obj, self.g, self.d, self.opt_g, self.opt_d = cfg, obj, g, d, opt_g, opt_d
        self.penalty = make_penalty(cfg.penalty)
        self.g_uses_real = obj.family == "gan-qp"

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.noise_dim)  # (B, noise_dim)

    def critic_losses(self, real, fake):
        v_r, v_f = self.d(real), self.d(fake)  # (B,), (B,)
        loss = self.obj.d_loss(v_r, v_f)
        pen = self.penalty(self.d, real, fake, v_r, v_f, self.cfg.penalty_weight)
        return loss, pen, v_r

    def critic_step(self, real) -> tuple[float, float]:
        with torch.no_grad():
            fake = self.g(self.noise(real.shape[0]))
        loss, pen, _ = self.critic_losses(real, fake)
        self.opt_d.zero_grad(set_to_none=True)
        (loss + pen).backward()
        self.opt_d.step()
        if self.cfg.penalty == "clip":
            clip_weights(self.d, self.cfg.penalty_weight)
        return loss.item(), pen.item()

    def generator_step(self, real) -> float:
        self.d.requires_grad_(False)  # the generator's loss must not touch critic grads
        fake = self.g(self.noise(real.shape[0]))
        with torch.no_grad():
            v_r = self.d(real) if self.g_uses_real else fake.new_zeros(fake.shape[0])
        loss = self.obj.g_loss(v_r, self.d(fake))
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        return loss.item()

    def one_loss(self, real) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Su 2019 ("one loss for a GAN"): L_D(D, stopgrad G) + L_G(stopgrad D, G) in one backward.

        The critic sees detached fakes; the generator's loss runs the critic through
        `functional_call` with detached parameters, so in a single backward pass each
        player receives exactly the gradient of its own loss.
        """
        fake = self.g(self.noise(real.shape[0]))  # (B, *shape)
        d_loss, pen, v_r = self.critic_losses(real, fake.detach())
        frozen = {k: v.detach() for k, v in self.d.named_parameters()}
        frozen.update(dict(self.d.named_buffers()))
        v_f = functional_call(self.d, frozen, (fake,))
        g_loss = self.obj.g_loss(v_r.detach(), v_f)
        return d_loss, pen, g_loss

    def one_loss_step(self, real) -> tuple[float, float, float]:
        d_loss, pen, g_loss = self.one_loss(real)
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        (d_loss + pen + g_loss).backward()
        self.opt_d.step()
        self.opt_g.step()
        if self.cfg.penalty == "clip":
            clip_weights(self.d, self.cfg.penalty_weight)
        return d_loss.item(), pen.item(), g_loss.item()


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _plot_losses(metrics_path: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in rows]
    for key in ("d_loss", "g_loss", "penalty"):
        ax.plot(steps, [r[key] for r in rows], label=key)
    ax.set_xlabel("generator step")
    ax.legend()
    ax.set_title("GAN losses")
    fig.tight_layout()
    with atomic_file(png, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)


def train_gan(data: torch.Tensor, config: GANConfig, out_dir: str | Path, meta: dict | None = None,
              progress: bool = True, resume: bool = False) -> Path:
    """Train a GAN on `data` and save it to `out_dir`; returns the folder.

    Args:
        data: float tensor (N, D) or (N, C, H, W); finite, at least one batch of rows.
        config: GANConfig (None fields take the objective row's defaults).
        out_dir: run folder: config.json, weights, metrics.jsonl, losses.png, checkpoint/.
        meta: free-form JSON-able dict saved with the generator (e.g. encoder fingerprint).
        progress: show a tqdm bar.
        resume: continue from `out_dir/checkpoint` (same data and config except `steps`).
    """
    from tqdm.auto import tqdm

    cfg = config.resolve()
    data = check_data(data, cfg.batch_size)
    out = Path(out_dir)
    shape = tuple(data.shape[1:])
    obj = make_objective(cfg.objective)
    ckpt = out / "checkpoint"
    metrics_path = out / "metrics.jsonl"

    _seed_all(cfg.seed)
    g, d = build_networks(cfg, shape)
    g_ema = copy.deepcopy(g).requires_grad_(False) if cfg.ema > 0 else None
    opt_g = make_optimizer(g.parameters(), cfg, cfg.lr_g)
    opt_d = make_optimizer(d.parameters(), cfg, cfg.lr_d)
    modules = {"G": g, "D": d, **({"E": g_ema} if g_ema is not None else {})}
    optimizers = {"optG": opt_g, "optD": opt_d}
    start = 0
    if resume and (ckpt / "state.json").exists():
        prev = load_json(ckpt / "state.json")
        same = {k: v for k, v in cfg.to_dict().items() if k != "steps"}
        old = {k: v for k, v in prev.get("config", {}).items() if k != "steps"}
        if same != old or prev.get("shape") != list(shape) or prev.get("rows") != data.shape[0]:
            raise InputError("checkpoint was made with a different config or data; use a new --out", ckpt)
        start = load_checkpoint(ckpt, modules, optimizers)["step"]
        lines = metrics_path.read_text().splitlines() if metrics_path.exists() else []
        with atomic_file(metrics_path) as fh:  # drop rows logged after the checkpoint
            fh.writelines(line + "\n" for line in lines if line.strip() and json.loads(line)["step"] <= start)
    elif resume:
        raise InputError("nothing to resume (no checkpoint/ here)", out)
    elif out.exists() and any(out.iterdir()):
        raise InputError("output folder is not empty (pass --resume to continue, or choose a new --out)", out)
    out.mkdir(parents=True, exist_ok=True)
    save_json({"config": cfg.to_dict(), "shape": list(shape), "rows": int(data.shape[0]), "meta": meta or {}},
              out / "resolved_config.json")

    stepper = Stepper(cfg, obj, g, d, opt_g, opt_d)
    extra = {"config": cfg.to_dict(), "shape": list(shape), "rows": int(data.shape[0])}
    n, B = data.shape[0], cfg.batch_size
    t0, last_ckpt = time.perf_counter(), start
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress, desc=cfg.objective)
    with open(metrics_path, "a", encoding="utf-8") as log:
        for step in range(start, cfg.steps):
            decay_lr(cfg, step, (opt_g, cfg.lr_g), (opt_d, cfg.lr_d))
            if cfg.one_loss:
                dl, pen, gl = stepper.one_loss_step(data[torch.randint(n, (B,))])
            else:
                for _ in range(cfg.n_critic):
                    dl, pen = stepper.critic_step(data[torch.randint(n, (B,))])
                real = data[torch.randint(n, (B,))] if stepper.g_uses_real else data[:B]
                gl = stepper.generator_step(real)
            if not all(np.isfinite([dl, pen, gl])):
                kept = f"last good checkpoint kept at step {last_ckpt} in {ckpt}" if last_ckpt else "no checkpoint yet"
                raise InputError(f"loss became non-finite at step {step + 1} (d_loss={dl}, g_loss={gl}, "
                                 f"penalty={pen}) with objective {cfg.objective}; lower the learning rates or "
                                 f"add a penalty; {kept}")
            if g_ema is not None:
                ema_update(g_ema, g, cfg.ema, step)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                row = {"step": done, "d_loss": dl, "g_loss": gl, "penalty": pen,
                       "seconds": round(time.perf_counter() - t0, 3)}
                log.write(json.dumps(row) + "\n")
                log.flush()
                bar.set_postfix(d=f"{dl:.3f}", g=f"{gl:.3f}")
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                save_checkpoint(ckpt, done, modules, optimizers, extra)
                last_ckpt = done
            bar.update(1)
    bar.close()
    save_gan(out, cfg, shape, g, d, g_ema, meta, cfg.steps)
    _plot_losses(metrics_path, out / "losses.png")
    return out
