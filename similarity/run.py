"""One similarity training run's moving parts: encoder, loss head, distiller, optimiser, and one
step of training, in one process or as one rank of a torchrun job (see `textgan.common.distributed`).

`similarity.train` drives it (epochs, evaluation, checkpoints); this file owns what a step does:
embed a batch (a rank embeds its slice and gathers the rest), compute the margin loss and the
distillation terms, back-propagate, reduce the replicated gradients across ranks, update (dense
Adam, plus the lazy Adam of Partial FC centres), and the per-class state a checkpoint must hold whole.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from similarity.config import TrainConfig
from similarity.data import GroupBatchSampler
from similarity.distil import Distiller, auto_distil_scale, simcse_loss
from similarity.gru import GRUEncoder
from similarity.losses import make_loss
from similarity.outliers import OutlierLoss, cycle_batch
from similarity.model import SentenceEncoder, load_st, resolve_backbone
from similarity.teacher import Teacher
from similarity.tokenization import train_tokenizer
from textgan.common import distributed as ddp
from textgan.common.artifacts import non_finite_tensors


class TrainRun:
    """Encoder + loss head + optimizer for one run (keeps `train` readable)."""

    def __init__(self, cfg: TrainConfig, texts: list[str], labels: list[int], n_classes: int,
                 module: torch.nn.Module | None = None, teacher: Teacher | None = None,
                 targets: tuple[np.ndarray, np.ndarray] | None = None, unlabeled: list[str] = (),
                 outliers: list[str] = (), vo_sampler=None, tail: list[int] = (), tail_sampler=None):
        self.cfg = cfg
        if cfg.backbone == "gru":
            # resuming: the checkpoint's tokenizer and weights
            self.module = module.train() if module is not None else new_gru(cfg, texts, teacher)
            self.kind = "gru"
        else:
            self.module = module if module is not None else load_st(resolve_backbone(cfg.backbone))
            self.kind = "sentence-transformers"
        self.encoder = SentenceEncoder(self.module, self.kind)
        # the heads train the GRU's part of the vector (a lexical part, when on, is fixed TF-IDF)
        self.dim = self.module.gru_dim if self.kind == "gru" else self.encoder.dim
        self.texts, self.labels, self.unlabeled = texts, torch.tensor(labels), list(unlabeled)
        if self.kind == "gru":  # tokenise once
            self.ids, self.u_ids = self.module.token_ids(texts), self.module.token_ids(self.unlabeled)
        self.outliers = list(outliers)  # real out-of-scope sentences (similarity.outliers)
        if self.kind == "gru" and self.outliers:
            self.o_ids = self.module.token_ids(self.outliers)
        # under torchrun each rank holds a contiguous share of the class centres (similarity.partial_fc)
        self.n_classes = n_classes
        shard = ddp.row_range(n_classes) if ddp.world() > 1 else None
        self.head = make_loss(cfg.loss, self.dim, n_classes, cfg.scale, cfg.margin,
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
            # small data: stronger distillation (similarity.distil.auto_distil_scale)
            self.distil_scale = (cfg.distil_scale if cfg.distil_scale is not None
                                 else auto_distil_scale(len(texts), n_classes))
            self.heads["distil"] = Distiller(self.dim, self.targets[0].shape[1],
                                             cfg.distil_weight * self.distil_scale,
                                             cfg.distil_sim_weight * self.distil_scale)
        self.vo = None
        if cfg.virtual_outliers != "none" or self.outliers:  # the uncertainty loss of similarity.outliers
            self.vo = self.heads["vo"] = OutlierLoss(cfg.virtual_outliers, n_classes, self.dim,
                                                     cfg.vo_queue, cfg.vo_candidates, cfg.seed, vo_sampler)
            self.vo_per_epoch = len(self.batches(0))
            self.vo_from_step = (cfg.vo_start - 1) * self.vo_per_epoch
        self.synth = None
        if cfg.tail_synth != "none" and tail:  # rows of rare groups for the margin head (similarity.tail_synth)
            from similarity.tail_synth import TailSynth

            self.synth = self.heads["synth"] = TailSynth(cfg.tail_synth, n_classes, self.dim, list(tail),
                                                         cfg.tail_synth_rows, cfg.vo_queue, cfg.seed, tail_sampler)
            self.synth_per_epoch = len(self.batches(0))
        dense_heads = [p for p in self.heads.parameters() if not (self.sparse_head and p is self.head.weight)]
        # fused: one kernel per step instead of ~10 passes over the (vocab x dim) embedding's
        # moments, a fifth of a GRU step on CPU (bench/similarity.py's train_cpu_s)
        self.opt = torch.optim.Adam([
            {"params": list(self.module.parameters()), "lr": cfg.lr},
            {"params": dense_heads, "lr": cfg.lr * cfg.head_lr_mult}], fused=True)
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

    def _embed(self, idx: list[int], unlabeled: bool = False, outliers: bool = False,
               also_unlabeled: list[int] = ()) -> torch.Tensor:
        """(B, D) unit vectors of training (or unlabelled) sentences, with gradients; rows of
        `also_unlabeled` follow in the same pass (one recurrent pass over B + Bu rows costs little
        more than one over B: a GRU step on CPU is bound by per-timestep overhead, not rows).

        Under torchrun this rank embeds its rows `row_range(B)` only, padded to the whole batch's
        width and with the whole batch's dropout masks (`SliceDropout`), and the rows of all
        ranks are gathered: every rank then holds what one process would compute.
        """
        if self.kind == "gru":
            ids = self.o_ids if outliers else self.u_ids if unlabeled else self.ids
            feats = self.module.pad([ids[i] for i in idx] + [self.u_ids[i] for i in also_unlabeled])
        else:
            texts = self.outliers if outliers else self.unlabeled if unlabeled else self.texts
            feats = self.module.preprocess([texts[i] for i in idx] + [self.unlabeled[i] for i in also_unlabeled])
        idx = list(idx) + list(also_unlabeled)
        lo, hi = ddp.row_range(len(idx))
        if hi == lo:  # fewer rows than ranks: this rank embeds none (its gather keeps the graph)
            return ddp.gather_rows(torch.zeros(0, self.dim, requires_grad=True), len(idx))
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
        u_idx = self.unlabeled_batch(step) if self.targets is not None else []
        both = self._embed(idx, also_unlabeled=u_idx)  # (B + Bu, D)
        emb = both[:len(idx)]  # (B, D)
        loss = self.head(emb, self.labels[idx])
        if self.vo is not None:
            loss = loss + self.outlier_term(emb, idx, step)
        if self.synth is not None:
            if step % self.synth_per_epoch == 0:  # epoch start: an injected generator refits on the queues
                self.synth.refit(step // self.synth_per_epoch)
            self.synth.push(emb, self.labels[idx])
            extra = self.synth.loss(self.head, step)
            if extra is not None:
                loss = loss + self.cfg.tail_synth_weight * extra
        if self.targets is not None:
            teacher = self.targets[0][idx]
            if u_idx:
                teacher = torch.cat([teacher, self.targets[1][u_idx]])  # (B + Bu, Dt)
            loss = loss + self.heads["distil"](both, teacher)
        if self.cfg.ssl_weight:  # a second pass draws other dropout masks: the SimCSE positive
            loss = loss + self.cfg.ssl_weight * simcse_loss(emb, self._embed(idx))
        value = float(loss.detach())
        if not math.isfinite(value):
            return value
        self.opt.zero_grad(set_to_none=True)
        # every rank holds the whole batch's loss: each back-propagates its 1/W share, and summing
        # the replicated gradients over ranks gives one process's gradient (textgan.common.distributed)
        (loss / ddp.world()).backward()
        ddp.sum_gradients(self.replicated)
        self.opt.step()
        if self.sparse_head:
            self.head.sparse_step(self.base_lrs[1] * lr_factor)
        return value

    def outlier_term(self, emb: torch.Tensor, idx: list[int], step: int) -> torch.Tensor:
        """vo_weight x the uncertainty loss on the margin head's energy (similarity.outliers), with a
        batch of the real outlier sentences when given; the queues fill from the first step."""
        active = step >= self.vo_from_step
        if active and self.vo.sampler is not None and step % self.vo_per_epoch == 0:
            self.vo.refit(step // self.vo_per_epoch)  # epoch starts: a resume refits on the same queues
        real = None
        if active and self.outliers:
            o_idx = cycle_batch(len(self.outliers), self.cfg.batch_size, step, self.cfg.seed)
            real = self._embed(o_idx, outliers=True)
        return self.cfg.vo_weight * self.vo(self.head, emb, self.labels[idx], step, real, active)

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
        weight = F.normalize(weight.detach(), dim=-1)
        if self.kind == "gru" and self.module.lexical_dim:
            # prototypes in the vector's space: the lexical part is each group's mean TF-IDF vector
            lex = torch.zeros(self.n_classes, self.module.lexical_dim)
            with torch.no_grad():
                for s in range(0, len(self.texts), 1024):
                    f = self.module.lexical_features(self.texts[s:s + 1024])
                    lex.index_add_(0, self.labels[s:s + 1024], self.module.lexical(f["lexical_ids"], f["lexical_tf"]))
            weight = self.module.combine(weight, F.normalize(lex, dim=-1))
        return list(names), weight.numpy().astype(np.float32)

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


def new_gru(cfg: TrainConfig, texts: list[str], teacher: Teacher | None) -> GRUEncoder:
    """A fresh GRU with the teacher's tokenizer (and embeddings) or one trained on `texts`."""
    pad, unk, init = 0, 1, None
    if cfg.tokenizer == "teacher":
        tok, pad, unk = teacher.tokenizer()
        vocab = tok.get_vocab_size(with_added_tokens=True)
        if cfg.embed_init == "teacher":
            init = teacher.input_embeddings(cfg.embed_dim, cfg.seed)  # (V, E)
            vocab = max(vocab, init.shape[0])
        elif cfg.embed_init == "teacher-static":
            from similarity.static_init import static_embeddings

            init = static_embeddings(teacher, vocab, cfg.embed_dim, cfg.seed)  # (V, E)
            vocab = max(vocab, init.shape[0])
    else:
        tok = train_tokenizer(texts, cfg.tokenizer, cfg.vocab_size, cfg.min_frequency)
        if ddp.world() > 1:  # a trained WordPiece breaks count ties in hash order: use rank 0's
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(ddp.broadcast_object(tok.to_str()))
        vocab = tok.get_vocab_size()
    module = GRUEncoder(vocab, cfg.embed_dim, cfg.hidden_size, cfg.num_layers, cfg.bidirectional,
                        cfg.pooling, cfg.dropout, cfg.max_length, pad_id=pad, unk_id=unk, tokenizer=tok,
                        ngram_buckets=cfg.ngram_buckets, lexical_dim=cfg.lexical_dim,
                        lexical_weight=cfg.lexical_weight, lexical_grams=cfg.lexical_grams, lexical_nfkc=True)
    if cfg.lexical_dim:
        module.fit_lexical(texts)
    if init is not None:
        with torch.no_grad():
            module.embedding.weight[: init.shape[0]] = init
            module.embedding.weight[pad] = 0.0
    return module
