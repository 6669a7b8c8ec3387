"""`textgan` command line: the click group, its error handling, and the commands of
`textgan/commands/` (one module per area: similarity, evaluation, GAN, index, few-shot, K+1,
out-of-domain).

Imports flow one way (cli -> commands -> workflow -> core): nothing imports this module.
Every user-fixable problem is an `InputError`: one line on stderr, exit code 2.
"""
from __future__ import annotations

import re
import sys

from textgan.common.paths import drop_empty_cache_vars
from textgan.common.threads import drop_invalid_thread_count, prefer_passive_waiting

prefer_passive_waiting()  # before torch/faiss load their OpenMP runtimes (they read it once)
drop_invalid_thread_count()  # libgomp would print its own line about it
drop_empty_cache_vars()  # before datasets/huggingface_hub read their cache roots

import click  # noqa: E402

from textgan.common.errors import InputError  # noqa: E402
from textgan.common.texts import shown  # noqa: E402  (an error or warning is one line: a newline in a path too)


class _Group(click.Group):
    def invoke(self, ctx):
        """Ctrl-C or SIGTERM: click printed a blank line (to close a terminal's `^C` echo) before our
        one `error: aborted` line, under a scheduler too; only a terminal gets it now."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            if sys.stderr is not None and sys.stderr.isatty():
                click.echo(err=True)
            raise click.exceptions.Abort() from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="textgan")
def cli() -> None:
    """textgan: margin-softmax sentence encoders, GANs on sentence embeddings, FAISS retrieval.

    Typical workflow: train-similarity -> train-gan -> generate-embeddings (decoded with an index).
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: turns InputError into `error: ...` and exit code 2."""
    try:
        _main(argv)
    except SystemExit as exc:
        _quiet_exit(argv)
        _leave_torchrun(exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1)
        raise
    _quiet_exit(argv)
    _leave_torchrun(0)


def _quiet_exit(argv: list[str] | None) -> None:
    """The command has ended and said so: a SIGTERM or Ctrl-C in the second of interpreter shutdown
    left raised KeyboardInterrupt inside torch's atexit hooks (tracebacks, exit 0) or killed the
    process with a bare 143. The console script ignores them from here; in-process callers (argv
    given: tests, a user's script) keep their handlers."""
    import signal

    if argv is not None:
        return
    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass


def _leave_torchrun(code: int) -> None:
    """Under torchrun (a joined gloo/nccl process group), end the process once the group is left.

    Why: after both ranks had written everything and left the group (destroy_process_group
    returned on each), about 1 run in 20-40 on a loaded 2-core machine still died in interpreter
    finalization with gloo's "terminate called without an active exception" (SIGABRT), so torchrun
    reported a failed job and stopped the other rank. Nothing is left to do at that point: flush the
    streams and exit with the command's own code, skipping the finalization that aborts."""
    import os

    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


TERM_GRACE_S = 5.0  # after SIGTERM, time to unwind before the process ends anyway
_TERM_INSTALLED = []


class Terminated(KeyboardInterrupt):
    """SIGTERM, unwound as Ctrl-C is, but said as itself: `error: terminated`, exit 143 (128 + 15)."""


def _terminate_as_interrupt() -> None:
    """SIGTERM (kill, timeout, docker stop, a scheduler's preemption) unwinds like Ctrl-C: the
    cleanup that removes a new run's half-written folder and its lock then runs too.

    A Python handler only runs between bytecodes, so a long native call (a FAISS build, k-means)
    would delay it until the call returns (an NSG build that never returned ignored SIGTERM). The
    C-level handler also writes the signal to a wakeup pipe that a thread watches: if the process
    is still alive TERM_GRACE_S later it exits with 143, leaving what a kill -9 leaves (temp files a
    rerun removes, never a half-published artefact)."""
    import os
    import signal
    import threading
    import time

    if _TERM_INSTALLED:  # once per process (the tests call main() many times in one process)
        return

    def interrupt(*_):
        raise Terminated

    try:
        r, w = os.pipe()
        os.set_blocking(w, False)
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (main() called from a worker thread): leave it
        return
    _TERM_INSTALLED.append(True)

    def watchdog():
        while True:
            if signal.SIGTERM in os.read(r, 64):
                time.sleep(TERM_GRACE_S)
                os.write(2, b"error: terminated\n")
                os._exit(143)

    threading.Thread(target=watchdog, name="sigterm-watchdog", daemon=True).start()


def _main(argv: list[str] | None) -> None:
    from textgan.commands.common import HOLD_S, warnings_as_lines

    _terminate_as_interrupt()
    if sys.stdout is None or sys.stdout.closed:  # `textgan ... >&-`: click.echo would drop every result silently
        click.echo("error: <stdout>: closed: the results could not be printed (redirect it to a file)", err=True)
        sys.exit(2)
    for stream in (sys.stdout, sys.stderr):  # redirected to a file, each line is written when said, not at exit
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError, OSError):  # not a TextIOWrapper (a test's capture, a pipe wrapper)
            pass
    try:
        # every command: `warning: ...` lines, never a file path and source line; held a while, so
        # that input refused after a warned one ends the command with its error line alone
        with warnings_as_lines(hold=True, hold_s=HOLD_S):
            cli.main(args=argv, prog_name="textgan", standalone_mode=False)
    except SystemExit as exc:
        if type(sys.stdout).__name__ == "_PacifyFlushWrapper":  # click met a closed pipe (`| head -1`)
            sys.exit(128 + 13)  # as a process ended by SIGPIPE (click said 1, the status of an error)
        raise exc
    except InputError as exc:
        _say_once(lambda: click.echo(f"error: {shown(exc)}", err=True))
        sys.exit(2)
    except OSError as exc:  # unreadable/unwritable paths, a full disk, a folder where a file was expected, ...
        from textgan.common.paths import os_problem

        where = f"{exc.filename}: " if exc.filename is not None else ""
        _say_once(lambda: click.echo(f"error: {shown(where + os_problem(exc))}", err=True))
        sys.exit(2)
    except click.exceptions.Abort as exc:
        term = isinstance(exc.__cause__, Terminated)
        click.echo(f"error: {'terminated' if term else 'aborted'}", err=True)
        sys.exit(143 if term else 130)
    except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:  # plain `textgan`: its help
        click.echo(exc.ctx.get_help())
    except click.ClickException as exc:  # bad options: one line too, not click's usage block
        _say_once(lambda: click.echo(f"error: {shown(_click_problem(exc))}", err=True))
        sys.exit(exc.exit_code)
    except (MemoryError, RuntimeError) as exc:  # after click's Abort (a RuntimeError); torch's allocator's
        if isinstance(exc, RuntimeError) and (loop := re.match(r"Symlink loop from '(.*)'$", str(exc))):
            _say_once(lambda: click.echo(f"error: {shown(loop.group(1))}: a symbolic link loop", err=True))
            sys.exit(2)  # Path.resolve() on Python < 3.13 (3.13 raises OSError ELOOP, said above)
        if isinstance(exc, RuntimeError) and "allocate memory" not in str(exc):
            raise  # a bug: its traceback is what a report needs
        _say_once(lambda: click.echo("error: out of memory: ask for less (a smaller --n, --batch-size or corpus) or "
                                     "free memory", err=True))
        sys.exit(2)


def _click_problem(exc: click.ClickException) -> str:
    """click's message on one line, with where to read the command's options."""
    msg = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        msg += f" (see '{ctx.command_path} --help')"
    return msg


OTHER_RANK_GRACE_S = 3.0


def _say_once(say) -> None:
    """Under torchrun every rank meets the same bad input: local rank 0 says it, the others wait.

    torchrun stops all ranks of a node as soon as one exits, so when local rank 0 fails too (the
    usual case) the others are stopped during the wait and the user reads one `error:` line, not
    one per rank. A problem only another rank meets is said after the wait, never lost.
    """
    import os
    import time

    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and int(os.environ.get("LOCAL_RANK", "0") or 0) != 0:
        try:
            time.sleep(OTHER_RANK_GRACE_S)
        except KeyboardInterrupt:  # torchrun's SIGTERM once rank 0 has said it: no traceback from this rank
            sys.stderr.flush()
            os._exit(2)
    say()


LISTINGS = ("objectives", "kinds")  # commands that only print a table: no --threads


def _register() -> None:
    from textgan.commands import encode, evaluate, fewshot, gan, index, kplus1, ood, similarity
    from textgan.commands.common import computing_command

    for module in (similarity, evaluate, encode, gan, index, fewshot, kplus1, ood):
        for obj in vars(module).values():
            if isinstance(obj, click.Command):
                cli.add_command(obj if obj.name in LISTINGS else computing_command(obj))


_register()


if __name__ == "__main__":
    main()
