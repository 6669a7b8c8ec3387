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


def computing_command(cmd: click.Command) -> click.Command:
    """Give a command that computes `--threads N` and quiet library progress bars.

    `cli.py` applies this to every command it registers (but the listings), so new commands get
    it too. Before the command runs: every thread pool (torch, faiss, BLAS) is sized to N, by
    default OMP_NUM_THREADS if set, else the CPUs this process may use (affinity mask, cgroup
    quota); and when the command's own switch turns its progress off (`--quiet`,
    `--no-progress`), the bars that transformers and the HF hub draw themselves ("Loading
    weights") go too.
    """
    import functools

    from textgan.common.threads import apply_threads, default_threads

    if any(p.name == "threads" for p in cmd.params):  # already given (cli imported twice)
        return cmd
    cmd.params.append(click.Option(
        ["--threads"], type=click.IntRange(min=1), default=None, envvar="TEXTGAN_THREADS", show_envvar=True,
        help="Threads for torch, faiss and BLAS [default: OMP_NUM_THREADS if set, else the CPUs this "
             "process may use (affinity, cgroup quota)]."))
    callback = cmd.callback

    @functools.wraps(callback)
    def run(*args, threads=None, **kwargs):
        apply_threads(threads if threads is not None else default_threads())
        if kwargs.get("quiet") is True or kwargs.get("progress") is False:
            hide_library_progress_bars()
        return callback(*args, **kwargs)

    cmd.callback = run
    return cmd


def hide_library_progress_bars() -> None:
    """No tqdm bars from transformers / huggingface_hub (weights loading, downloads)."""
    import os
    import sys

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read when they are first imported
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
