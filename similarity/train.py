"""Training a sentence encoder as a classifier over paraphrase groups.

Adam on encoder + loss head, a held-out evaluation per epoch, the best model (held-out top-1) saved to
`<out>/model`, early stopping on patience; `config.json` (with data counts and digest), `metrics.jsonl`,
`curves.png` and a resumable `checkpoint/`. Duplicates are dropped before the split; a non-finite loss or weight
stops the run with an InputError, keeping the last good checkpoint. With a teacher (`similarity.teacher`), each
step adds the `similarity.distil.Distiller` terms on the labelled batch and as many unlabelled sentences (teacher
vectors computed once, cached, their cost in config.json). The model keeps the head's class weights as prototypes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from similarity.augment import training_copies
from similarity.checkpoint import load_checkpoint, restore, save_checkpoint, weights_digest, write_run_config
from similarity.config import TrainConfig, check_acting, check_vo_start, for_data_size, non_default
from similarity.distil import no_teacher_for_unlabeled
from similarity.data import api_rows, keep_groups, split_groups, split_whole_groups
from similarity.heldout_rows import check_eval_groups, drop_repeats, drop_seen
from similarity.lexical_choice import check_pairs, choose_lexical_weight
from similarity.advice import heldout_report
from similarity.evaluate import knn_top1, loo_topk
from similarity.seen import sentence_keys
from similarity.model import load_gru, load_st
from similarity.run import TrainRun
from similarity.say import say
from similarity.schedule import check_vo_steps, resumed, say_nothing_left, warmup_steps
from similarity.tail_synth import tail_for_run
from similarity.teacher import check_cache_dir, resolve_teacher
from textgan.common.args import path as as_path
from textgan.common import distributed as ddp
from textgan.common.artifacts import check_new_out_dir, run_lock
from textgan.common.errors import InputError
from textgan.common.runs import RunFolder, run_identity
from textgan.common.state import seed_all
from textgan.common.texts import is_blank, text_key

__all__ = ["TrainConfig", "train"]

RESUMABLE_CHANGES = ("epochs",)  # a run stopped early may go on for more epochs


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
    outliers: list[str] = ()  # real out-of-scope sentences for the uncertainty loss
    augmented: tuple[str, ...] = ()  # perturbed training sentences, distillation only (similarity.augment)
    pairs: tuple | None = None  # held-out scored pairs (a, b, scores) that choose the lexical weight
    weight_given: bool = False  # --lexical-weight was given: the pairs score it, they do not change it


def _sha256(*columns) -> str:
    return hashlib.sha256(json.dumps(columns, ensure_ascii=False).encode("utf-8")).hexdigest()


def _prepare(cfg: TrainConfig, texts, groups, eval_texts, eval_groups, unlabeled, outliers=None,
             names=(None, None)) -> _Data:
    data = _prepare_groups(cfg, texts, groups, eval_texts, eval_groups, unlabeled, names)
    if outliers is None:
        return data
    from similarity.losses import MARGINS

    if cfg.loss not in MARGINS:
        raise InputError(f"--outliers trains the energy of a margin head; loss {cfg.loss!r} has none")
    check_vo_start(cfg)
    outliers = [str(t) for t in outliers]
    known = {text_key(t) for t in [*data.texts, *data.eval_texts]}  # as drop_seen: NFKC, no zero-width
    kept = [t for t in dict.fromkeys(outliers) if text_key(t) and text_key(t) not in known]
    n_overlap = sum(1 for t in dict.fromkeys(outliers) if text_key(t) in known)
    if not kept:  # before the warning: one error line, naming the outliers file (data_names[2]) when given
        raise InputError(f"no outlier sentences left ({len(outliers)} given, {n_overlap} of them training or "
                         "held-out sentences)", names[2] if len(names) > 2 else "--outliers")
    if n_overlap:
        warnings.warn(f"dropped {n_overlap} outlier sentence(s) that are also training or held-out "
                      f"sentences; {len(kept)} kept", stacklevel=3)
    digest = _sha256(data.sha256, outliers)
    return dataclasses.replace(data, sha256=digest, outliers=kept)


def _prepare_groups(cfg: TrainConfig, texts, groups, eval_texts, eval_groups, unlabeled, names) -> _Data:
    if (bad := next((i for i, (t, g) in enumerate(zip(texts, groups)) if is_blank(t) or g is None), None)) is not None:
        raise InputError(f"row {bad + 1}: blank text or no group label", names[0])
    texts, groups = keep_groups(texts, list(groups), names[0] or "training data")  # groups of one: as the CLI
    unlabeled = [str(t) for t in unlabeled or []]
    digest = _sha256(list(texts), list(groups), eval_texts, eval_groups, *([unlabeled] if unlabeled else []))
    texts, groups, n_dup = drop_repeats(texts, groups, stacklevel=4, split=eval_texts is None)
    texts, groups = keep_groups(texts, groups, names[0] or "training data")  # groups the repeats left with one
    if len(set(groups)) < 2:
        why = f" after dropping {n_dup} repeated sentence(s), equal up to case, width and spacing" if n_dup else ""
        raise InputError(f"need at least two groups of two or more sentences to train (found {len(set(groups))}{why})",
                         names[0])
    if eval_texts is None:
        tr, ho = split_groups(texts, groups, cfg.eval_fraction, cfg.seed)
        # mostly groups of two (paraphrase pairs): the few sentences of larger groups would make a
        # held-out set too small to choose an epoch on; hold out whole groups, scored leave-one-out
        # or sentences of one group only (one large group beside pairs): every figure would read 1.0
        if len(ho) < 0.5 * cfg.eval_fraction * len(texts) or len({groups[i] for i in ho}) < 2:
            tr, ho = split_whole_groups(groups, cfg.eval_fraction, cfg.seed)
            if not ho:
                raise InputError("groups too small to hold out any sentence and fewer than 4 groups to hold "
                                 "out whole; pass eval data", names[0])
            warnings.warn(f"groups too small to hold out {cfg.eval_fraction:.2g} of each: held out {len(ho)} "
                          f"sentences in {len(set(groups[i] for i in ho))} whole groups instead (held-out figure: "
                          "leave-one-out among their sentences)", stacklevel=3)
        return _Data([texts[i] for i in tr], [groups[i] for i in tr], [texts[i] for i in ho],
                     [groups[i] for i in ho], n_dup, digest, unlabeled)
    if eval_groups is None or len(eval_groups) != len(eval_texts) or len(eval_texts) < 2:
        raise InputError("eval data needs at least two sentences with one group label each", names[1])
    eval_texts, eval_groups = drop_seen(eval_texts, eval_groups, texts, names[1] or "eval data")
    check_eval_groups(eval_groups, groups, names[1])
    return _Data(texts, groups, eval_texts, eval_groups, n_dup, digest, unlabeled)


def training_rows(cfg: TrainConfig, texts, groups, eval_texts, eval_groups, names=(None, None)) -> int:
    """How many sentences train (after duplicates and the held-out split): what `for_data_size` sizes."""
    with warnings.catch_warnings():  # said once, when train() prepares the data
        warnings.simplefilter("ignore")
        try:
            return len(_prepare_groups(cfg, texts, groups, eval_texts, eval_groups, None, names).texts)
        except InputError:  # raised where train() prepares the data, after the checks of the settings
            return len(texts)


def train(config: TrainConfig, texts: list[str], groups: list[str], out_dir: str | Path,
          eval_texts: list[str] | None = None, eval_groups: list[str] | None = None,
          progress: bool = True, resume: bool = False, unlabeled: list[str] | None = None,
          cache_dir: str | Path | None = None, outliers: list[str] | None = None, vo_sampler=None,
          tail_sampler=None, data_names: tuple[str | None, ...] = (None, None), eval_pairs=None) -> Path:
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
        outliers: real out-of-scope sentences for the uncertainty loss of `similarity.outliers`
            (margin losses only); those that are also training sentences are dropped (warned).
        vo_sampler: the generator of `--virtual-outliers flow|boundary` (`similarity.outliers.KindSampler`,
            built by `textgan.workflow.vo_kinds.kind_sampler`); `tail_sampler` the same for
            `--tail-synth anchored` (`textgan.workflow.vo_kinds.tail_sampler`).
        data_names: the files of the training and held-out data (and of the outliers), named in errors.
        eval_pairs: (a, b, scores) pairs, graded or 0/1: after training the lexical part's weight is
            chosen on the Spearman of those without a training sentence, unless `config.lexical_weight`
            is given (`similarity.lexical_choice`; the record in heldout.json).
    """
    from similarity.language import for_language

    if not isinstance(config, TrainConfig):
        raise InputError(f"config must be a similarity.TrainConfig, got {type(config).__name__}")
    if not isinstance(data_names, (tuple, list)) or not {type(progress), type(resume)} <= {bool}:  # "no" is truthy
        raise InputError("data_names must be a tuple of file names; progress and resume True or False")
    check_new_out_dir(as_path(out_dir, "out_dir"), resume=resume)  # before any data is read; as the CLI
    if cache_dir is not None:
        check_cache_dir(as_path(cache_dir, "cache_dir"), "cache_dir")
    ddp.init()  # under torchrun: join the other ranks (gloo on CPU, nccl on GPU); else nothing
    texts, groups, eval_texts, eval_groups = api_rows(texts, groups, eval_texts, eval_groups)
    config.resolved()  # its fields checked before the data is read
    sized = for_data_size(config, training_rows(config, texts, groups, eval_texts, eval_groups, data_names))
    cfg = for_language(sized, texts, announce=ddp.is_main()).resolved()  # reads the first 2,000 only
    if resume:  # the run's own settings where none is given: --resume alone continues the run as it was set
        cfg = resumed(cfg, non_default(config), Path(out_dir) / "checkpoint")
    if unlabeled and cfg.teacher == "none":
        raise InputError(no_teacher_for_unlabeled(config))
    check_acting(non_default(config), cfg, {"unlabeled": unlabeled, "outliers": outliers, "eval": eval_texts}, False)
    from similarity.outliers import SOURCES

    if SOURCES[cfg.virtual_outliers].injected and vo_sampler is None:
        raise InputError(f"--virtual-outliers {cfg.virtual_outliers} samples a generator of textgan's kinds: "
                         "train with the textgan CLI (or pass vo_sampler)")
    from similarity.tail_synth import SYNTH
    if SYNTH[cfg.tail_synth].injected and tail_sampler is None:
        raise InputError(f"--tail-synth {cfg.tail_synth} samples a generator of textgan's kinds: "
                         "train with the textgan CLI (or pass tail_sampler)")
    data = _prepare(cfg, texts, groups, eval_texts, eval_groups, unlabeled, outliers, data_names)
    data = dataclasses.replace(data, augmented=training_copies(cfg, data.texts),  # refused before any write
                               pairs=check_pairs(eval_pairs, cfg, data_names[1] or data_names[0], data.texts,
                                                 given=config.lexical_weight is not None),
                               weight_given=config.lexical_weight is not None)
    if (config.batch_size or 0) > len(data.texts) and ddp.is_main():  # given; one step an epoch may be meant
        warnings.warn(f"--batch-size {cfg.batch_size} is more than the {len(data.texts)} training sentences: one step "
                      "an epoch, every sentence in it", stacklevel=2)
    # also a barrier: no rank writes into out_dir before every rank has checked it
    ddp.check_same_across_ranks(json.dumps([dataclasses.asdict(cfg), data.sha256]), "training data or settings")
    out = Path(out_dir)
    with run_lock(out) if ddp.is_main() else contextlib.nullcontext():
        path = _fit(cfg, data, out, progress and ddp.is_main(), resume, cache_dir, (vo_sampler, tail_sampler))
    ddp.barrier()  # the other ranks return once rank 0 has written the model folder
    return path


def _teach(cfg: TrainConfig, data: _Data, cache_dir, progress: bool):
    """(teacher, (train targets, unlabelled targets), cost record) or Nones without a teacher."""
    teacher = resolve_teacher(cfg.teacher)
    if teacher is None:
        return None, None, None
    teacher.cache_dir, teacher.progress = cache_dir, progress  # the static init (similarity.static_init) too
    from similarity.language import language_warning

    mismatch = language_warning(cfg.teacher, teacher.path, data.texts)
    if mismatch and ddp.is_main():
        warnings.warn(mismatch, stacklevel=3)
    if not ddp.is_main():
        ddp.barrier()  # rank 0 encodes and caches first; the others then read its cache
    t_lab, c_lab = teacher.vectors(data.texts, cache_dir)
    extra = data.unlabeled + list(data.augmented)
    t_unl, c_unl = (teacher.vectors(extra, cache_dir) if extra
                    else (np.zeros((0, t_lab.shape[1]), np.float32), None))
    if ddp.is_main():
        ddp.barrier()
    costs = [c for c in (c_lab, c_unl) if c is not None]
    record = {"name": cfg.teacher, "fingerprint": teacher.fingerprint, "dim": int(t_lab.shape[1]),
              "n_sentences": sum(c.n for c in costs), "n_unlabeled": len(data.unlabeled),
              "n_augmented": len(data.augmented),
              "cache": "+".join(c.cache for c in costs),
              "encode_seconds": round(sum(c.seconds for c in costs), 2),
              "encode_cpu_seconds": round(sum(c.cpu_seconds for c in costs), 2)}
    say(f"teacher {cfg.teacher} ({teacher.fingerprint}): {record['n_sentences']} sentences, "
        f"{record['encode_seconds']} s to encode (cache {record['cache']})", progress)
    return teacher, (t_lab, t_unl), record


@dataclass
class _Progress:
    """Where the run stands: next epoch, optimiser steps, best held-out top-1, epochs without
    improvement, the metric records so far (all saved in every checkpoint)."""

    epoch: int = 0
    step: int = 0
    best: float = -1.0
    bad: int = 0
    history: list = field(default_factory=list)


def _identity(config: dict, names: list[str], sha256: str) -> dict:
    return run_identity(config, RESUMABLE_CHANGES, groups=names, data_sha256=sha256)


def _fit(cfg: TrainConfig, data: _Data, out: Path, progress: bool, resume: bool, cache_dir, samplers=(None, None)) -> Path:
    # knn against the training sentences when eval groups were seen; else leave-one-out.
    use_knn = bool(set(data.eval_groups) & set(data.groups))
    seed_all(cfg.seed)
    names = sorted(set(data.groups))
    cfg_json = dataclasses.asdict(cfg)
    folder = RunFolder(out, "epoch", ddp.is_main(), lower="a lower --lr")
    saved = tensors = meta = None
    if resume:
        tensors, meta = load_checkpoint(folder.checkpoint)
        folder.check_resume(_identity(meta["config"], meta["groups"], meta["data_sha256"]),
                            _identity(cfg_json, names, data.sha256), RESUMABLE_CHANGES)
        if meta["epoch"] + 1 > cfg.epochs:  # saving it as an N-epoch model would misreport it (train-gan refuses too)
            raise InputError(f"the checkpoint has {meta['epoch'] + 1} epoch(s), past --epochs {cfg.epochs}: resume "
                             f"with --epochs {meta['epoch'] + 1} or more", folder.checkpoint)
        if not (out / "model").is_dir():  # saved before every checkpoint: deleted since
            raise InputError("its model/ (the best epoch's weights) is missing: restore it, or train into a "
                             "new --out", out)
        module_dir = folder.checkpoint / "module"
        saved = load_gru(module_dir) if cfg.backbone == "gru" else load_st(module_dir)
    teacher, targets, teacher_cost = _teach(cfg, data, cache_dir, progress)
    label_of = {g: i for i, g in enumerate(names)}
    labels = [label_of[g] for g in data.groups]
    tail = tail_for_run(cfg.tail_synth, cfg.tail_below, labels, len(names), progress)
    run = TrainRun(cfg, data.texts, labels, len(names), module=saved, teacher=teacher, targets=targets,
                   unlabeled=data.unlabeled + list(data.augmented), outliers=data.outliers, vo_sampler=samplers[0],
                   tail=tail, tail_sampler=samplers[1])
    if teacher_cost is not None:
        teacher_cost["distil_scale"] = round(run.distil_scale, 4)
    ddp.check_same_across_ranks(weights_digest(run.module), "initial weights")
    state = _Progress()
    if folder.main:
        out.mkdir(parents=True, exist_ok=True)
    if resume:
        restore(folder.checkpoint, run.shard_state(tensors), meta, run.heads, run.opt)
        state = _Progress(meta["epoch"] + 1, meta["step"], meta["best"], meta["bad"], meta["history"])
    if folder.main:
        write_run_config(cfg_json, data, names, teacher_cost, use_knn, out)
    folder.restart(state.epoch, rows=state.history)
    _epochs(cfg, run, data, names, folder, state, use_knn, progress)
    ddp.barrier()
    if not (out / "model").is_dir():
        raise InputError("training ran no epoch (checkpoint already finished?)", out)
    if folder.main:
        choice = choose_lexical_weight(out / "model", data.pairs, data.weight_given) if data.pairs else None
        heldout_report(cfg, data, teacher, targets[0] if teacher is not None else None, state.history, use_knn,
                       cache_dir, out, choice)
    return out / "model"


def _epochs(cfg: TrainConfig, run: TrainRun, data: _Data, names: list[str], folder: RunFolder,
            state: _Progress, use_knn: bool, progress: bool) -> None:
    """Train epoch after epoch until `cfg.epochs`, the step cap or patience runs out."""
    per_epoch = len(run.batches(0))
    total = cfg.epochs * per_epoch if cfg.max_steps is None else min(cfg.max_steps, cfg.epochs * per_epoch)
    check_vo_steps(cfg, bool(run.outliers), per_epoch, total)
    warm = warmup_steps(cfg, total, folder.main)
    if folder.main:
        say_nothing_left(cfg, state.epoch, state.step, state.bad, total)
    t0 = time.perf_counter()
    for epoch in range(state.epoch, cfg.epochs):
        if state.step >= total or state.bad >= cfg.patience:
            break
        losses = _train_epoch(cfg, run, folder, state, epoch, (warm, total), progress)
        # rank 0 evaluates; every rank follows its verdict (best, patience, saving)
        rec = ddp.broadcast_object(_evaluate(run, data, use_knn, epoch, state.step, losses, t0)
                                   if folder.main else None)
        state.history.append(rec)
        say(f"epoch {epoch + 1}: loss {rec['loss']:.4f} held-out top-1 {rec['heldout_top1']:.4f}", progress)
        _end_epoch(cfg, run, data, names, folder, state, epoch, rec)


def _train_epoch(cfg: TrainConfig, run: TrainRun, folder: RunFolder, state: _Progress, epoch: int,
                 steps: tuple[int, int], progress: bool) -> list[float]:
    """One epoch's optimiser steps (warm-up, then constant or linearly decayed lr); their losses."""
    from tqdm.auto import tqdm

    warm, total = steps
    run.module.train()
    losses = []
    bar = tqdm(run.batches(epoch), disable=not progress, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False)
    for idx in bar:
        factor = 1.0 if cfg.lr_decay == "constant" else max(0.0, 1 - state.step / total)
        if state.step < warm:
            factor *= (state.step + 1) / warm
        losses.append(run.step(idx, factor, state.step))
        if not math.isfinite(losses[-1]):
            raise folder.diverged(f"epoch {epoch + 1}, step {state.step + 1}: the loss is not finite ({losses[-1]})")
        state.step += 1
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if state.step >= total:
            break
    bad_weights = run.non_finite_weights()
    if bad_weights:
        raise folder.diverged(f"epoch {epoch + 1}, step {state.step}: weights are not finite "
                              f"(NaN or inf in {', '.join(bad_weights[:3])})")
    return losses


def _end_epoch(cfg: TrainConfig, run: TrainRun, data: _Data, names: list[str], folder: RunFolder,
               state: _Progress, epoch: int, rec: dict) -> None:
    """Keep the model when it is the best so far, then checkpoint, log and plot the epoch."""
    cfg_json = dataclasses.asdict(cfg)
    if rec["heldout_top1"] > state.best:
        state.best, state.bad = rec["heldout_top1"], 0
        run.encoder.info = {"train_config": cfg_json, "best_epoch": epoch + 1,
                            "heldout_top1": state.best, "groups": len(names)}
        run.encoder.prototypes = run.prototypes(names)
        if folder.main:
            # the held-out split's vectors travel with the model: thresholds fitted on them hold
            # on sentences the encoder never trained on (textgan.workflow.heldout)
            run.encoder.heldout = run.encoder.encode(data.eval_texts)
            run.encoder.trained = sentence_keys(data.texts)  # evaluate warns on its own training data
            run.encoder.save(folder.out / "model")
    else:
        state.bad += 1
    whole = run.full_state()
    if folder.main:
        save_checkpoint(folder.checkpoint, run.module.save, run.heads, run.opt,
                        {"config": cfg_json, "groups": names, "data_sha256": data.sha256, "epoch": epoch,
                         "step": state.step, "best": state.best, "bad": state.bad, "history": state.history}, whole)
    folder.log(rec)
    folder.plot(("loss", "heldout_top1"), "curves.png", "similarity training: loss and held-out top-1")
    folder.checkpointed(epoch + 1)


def _evaluate(run: TrainRun, data: _Data, use_knn: bool, epoch: int, step: int, losses: list[float],
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
