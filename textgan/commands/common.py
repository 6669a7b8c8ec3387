"""What several command modules share: warnings as lines, the one progress option, grouped data."""
from __future__ import annotations

import contextlib
import functools
import sys
import threading

import click

from textgan.common.errors import InputError


HOLD_S = 10.0  # how long a warning may wait for an error line that would make it noise


class _Said:
    """The warning lines of one command: each text once; held back while `hold`, so that input
    read after them and refused ends the command with its one error line alone. `hold_s`: held
    lines print by themselves that many seconds after the first, so a long run still shows them
    near their cause, not at its end."""

    def __init__(self, hold: bool, hold_s: float | None = None, up: "_Said | None" = None):
        self.seen: set[str] = set()
        self.held: list[str] | None = [] if hold else None
        self.hold_s, self.up = hold_s, up
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def say(self, message, *_, **__) -> None:
        text = str(message)
        with self._lock:
            if text in self.seen:
                return
            self.seen.add(text)
            if self.held is not None:
                self.held.append(text)
                if self.hold_s is not None and self._timer is None:
                    self._timer = threading.Timer(self.hold_s, self.release)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self._echo(text)

    def _echo(self, text: str) -> None:
        if self.up is not None:  # a nested block: the command's own lines decide when it prints
            self.up.say(text)
        else:
            from textgan.common.texts import shown

            click.echo(f"warning: {shown(text)}", err=True)  # one line, whatever a path in it holds

    def release(self) -> None:
        """Print what was held (a nested block: pass it to the outer one, which holds it as its own
        lines, so an error right after, e.g. groups too small to split, still comes alone)."""
        with self._lock:
            held, self.held = self.held or [], None
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.cancel()
        for text in held:
            self._echo(text)

    def drop(self) -> None:
        """Forget what was held: the command ends with an error line, alone."""
        with self._lock:
            self.held = []
            if self._timer is not None:
                self._timer.cancel()


_OPEN: list[_Said] = []  # the blocks now open, outermost first (cli.main opens one per command)


@contextlib.contextmanager
def warnings_as_lines(hold: bool = False, hold_s: float | None = None):
    """Python warnings (dropped groups, dropped duplicates) as `warning: ...` lines on stderr, each
    text once: `evaluate-similarity` reads the data for the model and again for its teacher, and
    every warning came twice. With `hold`, lines wait for `release()` (or the block's normal end,
    or `hold_s` seconds after the first): an error raised before then ends the block and is printed
    alone (a warning about DATA came before the one error line about --eval-data). A block opened
    inside another passes its lines to the outer one, which holds them as it holds its own."""
    import warnings

    up = _OPEN[-1] if _OPEN else None
    if up is not None and not hold:  # the outer block already says each text once, when it should
        yield up
        return
    said = _Said(hold, hold_s, up)
    _OPEN.append(said)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", UserWarning)  # shown even under an outer "ignore"
            warnings.showwarning = said.say
            yield said
    except (InputError, OSError, MemoryError, click.ClickException, click.exceptions.Abort, KeyboardInterrupt):
        said.drop()  # one error line ends the command: what was read before it is moot
        raise
    except BaseException:  # a finished command's exit code, or a bug whose report wants every line
        said.release()
        raise
    finally:
        _OPEN.remove(said)
    said.release()


@contextlib.contextmanager
def log_lines(on: bool, name: str = "similarity"):
    """While `on`, INFO records of the `name` loggers are stdout lines as they come (a run without
    bars: its teacher and epoch lines, `similarity.say`); the logger is restored after."""
    import logging

    if not on:
        yield
        return

    class Echo(logging.Handler):
        def emit(self, record):
            click.echo(record.getMessage())

    logger, handler = logging.getLogger(name), Echo()
    before = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the root logger's handlers (pytest's, a user's basicConfig) would say it twice
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]


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


def _refuse_empty(cmd: click.Command, values: dict) -> None:
    """An option or argument given as '' (an unset shell variable): no command reads an empty value, and
    one taken as "not given" or as the current folder misled ("give queries as arguments or with --file")."""
    for p in cmd.params:
        v = values.get(p.name)
        if isinstance(v, str) and not v.strip() and (isinstance(p, click.Option) or _takes_path(p)):  # not sentences
            where = p.opts[0] if isinstance(p, click.Option) else p.human_readable_name
            raise InputError(f"{where}: an empty value{' (a path was expected)' if _takes_path(p) else ''}")


SENTENCE_ARGUMENTS = ("sentence_a", "sentence_b", "queries")  # text itself: their own checks name a blank one


def _takes_path(p: click.Parameter) -> bool:
    if isinstance(p, click.Argument):  # every other argument names a file or folder (DATA, MODEL, TEXTS, ...)
        return p.name not in SENTENCE_ARGUMENTS
    words = set(p.name.split("_"))  # --virtual-outliers takes a name: "out" inside a word is not a path
    return isinstance(p.type, click.Path) or bool(words & {"file", "out", "dir", "path", "index", "model"})


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

    from textgan.common.threads import apply_threads, default_threads, max_threads

    if any(p.name == "threads" for p in cmd.params):  # already given (cli imported twice)
        return cmd
    cmd.params.append(click.Option(
        ["--threads"], type=click.IntRange(min=1), default=None, envvar="TEXTGAN_THREADS", show_envvar=True,
        help="Threads for torch, faiss and BLAS [default: OMP_NUM_THREADS if set, else the CPUs this "
             "process may use (affinity, cgroup quota)]."))
    callback = cmd.callback

    @functools.wraps(callback)
    def run(*args, threads=None, **kwargs):
        check_seed(kwargs.get("seed"))
        _refuse_empty(cmd, kwargs)
        n = threads if threads is not None else default_threads()
        if n > max_threads():
            from textgan.common.errors import InputError

            raise InputError(f"{'--threads' if threads is not None else 'OMP_NUM_THREADS'} must be at most "
                             f"{max_threads()} (4 per CPU this process may use), got {n}")
        apply_threads(n)
        if kwargs.get("quiet") is True or kwargs.get("progress") is False or \
                (kwargs.get("progress") is None and not stderr_is_terminal()):  # logs: no "Loading weights" bars
            hide_library_progress_bars()
        return callback(*args, **kwargs)

    cmd.callback = run
    return cmd


SEED_MAX = 2**32 - 1  # numpy's and the trainers' seeds: larger ones overflow inside them


def check_seed(seed) -> None:
    """Every command's `--seed` in [0, 2**32), said in one line (as train-similarity says it)."""
    from textgan.common.errors import InputError

    if seed is not None and not (0 <= seed <= SEED_MAX):
        raise InputError(f"--seed must be an integer in [0, 2**32), got {seed}")


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


def text_col_unused(text_col, *paths) -> None:
    """Warn when --text-col was given and every file it could apply to is a .txt (one sentence a line)."""
    import warnings
    from pathlib import Path

    given = [p for p in paths if p]
    if text_col and given and all(Path(str(p)).suffix.lower() == ".txt" for p in given):
        warnings.warn(f"--text-col {text_col!r} is ignored: a .txt file is read one sentence a line", stacklevel=2)


def column_hint(exc: InputError, hint: str) -> InputError:
    """A reader's "missing column ..." error with this command's own hint in place of the reader's
    (which names DATA's --text-col / --group-col / --pair-cols); any other error as it was."""
    if not exc.problem.startswith("missing column"):
        return exc
    return InputError(exc.problem.split(" (")[0] + f" ({hint})", exc.path)


def grouped_data(data, other, text_col: str, group_col: str, pair_cols: str | None = None,
             positive_min: float | None = None, other_cols: str | None = None, cols_option: str | None = None,
             keep_singles: bool = False):
    """((texts, groups) of DATA, at least 2 groups; (texts, groups) of an optional second grouped
    file, --eval-data or --reference, else (None, None)), the second read by `other_cols` when
    given. With `pair_cols` both are pair files whose paraphrase pairs are joined into groups
    (similarity.pairs)."""
    import similarity

    if pair_cols is not None:
        from similarity.pairs import load_pair_groups

        def read(path, cols, min_groups=1, keep_singles=False):  # pair groups always hold two sentences
            # the second file's groups are not DATA's: named alike, held-out group K read as training group K
            return load_pair_groups(path, cols, positive_min, min_groups=min_groups,
                                    prefix="pair-group" if path == data else "held-out-pair-group")
        own = column_list(pair_cols, "--pair-cols")
    else:
        def read(path, cols, min_groups=1, keep_singles=False):
            return similarity.load_groups(path, *cols, min_groups=min_groups, keep_singles=keep_singles)
        own = [text_col, group_col]
    first = read(data, own, min_groups=2, keep_singles=keep_singles)
    if not other:
        return first, (None, None)
    cols = own if other_cols is None else column_list(other_cols, cols_option or "--eval-cols")
    if other_cols is not None and (not all(cols) or not (len(cols) == len(own) or (pair_cols and len(cols) in (2, 3)))):
        raise InputError(f"{cols_option or '--eval-cols'} must name {len(own)} columns like "
                         f"{'--pair-cols' if pair_cols else '--text-col,--group-col'} ({','.join(own)}), "
                         f"got {other_cols!r}", other)
    try:
        # held-out or reference sentences need no partner: kNN against the training (reference)
        # sentences scores a group of one (check_eval_groups refuses what only leave-one-out could score)
        return first, read(other, cols, keep_singles=True)
    except InputError as exc:
        if cols_option:  # the reader's hint names DATA's options
            raise column_hint(exc, f"name them with {cols_option} {'A,B[,LABEL]' if pair_cols else 'TEXT,GROUP'}") \
                from None
        raise


def column_list(value: str, option: str) -> list[str]:
    """A comma-separated list of column names, each non-empty: " , " got the reader's API wording
    ("a column must be named by a non-empty string") with no option named."""
    cols = [c.strip() for c in value.split(",")]
    if (blank := next((i for i, c in enumerate(cols) if not c), None)) is not None:
        raise InputError(f"name {blank + 1} of {value!r} is empty: give comma-separated column names (or positions "
                         "from 1)", option)
    return cols
