"""Shared test fixtures: the CLI runners, the sample data paths and the shared FAQ model.

`cli_main` runs `cli.main` in-process (the same InputError -> `error:` + exit 2 path as the
console script, without a subprocess); `cli_exit` runs the installed console script in a
subprocess for the cases that need a real process (exit codes of crashes, kill -9).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
FAQ = DATA / "faq_en.csv"
SHARED = ROOT.parent / "shared" / "data"
TEXTGAN = str(Path(sys.executable).with_name("textgan"))

torch.set_num_threads(1)  # two cores: tests beside other jobs must not oversubscribe
# teacher vectors are cached per test session, never in the user's ~/.cache
os.environ.setdefault("TEXTGAN_CACHE_DIR", tempfile.mkdtemp(prefix="textgan-test-cache-"))


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


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """Exit 2, exactly one non-blank `error: ...` line on stderr (no traceback), naming each needle."""
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])


@pytest.fixture
def cli_main(capsys):
    return lambda *args: run_cli(capsys, *args)


@pytest.fixture
def cli_runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture(scope="session")
def faq():
    """(model folder, texts, groups, unit vectors) of a small GRU trained once on data/faq_en.csv."""
    from _faq import faq_model

    return faq_model()
