"""Training a sentence encoder as a classifier over paraphrase groups.

Adam on encoder + loss head, one tqdm bar per epoch, held-out evaluation after each epoch,
the best model (by held-out top-1) saved to `<out>/model`, early stopping on patience.
The run folder also gets `config.json` (resolved, with data counts and digest),
`metrics.jsonl`, `curves.png` and a resumable `checkpoint/` (see `similarity.checkpoint`).
Duplicate texts are dropped before the train/held-out split; a non-finite loss or weight
stops the run with an InputError, keeping the last good checkpoint.

With a teacher (`config.teacher`, see `similarity.teacher`), every step adds the
`similarity.distil.Distiller` terms on the labelled batch plus an equal batch of unlabelled
sentences; teacher vectors are computed once (cached) and their cost goes to config.json.
The saved model keeps the margin head's unit class weights as `SentenceEncoder.prototypes`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from similarity.checkpoint import load_checkpoint, restore, save_checkpoint
from similarity.config import TrainConfig
from similarity.data import GroupBatchSampler, drop_duplicates, split_groups
from similarity.distil import Distiller
from similarity.encoder import GRUEncoder
from similarity.evaluate import knn_top1, loo_topk
from similarity.losses import make_loss
from similarity.model import SentenceEncoder, load_gru, load_st, resolve_backbone
from similarity.teacher import Teacher, resolve_teacher
from similarity.tokenization import train_tokenizer
from textgan import distributed as ddp
from textgan.artifacts import atomic_file, library_versions, non_finite_tensors, run_lock, save_json
from textgan.errors import InputError
from textgan.plots import plot_curves
from textgan.state import seed_all

__all__ = ["TrainConfig", "train"]


@dataclass(frozen=True)
class _Data:
    """Training and held-out sentences after de-duplication and the split."""

    texts: list[str]
    groups: list[str]
    eval_texts: list[str]
    eval_groups: list[str]
    n_duplicates: int
    sha256: str  # of the data as passed to `train`: a resume must see the same
    unlabeled: list[str]  # for the distillation term only


def _sha256(*columns) -> str:
    return hashlib.sha256(json.dumps(columns, ensure_ascii=False).encode("utf-8")).hexdigest()


def _prepare(cfg: TrainConfig, texts, groups, eval_texts, eval_groups, unlabeled) -> _Data:
    if len(texts) != len(groups):
        raise InputError(f"{len(texts)} texts but {len(groups)} group labels")
    unlabeled = [str(t) for t in unlabeled or []]
    if unlabeled and cfg.teacher == "none":
        raise InputError("unlabeled sentences serve the distillation term only; they need a teacher "
                         "(--teacher minilm|PATH)")
    digest = _sha256(list(texts), list(groups), eval_texts, eval_groups,
                     *([unlabeled] if unlabeled else []))
    texts, groups, n_dup = drop_duplicates(list(texts), list(groups))
    if n_dup:
        warnings.warn(f"dropped {n_dup} duplicate sentence(s) before the train/held-out split "
                      "(same text after strip; a text in two groups keeps its first group)",
                      stacklevel=3)
    if len(set(groups)) < 2:
        raise InputError(f"need at least two groups to train (found {len(set(groups))})")
    if eval_texts is None:
        tr, ho = split_groups(texts, groups, cfg.eval_fraction, cfg.seed)
        if not ho:
            raise InputError("groups too small to hold out any sentence; pass eval data")
        return _Data([texts[i] for i in tr], [groups[i] for i in tr], [texts[i] for i in ho],
                     [groups[i] for i in ho], n_dup, digest, unlabeled)
    if eval_groups is None or len(eval_groups) != len(eval_texts) or len(eval_texts) < 2:
        raise InputError("eval data needs at least two sentences with one group label each")
    return _Data(texts, groups, list(eval_texts), list(eval_groups), n_dup, digest, unlabeled)


class _Run:
    """Encoder + loss head + optimizer for one run (keeps `train` readable)."""

    def __init__(self, cfg: TrainConfig, texts: list[str], labels: list[int], n_classes: int,
                 module: torch.nn.Module | None = None, teacher: Teacher | None = None,
                 targets: tuple[np.ndarray, np.ndarray] | None = None, unlabeled: list[str] = ()):
        self.cfg = cfg
        if cfg.backbone == "gru":
            # resuming: the checkpoint's tokenizer and weights
            self.module = module.train() if module is not None else _new_gru(cfg, texts, teacher)
            self.kind = "gru"
        else:
            self.module = module if module is not None else load_st(resolve_backbone(cfg.backbone))
            self.kind = "sentence-transformers"
        self.encoder = SentenceEncoder(self.module, self.kind)
        self.texts, self.labels, self.unlabeled = texts, torch.tensor(labels), list(unlabeled)
        if self.kind == "gru":  # tokenise once
            self.ids, self.u_ids = self.module.token_ids(texts), self.module.token_ids(self.unlabeled)
        # under torchrun each rank holds a contiguous share of the class centres (textgan.partial_fc)
        self.n_classes = n_classes
        shard = ddp.row_range(n_classes) if ddp.world() > 1 else None
        self.head = make_loss(cfg.loss, self.encoder.dim, n_classes, cfg.scale, cfg.margin,
                              cfg.partial_fc, cfg.seed, shard)
        self.sharded = getattr(self.head, "partial", False) and shard is not None
        # Partial FC (sampled or sharded): the centres get sparse gradients and their own lazy Adam
        self.sparse_head = getattr(self.head, "partial", False)
        if self.kind != "gru" and module is None and hasattr(self.head, "weight"):
            # A pre-trained encoder already groups the sentences: class weights start at the class
            # means, so the first steps' gradients are not noise from random prototypes.
            vecs = torch.from_numpy(self.encoder.encode(texts))  # (N, D)
            means = torch.zeros(n_classes, vecs.shape[1]).index_add_(0, self.labels, vecs)
            with torch.no_grad():
                self.head.weight.copy_(F.normalize(means[self.head.lo:self.head.hi], dim=-1))
        self.heads = torch.nn.ModuleDict({"loss": self.head})  # everything trained beside the encoder
        self.targets = None
        if teacher is not None:
            self.targets = tuple(torch.from_numpy(t) for t in targets)  # (N, Dt), (M, Dt)
            self.heads["distil"] = Distiller(self.encoder.dim, self.targets[0].shape[1],
                                             cfg.distil_weight, cfg.distil_sim_weight)
        dense_heads = [p for p in self.heads.parameters() if not (self.sparse_head and p is self.head.weight)]
        self.opt = torch.optim.Adam([
            {"params": list(self.module.parameters()), "lr": cfg.lr},
            {"params": dense_heads, "lr": cfg.lr * cfg.head_lr_mult}])
        self.base_lrs = [g["lr"] for g in self.opt.param_groups]
        # gradients summed over torchrun ranks: everything but the (sharded) class centres
        self.replicated = [p for g in self.opt.param_groups for p in g["params"]]
        self._perm: tuple[int, list[int]] | None = None

    def batches(self, epoch: int) -> list[list[int]]:
        cfg, n = self.cfg, len(self.texts)
        if getattr(self.head, "needs_classes", True):
            gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
            perm = torch.randperm(n, generator=gen).tolist()
            return [perm[i:i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
        sampler = GroupBatchSampler(self.labels.tolist(), cfg.batch_size, cfg.per_group, cfg.seed)
        sampler.epoch = epoch
        return list(sampler)

    def unlabeled_batch(self, step: int) -> list[int]:
        """The step's slice of a seeded permutation of the unlabelled sentences, one per pass."""
        n, b = len(self.unlabeled), self.cfg.batch_size
        if not n:
            return []
        cycle, start = divmod(step * b, n)
        if self._perm is None or self._perm[0] != cycle:
            gen = torch.Generator().manual_seed(self.cfg.seed * 100003 + 7919 + cycle)
            self._perm = (cycle, torch.randperm(n, generator=gen).tolist())
        return self._perm[1][start:start + b]

    def _embed(self, idx: list[int], unlabeled: bool = False) -> torch.Tensor:
        """(B, D) unit vectors of training (or unlabelled) sentences, with gradients.

        Under torchrun this rank embeds its rows `row_range(B)` only, padded to the whole batch's
        width and with the whole batch's dropout masks (`SliceDropout`), and the rows of all
        ranks are gathered: every rank then holds what one process would compute.
        """
        if self.kind == "gru":
            ids = self.u_ids if unlabeled else self.ids
            feats = self.module.pad([ids[i] for i in idx])
        else:
            texts = self.unlabeled if unlabeled else self.texts
            feats = self.module.preprocess([texts[i] for i in idx])
        lo, hi = ddp.row_range(len(idx))
        if hi == lo:  # fewer rows than ranks: this rank embeds none (its gather keeps the graph)
            return ddp.gather_rows(torch.zeros(0, self.encoder.dim, requires_grad=True), len(idx))
        local = {k: v[lo:hi] if torch.is_tensor(v) else v for k, v in feats.items()}
        with ddp.SliceDropout(lo, hi, len(idx)):
            if self.kind == "gru":
                emb = self.module.embed(local["input_ids"], local["attention_mask"])
            else:
                emb = F.normalize(self.module(local)["sentence_embedding"], dim=-1)
        return ddp.gather_rows(emb, len(idx))

    def step(self, idx: list[int], lr_factor: float, step: int) -> float:
        """One optimizer step; a non-finite loss is returned without stepping."""
        for g, base in zip(self.opt.param_groups, self.base_lrs):
            g["lr"] = base * lr_factor
        emb = self._embed(idx)  # (B, D)
        loss = self.head(emb, self.labels[idx])
        if self.targets is not None:
            student, teacher = emb, self.targets[0][idx]
            u_idx = self.unlabeled_batch(step)
            if u_idx:
                student = torch.cat([student, self._embed(u_idx, unlabeled=True)])  # (B + Bu, D)
                teacher = torch.cat([teacher, self.targets[1][u_idx]])  # (B + Bu, Dt)
            loss = loss + self.heads["distil"](student, teacher)
        value = float(loss.detach())
        if not math.isfinite(value):
            return value
        self.opt.zero_grad(set_to_none=True)
        # every rank holds the whole batch's loss: each back-propagates its 1/W share, and summing
        # the replicated gradients over ranks gives one process's gradient (textgan.distributed)
        (loss / ddp.world()).backward()
        ddp.sum_gradients(self.replicated)
        self.opt.step()
        if self.sparse_head:
            self.head.sparse_step(self.base_lrs[1] * lr_factor)
        return value

    def non_finite_weights(self) -> list[str]:
        """Names of NaN/inf tensors on any rank (every rank gets the same list)."""
        bad = non_finite_tensors({**{f"encoder.{k}": v for k, v in self.module.state_dict().items()},
                                  **{f"head.{k}": v for k, v in self.heads.state_dict().items()}})
        return sorted(set().union(*ddp.gather_objects(bad)))

    def prototypes(self, names: list[str]) -> tuple[list[str], np.ndarray] | None:
        """(group names, unit class weights (C, D)) of a margin head; None for in-batch losses.
        Sharded centres are gathered: every rank must call this."""
        weight = getattr(self.head, "weight", None)
        if weight is None:
            return None
        if self.sharded:
            weight = ddp.full_rows(weight, self.n_classes)
        return list(names), F.normalize(weight.detach(), dim=-1).numpy().astype(np.float32)

    SHARDED = ("weight", "exp_avg", "exp_avg_sq", "row_steps")  # one row per class, kept by the head

    def _sharded_keys(self) -> list[str]:
        """Checkpoint tensors holding one row per class: the centres and their Adam state."""
        return [f"head.loss.{k}" for k in self.SHARDED] if self.sharded else []

    def full_state(self) -> dict[str, torch.Tensor]:
        """The sharded checkpoint tensors gathered whole, so a checkpoint does not depend on the
        number of ranks (every rank must call this)."""
        if not self.sharded:
            return {}
        state = self.head.state_dict()
        return {f"head.loss.{k}": ddp.full_rows(state[k], self.n_classes) for k in self.SHARDED}

    def shard_state(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A (whole) checkpoint's per-class tensors cut to this rank's classes."""
        lo, hi = getattr(self.head, "lo", 0), getattr(self.head, "hi", 0)
        return {k: (v[lo:hi] if k in self._sharded_keys() else v) for k, v in tensors.items()}


def _new_gru(cfg: TrainConfig, texts: list[str], teacher: Teacher | None) -> GRUEncoder:
    """A fresh GRU with the teacher's tokenizer (and embeddings) or one trained on `texts`."""
    pad, unk, init = 0, 1, None
    if cfg.tokenizer == "teacher":
        tok, pad, unk = teacher.tokenizer()
        vocab = tok.get_vocab_size(with_added_tokens=True)
        if cfg.embed_init == "teacher":
            init = teacher.input_embeddings(cfg.embed_dim, cfg.seed)  # (V, E)
            vocab = max(vocab, init.shape[0])
    else:
        tok = train_tokenizer(texts, cfg.tokenizer, cfg.vocab_size, cfg.min_frequency)
        if ddp.world() > 1:  # a trained WordPiece breaks count ties in hash order: use rank 0's
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(ddp.broadcast_object(tok.to_str()))
        vocab = tok.get_vocab_size()
    module = GRUEncoder(vocab, cfg.embed_dim, cfg.hidden_size, cfg.num_layers, cfg.bidirectional,
                        cfg.pooling, cfg.dropout, cfg.max_length, pad_id=pad, unk_id=unk, tokenizer=tok)
    if init is not None:
        with torch.no_grad():
            module.embedding.weight[: init.shape[0]] = init
            module.embedding.weight[pad] = 0.0
    return module


def _stopped(out: Path, where: str, what: str, last_good: int | None) -> InputError:
    keep = (f"the last good checkpoint (epoch {last_good}) is kept in {out / 'checkpoint'}"
            if last_good else "no checkpoint had been saved yet")
    return InputError(f"{where}: {what}; training stopped (lower --lr?), {keep}", out)


def train(config: TrainConfig, texts: list[str], groups: list[str], out_dir: str | Path,
          eval_texts: list[str] | None = None, eval_groups: list[str] | None = None,
          progress: bool = True, resume: bool = False, unlabeled: list[str] | None = None,
          cache_dir: str | Path | None = None) -> Path:
    """Train an encoder on grouped sentences; returns the path of the best saved model.

    Args:
        config: a `TrainConfig` (checked by `resolved()` before anything else).
        texts, groups: training sentences and their paraphrase-group labels; duplicate texts
            are dropped first (counted in config.json as `n_duplicates_dropped`).
        out_dir: run folder (config.json, metrics.jsonl, curves.png, model/, checkpoint/),
            locked for the run so two runs cannot write into it at once.
        eval_texts, eval_groups: held-out data; when None, `config.eval_fraction` of each
            group's sentences is held out (stratified, seeded).
        progress: show tqdm bars.
        resume: continue from `<out_dir>/checkpoint` (same config and data required).
        unlabeled: extra sentences for the distillation term only (needs a teacher).
        cache_dir: where teacher vectors are cached (default `similarity.teacher.default_cache_dir()`).
    """
    cfg = config.resolved()
    ddp.init()  # under torchrun: join the other ranks (gloo on CPU, nccl on GPU); else nothing
    data = _prepare(cfg, texts, groups, eval_texts, eval_groups, unlabeled)
    # also a barrier: no rank writes into out_dir before every rank has checked it
    ddp.check_same_across_ranks(json.dumps([dataclasses.asdict(cfg), data.sha256]), "training data or settings")
    out = Path(out_dir)
    with run_lock(out) if ddp.is_main() else contextlib.nullcontext():
        path = _fit(cfg, data, out, progress and ddp.is_main(), resume, cache_dir)
    ddp.barrier()  # the other ranks return once rank 0 has written the model folder
    return path


def _teach(cfg: TrainConfig, data: _Data, cache_dir, progress: bool):
    """(teacher, (train targets, unlabelled targets), cost record) or Nones without a teacher."""
    from tqdm.auto import tqdm

    teacher = resolve_teacher(cfg.teacher)
    if teacher is None:
        return None, None, None
    if not ddp.is_main():
        ddp.barrier()  # rank 0 encodes and caches first; the others then read its cache
    t_lab, c_lab = teacher.vectors(data.texts, cache_dir)
    t_unl, c_unl = (teacher.vectors(data.unlabeled, cache_dir) if data.unlabeled
                    else (np.zeros((0, t_lab.shape[1]), np.float32), None))
    if ddp.is_main():
        ddp.barrier()
    costs = [c for c in (c_lab, c_unl) if c is not None]
    record = {"name": cfg.teacher, "fingerprint": teacher.fingerprint, "dim": int(t_lab.shape[1]),
              "n_sentences": sum(c.n for c in costs), "n_unlabeled": len(data.unlabeled),
              "cache": "+".join(c.cache for c in costs),
              "encode_seconds": round(sum(c.seconds for c in costs), 2),
              "encode_cpu_seconds": round(sum(c.cpu_seconds for c in costs), 2)}
    if progress:
        tqdm.write(f"teacher {cfg.teacher} ({teacher.fingerprint}): {record['n_sentences']} sentences, "
                   f"{record['encode_seconds']} s to encode (cache {record['cache']})")
    return teacher, (t_lab, t_unl), record


def _fit(cfg: TrainConfig, data: _Data, out: Path, progress: bool, resume: bool, cache_dir) -> Path:
    from tqdm.auto import tqdm

    texts, groups, eval_groups = data.texts, data.groups, data.eval_groups
    # knn against the training sentences when eval groups were seen; else leave-one-out.
    use_knn = bool(set(eval_groups) & set(groups))
    seed_all(cfg.seed)
    names = sorted(set(groups))
    label_of = {g: i for i, g in enumerate(names)}
    cfg_json = dataclasses.asdict(cfg)
    start, step, best, bad, history, last_good = 0, 0, -1.0, 0, [], None
    saved = tensors = meta = None
    if resume:
        tensors, meta = load_checkpoint(out / "checkpoint")
        if {k: v for k, v in meta["config"].items() if k != "epochs"} != \
                {k: v for k, v in cfg_json.items() if k != "epochs"}:
            raise InputError("config differs from the checkpoint's", out / "checkpoint")
        if meta["groups"] != names or meta["data_sha256"] != data.sha256:
            raise InputError("training data differs from the checkpoint's (sha256 of texts, "
                             "groups and eval data)", out / "checkpoint")
        folder = out / "checkpoint" / "module"
        saved = load_gru(folder) if cfg.backbone == "gru" else load_st(folder)
    teacher, targets, teacher_cost = _teach(cfg, data, cache_dir, progress)
    run = _Run(cfg, texts, [label_of[g] for g in groups], len(names), module=saved, teacher=teacher,
               targets=targets, unlabeled=data.unlabeled)
    ddp.check_same_across_ranks(_weights_digest(run.module), "initial weights")
    main = ddp.is_main()
    if main:
        out.mkdir(parents=True, exist_ok=True)
    if resume:
        restore(out / "checkpoint", run.shard_state(tensors), meta, run.heads, run.opt)
        start, step, best, bad = meta["epoch"] + 1, meta["step"], meta["best"], meta["bad"]
        history, last_good = meta["history"], meta["epoch"] + 1
    if main:
        _write_config(cfg_json, data, names, teacher_cost, use_knn, out)
        _write_metrics(history, out)

    per_epoch = len(run.batches(0))
    total = cfg.epochs * per_epoch if cfg.max_steps is None else min(cfg.max_steps,
                                                                     cfg.epochs * per_epoch)
    warm = round(cfg.warmup * total)
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
            if step < warm:
                factor *= (step + 1) / warm
            losses.append(run.step(idx, factor, step))
            if not math.isfinite(losses[-1]):
                raise _stopped(out, f"epoch {epoch + 1}, step {step + 1}",
                               f"the loss is not finite ({losses[-1]})", last_good)
            step += 1
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if step >= total:
                break
        bad_weights = run.non_finite_weights()
        if bad_weights:
            raise _stopped(out, f"epoch {epoch + 1}, step {step}",
                           f"weights are not finite (NaN or inf in {', '.join(bad_weights[:3])})", last_good)
        # rank 0 evaluates; every rank follows its verdict (best, patience, saving)
        rec = ddp.broadcast_object(_evaluate(run, data, use_knn, epoch, step, losses, t0) if main else None)
        history.append(rec)
        if progress:
            tqdm.write(f"epoch {epoch + 1}: loss {rec['loss']:.4f} held-out top-1 "
                       f"{rec['heldout_top1']:.4f}")
        if rec["heldout_top1"] > best:
            best, bad = rec["heldout_top1"], 0
            run.encoder.info = {"train_config": cfg_json, "best_epoch": epoch + 1,
                                "heldout_top1": best, "groups": len(names)}
            run.encoder.prototypes = run.prototypes(names)
            if main:
                run.encoder.save(out / "model")
        else:
            bad += 1
        whole = run.full_state()
        if main:
            save_checkpoint(out / "checkpoint", run.module.save, run.heads, run.opt,
                            {"config": cfg_json, "groups": names, "data_sha256": data.sha256,
                             "epoch": epoch, "step": step, "best": best, "bad": bad, "history": history},
                            whole)
            _write_metrics(history, out)
            plot_curves(history, ("loss", "heldout_top1"), out / "curves.png",
                        "similarity training: loss and held-out top-1", x="epoch")
        last_good = epoch + 1
    ddp.barrier()
    if not (out / "model").is_dir():
        raise InputError("training ran no epoch (checkpoint already finished?)", out)
    return out / "model"


def _evaluate(run: _Run, data: _Data, use_knn: bool, epoch: int, step: int, losses: list[float],
              t0: float) -> dict:
    """The epoch's metrics record: loss, held-out kNN top-1 (seen groups) and leave-one-out."""
    ev = run.encoder.encode(data.eval_texts)
    rec = {"epoch": epoch + 1, "step": step, "loss": float(np.mean(losses)),
           "seconds": round(time.perf_counter() - t0, 2), "step_losses": [float(v) for v in losses]}
    if use_knn:
        rec["knn_top1"] = knn_top1(ev, data.eval_groups, run.encoder.encode(data.texts), data.groups)
    rec.update(loo_topk(ev, data.eval_groups))
    rec["heldout_top1"] = rec["knn_top1"] if use_knn else rec["loo_top1"]
    return rec


def _write_config(cfg_json: dict, data: _Data, names: list[str], teacher_cost, use_knn: bool, out: Path) -> None:
    save_json({"train": cfg_json, "n_train": len(data.texts), "n_eval": len(data.eval_texts),
               "n_groups": len(names), "n_duplicates_dropped": data.n_duplicates,
               "n_unlabeled": len(data.unlabeled), "teacher": teacher_cost,
               "heldout_metric": "knn_top1" if use_knn else "loo_top1", "processes": ddp.world(),
               "data_sha256": data.sha256, "versions": library_versions()}, out / "config.json")


def _weights_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _write_metrics(history: list[dict], out: Path) -> None:
    """metrics.jsonl rewritten whole from the history, so a resume never repeats a line."""
    with atomic_file(out / "metrics.jsonl") as fh:
        fh.writelines(json.dumps(rec) + "\n" for rec in history)
