"""Commands for sentence similarity: train-similarity (evaluate-similarity:
`textgan.commands.evaluate`; encode and quantize-similarity: `textgan.commands.encode`). See
`textgan.commands` for what they share.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import click

from textgan.commands.common import (grouped_data, log_lines, progress_option, unlabeled_option,
                                     warnings_as_lines)
from textgan.common.errors import InputError


# --- sentence similarity ----------------------------------------------------------------
@click.command("train-similarity")
@click.argument("data")
@click.option("--text-col", default="text", show_default=True)
@click.option("--group-col", default="group", show_default=True)
@click.option("--out", "out_dir", required=True, help="Run folder (the model goes to OUT/model).")
@click.option("--pair-cols", default=None,
              help="DATA holds sentence pairs: A,B (every pair a paraphrase) or A,B,LABEL (0/1, or a "
                   "score with --positive-min); paraphrase pairs sharing a sentence form one group.")
@click.option("--positive-min", type=float, default=None,
              help="With --pair-cols A,B,LABEL: pairs whose LABEL is at least this are paraphrases "
                   "(default: label 1 of 0/1 labels).")
@click.option("--eval-data", default=None,
              help="Held-out grouped data (same columns; with --pair-cols a pair file too).")
@click.option("--eval-cols", default=None,
              help="Columns of --eval-data when they are named otherwise than DATA's: TEXT,GROUP (with "
                   "--pair-cols: A,B or A,B,LABEL).")
@click.option("--eval-fraction", type=float, default=None,
              help="Share of each group held out when no --eval-data (default 0.2, at most 0.5); when most groups "
                   "are too small for that (pairs), this share of the groups is held out whole.")
@click.option("--loss", default=None,
              help="am (default), aam, aam-easy, sphereface, a-softmax, softmax, infonce, triplet.")
@click.option("--scale", type=float, default=None)
@click.option("--margin", type=float, default=None)
@click.option("--epochs", type=int, default=None,
              help="Default: the backbone's (GRU 12; 30 below 1,000 training sentences; MiniLM 2).")
@click.option("--batch-size", type=int, default=None,
              help="Default 64 (16 for a GRU below 1,000 training sentences).")
@click.option("--lr", type=float, default=None,
              help="Default: the backbone's (GRU 2e-3; 5e-3 below 1,000 sentences; MiniLM 2e-5).")
@click.option("--seed", type=int, default=None)
@click.option("--patience", type=int, default=None)
@click.option("--backbone", default=None,
              help="gru (default), minilm, or a local sentence-transformers folder; transformers get "
                   "their own defaults (lr 2e-5, head lr x500, 10% warm-up, 2 epochs; batch 16 and 8 epochs below "
                   "1,000 training sentences, where fine-tuning minilm beat it off the shelf).")
@click.option("--teacher", default=None,
              help="Distil toward this model: minilm (default for the GRU), a local sentence-transformers "
                   "folder, or none.")
@unlabeled_option("Extra sentences for the distillation term only (.txt one per line, or a data file "
                  "read at --text-col).", default=None)
@click.option("--max-unlabeled", type=int, default=200_000, show_default=True,
              help="Refuse a larger --unlabeled (or --outliers) file, counted before repeats are dropped.")
@click.option("--teacher-cache", default=None,
              help="Folder of cached teacher vectors (default $TEXTGAN_CACHE_DIR/teacher or "
                   "~/.cache/textgan/teacher).")
@click.option("--distil-weight", type=float, default=None, help="Weight of 1 - cos(W student, teacher).")
@click.option("--distil-sim-weight", type=float, default=None,
              help="Weight of the in-batch cosine-matrix MSE against the teacher's.")
@click.option("--tokenizer", default=None,
              help="teacher (the teacher's WordPiece; default with a teacher), word (default without), "
                   "wordpiece or char (Chinese; the default for mostly Chinese/Japanese/Korean text when no "
                   "--teacher, --embed-init or --augment is given).")
@click.option("--embed-init", default=None,
              help="teacher-static (PCA of the teacher's per-token output vectors, model2vec; default with "
                   "--tokenizer teacher when model2vec is installed), teacher (PCA of the teacher's input "
                   "token embeddings; the default without model2vec) or random (default without a teacher).")
@click.option("--augment", type=int, default=None,
              help="Perturbed copies per training sentence, distillation only (default: auto, more for "
                   "small data, none from 4,000 sentences; 0 = off).")
@click.option("--distil-scale", type=float, default=None,
              help="Multiplier of both distillation weights (default: auto, up to 4x for few sentences "
                   "per group; 1 = as given).")
@click.option("--ngram-buckets", type=int, default=None,
              help="Hashed token bigram/trigram input features in this many rows (default 0 = off; "
                   "e.g. 65536 with --tokenizer char).")
@click.option("--lexical-dim", type=int, default=None,
              help="Width of a character n-gram TF-IDF part appended to the GRU's vector (default: 512 with "
                   "--tokenizer char or from 1,000 training sentences, else 0 = off); it carries the words "
                   "of groups the GRU never saw.")
@click.option("--lexical-weight", type=float, default=None,
              help="Share of the cosine that comes from the lexical part (default 0.5 with --tokenizer char, "
                   "else 0.2; with --pair-cols A,B,LABEL, chosen after training on the labelled pairs the model "
                   "did not train on, from --eval-data or else DATA).")
@click.option("--lexical-grams", type=int, default=None,
              help="Longest character gram of the lexical part, 1-5 (default 1 with --tokenizer char: single "
                   "characters of unsegmented Chinese; else 3, grams within words). For Chinese pairs that differ "
                   "only in word order (PAWS-X) give 3.")
@click.option("--ssl-weight", type=float, default=None,
              help="Weight of a SimCSE term (two dropout views of a sentence are positives; default 0).")
@click.option("--head-lr-mult", type=float, default=None, help="Class-weight lr / encoder lr.")
@click.option("--warmup", type=float, default=None, help="Share of steps with a rising learning rate.")
@click.option("--hidden", type=int, default=None, help="GRU hidden size per direction.")
@click.option("--embed-dim", type=int, default=None)
@click.option("--layers", type=int, default=None)
@click.option("--pooling", default=None, help="max, mean or last.")
@click.option("--max-steps", type=int, default=None, help="Cap on optimizer steps.")
@click.option("--partial-fc", type=float, default=None,
              help="Share of the groups in each step's softmax (Partial FC; default 1 = all). "
                   "For millions of groups, e.g. 0.1.")
@click.option("--virtual-outliers", default=None,
              help="Virtual outliers for an uncertainty loss on the margin head's energy: none (default), "
                   "gaussian (VOS), sphere, mixup, flow, boundary, anchored (similarity.outliers.SOURCES).")
@click.option("--vo-weight", type=float, default=None, help="Weight of the uncertainty loss (default 0.1).")
@click.option("--vo-start", type=int, default=None, help="Epoch from which it applies (default 2).")
@click.option("--outliers", "outliers_file", default=None,
              help="Real out-of-scope sentences (.txt one per line, or a data file read at --text-col) for the "
                   "same loss; those that are training sentences are dropped (warned).")
@click.option("--tail-synth", default=None,
              help="Synthetic rows of rare groups for the margin head (long tail): none (default), replay, "
                   "gaussian, calibrated, anchored (similarity.tail_synth.SYNTH).")
@click.option("--tail-synth-weight", type=float, default=None, help="Weight of their margin loss (default 1).")
@click.option("--tail-synth-rows", type=int, default=None, help="Synthetic rows per step (default 16).")
@click.option("--tail-below", type=int, default=None,
              help="Tail = groups with fewer training sentences (default: half the median group's).")
@click.option("--resume", is_flag=True,
              help="Continue from OUT/checkpoint: settings not given are the run's own; --epochs may change.")
@progress_option(quiet_alias=True)
def train_similarity_cmd(data, text_col, group_col, pair_cols, positive_min, out_dir, eval_data, eval_cols,
                         eval_fraction, resume, progress, unlabeled, max_unlabeled, teacher_cache, outliers_file,
                         **overrides) -> None:
    """Train a sentence encoder on grouped paraphrases in DATA (csv/tsv/json/jsonl/parquet,
    or hf:owner/name for a hub dataset), or on a file of sentence pairs with --pair-cols.

    Each group is a class; AM-Softmax (s=30, m=0.35) by default, plus a distillation term
    toward the teacher (all-MiniLM-L6-v2 by default; --teacher none for none), whose vectors
    are cached. The best model by held-out top-1 is saved to OUT/model, loadable by
    `similarity.load` and sentence-transformers. OUT must be new or empty unless --resume;
    duplicate sentences are dropped (counted).

    \b
    Example:
      textgan train-similarity data/faq_en.csv --text-col text --group-col group --out runs/sim
      textgan train-similarity data/faq_en.csv --unlabeled logs.txt --out runs/sim
      textgan train-similarity data/faq_zh.csv --tokenizer char --out runs/sim_zh
      textgan train-similarity pairs.tsv --pair-cols sentence1,sentence2,label --out runs/sim_pairs
      torchrun --nproc_per_node 2 -m cli train-similarity data/faq_en.csv --out runs/sim_ddp

    Under torchrun each process embeds its share of every batch and holds a share of the
    class centres; the result equals one process's at the same --batch-size.
    """
    import dataclasses

    import similarity
    from textgan.common.artifacts import check_new_out_dir, check_writable

    renames = {"hidden": "hidden_size", "layers": "num_layers"}
    fields = {renames.get(k, k): v for k, v in overrides.items() if v is not None}
    if eval_fraction is not None:
        fields["eval_fraction"] = eval_fraction
    given = dataclasses.replace(similarity.TrainConfig(), **fields)
    config = given.resolved()  # checked now; train() fills the fields left None by data size
    if teacher_cache is not None:
        from similarity.teacher import check_cache_dir

        check_cache_dir(teacher_cache)
    inputs = [data, eval_data, unlabeled, outliers_file, config.teacher, config.backbone]
    check_writable(check_new_out_dir(out_dir, resume, inputs=inputs))
    with warnings_as_lines(hold=True) as said:  # the reading's warnings wait: a bad later file's error comes alone
        source = click.get_current_context().get_parameter_source
        named = {n for n in ("text_col", "group_col") if source(n).name != "DEFAULT"}
        if pair_cols and (named - ({"text_col"} if unlabeled or outliers_file else set())):  # they were ignored
            raise InputError("names a column of grouped DATA; with --pair-cols A,B[,LABEL] the pairs' columns are "
                             "named there (--text-col only reads --unlabeled / --outliers)",
                             f"--{min(named).replace('_', '-')}")
        if pair_cols is None and positive_min is not None:
            raise InputError("--positive-min applies to a pair file: add --pair-cols A,B,LABEL", data)
        if eval_cols is not None and eval_data is None:
            raise InputError("--eval-cols names the columns of --eval-data: pass --eval-data too", data)
        if eval_fraction is not None and eval_data is not None:  # it was silently not read
            raise InputError("--eval-fraction holds out part of DATA; --eval-data is the held-out set instead: "
                             "drop one", eval_data)
        (texts, groups), (ev_t, ev_g) = grouped_data(data, eval_data, text_col, group_col, pair_cols, positive_min,
                                                     eval_cols, "--eval-cols")
        # labelled pairs choose the lexical weight: the held-out file's, else DATA's own (train()
        # keeps those with no training sentence: mostly pairs below --positive-min)
        scored = _scored_pairs(eval_data or data, eval_cols or pair_cols) if pair_cols else None
        extra = None
        from similarity.language import for_language

        from similarity.config import for_data_size
        from similarity.train import training_rows

        n_train = training_rows(given, texts, groups, ev_t, ev_g, (data, eval_data))
        effective = for_language(for_data_size(given, n_train), texts, announce=False).resolved()  # as train()
        given_cap = click.get_current_context().get_parameter_source("max_unlabeled").name != "DEFAULT"
        _check_used({**fields, "teacher_cache": teacher_cache, "max_unlabeled": max_unlabeled if given_cap else None},
                    effective, {"unlabeled": unlabeled, "outliers": outliers_file})
        if unlabeled:
            from similarity.distil import load_unlabeled, no_teacher_for_unlabeled

            if effective.teacher == "none":
                raise InputError(no_teacher_for_unlabeled(given), unlabeled)
            extra = load_unlabeled(unlabeled, text_col, max_unlabeled)
        real = None
        if outliers_file:
            from similarity.distil import load_unlabeled

            real = load_unlabeled(outliers_file, text_col, max_unlabeled, purpose="as an outlier")
        said.release()  # every input read: its warnings pass to the command's block (printed within HOLD_S)
        from textgan.workflow.vo_kinds import kind_sampler, tail_sampler

        import os

        from textgan.common.distributed import is_main

        # a log file gets the teacher and epoch lines as they come; under torchrun rank 0's alone (RANK: the
        # process group is joined inside train(), so is_main() reads 0 on every rank here)
        with log_lines(not progress and os.environ.get("RANK", "0") in ("", "0")):
            path = similarity.train(given, texts, groups, out_dir, ev_t, ev_g, progress=progress,
                                    resume=resume, unlabeled=extra, cache_dir=teacher_cache, outliers=real,
                                    vo_sampler=kind_sampler(config.virtual_outliers),
                                    tail_sampler=tail_sampler(config.tail_synth),
                                    data_names=(data, eval_data, outliers_file), eval_pairs=scored)
    if is_main():  # under torchrun every rank returns here
        click.echo(f"saved model to {path}{_shape(path)}")
        _echo_early_stop(Path(out_dir))
        _echo_heldout(Path(out_dir) / "heldout.json")


def _scored_pairs(path, cols: str):
    """(a, b, labels) of a pair file with a label column (graded or 0/1), else None."""
    import similarity

    names = [c.strip() for c in cols.split(",")]
    return similarity.load_pairs(path, *names) if len(names) == 3 else None


# options that only act through another one: (fields, what must be on, how to turn it on)
def _check_used(fields: dict, effective, files: dict) -> None:
    """An option the run would silently ignore is refused (`similarity.config.check_acting`)."""
    from similarity.config import check_acting

    check_acting(fields, effective, files)


def _shape(model) -> str:
    """' (768-d: GRU 256 + lexical 512 at weight 0.2)' for a model with a lexical part, else ''."""
    import json

    info = json.loads((Path(model) / "similarity_config.json").read_text(encoding="utf-8"))
    train = info.get("train_config") or {}
    lex = train.get("lexical_dim") or 0
    if not lex:
        return ""
    return f" ({info['dim']}-d: GRU {info['dim'] - lex} + lexical {lex} at weight {train.get('lexical_weight')})"


def _echo_early_stop(run) -> None:
    """Say when patience ended the run before --epochs (a user who asked for 16 saw 9 silently)."""
    import json

    try:
        train = json.loads((run / "config.json").read_text(encoding="utf-8"))["train"]
        lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        last = json.loads(lines[-1])["epoch"] if lines else 0
    except (OSError, ValueError, KeyError, TypeError):
        return
    epochs, patience = train.get("epochs"), train.get("patience")
    if train.get("max_steps") is None and isinstance(epochs, int) and isinstance(last, int) and 0 < last < epochs:
        click.echo(f"stopped early after epoch {last} of {epochs}: no held-out gain for {patience} "
                   f"epoch{'' if patience == 1 else 's'} (--patience {patience})")


def _echo_heldout(path) -> None:
    """The model's held-out figures beside its teacher's, and the advice when it is worse."""
    import json

    if not path.is_file():
        return
    h = json.loads(path.read_text(encoding="utf-8"))
    ref, name = ("teacher", f"teacher {h['teacher_name']}") if "teacher" in h else ("baseline", h["baseline_name"])
    click.echo("held-out (best epoch " + str(h["epoch"]) + "): " + ", ".join(
        f"{k} model {v:.3f} vs {name} {h[ref][k]:.3f}" for k, v in h["model"].items()))
    if isinstance(ci := h.get("ci95_model_minus_ref"), dict) and ci:  # folders before it have none
        n = h.get("n_scored") if isinstance(h.get("n_scored"), dict) else {}
        click.echo(f"  model minus {name}, paired 95% interval over the held-out sentences: " + ", ".join(
            f"{k} [{100 * lo:+.1f}, {100 * hi:+.1f}] points ({n.get(k, h['n_eval'])} sentences)"
            for k, (lo, hi) in ci.items()))
    if isinstance(lw := h.get("lexical_weight"), dict):
        click.echo(_lexical_line(lw))
    if h.get("recommendation"):
        click.echo(f"recommendation: {h['recommendation']}")


def _lexical_line(lw: dict) -> str:
    """'lexical weight 0.8 chosen on 750 scored pairs the model did not train on: Spearman 0.706 (0.644 at
    the trained 0.2, paired 95% interval of the gain [+4.1, +8.2] points; minilm 0.730)'."""
    by = lw["by_weight"]
    own, chosen, best = (f"{lw[k]:g}" for k in ("trained_weight", "chosen", "best"))
    lo, hi = lw["ci95_best_minus_trained"]
    gain = f"paired 95% interval of the gain [{100 * lo:+.1f}, {100 * hi:+.1f}] points"
    ref = f"{lw['reference']} {lw['reference_spearman']:.3f}" if lw.get("reference_spearman") is not None else \
        f"{lw['reference']}: no figure"
    on = f"{lw['n_pairs']} scored pairs the model did not train on"
    if lw["given"]:
        return (f"{on}: Spearman {by[own]:.3f} at the given --lexical-weight {own} (best {by[best]:.3f} at "
                f"{best}; {ref})")
    if chosen != own:
        return (f"lexical weight {chosen} chosen on {on}: Spearman {by[chosen]:.3f} ({by[own]:.3f} at the trained "
                f"{own}, {gain}; {ref})")
    if best == own:
        return f"lexical weight {own} kept: the best of 0.1-0.9 on {on} (Spearman {by[own]:.3f}; {ref})"
    return f"lexical weight {own} kept on {on}: Spearman {by[own]:.3f} (best {by[best]:.3f} at {best}, {gain}; {ref})"
