"""`textgan` command line: thin click wrappers over the workflow and library functions.

Imports flow one way (cli -> workflow -> core): nothing imports this module.
Heavy imports (torch, faiss) happen inside each command so `--help` stays fast.
Every user-fixable problem is an `InputError`: one line on stderr, exit code 2.
"""
from __future__ import annotations

import contextlib
import os
import sys

import click

from textgan.errors import InputError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="textgan")
def cli() -> None:
    """textgan: margin-softmax sentence encoders, GANs on sentence embeddings, FAISS retrieval.

    Typical workflow: train-similarity -> train-gan -> generate-embeddings (decoded with an index).
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: turns InputError into `error: ...` and exit code 2."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # unreadable/unwritable paths, a folder where a file was expected, ...
        where = exc.filename if exc.filename is not None else "?"
        click.echo(f"error: {where}: {exc.strerror or exc.__class__.__name__}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


# --- sentence similarity ----------------------------------------------------------------
@cli.command("train-similarity")
@click.argument("data")
@click.option("--text-col", default="text", show_default=True)
@click.option("--group-col", default="group", show_default=True)
@click.option("--out", "out_dir", required=True, help="Run folder (the model goes to OUT/model).")
@click.option("--eval-data", default=None, help="Held-out grouped data (same columns).")
@click.option("--eval-fraction", type=float, default=None,
              help="Share of each group held out when no --eval-data (default 0.2).")
@click.option("--loss", default=None,
              help="am (default), aam, aam-easy, sphereface, a-softmax, softmax, infonce, triplet.")
@click.option("--scale", type=float, default=None)
@click.option("--margin", type=float, default=None)
@click.option("--epochs", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--patience", type=int, default=None)
@click.option("--backbone", default=None,
              help="gru (default), minilm, or a local sentence-transformers folder; transformers get "
                   "their own defaults (lr 2e-5, head lr x500, 10% warm-up, 2 epochs).")
@click.option("--teacher", default=None,
              help="Distil toward this model: minilm (default for the GRU), a local sentence-transformers "
                   "folder, or none.")
@click.option("--unlabeled", default=None,
              help="Extra sentences for the distillation term only (.txt one per line, or a data file "
                   "read at --text-col).")
@click.option("--max-unlabeled", type=int, default=200_000, show_default=True,
              help="Refuse a larger --unlabeled file.")
@click.option("--teacher-cache", default=None,
              help="Folder of cached teacher vectors (default $TEXTGAN_CACHE_DIR/teacher or "
                   "~/.cache/textgan/teacher).")
@click.option("--distil-weight", type=float, default=None, help="Weight of 1 - cos(W student, teacher).")
@click.option("--distil-sim-weight", type=float, default=None,
              help="Weight of the in-batch cosine-matrix MSE against the teacher's.")
@click.option("--tokenizer", default=None,
              help="teacher (the teacher's WordPiece; default with a teacher), word (default without), "
                   "wordpiece or char (Chinese).")
@click.option("--embed-init", default=None,
              help="teacher (PCA of the teacher's token embeddings; default with --tokenizer teacher) or random.")
@click.option("--head-lr-mult", type=float, default=None, help="Class-weight lr / encoder lr.")
@click.option("--warmup", type=float, default=None, help="Share of steps with a rising learning rate.")
@click.option("--hidden", type=int, default=None, help="GRU hidden size per direction.")
@click.option("--embed-dim", type=int, default=None)
@click.option("--layers", type=int, default=None)
@click.option("--pooling", default=None, help="max, mean or last.")
@click.option("--max-steps", type=int, default=None, help="Cap on optimizer steps.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train_similarity_cmd(data, text_col, group_col, out_dir, eval_data, eval_fraction, resume,
                         quiet, unlabeled, max_unlabeled, teacher_cache, **overrides) -> None:
    """Train a sentence encoder on grouped paraphrases in DATA (csv/tsv/json/jsonl/parquet,
    or hf:owner/name for a hub dataset).

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
    """
    import dataclasses

    import similarity
    from textgan.artifacts import check_new_out_dir, check_writable

    renames = {"hidden": "hidden_size", "layers": "num_layers"}
    fields = {renames.get(k, k): v for k, v in overrides.items() if v is not None}
    if eval_fraction is not None:
        fields["eval_fraction"] = eval_fraction
    config = dataclasses.replace(similarity.TrainConfig(), **fields).resolved()
    check_writable(check_new_out_dir(out_dir, resume))
    with _warnings_as_lines():
        texts, groups = similarity.load_groups(data, text_col, group_col, min_groups=2)
        ev_t = ev_g = None
        if eval_data:
            ev_t, ev_g = similarity.load_groups(eval_data, text_col, group_col)
        extra = None
        if unlabeled:
            from similarity.distil import load_unlabeled

            if config.teacher == "none":
                raise InputError("--unlabeled serves the distillation term only; it needs a teacher "
                                 "(drop --teacher none)", unlabeled)
            extra = load_unlabeled(unlabeled, text_col, max_unlabeled)
        path = similarity.train(config, texts, groups, out_dir, ev_t, ev_g, progress=not quiet,
                                resume=resume, unlabeled=extra, cache_dir=teacher_cache)
    click.echo(f"saved model to {path}")


@contextlib.contextmanager
def _warnings_as_lines():
    """Python warnings (dropped groups, dropped duplicates) as `warning: ...` lines on stderr."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("default", UserWarning)  # shown even under an outer "ignore"
        warnings.showwarning = lambda message, *_, **__: click.echo(f"warning: {message}", err=True)
        yield


@cli.command("evaluate-similarity")
@click.argument("model")
@click.argument("data")
@click.option("--text-col", default="text", show_default=True)
@click.option("--group-col", default="group", show_default=True)
@click.option("--reference", default=None, help="Labelled reference set for knn_top1.")
@click.option("--pairs", default=None, help="Scored pairs file (sentence1, sentence2, score).")
@click.option("--pair-cols", default="sentence1,sentence2,score", show_default=True)
@click.option("--json", "json_out", default=None, help="Write the metrics as JSON here.")
@click.option("--teacher", default=None,
              help="Also score this model off the shelf: minilm, a local sentence-transformers folder "
                   "or none (default: the model's teacher, else minilm when installed).")
def evaluate_similarity_cmd(model, data, text_col, group_col, reference, pairs, pair_cols,
                            json_out, teacher) -> None:
    """kNN / leave-one-out top-k of MODEL on grouped DATA (and Spearman on --pairs), beside the
    same figures of the off-the-shelf teacher (under "teacher"), so you see what training added.

    \b
    Example:
      textgan evaluate-similarity runs/sim/model data/faq_en.csv --pairs data/faq_en_pairs.tsv --json eval.json
    """
    import json

    import similarity
    from textgan.artifacts import check_output_file, check_writable, save_json

    if json_out:
        check_writable(check_output_file(json_out, [data, model, reference, pairs], option="--json").parent)
    enc = similarity.load(model)
    with _warnings_as_lines():
        texts, groups = similarity.load_groups(data, text_col, group_col, min_groups=2)
        ref_t = ref_g = None
        if reference:
            ref_t, ref_g = similarity.load_groups(reference, text_col, group_col)
    scored = None
    if pairs:
        cols = pair_cols.split(",")
        if len(cols) != 3:
            raise InputError("--pair-cols needs three names: A,B,SCORE")
        scored = similarity.load_pairs(pairs, *cols)
    teach = _evaluation_teacher(teacher, enc)

    def figures(encoder) -> dict:
        out = similarity.evaluate(encoder, texts, groups, ref_t, ref_g)
        if scored is not None:
            out["spearman"] = similarity.spearman(encoder, *scored)
        return out

    result = figures(enc)
    result["model_fingerprint"] = enc.fingerprint
    if teach is not None:
        result["teacher"] = dict(figures(similarity.SentenceEncoder(teach.model, "sentence-transformers")),
                                 name=teach.name, fingerprint=teach.fingerprint)
    if json_out:
        save_json(result, json_out)
    click.echo(json.dumps(result, indent=2))
    if teach is not None:
        keys = [k for k in ("knn_top1", "loo_top1", "loo_top5", "loo_top10", "spearman") if k in result]
        rows = [f"{k:<10} {result[k]:>8.4f} {result['teacher'][k]:>8.4f}" for k in keys]
        click.echo("\n".join([f"{'metric':<10} {'model':>8} {'teacher':>8}", *rows]), err=True)


def _evaluation_teacher(name, enc):
    """The teacher to score beside the model: --teacher, else the one it was trained with, else
    minilm when installed; None for `none` or when no teacher is available."""
    from similarity.model import minilm_path
    from similarity.teacher import resolve_teacher

    if name is None:
        name = (enc.info.get("train_config") or {}).get("teacher") or "none"
        if name == "none" or (name != "minilm" and not os.path.isdir(name)):
            name = "minilm" if minilm_path() is not None else "none"
        elif name == "minilm" and minilm_path() is None:
            name = "none"
    return resolve_teacher(name)


@cli.command("encode")
@click.argument("model")
@click.argument("texts")
@click.option("--text-col", default=None, help="Column to read when TEXTS is a data file.")
@click.option("--group-col", default=None, help="Sharded encode: group column kept beside each sentence.")
@click.option("--out", "out_file", required=True,
              help="Output .npy file (N, D) float32, or a folder of shards (streaming, resumable).")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--shard-size", type=int, default=None,
              help="Rows per shard (default 100000 when --out is a folder).")
@click.option("--workers", type=int, default=1, show_default=True, help="Encoding processes on this machine.")
@click.option("--shard", "shard_spec", default=None, metavar="I/N",
              help="This copy encodes shards k with k %% N == I (run N copies, e.g. on N machines).")
@click.option("--progress/--no-progress", default=False, show_default=True)
def encode_cmd(model, texts, text_col, group_col, out_file, batch_size, shard_size, workers, shard_spec,
               progress) -> None:
    """Encode TEXTS (a .txt file, one sentence per line, or a data file) with MODEL.

    With --out a folder (or any of --shard-size, --workers, --shard) the corpus is read as
    a stream and written as shards of memory-mappable .npy vectors plus a manifest.json;
    a rerun of the same command continues after the last finished shard.

    \b
    Example:
      textgan encode runs/sim/model data/queries.txt --out queries.npy
      textgan encode runs/sim/model corpus.txt --out runs/vecs --workers 2 --shard 0/4
    """
    import numpy as np

    import similarity
    from textgan.artifacts import atomic_path, check_output_file, check_writable

    if batch_size < 1:
        raise InputError(f"--batch-size must be an integer >= 1, got {batch_size}")
    if shard_size is not None or workers != 1 or shard_spec is not None or not out_file.endswith(".npy"):
        from textgan.shards import DEFAULT_SHARD_SIZE, encode_shards, parse_shard

        from pathlib import Path

        if Path(out_file).is_file():
            check_output_file(out_file, [texts, model])
        if out_file.endswith(".npy") or Path(out_file).is_file():
            raise InputError("--out must be a folder for a sharded encode (--shard-size, --workers, --shard)",
                             out_file)
        check_writable(check_output_file(Path(out_file) / "manifest.json", [texts, model]))
        res = encode_shards(model, texts, out_file, text_col=text_col, group_col=group_col,
                            shard_size=DEFAULT_SHARD_SIZE if shard_size is None else shard_size, batch_size=batch_size, workers=workers,
                            shard=parse_shard(shard_spec), progress=progress)
        state = "complete" if res["complete"] else "waiting for the other --shard copies"
        click.echo(f"encoded {res['encoded_shards']} shard(s) of {res['shards']} ({res['rows']} sentences) "
                   f"into {out_file}: {state}")
        return
    check_writable(check_output_file(out_file, [texts, model]).parent)
    enc = similarity.load(model)
    vectors = enc.encode(similarity.load_texts(texts, text_col), batch_size=batch_size)
    with atomic_path(out_file) as tmp:
        np.save(tmp, vectors, allow_pickle=False)
    click.echo(f"wrote {vectors.shape[0]} x {vectors.shape[1]} vectors to {out_file}")


# --- GAN core ---------------------------------------------------------------------------
@cli.command("objectives")
def objectives_cmd() -> None:
    """List the GAN objectives table (name, family, losses, default penalty/optimiser).

    \b
    Example:
      textgan objectives
    """
    from textgan.gan.objectives import OBJECTIVES

    click.echo("| name | family | critic loss | generator loss | penalty | optimizer | lr | n_critic |")
    click.echo("|---|---|---|---|---|---|---|---|")
    for o in OBJECTIVES.values():
        click.echo(f"| {o.name} | {o.family} | {o.d_text} | {o.g_text} | {o.penalty} | {o.optimizer} | "
                   f"{o.lr:g} | {o.n_critic} |")
    click.echo("\nThe kinds gan, conditional and ogan train with any row (--objective); see `textgan kinds`.")


@cli.command("kinds")
def kinds_cmd() -> None:
    """List the model kinds `train-gan --kind` trains (config class, scorer, settings).

    \b
    Example:
      textgan kinds
    """
    import dataclasses

    from textgan.gan.registry import KINDS

    click.echo("| kind | what | scorer | needs labels | reference |")
    click.echo("|---|---|---|---|---|")
    for k in KINDS.values():
        click.echo(f"| {k.name} | {k.summary} | {k.scorer or '-'} | {'yes' if k.needs_labels else 'no'} | "
                   f"{k.reference} |")
    click.echo("")
    for k in KINDS.values():
        fields = ", ".join(f.name for f in dataclasses.fields(k.config))
        click.echo(f"{k.name} ({k.config.__name__}): {fields}")
    click.echo("\nSet any of these with `train-gan --set NAME=VALUE` (or the matching --flag).")


def _parse_settings(pairs: tuple[str, ...], cls) -> dict:
    """`--set NAME=VALUE` pairs, typed by the config dataclass's field (JSON or plain text)."""
    import dataclasses
    import json as _json

    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise InputError(f"--set needs NAME=VALUE, got {pair!r}")
        if name not in fields:
            raise InputError(f"--set: {cls.__name__} has no setting {name!r}; valid: {', '.join(fields)}")
        try:
            val = _json.loads(raw)
        except ValueError:
            val = raw
        default = fields[name].default
        if isinstance(default, float) and isinstance(val, int) and not isinstance(val, bool):
            val = float(val)
        if isinstance(val, str) and val.lower() in ("nan", "inf", "-inf"):
            val = float(val)  # refused by the config's validation with a clear message
        out[name] = tuple(val) if isinstance(val, list) else val
    return out


@cli.command("train-gan")
@click.argument("vectors", type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Run folder (weights, config, metrics).")
@click.option("--kind", default=None,
              help="Model kind from `textgan kinds` (default: anchored with labels / --group-col, else gan).")
@click.option("--preset", type=click.Choice(["toy", "embeddings", "images", "none"]), default="none",
              show_default=True, help="Start from a preset (its fields the kind has); flags override it.")
@click.option("--objective", default=None, help="Row of `textgan objectives` (kinds gan, conditional, ogan).")
@click.option("--model", "sim_model", default=None, type=click.Path(),
              help="Similarity model: VECTORS is then a corpus of sentences, encoded before training.")
@click.option("--text-col", default=None, help="With --model: text column of a data-file corpus.")
@click.option("--group-col", default=None,
              help="With --model: group column; trains a class-conditional model (sample with --group).")
@click.option("--labels", default=None, type=click.Path(),
              help="Without --model: one group label per vector (.txt lines or JSON list) for a conditional model.")
@click.option("--key", default=None, help="Tensor name inside a .safetensors file.")
@click.option("--vector-col", default=None, help="Vector column of a datasets folder/file.")
@click.option("--steps", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--n-critic", type=int, default=None, help="Critic (energy) updates per generator update.")
@click.option("--lr-g", type=float, default=None, help="Generator learning rate.")
@click.option("--lr-d", type=float, default=None, help="Critic / energy learning rate.")
@click.option("--optimizer", type=click.Choice(["adam", "rmsprop"]), default=None)
@click.option("--penalty", type=click.Choice(["none", "clip", "gp", "div", "r1", "qp-l1", "qp-l2"]), default=None)
@click.option("--penalty-weight", type=float, default=None)
@click.option("--lr-decay", type=click.Choice(["none", "linear"]), default=None)
@click.option("--noise-dim", type=int, default=None)
@click.option("--width", type=int, default=None)
@click.option("--depth", type=int, default=None)
@click.option("--arch", type=click.Choice(["mlp", "resmlp"]), default=None)
@click.option("--head", type=click.Choice(["linear", "sphere", "tanh"]), default=None)
@click.option("--spectral-norm/--no-spectral-norm", default=None)
@click.option("--ema", type=float, default=None, help="Generator EMA decay (0: off).")
@click.option("--one-loss/--alternating", default=None, help="Synchronous single-loss update (Su 2019).")
@click.option("--seed", type=int, default=None)
@click.option("--checkpoint-every", type=int, default=None)
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Any other setting of the kind's config (see `textgan kinds`), e.g. --set temperature=0.001.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint (steps and learning rates may change).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_gan_cmd(vectors, out_dir, kind, preset, sim_model, text_col, group_col, labels, key, vector_col, settings,
                  resume, quiet, **flags) -> None:
    """Train a generative model of any kind on VECTORS (.npy, .safetensors, or a datasets folder/file).

    With --model, VECTORS is a corpus (.txt or data file + --text-col): it is encoded by the
    similarity model first, and the model records that encoder so it is only ever decoded with
    an index of the same encoder (and resumed on the same encoder's vectors).

    \b
    Examples:
      textgan train-gan vecs.npy --kind gan --objective wgan-gp --out runs/gan
      textgan train-gan vecs.npy --kind ebm-langevin --set temperature=0.001 --out runs/ebm
      textgan train-gan data/faq_en.csv --model runs/sim/model --text-col text --preset embeddings --out runs/gan
      torchrun --nproc_per_node 2 -m cli train-gan vecs.npy --batch-size 256 --out runs/gan_ddp

    Under torchrun (gloo on CPU, nccl on GPU) each process computes on its share of every global
    --batch-size and gradients are averaged; rank 0 writes checkpoints and the model folder.
    """
    import dataclasses

    from textgan import workflow
    from textgan.artifacts import check_new_out_dir
    from textgan.gan import PRESETS, carry_over, load_vectors, make_kind, read_labels

    conditional = bool(labels or group_col)
    k = make_kind(kind or ("anchored" if conditional else "gan"))
    if k.needs_labels and not conditional:
        raise InputError(f"--kind {k.name} needs group labels: pass --labels (or --model with --group-col)")
    if conditional and not k.needs_labels:
        raise InputError(f"--kind {k.name} does not use group labels; drop --labels/--group-col or use "
                         f"--kind anchored")
    names = {f.name for f in dataclasses.fields(k.config)}
    given = {name: v for name, v in flags.items() if v is not None}
    for name in given:
        if name not in names:
            raise InputError(f"--{name.replace('_', '-')} does not apply to --kind {k.name} "
                             f"(its settings: {', '.join(sorted(names))})")
    if "objective" in given and given["objective"] in KIND_NAMES_OLD:
        raise InputError(f"{given['objective']!r} is a model kind, not an objective: use --kind {given['objective']}")
    base = carry_over(k.config, PRESETS[preset]) if preset != "none" else k.config()
    if sim_model is not None and preset == "none" and "head" in names and "head" not in given:
        base = dataclasses.replace(base, head="sphere")  # sentence vectors live on the unit sphere
    config = dataclasses.replace(base, **given, **_parse_settings(settings, k.config)).resolve()
    check_new_out_dir(out_dir, resume)
    if sim_model is not None:
        path = workflow.train_gan_on_corpus(sim_model, vectors, out_dir, config=config, text_col=text_col,
                                            group_col=group_col, progress=not quiet, resume=resume)
    else:
        if group_col:
            raise InputError("--group-col needs --model (a corpus); for vectors pass --labels")
        data = load_vectors(vectors, key=key, column=vector_col)
        groups = read_labels(labels, len(data)) if labels else None
        path = workflow.train_gan(data.numpy(), out_dir, config=config, groups=groups, progress=not quiet,
                                  resume=resume)
    from textgan.distributed import is_main

    if is_main():  # under torchrun every rank returns here; one line is enough
        click.echo(f"saved {k.name} model to {path}")


KIND_NAMES_OLD = ("meg", "ebm-langevin", "ogan", "conditional")  # accepted by --objective in textgan 0.1


@cli.command("sample")
@click.argument("gan_dir", type=click.Path())
@click.option("--n", "n", type=int, required=True, help="Number of vectors.")
@click.option("--out", "out_file", required=True, type=click.Path(), help=".npy file (written atomically).")
@click.option("--seed", type=int, default=None)
@click.option("--no-ema", is_flag=True, help="Use the raw generator weights, not the EMA.")
@click.option("--group", default=None, help="Group to sample from a class-conditional model.")
def sample_cmd(gan_dir, n, out_file, seed, no_ema, group) -> None:
    """Write N generated vectors (N, D) from a trained model folder (any kind) to a .npy file.

    \b
    Example:
      textgan sample runs/gan --n 100 --seed 0 --out samples.npy
    """
    import numpy as np

    from textgan.artifacts import atomic_file, check_output_file
    from textgan.gan import load, sample

    check_output_file(out_file, [gan_dir])
    x = sample(load(gan_dir, ema=not no_ema), n, seed=seed, group=group).numpy()
    with atomic_file(out_file, "wb") as fh:  # a file handle: np.save must not append ".npy" to the temp name
        np.save(fh, x)
    click.echo(f"wrote {x.shape[0]} x {x.shape[1]} vectors to {out_file}")


# --- retrieval and workflow ----------------------------------------------------------

@cli.command("index")
@click.argument("model", type=click.Path())
@click.argument("corpus", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Index folder to write.")
@click.option("--text-col", default=None, help="Text column of a data file (not needed for .txt).")
@click.option("--group-col", default=None, help="Optional group column kept beside each sentence.")
@click.option("--factory", default=None, help="FAISS index_factory string (default: chosen from size/memory).")
@click.option("--memory-mb", type=float, default=None, help="Memory budget steering the automatic choice.")
@click.option("--storage", type=click.Choice(["auto", "ram", "disk", "shards"]), default="auto", show_default=True,
              help="disk: IVF-PQ re-ranked with exact vectors kept on disk; shards: one index per group of "
                   "shards, searched together. Both stream a corpus file into shards first (see --vectors).")
@click.option("--groups", type=int, default=None,
              help="--storage shards: member indexes (default: each group's raw vectors fit --memory-mb, or 1 GiB).")
@click.option("--vectors", "vectors_dir", default=None, type=click.Path(),
              help="Shard folder a corpus file is encoded into for --storage disk/shards (default: OUT.vectors); "
                   "a rerun resumes it.")
@click.option("--target-recall", type=float, default=None,
              help="recall@10 (measured against exact search) the search settings are tuned to [default: 0.95].")
@click.option("--progress/--no-progress", default=True, show_default=True)
def index_cmd(model, corpus, out, text_col, group_col, factory, memory_mb, storage, groups, vectors_dir,
              target_recall, progress):
    """Encode CORPUS with similarity MODEL and build a FAISS index folder.

    CORPUS may be a shard folder written by `textgan encode ... --out FOLDER`: it is then
    read shard by shard, and built on disk when it is large or passes --memory-mb. With
    --storage disk or shards a corpus file is read as a stream and encoded shard by shard
    into --vectors first, so neither step holds the corpus in memory.

    \b
    Example:
      textgan index runs/sim/model data/faq_en.csv --text-col text --group-col group --out runs/index
      textgan index runs/sim/model runs/vecs --memory-mb 2000 --out runs/index
      textgan index runs/sim/model big.txt --storage disk --out runs/big-index
      textgan index runs/sim/model runs/vecs --storage shards --groups 4 --out runs/sharded-index
    """
    from pathlib import Path

    from textgan import workflow

    idx = workflow.index_corpus(model, corpus, out, text_col=text_col, group_col=group_col,
                                factory=factory, memory_budget_mb=memory_mb, progress=progress, storage=storage,
                                groups=groups, vectors_dir=vectors_dir, target_recall=target_recall)
    m = idx.meta
    files = [f for f in Path(out).glob("**/*") if f.name in ("index.faiss", "lists.ivfdata")]
    bpv = sum(f.stat().st_size for f in files) / max(1, m["n"])
    where = {"disk": " on disk", "shards": f" in {len(m.get('members', []))} index shards"}.get(m.get("storage"), "")
    click.echo(f"indexed {m['n']} sentences ({idx.stats.get('duplicates_dropped', 0)} duplicates dropped) "
               f"with {m['factory']}{where}, "
               f"{bpv:.1f} bytes/vector, recall@10 {m['recall_at_10']:.3f} -> {out}")


@cli.command("search")
@click.argument("index", type=click.Path())
@click.argument("queries", nargs=-1)
@click.option("--file", "query_file", type=click.Path(), default=None, help="Queries, one per line.")
@click.option("--k", default=10, show_default=True, help="Neighbours per query.")
@click.option("--model", default=None, type=click.Path(), help="Encoder (default: the one recorded in the index).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
def search_cmd(index, queries, query_file, k, model, as_json):
    """Semantic search: nearest corpus sentences of each query.

    Queries that the default in-domain scorer rejects (95% TPR on the corpus; see
    `textgan score`) are marked OUT OF DOMAIN: their neighbours are the nearest sentences,
    not answers. The threshold is cached beside the index (.INDEX.gate/).

    \b
    Example:
      textgan search runs/index "how do I change my password" --k 3
      textgan search runs/index --file data/queries.txt --k 1 --json
    """
    import json as _json

    from textgan import workflow

    qs = list(queries)
    if query_file:
        qs += _read_queries(query_file)
    if not qs:
        raise InputError("give queries as arguments or with --file")
    for q, res in zip(qs, workflow.search(index, qs, k=k, model=model, gate=True)):
        if as_json:
            click.echo(_json.dumps({"query": q, **res}, ensure_ascii=False))
            continue
        click.echo(q if res["in_domain"] is not False else f"{q}  [OUT OF DOMAIN: {res['method']} score "
                                               f"{res['in_domain_score']:.3f} < {res['threshold']:.3f}]")
        for h in res["hits"]:
            grp = f"  [{h['group']}]" if h.get("group") else ""
            click.echo(f"  {h['score']:.3f}  {h['text']}{grp}")


def _read_queries(path: str) -> list[str]:
    """Queries from a text file; blank lines are skipped (and counted), not searched."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise InputError("missing file", p)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", p) from None
    qs = [ln.strip() for ln in lines if ln.strip()]
    if not qs:
        raise InputError("no queries (the file is empty or blank)", p)
    if len(qs) < len(lines):
        click.echo(f"warning: {p}: skipped {len(lines) - len(qs)} blank line(s)", err=True)
    return qs


@cli.command("generate-embeddings")
@click.argument("gan_dir", type=click.Path())
@click.option("--n", default=20, show_default=True, help="Number of vectors to sample.")
@click.option("--out", required=True, type=click.Path(), help="Output stem: writes OUT.npy (+ OUT.jsonl with --index).")
@click.option("--index", "index_dir", default=None, type=click.Path(), help="Index to decode vectors into sentences.")
@click.option("--k", default=5, show_default=True, help="Neighbours per decoded vector.")
@click.option("--seed", default=0, show_default=True, help="Sampling seed (same seed, same vectors).")
@click.option("--group", default=None, help="Group to sample from a class-conditional GAN.")
def generate_embeddings_cmd(gan_dir, n, out, index_dir, k, seed, group):
    """Sample N vectors from a trained GAN; decode them to real sentences with an index.

    Each decoded vector gets its k nearest corpus sentences with cosine scores and a
    `novel` flag: its nearest sentence is farther than corpus sentences typically are
    from each other (not a near-copy of a training sentence).

    \b
    Example:
      textgan generate-embeddings runs/gan --n 20 --index runs/index --k 3 --out runs/generated
      textgan generate-embeddings runs/cgan --group reset_password --n 5 --index runs/index --out runs/reset
    """
    from pathlib import Path

    from textgan import workflow
    from textgan.artifacts import check_output_file
    from textgan.vectors import check_k

    check_k(k)
    stem = Path(out).with_suffix("") if Path(out).suffix in (".npy", ".jsonl") else Path(out)
    for f in (stem.with_suffix(".npy"), stem.with_suffix(".jsonl")):
        check_output_file(f, [gan_dir, index_dir])
    s = workflow.generate_embeddings(gan_dir, n, out, index=index_dir, k=k, seed=seed, group=group)
    msg = f"wrote {s['n']} vectors ({s['dim']}-d) to {s['vectors']}"
    if "decoded" in s:
        msg += (f"; decoded to {s['decoded']} (mean top-1 cosine {s['mean_top1_cosine']:.3f}, "
                f"novel {s['novel_share']:.0%})")
    click.echo(msg)


@cli.command("interpolate")
@click.argument("index", type=click.Path())
@click.argument("sentence_a")
@click.argument("sentence_b")
@click.option("--steps", default=8, show_default=True, help="Points on the great circle, ends included.")
@click.option("--model", default=None, type=click.Path(), help="Encoder (default: the one recorded in the index).")
def interpolate_cmd(index, sentence_a, sentence_b, steps, model):
    """Walk the sphere between two sentences' encodings; print the nearest sentence at each step.

    \b
    Example:
      textgan interpolate runs/index "reset my password" "where is my parcel" --steps 6
    """
    from textgan import workflow

    for row in workflow.interpolate(index, sentence_a, sentence_b, steps=steps, model=model):
        click.echo(f"t={row['t']:.2f}  {row['score']:.3f}  {row['text']}")


@cli.command("demo")
@click.argument("data", type=click.Path(), default="data/faq_en.csv")
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(), help="Run folder.")
@click.option("--text-col", default="text", show_default=True)
@click.option("--group-col", default="group", show_default=True)
@click.option("--queries", default=None, type=click.Path(), help="Search queries shown in the report (.txt).")
@click.option("--pairs", default=None, type=click.Path(), help="Scored pairs for Spearman (sentence1, sentence2, score).")
@click.option("--gan-steps", default=None, type=int, help="Generator steps (default: DemoConfig).")
@click.option("--kind", "gan_kind", default=None, help="Model kind (default: anchored, trained on the groups).")
@click.option("--objective", default=None, help="GAN objective (default: DemoConfig).")
@click.option("--seed", default=0, show_default=True)
def demo_cmd(data, out, text_col, group_col, queries, pairs, gan_steps, gan_kind, objective, seed):
    """Run the whole workflow on DATA and write OUT/report.md.

    train-similarity -> index -> train-gan -> generate-embeddings -> decode, plus metrics,
    a PCA plot of real vs generated vectors and the loss curves. Inputs are checked before
    any training; a rerun into the same OUT replaces the earlier run whole.

    \b
    Example:
      textgan demo data/faq_en.csv --out runs/demo --queries data/queries.txt --gan-steps 300
    """
    import dataclasses

    from textgan.demo import DemoConfig, run_demo

    cfg = DemoConfig(seed=seed)
    if gan_steps is not None:
        cfg = dataclasses.replace(cfg, gan_steps=gan_steps)
    if objective is not None:
        cfg = dataclasses.replace(cfg, gan_objective=objective)
    if gan_kind is not None:
        cfg = dataclasses.replace(cfg, gan_kind=gan_kind)
    report = run_demo(data, out, text_col=text_col, group_col=group_col, queries=queries, pairs=pairs, config=cfg)
    click.echo(report.read_text(encoding="utf-8"))
    click.echo(f"report: {report}")


# --- few-shot augmentation and semi-supervised classification ---------------------------
@cli.command("augment")
@click.argument("model", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--per-group", type=int, required=True, help="Generated vectors per few-shot group.")
@click.option("--out", "out_file", required=True, type=click.Path(),
              help="Output stem: OUT.npy (vectors) and OUT.labels.txt (their groups).")
@click.option("--text-col", default="text", show_default=True)
@click.option("--group-col", default="group", show_default=True)
@click.option("--max-shots", type=int, default=10, show_default=True,
              help="Groups with fewer sentences are augmented; the others teach the variation.")
@click.option("--gan", "gan_dir", type=click.Path(), default=None,
              help="An anchored model already trained on base groups (default: train one).")
@click.option("--steps", type=int, default=1500, show_default=True, help="Steps of the anchored model trained here.")
@click.option("--seed", type=int, default=0, show_default=True)
def augment_cmd(model, data, per_group, out_file, text_col, group_col, max_shots, gan_dir, steps, seed) -> None:
    """Hallucinate vectors for the groups of DATA with few sentences (similarity MODEL's space).

    An anchored generator learns how groups spread around their prototypes on the groups
    with at least --max-shots sentences; each smaller group gets --per-group samples around
    its own prototype (margin-head class weight when the model has one, else its mean).

    \b
    Example:
      textgan augment runs/sim/model my_groups.csv --per-group 20 --max-shots 8 --out runs/aug
      textgan augment runs/sim/model data/faq_en.csv --per-group 20 --max-shots 9 --gan runs/cgan --out runs/aug
    """
    from pathlib import Path

    from textgan.artifacts import check_output_file
    from textgan.hallucination import augment

    if max_shots < 2:
        raise InputError(f"--max-shots must be at least 2, got {max_shots}")
    stem = Path(out_file).with_suffix("") if Path(out_file).suffix == ".npy" else Path(out_file)
    for f in (stem.with_suffix(".npy"), Path(str(stem) + ".labels.txt")):
        check_output_file(f, [model, data, gan_dir])
    with _warnings_as_lines():
        r = augment(model, data, per_group, out_file, text_col=text_col, group_col=group_col, max_shots=max_shots,
                    gan=gan_dir, steps=steps, seed=seed)
    for g, why in r["skipped"].items():
        click.echo(f"warning: skipped group {g!r}: {why}", err=True)
    click.echo(f"wrote {r['n']} vectors for {len(r['hallucinated'])} few-shot groups "
               f"({', '.join(f'{g} ({n})' for g, n in list(r['hallucinated'].items())[:8])}"
               f"{', ...' if len(r['hallucinated']) > 8 else ''}) learned from {len(r['base'])} base groups "
               f"to {r['vectors']} and {r['labels']}")


@cli.command("train-kplus1")
@click.argument("model", type=click.Path())
@click.argument("labelled", type=click.Path())
@click.option("--unlabelled", required=True, type=click.Path(), help="Unlabelled sentences (.txt or data file).")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="K+1 model folder.")
@click.option("--text-col", default="text", show_default=True)
@click.option("--group-col", default="group", show_default=True)
@click.option("--steps", type=int, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_kplus1_cmd(model, labelled, unlabelled, out_dir, text_col, group_col, steps, seed, quiet) -> None:
    """Semi-supervised K+1 classifier on LABELLED sentences (text + group) and --unlabelled ones.

    \b
    Example:
      textgan train-kplus1 runs/sim/model labelled.csv --unlabelled unlabelled.txt --out runs/kplus1
    """
    import dataclasses

    from textgan.artifacts import check_new_out_dir
    from textgan.gan.kplus1 import KPlus1Config
    from textgan.semisup import train_on_corpus
    from textgan.workflow import read_corpus

    check_new_out_dir(out_dir, hint="choose a new --out")
    unl, _ = read_corpus(unlabelled, text_col if not str(unlabelled).endswith(".txt") else None)
    given = {k: v for k, v in {"steps": steps, "seed": seed}.items() if v is not None}
    cfg = dataclasses.replace(KPlus1Config(), **given) if given else None
    path = train_on_corpus(model, labelled, unl, out_dir, text_col=text_col, group_col=group_col, config=cfg,
                           progress=not quiet)
    click.echo(f"saved K+1 classifier to {path}")


@cli.command("classify")
@click.argument("model", type=click.Path())
@click.argument("sentences", type=click.Path())
@click.option("--encoder", default=None, type=click.Path(), help="Similarity model (default: the one recorded).")
@click.option("--text-col", default=None, help="Text column of a data file.")
@click.option("--out", "out_file", type=click.Path(), default=None, help="JSONL: text, group, confidence, in_scope.")
def classify_cmd(model, sentences, encoder, text_col, out_file) -> None:
    """Classify each sentence of SENTENCES with a K+1 MODEL: group, confidence, in scope or OOS.

    \b
    Example:
      textgan classify runs/kplus1 data/queries.txt
    """
    import json

    from textgan.artifacts import atomic_file, check_output_file
    from textgan.semisup import classify
    from textgan.workflow import read_corpus

    if out_file:
        check_output_file(out_file, [sentences, model, encoder])
    texts, _ = read_corpus(sentences, text_col)
    rows = classify(model, texts, encoder=encoder)
    if out_file:
        with atomic_file(out_file) as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    for r in rows:
        mark = "" if r["in_scope"] is None else ("   " if r["in_scope"] else "OOS")
        click.echo(f"{r['confidence']:.3f}  {mark}  {r['group']}\t{r['text']}")


# --- in-domain scoring -------------------------------------------------------------------
from textgan.scoring import DEFAULT_METHOD as DEFAULT_SCORE_METHOD, METHODS as METHOD_NAMES  # noqa: E402
@cli.command("score")
@click.argument("model", type=click.Path())
@click.argument("sentences", type=click.Path())
@click.option("--index", "index_dir", type=click.Path(), default=None,
              help="Index folder (knn, mahalanobis, combined; and the threshold without --val-in).")
@click.option("--gan", "gan_dirs", type=click.Path(), multiple=True,
              help="Model folder with a scorer: a flow, GAN or energy model, or an outlier classifier; repeatable.")
@click.option("--method", type=click.Choice(list(METHOD_NAMES)), default=DEFAULT_SCORE_METHOD, show_default=True,
              help="In-domain score. The default, combined with no --gan / --combine, is knn + the index's own "
                   "outlier classifier (its groups vs noise on the sphere, cached beside the index), z-scored: "
                   "the best measured by bench/ood.py on both protocols and both encoders (README).")
@click.option("--combine", default=None, help="combined: comma-separated components (default: knn + every --gan).")
@click.option("--labels", type=click.Path(), default=None,
              help="mahalanobis: one group per index row (.txt lines or JSON list; default: the index's groups).")
@click.option("--val-in", type=click.Path(), default=None,
              help="In-domain validation sentences: threshold + combined calibration (default: held-out "
                   "corpus rows).")
@click.option("--tpr", type=float, default=0.95, show_default=True, help="Target true-positive rate, in (0, 1).")
@click.option("--k", type=int, default=1, show_default=True, help="kNN: mean of the top-k cosines.")
@click.option("--text-col", default=None, help="Text column of a data file.")
@click.option("--out", "out_file", type=click.Path(), default=None, help="JSONL: text, score, in_domain.")
def score_cmd(model, sentences, index_dir, gan_dirs, method, combine, labels, val_in, tpr, k, text_col,
              out_file) -> None:
    """Give each sentence of SENTENCES an in-domain score (higher = more like the corpus); flag outliers.

    \b
    Methods (textgan.scoring.METHODS): knn, mahalanobis (needs the corpus' groups), flow
    (--gan FLOW), outlier (--gan CLASSIFIER), critic, energy, combined (--combine).
    The threshold keeps --tpr of the --val-in sentences, else of corpus rows the scorer did
    not fit on; it is printed with the TPR it gives on them.

    \b
    Example:
      textgan score runs/sim/model data/queries.txt --index runs/index --out scores.jsonl
      textgan score runs/sim/model q.txt --index runs/index --method mahalanobis --val-in val.txt
    """
    import json

    from textgan.artifacts import check_output_file
    from textgan.gate import score_texts
    from textgan.gan import read_labels
    from textgan.workflow import read_corpus

    if out_file:
        check_output_file(out_file, [sentences, val_in, model, index_dir, labels, *gan_dirs])
    texts, _ = read_corpus(sentences, text_col)
    val = read_corpus(val_in, text_col)[0] if val_in else None
    groups = read_labels(labels) if labels else None
    parts = [c.strip() for c in combine.split(",") if c.strip()] if combine else None
    res = score_texts(model, texts, method, index=index_dir, gan=list(gan_dirs), val_in=val, tpr=tpr, k=k,
                      labels=groups, combine=parts)
    flags = res["in_domain"] or [None] * len(texts)
    rows = [{"text": t, "score": float(s), "in_domain": f} for t, s, f in zip(texts, res["scores"], flags)]
    if out_file:
        from textgan.artifacts import atomic_file

        with atomic_file(out_file) as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    for r in rows:
        mark = "" if r["in_domain"] is None else ("in " if r["in_domain"] else "OUT")
        click.echo(f"{r['score']:9.4f}  {mark:3s}  {r['text']}")
    if res["threshold"] is not None:
        n_out = sum(not r["in_domain"] for r in rows)
        click.echo(f"{method} threshold {res['threshold']:.4f} (target TPR {tpr:.0%}; keeps "
                   f"{res['expected_tpr']:.1%} of {res['threshold_source']}): "
                   f"{n_out} of {len(rows)} flagged out of domain", err=True)


@cli.command("train-outlier")
@click.argument("model", type=click.Path())
@click.argument("corpus", type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Classifier folder to write.")
@click.option("--source", type=click.Choice(["boundary", "conditional", "mixup", "sphere"]), default="mixup",
              show_default=True, help="Pseudo-outliers: a boundary / conditional model's samples (--generator), "
                                      "mixtures of two groups, or uniform noise on the sphere.")
@click.option("--generator", type=click.Path(), default=None, help="Model folder of --source boundary/conditional.")
@click.option("--text-col", default=None, help="Text column of a data file.")
@click.option("--group-col", default=None, help="Group column: a (K+1)-way classifier (else binary).")
@click.option("--steps", type=int, default=1500, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def train_outlier_cmd(model, corpus, out_dir, source, generator, text_col, group_col, steps, seed) -> None:
    """Train an outlier classifier: CORPUS sentences vs generated pseudo-outliers (`score --method outlier`).

    \b
    Example:
      textgan train-outlier runs/sim/model data/faq_en.csv --text-col text --group-col group --out runs/outlier
      textgan score runs/sim/model q.txt --method outlier --gan runs/outlier
    """
    from textgan.artifacts import check_new_out_dir
    from textgan.outlier import OutlierConfig, train_outlier
    from textgan.workflow import encoder_meta, load_encoder, read_corpus

    check_new_out_dir(out_dir, hint="choose a new --out")
    cfg = OutlierConfig(source=source, steps=steps, seed=seed).validate()
    enc = load_encoder(model)
    texts, groups = read_corpus(corpus, text_col, group_col)
    clf = train_outlier(enc.encode(texts), cfg, groups, generator=generator,
                        meta={"encoder": encoder_meta(enc, model)})
    clf.save(out_dir)
    click.echo(f"outlier classifier ({source}, {len(texts)} sentences) -> {out_dir}")


if __name__ == "__main__":
    main()
