"""Training a sentence encoder as a classifier over paraphrase groups.

Adam on encoder + loss head, one tqdm bar per epoch, held-out evaluation after each epoch,
the best model (by held-out top-1) saved to `<out>/model`, early stopping on patience.
The run folder also gets `config.json` (resolved), `metrics.jsonl`, `curves.png` and a
resumable `checkpoint/` (see `similarity.checkpoint`).
"""
from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from similarity.checkpoint import load_checkpoint, optimizer_from_flat, save_checkpoint
from similarity.data import GroupBatchSampler, split_groups
from similarity.encoder import GRUEncoder
from similarity.evaluate import knn_top1, loo_topk
from similarity.losses import LOSS_NAMES, default_hyper, make_loss
from similarity.model import SentenceEncoder, load_st, resolve_backbone
from similarity.tokenization import train_tokenizer
from textgan.artifacts import save_json
from textgan.errors import InputError


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; safe CPU defaults (tuned on CLINC150)."""

    loss: str = "am"
    scale: float | None = None  # None: the loss row's default (30 for margin softmax)
    margin: float | None = None  # None: the loss row's default (0.35 for AM-Softmax)
    backbone: str = "gru"  # "gru", "minilm" or a local sentence-transformers folder
    # "word" is deterministic; "wordpiece" scores better on CLINC150 (loo, OOS, STS-B) but
    # the tokenizers WordPiece trainer breaks count ties in hash order: its vocab varies by run.
    tokenizer: Literal["word", "wordpiece", "char"] = "word"
    vocab_size: int = 30000
    min_frequency: int = 1
    embed_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: Literal["max", "mean", "last"] = "max"
    dropout: float = 0.1
    max_length: int = 64
    epochs: int = 12
    batch_size: int = 64
    lr: float = 2e-3
    lr_decay: Literal["constant", "linear"] = "linear"
    head_lr_mult: float = 1.0  # class-weight learning rate / encoder learning rate
    per_group: int = 4  # sentences per group in a batch for in-batch losses
    max_steps: int | None = None  # cap on optimizer steps (bounded fine-tuning)
    eval_fraction: float = 0.2  # held out per group when no eval data is given
    patience: int = 3
    seed: int = 0

    def resolved(self) -> "TrainConfig":
        """Fill None scale/margin with the loss row's defaults and validate names."""
        if self.loss not in LOSS_NAMES:
            raise InputError(f"unknown loss {self.loss!r}; valid: {', '.join(LOSS_NAMES)}")
        s, m = default_hyper(self.loss)
        return dataclasses.replace(self, scale=s if self.scale is None else self.scale,
                                   margin=m if self.margin is None else self.margin)


def _set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _Run:
    """Encoder + loss head + optimizer for one run (keeps `train` readable)."""

    def __init__(self, cfg: TrainConfig, texts: list[str], labels: list[int], n_classes: int,
                 module: torch.nn.Module | None = None):
        self.cfg = cfg
        if cfg.backbone == "gru":
            if module is not None:  # resuming: the checkpoint's tokenizer and weights
                self.module = module.train()
            else:
                tok = train_tokenizer(texts, cfg.tokenizer, cfg.vocab_size, cfg.min_frequency)
                self.module = GRUEncoder(tok.get_vocab_size(), cfg.embed_dim, cfg.hidden_size,
                                     cfg.num_layers, cfg.bidirectional, cfg.pooling, cfg.dropout,
                                         cfg.max_length, tokenizer=tok)
            self.ids = self.module.token_ids(texts)  # tokenise once
            self.kind = "gru"
        else:
            self.module = module if module is not None else load_st(resolve_backbone(cfg.backbone))
            self.kind = "sentence-transformers"
        self.encoder = SentenceEncoder(self.module, self.kind)
        self.texts, self.labels = texts, torch.tensor(labels)
        self.head = make_loss(cfg.loss, self.encoder.dim, n_classes, cfg.scale, cfg.margin)
        self.opt = torch.optim.Adam([
            {"params": list(self.module.parameters()), "lr": cfg.lr},
            {"params": list(self.head.parameters()), "lr": cfg.lr * cfg.head_lr_mult}])
        self.base_lrs = [g["lr"] for g in self.opt.param_groups]

    def batches(self, epoch: int) -> list[list[int]]:
        cfg, n = self.cfg, len(self.texts)
        if getattr(self.head, "needs_classes", True):
            gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
            perm = torch.randperm(n, generator=gen).tolist()
            return [perm[i:i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
        sampler = GroupBatchSampler(self.labels.tolist(), cfg.batch_size, cfg.per_group, cfg.seed)
        sampler.epoch = epoch
        return list(sampler)

    def step(self, idx: list[int], lr_factor: float) -> float:
        for g, base in zip(self.opt.param_groups, self.base_lrs):
            g["lr"] = base * lr_factor
        if self.kind == "gru":
            feats = self.module.pad([self.ids[i] for i in idx])
            emb = self.module.embed(feats["input_ids"], feats["attention_mask"])  # (B, D)
        else:
            feats = self.module.preprocess([self.texts[i] for i in idx])
            emb = F.normalize(self.module(feats)["sentence_embedding"], dim=-1)  # (B, D)
        loss = self.head(emb, self.labels[idx])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


def _plot(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(ep, [h["loss"] for h in history], marker="o")
    a.set(xlabel="epoch", ylabel="train loss", title="loss")
    b.plot(ep, [h["heldout_top1"] for h in history], marker="o", color="C1")
    b.set(xlabel="epoch", ylabel="held-out top-1", title="held-out top-1")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(config: TrainConfig, texts: list[str], groups: list[str], out_dir: str | Path,
          eval_texts: list[str] | None = None, eval_groups: list[str] | None = None,
          progress: bool = True, resume: bool = False) -> Path:
    """Train an encoder on grouped sentences; returns the path of the best saved model.

    Args:
        config: a `TrainConfig`.
        texts, groups: training sentences and their paraphrase-group labels.
        out_dir: run folder (config.json, metrics.jsonl, curves.png, model/, checkpoint/).
        eval_texts, eval_groups: held-out data; when None, `config.eval_fraction` of each
            group's sentences is held out (stratified, seeded).
        progress: show tqdm bars.
        resume: continue from `<out_dir>/checkpoint` (same config and data required).
    """
    from tqdm.auto import tqdm

    cfg = config.resolved()
    if len(texts) != len(groups):
        raise InputError(f"{len(texts)} texts but {len(groups)} group labels")
    if len(set(groups)) < 2:
        raise InputError("need at least two groups to train (found "
                         f"{len(set(groups))})")
    if eval_texts is None:
        if not 0 < cfg.eval_fraction < 1:
            raise InputError("eval_fraction must be in (0, 1) when no eval data is given")
        tr, ho = split_groups(texts, groups, cfg.eval_fraction, cfg.seed)
        if not ho:
            raise InputError("groups too small to hold out any sentence; pass eval data")
        eval_texts, eval_groups = [texts[i] for i in ho], [groups[i] for i in ho]
        texts, groups = [texts[i] for i in tr], [groups[i] for i in tr]
    elif eval_groups is None or len(eval_groups) != len(eval_texts) or len(eval_texts) < 2:
        raise InputError("eval data needs at least two sentences with one group label each")
    # knn against the training sentences when eval groups were seen; else leave-one-out.
    use_knn = bool(set(eval_groups) & set(groups))

    _set_seed(cfg.seed)
    names = sorted(set(groups))
    label_of = {g: i for i, g in enumerate(names)}
    out = Path(out_dir)
    cfg_json = dataclasses.asdict(cfg)
    start, step, best, bad, history = 0, 0, -1.0, 0, []
    saved = None
    if resume:
        tensors, meta = load_checkpoint(out / "checkpoint")
        if {k: v for k, v in meta["config"].items() if k != "epochs"} != \
                {k: v for k, v in cfg_json.items() if k != "epochs"}:
            raise InputError("config differs from the checkpoint's", out / "checkpoint")
        if meta["groups"] != names:
            raise InputError("training data differs from the checkpoint's", out / "checkpoint")
        folder = out / "checkpoint" / "module"
        saved = GRUEncoder.load(str(folder)) if cfg.backbone == "gru" else load_st(folder)
    run = _Run(cfg, texts, [label_of[g] for g in groups], len(names), module=saved)
    out.mkdir(parents=True, exist_ok=True)
    if resume:
        run.head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
        optimizer_from_flat(run.opt, tensors, meta["optimizer"])
        torch.set_rng_state(tensors["rng.torch"])
        start, step, best, bad = meta["epoch"] + 1, meta["step"], meta["best"], meta["bad"]
        history = meta["history"]
    else:
        (out / "metrics.jsonl").unlink(missing_ok=True)
    save_json({"train": cfg_json, "n_train": len(texts), "n_eval": len(eval_texts),
               "n_groups": len(names), "heldout_metric": "knn_top1" if use_knn else "loo_top1"},
              out / "config.json")

    per_epoch = len(run.batches(0))
    total = cfg.epochs * per_epoch if cfg.max_steps is None else min(cfg.max_steps,
                                                                     cfg.epochs * per_epoch)
    t0 = time.perf_counter()
    for epoch in range(start, cfg.epochs):
        if step >= total or bad >= cfg.patience:
            break
        run.module.train()
        losses = []
        bar = tqdm(run.batches(epoch), disable=not progress, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   leave=False)
        for idx in bar:
            factor = 1.0 if cfg.lr_decay == "constant" else max(0.0, 1 - step / total)
            losses.append(run.step(idx, factor))
            step += 1
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if step >= total:
                break
        ev = run.encoder.encode(eval_texts)
        rec = {"epoch": epoch + 1, "step": step, "loss": float(np.mean(losses)),
               "seconds": round(time.perf_counter() - t0, 2)}
        if use_knn:
            rec["knn_top1"] = knn_top1(ev, eval_groups, run.encoder.encode(texts), groups)
        rec.update(loo_topk(ev, eval_groups))
        rec["heldout_top1"] = rec["knn_top1"] if use_knn else rec["loo_top1"]
        history.append(rec)
        with open(out / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
        if progress:
            tqdm.write(f"epoch {epoch + 1}: loss {rec['loss']:.4f} held-out top-1 "
                       f"{rec['heldout_top1']:.4f}")
        if rec["heldout_top1"] > best:
            best, bad = rec["heldout_top1"], 0
            run.encoder.info = {"train_config": cfg_json, "best_epoch": epoch + 1,
                                "heldout_top1": best, "groups": len(names)}
            run.encoder.save(out / "model")
        else:
            bad += 1
        save_checkpoint(out / "checkpoint", run.module.save, run.head, run.opt,
                        {"config": cfg_json, "groups": names, "epoch": epoch, "step": step,
                         "best": best, "bad": bad, "history": history})
        _plot(history, out / "curves.png")
    if not (out / "model").is_dir():
        raise InputError("training ran no epoch (checkpoint already finished?)", out)
    return out / "model"
