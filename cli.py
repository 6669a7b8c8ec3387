"""`textgan` command line: thin click wrappers over the workflow and library functions.

Imports flow one way (cli -> workflow -> core): nothing imports this module.
Heavy imports (torch, faiss) happen inside each command so `--help` stays fast.
Every user-fixable problem is an `InputError`: one line on stderr, exit code 2.
"""
from __future__ import annotations

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
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


# --- sentence similarity (issue: similarity core) -------------------------------------

# --- GAN core (issue: GAN core) -------------------------------------------------------
@cli.command("objectives")
def objectives_cmd() -> None:
    """List the GAN objectives table (name, family, losses, default penalty/optimiser)."""
    from textgan.gan.objectives import OBJECTIVES

    click.echo("| name | family | critic loss | generator loss | penalty | optimizer | lr | n_critic |")
    click.echo("|---|---|---|---|---|---|---|---|")
    for o in OBJECTIVES.values():
        click.echo(f"| {o.name} | {o.family} | {o.d_text} | {o.g_text} | {o.penalty} | {o.optimizer} | "
                   f"{o.lr:g} | {o.n_critic} |")


@cli.command("train-gan")
@click.argument("vectors", type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Run folder (weights, config, metrics).")
@click.option("--preset", type=click.Choice(["toy", "embeddings", "images", "none"]), default="none",
              show_default=True, help="Start from a GANConfig preset; flags override it.")
@click.option("--objective", default=None, help="Row of `textgan objectives` (default wgan-gp).")
@click.option("--key", default=None, help="Tensor name inside a .safetensors file.")
@click.option("--vector-col", default=None, help="Vector column of a datasets folder/file.")
@click.option("--steps", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--n-critic", type=int, default=None)
@click.option("--lr-g", type=float, default=None)
@click.option("--lr-d", type=float, default=None)
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
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_gan_cmd(vectors, out_dir, preset, key, vector_col, resume, quiet, **flags) -> None:
    """Train a GAN on VECTORS (.npy, .safetensors, or a datasets folder/file with a vector column)."""
    import dataclasses

    from textgan.gan import PRESETS, GANConfig, load_vectors, train_gan

    base = PRESETS[preset] if preset != "none" else GANConfig()
    config = dataclasses.replace(base, **{k: v for k, v in flags.items() if v is not None})
    data = load_vectors(vectors, key=key, column=vector_col)
    path = train_gan(data, config, out_dir, progress=not quiet, resume=resume)
    click.echo(f"saved GAN to {path}")


@cli.command("sample")
@click.argument("gan_dir", type=click.Path())
@click.option("--n", "n", type=int, required=True, help="Number of vectors.")
@click.option("--out", "out_file", required=True, type=click.Path(), help=".npy file (written atomically).")
@click.option("--seed", type=int, default=None)
@click.option("--no-ema", is_flag=True, help="Use the raw generator weights, not the EMA.")
def sample_cmd(gan_dir, n, out_file, seed, no_ema) -> None:
    """Write N generated vectors (N, D) from a trained GAN folder to a .npy file."""
    import numpy as np

    from textgan.artifacts import atomic_path
    from textgan.gan import load_generator

    x = load_generator(gan_dir, ema=not no_ema).sample(n, seed=seed).numpy()
    with atomic_path(out_file) as tmp:
        np.save(tmp, x)
    click.echo(f"wrote {x.shape[0]} x {x.shape[1]} vectors to {out_file}")


# --- retrieval and workflow (issue: one workflow) -------------------------------------

# --- energy / O-GAN / conditional / scoring -------------------------------------------


if __name__ == "__main__":
    main()
