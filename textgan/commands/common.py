"""What several command modules share: warnings as lines, the one progress option."""
from __future__ import annotations

import contextlib
import functools
import sys

import click


@contextlib.contextmanager
def warnings_as_lines():
    """Python warnings (dropped groups, dropped duplicates) as `warning: ...` lines on stderr."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("default", UserWarning)  # shown even under an outer "ignore"
        warnings.showwarning = lambda message, *_, **__: click.echo(f"warning: {message}", err=True)
        yield


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def progress_option(quiet_alias: bool = False):
    """`--progress/--no-progress` for a long command: bars on stderr, on by default when stderr is
    a terminal (so logs and pipes stay clean). The command receives `progress` as a bool.

    Args:
        quiet_alias: also accept `--quiet` (hidden) as `--no-progress`, for commands that had it.
    """
    def decorate(f):
        @functools.wraps(f)
        def command(*args, progress: bool | None = None, quiet: bool = False, **kwargs):
            on = stderr_is_terminal() if progress is None else progress
            return f(*args, progress=on and not quiet, **kwargs)

        command = click.option("--progress/--no-progress", default=None,
                               help="Progress bars on stderr [default: on when stderr is a terminal].")(command)
        if quiet_alias:
            command = click.option("--quiet", is_flag=True, hidden=True, help="Same as --no-progress.")(command)
        return command

    return decorate


class _AliasedOption(click.Option):
    """An option whose later names are hidden aliases: --help shows only the first name."""

    def get_help_record(self, ctx):
        shown, self.opts = self.opts, self.opts[:1]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def unlabeled_option(help: str, **kwargs):
    """`--unlabeled PATH` (US English, like the rest of the CLI); `--unlabelled` is accepted as a
    hidden alias (train-kplus1 spelled it so)."""
    return click.option("--unlabeled", "--unlabelled", "unlabeled", cls=_AliasedOption, type=click.Path(),
                        help=help, **kwargs)
