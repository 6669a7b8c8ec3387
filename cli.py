"""`textgan` command line: the click group, its error handling, and the commands of
`textgan/commands/` (one module per area: similarity, GAN, index, few-shot, K+1, out-of-domain).

Imports flow one way (cli -> commands -> workflow -> core): nothing imports this module.
Every user-fixable problem is an `InputError`: one line on stderr, exit code 2.
"""
from __future__ import annotations

import sys

import click

from textgan.common.errors import InputError


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
    except OSError as exc:  # unreadable/unwritable paths, a full disk, a folder where a file was expected, ...
        from textgan.common.paths import os_problem

        where = f"{exc.filename}: " if exc.filename is not None else ""
        click.echo(f"error: {where}{os_problem(exc)}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


def _register() -> None:
    from textgan.commands import fewshot, gan, index, kplus1, ood, similarity

    for module in (similarity, gan, index, fewshot, kplus1, ood):
        for obj in vars(module).values():
            if isinstance(obj, click.Command):
                cli.add_command(obj)


_register()


if __name__ == "__main__":
    main()
