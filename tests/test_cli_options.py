"""One spelling per option across the CLI: `--progress/--no-progress` on every long command (off
when stderr is no terminal, `--quiet` a hidden alias where it existed), `--unlabeled` with the
British `--unlabelled` as a hidden alias."""
import click
import pytest
from click.testing import CliRunner

from cli import cli
from textgan.commands.common import progress_option, unlabeled_option

LONG = ("train-similarity", "train-gan", "train-kplus1", "encode", "index", "augment")
HAD_QUIET = ("train-similarity", "train-gan", "train-kplus1")


@click.command()
@unlabeled_option("sentences")
@progress_option(quiet_alias=True)
def probe(unlabeled, progress):
    click.echo(f"{unlabeled} {progress}")


@pytest.mark.parametrize("args,tty,want", [
    ([], False, "None False"), ([], True, "None True"), (["--progress"], False, "None True"),
    (["--no-progress"], True, "None False"), (["--quiet"], True, "None False"),
    (["--progress", "--quiet"], True, "None False"),
    (["--unlabeled", "u.txt"], False, "u.txt False"), (["--unlabelled", "v.txt"], False, "v.txt False"),
])
def test_progress_and_unlabeled_options_resolve(monkeypatch, args, tty, want):
    monkeypatch.setattr("textgan.commands.common.stderr_is_terminal", lambda: tty)
    res = CliRunner().invoke(probe, args)
    assert res.exit_code == 0, res.output
    assert res.output.strip() == want


def test_every_long_command_has_one_progress_option_and_one_spelling():
    ctx = click.Context(cli)
    for name, cmd in cli.commands.items():
        names = {o for p in cmd.params for o in p.opts + p.secondary_opts}
        help_text = cmd.get_help(click.Context(cmd, info_name=name, parent=ctx))
        assert "--unlabelled" not in help_text and "--quiet" not in help_text, name
        if name in LONG:
            assert {"--progress", "--no-progress"} <= names, name
            assert ("--quiet" in names) == (name in HAD_QUIET), name
        if "--unlabeled" in names or "--unlabelled" in names:
            assert {"--unlabeled", "--unlabelled"} <= names and "--unlabeled" in help_text, name
