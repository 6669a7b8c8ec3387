"""Commands for the generative core: objectives, kinds, train-gan, sample. See `textgan.commands` for
what they share.
"""
from __future__ import annotations

import click

from textgan.commands.common import progress_option
from textgan.common.errors import InputError


# --- GAN core ---------------------------------------------------------------------------
@click.command("objectives")
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


@click.command("kinds")
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
        except RecursionError:
            raise InputError(f"--set {name}: a value nested too deeply") from None
        except ValueError:
            val = raw
        default = fields[name].default
        if isinstance(default, float) and isinstance(val, int) and not isinstance(val, bool):
            val = float(val)
        if isinstance(val, str) and val.lower() in ("nan", "inf", "-inf"):
            val = float(val)  # refused by the config's validation with a clear message
        out[name] = tuple(val) if isinstance(val, list) else val
    return out


def _check_used(config, chosen: dict, kind: str) -> None:
    """Refuse a setting the resolved config would ignore (a weight for no penalty, Adam's betas
    with RMSProp): accepting it silently would let the user believe it took effect."""
    if "penalty_weight" in chosen and getattr(config, "penalty", None) == "none":
        raise InputError("--penalty-weight: this run has no critic penalty (--penalty none, or the objective's "
                         "default), so the weight would change nothing; drop it or pass --penalty")
    if "betas" in chosen and getattr(config, "optimizer", None) == "rmsprop":
        raise InputError("--set betas: betas are Adam's; this run uses RMSProp (--optimizer or the objective's "
                         "default), so they would change nothing; drop them or pass --optimizer adam")
    # fields the conditional kinds inherit from GANConfig but train without (gan.py and boundary.py read them)
    if chosen.get("one_loss") and kind not in ("gan", "boundary"):
        raise InputError(f"--one-loss: kind {kind} trains with alternating updates only; drop it")
    if chosen.get("one_loss") and "n_critic" in chosen:
        raise InputError("--n-critic: --one-loss makes one update of both players per step; drop one of them")
    fourier = [n for n in ("critic_fourier", "critic_fourier_scale") if n in chosen]
    if fourier and kind != "gan":
        raise InputError(f"--set {fourier[0]}: only kind gan has a Fourier-feature critic; drop it")
    if "critic_fourier_scale" in chosen and not getattr(config, "critic_fourier", 0):
        raise InputError("--set critic_fourier_scale: the critic has no Fourier features (critic_fourier=0); "
                         "set critic_fourier too, or drop it")


@click.command("train-gan")
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
@click.option("--pack", type=int, default=None,
              help="PacGAN: the critic judges M samples jointly (Lin et al. 2018); must divide --batch-size.")
@click.option("--seed", type=int, default=None)
@click.option("--checkpoint-every", type=int, default=None)
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Any other setting of the kind's config (see `textgan kinds`), e.g. --set temperature=0.001.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint: settings not given are the run's own; "
                                                 "--steps, --lr-g and --lr-d may change.")
@progress_option(quiet_alias=True)
def train_gan_cmd(vectors, out_dir, kind, preset, sim_model, text_col, group_col, labels, key, vector_col, settings,
                  resume, progress, **flags) -> None:
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

    from textgan.workflow import gan_train
    from textgan.common.artifacts import check_new_out_dir
    from textgan.gan import KINDS, PRESETS, carry_over, load_vectors, make_kind, read_labels

    if sim_model is None and text_col:  # vectors are read as they are: the column would be ignored
        raise InputError("names the sentence column of a corpus encoded with --model: pass --model, or drop it",
                         "--text-col")
    if sim_model is not None and (key or vector_col):
        raise InputError("reads a vectors file; with --model DATA is a corpus of sentences: drop it",
                         "--key" if key else "--vector-col")
    if sim_model is not None and labels:  # it was not read, and the kind then asked for it
        raise InputError("--labels labels the rows of a vectors file; with --model name the corpus's group column "
                         "with --group-col", labels)
    conditional = bool(labels or group_col)
    k = make_kind(kind if kind is not None else "anchored" if conditional else "gan")  # '' is refused by name
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
    if "objective" in given and given["objective"] in KINDS:
        raise InputError(f"{given['objective']!r} is a model kind, not an objective: use --kind {given['objective']}")
    base = carry_over(k.config, PRESETS[preset]) if preset != "none" else k.config()
    if sim_model is not None and preset == "none" and "head" in names and "head" not in given:
        base = dataclasses.replace(base, head="sphere")  # sentence vectors live on the unit sphere
    settings = _parse_settings(settings, k.config)
    both = sorted(set(given) & set(settings))
    if both:
        raise InputError(f"{both[0].replace('_', '-')} is set twice (--{both[0].replace('_', '-')} and --set "
                         f"{both[0]}=...); pass it once")
    config = dataclasses.replace(base, **given, **settings).resolved()
    _check_used(config, {**given, **settings}, k.name)
    check_new_out_dir(out_dir, resume, inputs=[vectors, sim_model, labels])
    if resume:
        preset_fields = {f.name for f in dataclasses.fields(PRESETS[preset])} & names if preset != "none" else set()
        config = _run_settings_kept(config, out_dir, set(given) | set(settings) | preset_fields)
    if sim_model is None and group_col:
        raise InputError("--group-col needs --model (a corpus); for vectors pass --labels")
    try:
        if sim_model is not None:
            path = gan_train.train_gan_on_corpus(sim_model, vectors, out_dir, config=config, text_col=text_col,
                                                group_col=group_col, progress=progress, resume=resume)
        else:
            data = load_vectors(vectors, key=key, column=vector_col)
            groups = read_labels(labels, len(data)) if labels else None
            path = gan_train.train_gan(data.numpy(), out_dir, config=config, groups=groups, progress=progress,
                                      resume=resume)
    except InputError as exc:  # "only 48 training rows ...": the vectors file (or corpus) is the one to look at
        if exc.path is None and "training" in exc.problem:
            raise InputError(exc.problem, vectors) from None
        raise
    from textgan.common.distributed import is_main

    if is_main():  # under torchrun every rank returns here; one line is enough
        click.echo(f"saved {k.name} model to {path}")


@click.command("sample")
@click.argument("gan_dir", type=click.Path())
@click.option("--n", "n", type=int, required=True, help="Number of vectors.")
@click.option("--out", "out_file", required=True, type=click.Path(), help=".npy file (written atomically).")
@click.option("--seed", type=int, default=None)
@click.option("--no-ema", is_flag=True, help="Use the raw generator weights, not the EMA (refused for a model "
              "saved without EMA weights, where it would change nothing).")
@click.option("--group", default=None, help="Group to sample from a class-conditional model.")
def sample_cmd(gan_dir, n, out_file, seed, no_ema, group) -> None:
    """Write N generated vectors (N, D) from a trained model folder (any kind) to a .npy file.

    \b
    Example:
      textgan sample runs/gan --n 100 --seed 0 --out samples.npy
    """
    from pathlib import Path

    from textgan.common.artifacts import check_output_file, output_lock, save_npy
    from textgan.common.paths import check_suffix
    from textgan.gan import load, sample
    from textgan.gan.saved import EMA_FILE

    check_output_file(out_file, [gan_dir])
    check_suffix(out_file, ".npy", "NumPy vectors")
    model = load(gan_dir, ema=not no_ema)
    if no_ema and not (Path(gan_dir) / EMA_FILE).is_file():  # the flag would change nothing
        raise InputError(f"--no-ema: this {model.kind} model has no EMA generator weights ({EMA_FILE}); drop the "
                         "flag", gan_dir)
    with output_lock(out_file):  # as generate-embeddings: a second run into one file is refused
        x = sample(model, n, seed=seed, group=group).numpy()
        save_npy(out_file, x)
    click.echo(f"wrote {x.shape[0]} x {x.shape[1]} vectors to {out_file}")


def _run_settings_kept(config, out_dir, chosen: set):
    """On --resume, the run's own settings where none is given: those the checkpoint records (its
    identity, sealed) and its steps and learning rates (resolved_config.json). The kind's defaults
    silently lengthened a --steps 500 run to 2,000 steps, and a run of --batch-size 64 resumed without
    it was told its data held "fewer than one batch (256)". A setting given must still match."""
    import json
    from pathlib import Path

    from textgan.gan.trainer import RESUMABLE_CHANGES

    out = Path(out_dir)
    try:
        identity = json.loads((out / "checkpoint" / "state.json").read_text("utf-8"))["identity"]["config"]
    except (OSError, ValueError, KeyError, TypeError):  # no run yet, or a damaged one: the trainer names it
        return config
    try:
        recorded = json.loads((out / "resolved_config.json").read_text("utf-8"))["config"]
        recorded = {k: recorded[k] for k in RESUMABLE_CHANGES if k in recorded}
        type(config).from_dict({**config.to_dict(), **recorded})  # "steps": "abc" fell back to 2,000 steps
    except (OSError, ValueError, KeyError, TypeError):  # InputError is a ValueError
        recorded = None
    if recorded is None and "steps" not in chosen:
        raise InputError("resolved_config.json is missing or unreadable, so the run's --steps is unknown: pass "
                         "--steps (and --lr-g / --lr-d if the run set them)", out / "resolved_config.json")
    kept = {k: v for k, v in {**identity, **(recorded or {})}.items() if k not in chosen}
    try:
        return type(config).from_dict({**config.to_dict(), **kept}).resolved()
    except (InputError, TypeError, ValueError):  # a record that no longer fits: the checkpoint check says which
        return config
