"""What several command modules share."""
from __future__ import annotations

import contextlib

import click


@contextlib.contextmanager
def warnings_as_lines():
    """Python warnings (dropped groups, dropped duplicates) as `warning: ...` lines on stderr."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("default", UserWarning)  # shown even under an outer "ignore"
        warnings.showwarning = lambda message, *_, **__: click.echo(f"warning: {message}", err=True)
        yield
