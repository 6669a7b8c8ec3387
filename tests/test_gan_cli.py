"""CLI: train-gan / sample / objectives, and one-line exit-2 errors on bad input."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import cli
from textgan.errors import InputError
from textgan.gan import OBJECTIVES, load_vectors

TEXTGAN = str(Path(sys.executable).with_name("textgan"))
TINY = ["--width", "16", "--depth", "1", "--noise-dim", "3", "--batch-size", "16", "--quiet"]


def run_exit(*args):
    """The console script in a subprocess: real exit code and stderr."""
    p = subprocess.run([TEXTGAN, *map(str, args)], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def run_main(capsys, *args):
    """`cli.main` in-process (same InputError -> exit 2 path as the console script, but fast)."""
    from cli import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    cap = capsys.readouterr()
    return code, cap.out, cap.err


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
    res = CliRunner().invoke(cli, ["sample", str(tmp_path / "g"), "--n", "11", "--out", str(tmp_path / "plain"),
                                   "--seed", "4"])
    assert res.exit_code == 0 and np.array_equal(np.load(tmp_path / "plain"), x)  # same seed, same vectors
    # resume to more steps continues the run
    res = CliRunner().invoke(cli, ["train-gan", str(tmp_path / "v.npy"), "--objective", "lsgan", "--steps", "5",
                                   "--out", str(tmp_path / "g"), "--resume", *TINY])
    assert res.exit_code == 0, res.output
    from textgan.gan import load_generator

    assert load_generator(tmp_path / "g").config.steps == 5
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
        assert run_main(capsys, *args)[0] == 0
        if case == "wrong_dim_resume":
            np.save(tmp_path / "v.npy", good[:, :3])
        else:
            (tmp_path / "g/checkpoint/state.safetensors").write_bytes(b"\x00garbage")
        args += ["--resume"]
    elif case == "pickle_npy":
        np.save(tmp_path / "v.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = run_exit(*args) if case == "nan" else run_main(capsys, *args)
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    if case == "unknown_objective":
        assert "gan-qp-l2" in err and "f-hellinger" in err
    if case in ("wrong_dim_resume", "corrupt_ckpt"):
        assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing lost or half-written


def test_sample_from_missing_or_foreign_folder(tmp_path):
    (tmp_path / "x").mkdir()
    code, _, err = run_exit("sample", tmp_path / "x", "--n", "3", "--out", tmp_path / "o.npy")
    assert code == 2 and "config.json" in err
    assert not (tmp_path / "o.npy").exists()
