"""What the test modules share: the repository paths, the two ways to run the CLI, the one-line
error check, the small FAQ model and sentences unrelated to it. Test modules `from helpers
import ...`; fixtures that wrap these live in conftest.py (pytest puts tests/ on sys.path:
`pythonpath` in pyproject.toml).

`run_cli` runs `cli.main` in-process (the same InputError -> `error:` + exit 2 path as the
console script, without a subprocess); `run_script` runs the installed console script for the
cases that need a real process (exit codes of crashes, tracebacks that must not appear, kill -9).
"""
from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FAQ = ROOT / "data" / "faq_en.csv"  # 528 sentences in 66 groups, columns text,group
TEXTGAN = str(Path(sys.executable).with_name("textgan"))  # the console script beside this python
# sentences far from every FAQ group: what in-domain scoring must rank below the FAQ's own
UNRELATED = ["The mitochondria is the powerhouse of the cell",
             "purple elephants dance quietly under a frozen volcano",
             "Photosynthesis converts sunlight into chemical energy in chloroplasts"]


def scratch(prefix: str) -> Path:
    """A temporary folder for what one test process shares (models, caches), removed when the
    process exits: a `make test` used to leave about 120 MB of them in /tmp."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, d, True)
    return d


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `cli.main(args)` in-process."""
    from cli import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def run_script(*args, timeout: int = 300) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the `textgan` console script in a subprocess."""
    p = subprocess.run([TEXTGAN, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def leave_ddp(out: Path) -> None:
    """A torchrun test worker's last line: every rank meets at a barrier, then marks `out/left<rank>`
    (proof that its work is done when gloo's teardown aborts it afterwards, see `torchrun`)."""
    import torch.distributed as dist

    dist.barrier()
    (Path(out) / f"left{dist.get_rank()}").write_text("")


def torchrun(script: Path, out: Path, *args, timeout: int = 300) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node 2 script out args`, one thread a rank.

    A rank that aborts in gloo's teardown ("terminate called without an active exception": about
    1 run in 20 on a loaded 2-core machine) after both ranks wrote their `leave_ddp` marker did all
    its work: that run counts as passed. Any other failure is returned as it is."""
    import os

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=f"{root}:{root / 'tests'}", OMP_NUM_THREADS="1")
    cmd = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2", str(script),
           str(out), *map(str, args)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if (p.returncode != 0 and "terminate called without an active exception" in p.stderr
            and all((Path(out) / f"left{r}").is_file() for r in (0, 1))):
        p.returncode = 0
    return p


def cli_code(*args) -> int:
    """Exit code of `cli.main(args)` in this process (output left where it goes)."""
    from cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def fork_child(fn, timeout: int = 120) -> int:
    """Run fn() in a forked copy of this process and return its pid: torch and the models are already
    imported (a fresh interpreter would take seconds each). The child exits with fn's return value
    (an int), 70 on an exception, and is killed by SIGALRM after `timeout` seconds."""
    import os
    import signal
    import traceback

    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 70
        try:
            signal.alarm(timeout)
            code = int(fn() or 0)
        except BaseException:  # noqa: BLE001  (reported by the exit code; the trace helps debugging)
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def wait_child(pid: int) -> int:
    """Exit code of a fork_child (negative: killed by that signal)."""
    import os

    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """Exit 2, exactly one non-blank `error: ...` line on stderr (no traceback), naming each needle."""
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])


@functools.lru_cache(maxsize=None)
def faq_model() -> tuple[Path, list[str], list[str], np.ndarray]:
    """(model folder, texts, groups, unit vectors (528, D)) of the library's default encoder on
    FAQ, trained once per test process (a plain cached function: module-scoped fixtures and
    the session fixture `faq` share it). The default is distilled from MiniLM (teacher vectors
    cached): a GRU trained from scratch on 400 sentences made these tests hostage to its seed,
    the conditional GANs' hit rates ranging 0.10-0.78 over seeds and epochs, against 1.0 at
    every seed with the distilled one."""
    import torch

    import similarity

    torch.set_num_threads(1)
    texts, groups = similarity.load_groups(FAQ, text_col="text", group_col="group")
    out = scratch("textgan-faq-")
    # batch 64 and lr 2e-3 pinned: the defaults before the small-data row (similarity.config),
    # which would give these 528 sentences four times the steps and every test new numbers
    cfg = similarity.TrainConfig(epochs=6, batch_size=64, lr=2e-3, seed=0)
    path = similarity.train(cfg, texts, groups, out / "run", progress=False)
    vectors = similarity.load(path).encode(texts)
    return Path(path), list(texts), list(groups), vectors


def seeded_teacher_cache(folder: Path) -> Path:
    """`folder` as a fresh teacher cache that holds only MiniLM's static token vectors (model2vec's
    distillation, 28 s on one thread), copied from the session cache (distilled there once): tests
    of a cold teacher-vector cache keep it cold without distilling again."""
    from similarity.static_init import static_vectors
    from similarity.teacher import default_cache_dir, resolve_teacher

    teacher = resolve_teacher("minilm")
    static_vectors(teacher)  # read from the session cache, or distilled into it once
    name = f"{teacher.fingerprint}-static.safetensors"
    Path(folder).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(default_cache_dir() / name, Path(folder) / name)
    return Path(folder)
