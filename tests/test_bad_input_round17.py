"""Results of the twenty-first sweep and of the known problems left open after the twentieth."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_empty_cache_variables_count_as_unset():
    """XDG_CACHE_HOME="" made huggingface_hub's cache the relative path "huggingface": every CSV the
    CLI read left a huggingface/ folder in the current directory."""
    from textgan.common.paths import drop_empty_cache_vars

    env = {"XDG_CACHE_HOME": "", "HF_HOME": "  ", "HF_DATASETS_CACHE": "/c", "OTHER": ""}
    drop_empty_cache_vars(env)
    assert env == {"HF_DATASETS_CACHE": "/c", "OTHER": ""}


def test_the_cli_drops_them_before_the_hub_reads_its_cache_root(tmp_path):
    code = ("import cli, huggingface_hub.constants as c, datasets.config as d, os;"
            "print(os.path.isabs(c.HF_HOME), os.path.isabs(str(d.HF_DATASETS_CACHE)))")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": "", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "True"], out.stderr[-500:]


def test_an_interrupt_is_one_line_when_stderr_is_not_a_terminal(capsys):
    """SIGTERM is turned into KeyboardInterrupt; click then printed a blank line before ours."""
    import pytest

    import cli

    @cli.cli.command("interrupted-for-test")
    def interrupted():
        raise KeyboardInterrupt

    try:
        with pytest.raises(SystemExit) as stop:
            cli.main(["interrupted-for-test"])
    finally:
        cli.cli.commands.pop("interrupted-for-test")
    assert stop.value.code == 130
    assert capsys.readouterr().err == "error: aborted\n"
