"""CLI: train-gan / sample / objectives, and one-line exit-2 errors on bad input."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import cli
from helpers import assert_one_line_error, run_cli, run_script
from textgan.common.errors import InputError
from textgan.gan import OBJECTIVES, load_vectors

TINY = ["--width", "16", "--depth", "1", "--noise-dim", "3", "--batch-size", "16", "--quiet"]


def test_objectives_lists_the_table():
    res = CliRunner().invoke(cli, ["objectives"])
    assert res.exit_code == 0
    for name, row in OBJECTIVES.items():
        assert f"| {name} | {row.family} |" in res.output


def test_train_then_sample(tmp_path):
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    res = CliRunner().invoke(cli, ["train-gan", str(tmp_path / "v.npy"), "--objective", "lsgan", "--steps", "3",
                                   "--out", str(tmp_path / "g"), *TINY])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["sample", str(tmp_path / "g"), "--n", "11", "--out", str(tmp_path / "s.npy"),
                                   "--seed", "4"])
    assert res.exit_code == 0, res.output
    x = np.load(tmp_path / "s.npy", allow_pickle=False)
    assert x.shape == (11, 4) and np.isfinite(x).all()
    res = CliRunner().invoke(cli, ["sample", str(tmp_path / "g"), "--n", "11", "--out", str(tmp_path / "again.npy"),
                                   "--seed", "4"])
    assert res.exit_code == 0 and np.array_equal(np.load(tmp_path / "again.npy"), x)  # same seed, same vectors
    res = CliRunner().invoke(cli, ["sample", str(tmp_path / "g"), "--n", "11", "--out", str(tmp_path / "plain")])
    assert res.exit_code == 1 and "name it .npy" in str(res.exception)  # no suffix: a reader could not tell
    # resume to more steps continues the run
    res = CliRunner().invoke(cli, ["train-gan", str(tmp_path / "v.npy"), "--objective", "lsgan", "--steps", "5",
                                   "--out", str(tmp_path / "g"), "--resume", *TINY])
    assert res.exit_code == 0, res.output
    from textgan.gan import load

    assert load(tmp_path / "g").config.steps == 5
    assert '"step": 5' in (tmp_path / "g/checkpoint/state.json").read_text()


def test_load_vectors_formats(tmp_path):
    from safetensors.torch import save_file

    x = torch.randn(10, 3)
    save_file({"emb": x}, str(tmp_path / "a.safetensors"))
    assert torch.equal(load_vectors(tmp_path / "a.safetensors"), x)
    save_file({"emb": x, "other": x.clone()}, str(tmp_path / "b.safetensors"))
    with pytest.raises(InputError, match="pass --key"):
        load_vectors(tmp_path / "b.safetensors")
    assert torch.equal(load_vectors(tmp_path / "b.safetensors", key="other"), x)
    import datasets

    datasets.Dataset.from_dict({"text": ["a"] * 10, "vec": x.tolist()}).save_to_disk(str(tmp_path / "ds"))
    assert torch.allclose(load_vectors(tmp_path / "ds", column="vec"), x)
    with pytest.raises(InputError, match="no column 'nope'"):
        load_vectors(tmp_path / "ds", column="nope")


@pytest.mark.parametrize("case", ["nan", "few_rows", "unknown_objective", "wrong_dim_resume", "corrupt_ckpt",
                                  "pickle_npy"])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case):
    good = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    np.save(tmp_path / "v.npy", good)
    args = ["train-gan", tmp_path / "v.npy", "--out", tmp_path / "g", "--steps", "2", *TINY]
    if case == "nan":
        bad = good.copy()
        bad[5, 1] = np.nan
        np.save(tmp_path / "v.npy", bad)
    elif case == "few_rows":
        np.save(tmp_path / "v.npy", good[:8])
    elif case == "unknown_objective":
        args += ["--objective", "wgan-xx"]
    elif case in ("wrong_dim_resume", "corrupt_ckpt"):
        assert run_cli(capsys, *args)[0] == 0
        if case == "wrong_dim_resume":
            np.save(tmp_path / "v.npy", good[:, :3])
        else:
            (tmp_path / "g/checkpoint/state.safetensors").write_bytes(b"\x00garbage")
        args += ["--resume"]
    elif case == "pickle_npy":
        np.save(tmp_path / "v.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = run_script(*args) if case == "nan" else run_cli(capsys, *args)
    assert_one_line_error(code, err)
    if case == "unknown_objective":
        assert "gan-qp-l2" in err and "f-hellinger" in err
    if case in ("wrong_dim_resume", "corrupt_ckpt"):
        assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing lost or half-written


def test_sample_from_missing_or_foreign_folder(tmp_path):
    (tmp_path / "x").mkdir()
    code, _, err = run_script("sample", tmp_path / "x", "--n", "3", "--out", tmp_path / "o.npy")
    assert code == 2 and "config.json" in err
    assert not (tmp_path / "o.npy").exists()


def test_kinds_lists_the_registry(cli_main):
    from textgan.gan import KINDS

    code, out, _ = cli_main("kinds")
    assert code == 0
    for name, k in KINDS.items():
        assert f"| {name} |" in out and f"{name} ({k.config.__name__}):" in out


@pytest.mark.parametrize("kind, extra", [("meg", ["--n-critic", "2"]), ("ebm-langevin", ["--set", "temperature=0.001",
                                                                                      "--set", "buffer_size=64"]),
                                         ("ogan", ["--objective", "lsgan"])])
def test_train_gan_every_kind_from_the_cli(tmp_path, cli_main, kind, extra):
    from textgan.gan import load

    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    tiny = ["--width", "16", "--depth", "1", "--batch-size", "16", "--quiet"]
    code, out, err = cli_main("train-gan", tmp_path / "v.npy", "--kind", kind, "--steps", "3", "--out", tmp_path / "m",
                              *tiny, *extra)
    assert code == 0, err
    m = load(tmp_path / "m")
    assert m.kind == kind and m.config.steps == 3
    if kind == "ebm-langevin":
        assert (m.config.temperature, m.config.buffer_size) == (0.001, 64)
    code, _, err = cli_main("sample", tmp_path / "m", "--n", "5", "--out", tmp_path / "s.npy")
    assert code == 0 and np.load(tmp_path / "s.npy").shape == (5, 4)


@pytest.mark.parametrize("args, needle", [
    (["--kind", "nope"], "unknown model kind 'nope'"),
    (["--objective", "meg"], "is a model kind, not an objective: use --kind meg"),
    (["--kind", "ebm-langevin", "--objective", "lsgan"], "--objective does not apply to --kind ebm-langevin"),
    (["--kind", "meg", "--pack", "2"], "--pack does not apply to --kind meg"),
    (["--pack", "3", "--batch-size", "16"], "--batch-size (16) must be a multiple of --pack (3)"),
    (["--kind", "conditional"], "needs group labels"),
    (["--lr-g", "nan"], "--lr-g must be a finite number"),
    (["--lr-d", "-1"], "--lr-d must be > 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--width", "0"], "--width must be >= 1"),
    (["--set", "temperature"], "--set needs NAME=VALUE"),
    (["--set", "nope=1"], "has no setting 'nope'"),
    (["--kind", "ebm-langevin", "--set", "temperature=nan"], "--set temperature must be a finite number"),
])
def test_train_gan_refuses_bad_settings_before_training(tmp_path, cli_main, args, needle):
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--out", tmp_path / "g", "--quiet", *args)
    if needle is None:
        assert code == 2 and "No such option" in err
    else:
        assert_one_line_error(code, err, needle)
    assert not (tmp_path / "g").exists()


def test_train_gan_on_vectors_without_dimensions(tmp_path, cli_main):
    np.save(tmp_path / "z.npy", np.zeros((64, 0), np.float32))
    assert_one_line_error(*cli_main("train-gan", tmp_path / "z.npy", "--out", tmp_path / "g")[::2], "no dimensions")


def test_sample_refuses_bad_counts_and_outputs_that_destroy_inputs(tmp_path, cli_main):
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    assert cli_main("train-gan", tmp_path / "v.npy", "--steps", "2", "--out", tmp_path / "g", *TINY)[0] == 0
    weights = (tmp_path / "g/generator.safetensors").read_bytes()
    for args, needle in [(["--n", "0"], "--n must be a whole number >= 1"),
                         (["--n", "-4"], "--n must be a whole number >= 1"),
                         (["--n", "2000000000000"], "would need about"),
                         (["--n", "3", "--group", "x"], "unconditional")]:
        assert_one_line_error(*cli_main("sample", tmp_path / "g", *args, "--out", tmp_path / "s.npy")[::2], needle)
    for out, needle in [(tmp_path / "g/generator.safetensors", "inside the input folder"),
                        (tmp_path / "g", "is a folder"), (tmp_path / "g/checkpoint/x.npy", "inside the input folder")]:
        assert_one_line_error(*cli_main("sample", tmp_path / "g", "--n", "3", "--out", out)[::2], needle)
    assert (tmp_path / "g/generator.safetensors").read_bytes() == weights
    assert not (tmp_path / "s.npy").exists()
