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

# --- retrieval and workflow (issue: one workflow) -------------------------------------

# --- energy / O-GAN / conditional / scoring -------------------------------------------


if __name__ == "__main__":
    main()
