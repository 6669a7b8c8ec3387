"""CLI: train-similarity / evaluate-similarity / encode, and one-line exit-2 errors."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli import cli
from helpers import assert_one_line_error, run_script

ROWS = [(f"{w} {x} please", g) for g, ws in
        [("pw", ["reset password", "forgot password", "new password"]),
         ("parcel", ["track parcel", "where parcel", "parcel status"]),
         ("cancel", ["cancel plan", "stop plan", "end plan"])] for w in ws for x in ("now", "today")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "train.csv").write_text("text,group\n" + "\n".join(f"{t},{g}" for t, g in ROWS) + "\n")
    (d / "q.txt").write_text("reset my password\nwhere is my parcel\n")
    (d / "pairs.tsv").write_text("sentence1\tsentence2\tscore\nreset password\tforgot password"
                                 "\t4\nreset password\ttrack parcel\t0\nstop plan\tend plan\t5\n")
    return d


@pytest.fixture(scope="module")
def model(data):
    res = CliRunner().invoke(cli, ["train-similarity", str(data / "train.csv"), "--out",
                                   str(data / "run"), "--epochs", "3", "--hidden", "16",
                                   "--embed-dim", "16", "--batch-size", "8", "--quiet",
                                   "--eval-fraction", "0.34"])
    assert res.exit_code == 0, res.output
    return data / "run" / "model"


def test_train_evaluate_encode(data, model):
    cfg = json.loads((data / "run" / "config.json").read_text())
    assert cfg["train"]["hidden_size"] == 16 and cfg["n_eval"] == 6 and cfg["n_train"] == 12
    out = data / "m.json"
    res = CliRunner().invoke(cli, ["evaluate-similarity", str(model), str(data / "train.csv"),
                                   "--reference", str(data / "train.csv"),
                                   "--pairs", str(data / "pairs.tsv"), "--json", str(out)])
    assert res.exit_code == 0, res.output
    got = json.loads(out.read_text())
    assert got["knn_top1"] == 1.0  # every sentence is its own nearest reference
    assert {"loo_top1", "loo_top5", "loo_top10", "spearman", "model_fingerprint"} <= set(got)
    res = CliRunner().invoke(cli, ["encode", str(model), str(data / "q.txt"), "--out",
                                   str(data / "q.npy")])
    assert res.exit_code == 0, res.output
    import similarity

    vec = np.load(data / "q.npy", allow_pickle=False)
    np.testing.assert_allclose(vec, similarity.load(model).encode(
        ["reset my password", "where is my parcel"]), atol=1e-6)
    res = CliRunner().invoke(cli, ["encode", str(model), str(data / "train.csv"), "--text-col",
                                   "text", "--out", str(data / "t.npy")])
    assert res.exit_code == 0 and np.load(data / "t.npy").shape[0] == len(ROWS)


def _bad_inputs(d: Path, model: Path):
    (d / "latin1.csv").write_bytes("text,group\ncaf\xe9,a\n".encode("latin-1"))
    (d / "empty.csv").write_text("")
    (d / "header.csv").write_text("text,group\n")
    (d / "one.csv").write_text("text,group\na b,g\na c,g\n")
    (d / "x.xlsx").write_text("nope")
    broken = d / "broken"
    if not broken.exists():
        import shutil

        shutil.copytree(model, broken)
        (broken / "model.safetensors").write_bytes(b"garbage")
    train = ["train-similarity", "--out", str(d / "bad_run"), "--epochs", "1"]
    return [
        (train[:1] + [str(d / "missing.csv")] + train[1:], "missing file"),
        (train[:1] + [str(d / "train.csv"), "--text-col", "nope"] + train[1:], "missing column"),
        (train[:1] + [str(d / "empty.csv")] + train[1:], "empty dataset"),
        (train[:1] + [str(d / "header.csv")] + train[1:], "empty dataset"),
        (train[:1] + [str(d / "one.csv")] + train[1:], "at least 2 groups"),
        (train[:1] + [str(d / "latin1.csv")] + train[1:], "UTF-8"),
        (train[:1] + [str(d / "x.xlsx")] + train[1:], "unsupported file type"),
        (train[:1] + [str(d / "train.csv"), "--loss", "bogus"] + train[1:], "valid: softmax, am"),
        (["evaluate-similarity", str(broken), str(d / "train.csv")], "model.safetensors"),
        (["evaluate-similarity", str(d / "nomodel"), str(d / "train.csv")], "missing model"),
        (["encode", str(model), str(d / "missing.txt"), "--out", str(d / "o.npy")], "missing file"),
    ]


def test_bad_inputs_exit_2_with_one_line(data, model, cli_main):
    for args, needle in _bad_inputs(data, model):
        assert_one_line_error(*cli_main(*args)[::2], needle)
    assert not (data / "bad_run" / "model").exists()
    # the real entry point, once: exit code 2, one line, no traceback
    args, needle = _bad_inputs(data, model)[5]
    assert_one_line_error(*run_script(*args)[::2], needle)


# --- one-line errors, table-driven (conftest's cli_main, helpers.assert_one_line_error) -------------
def _train(d: Path, *extra) -> list:
    # a data file that does not exist: a bad option must be reported before data is read
    return ["train-similarity", d / "missing.csv", "--out", d / "never", *extra]


_ROOT = os.geteuid() == 0  # root writes into read-only folders: nothing to test there
BAD = [  # (id, args from (data folder, model folder), words the one error line must hold)
    ("batch-size-0", lambda d, m: _train(d, "--batch-size", "0"), ["--batch-size must be", "got 0"]),
    ("hidden-0", lambda d, m: _train(d, "--hidden", "0"), ["--hidden must be", "got 0"]),
    ("lr-nan", lambda d, m: _train(d, "--lr", "nan"), ["--lr must be a finite number > 0", "got nan"]),
    ("lr-negative", lambda d, m: _train(d, "--lr", "-1"), ["--lr must be", "got -1.0"]),
    ("epochs-0", lambda d, m: _train(d, "--epochs", "0"), ["--epochs must be", "got 0"]),
    ("partial-fc-0", lambda d, m: _train(d, "--partial-fc", "0"), ["--partial-fc must be a number in (0, 1]"]),
    ("partial-fc-nan", lambda d, m: _train(d, "--partial-fc", "nan"), ["--partial-fc must be", "got nan"]),
    ("partial-fc-in-batch-loss", lambda d, m: _train(d, "--partial-fc", "0.5", "--loss", "infonce"),
     ["--partial-fc", "'infonce' has none"]),
    ("encode-batch-size-0", lambda d, m: ["encode", m, d / "q.txt", "--out", d / "o.npy",
                                          "--batch-size", "0"], ["--batch-size", "got 0"]),
    ("encode-out-is-input", lambda d, m: ["encode", m, d / "q.txt", "--out", d / "q.txt"],
     ["q.txt", "input file itself"]),
    ("encode-out-in-model", lambda d, m: ["encode", m, d / "q.txt", "--out", m / "v.npy"],
     ["v.npy", "inside"]),
    ("evaluate-one-group", lambda d, m: ["evaluate-similarity", m, d / "one_group.csv"],
     ["one_group.csv", "at least 2 groups"]),
    ("evaluate-json-is-data", lambda d, m: ["evaluate-similarity", m, d / "train.csv", "--json",
                                            d / "train.csv"], ["train.csv", "--json is the input file"]),
    ("out-is-a-file", lambda d, m: ["train-similarity", d / "train.csv", "--out", d / "q.txt"],
     ["q.txt", "is a file"]),
    ("out-below-a-file", lambda d, m: ["train-similarity", d / "train.csv", "--out", d / "q.txt" / "run"],
     ["q.txt", "not a folder"]),
    ("out-not-empty", lambda d, m: ["train-similarity", d / "train.csv", "--out", d / "run"],
     ["run", "not empty", "--resume"]),
    ("missing-owner-name-path", lambda d, m: ["train-similarity", "no_such_owner/no_such_data", "--out",
                                              d / "never"], ["no_such_owner/no_such_data: missing file"]),
    ("encode-missing-data-file", lambda d, m: ["encode", m, d / "nope.csv", "--text-col", "text",
                                               "--out", d / "o.npy"], ["nope.csv: missing file"]),
    pytest.param("read-only-out", lambda d, m: ["train-similarity", d / "train.csv", "--out",
                                                d / "ro" / "run"], ["ro", "not writable"],
                 marks=pytest.mark.skipif(_ROOT, reason="root can write into a read-only folder")),
    pytest.param("read-only-encode-out", lambda d, m: ["encode", m, d / "q.txt", "--out", d / "ro" / "o.npy"],
                 ["ro", "not writable"],
                 marks=pytest.mark.skipif(_ROOT, reason="root can write into a read-only folder")),
]


@pytest.mark.parametrize("case,args,needles", BAD)
def test_bad_input_is_one_line_exit_2(data, model, cli_main, case, args, needles):
    (data / "one_group.csv").write_text("text,group\na b,g\na c,g\n")
    (data / "ro").mkdir(exist_ok=True)
    (data / "ro").chmod(0o555)
    code, _, err = cli_main(*args(data, model))
    assert_one_line_error(code, err, *needles)
    assert not (data / "never").exists() and not (data / "o.npy").exists()


def test_a_locked_run_folder_is_refused(data, cli_main, tmp_path):
    from textgan.common.artifacts import run_lock

    out = tmp_path / "run"
    with run_lock(out):  # another run holds it
        code, _, err = cli_main("train-similarity", data / "train.csv", "--out", out, "--epochs", "1",
                                "--quiet")
    assert_one_line_error(code, err, str(out), "locked")
    assert not (out / "model").exists()


TINY_ARGS = ["--epochs", "1", "--hidden", "8", "--embed-dim", "8", "--batch-size", "8", "--quiet",
             "--eval-fraction", "0.34"]


def test_duplicates_warn_and_are_counted(cli_main, tmp_path):
    (tmp_path / "dup.csv").write_text("text,group\n" + "".join(f"{t},{g}\n{t},{g}\n" for t, g in ROWS))
    code, out, err = cli_main("train-similarity", tmp_path / "dup.csv", "--out", tmp_path / "run", *TINY_ARGS)
    assert code == 0, err
    assert f"warning: dropped {len(ROWS)} duplicate sentence(s)" in err
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["n_duplicates_dropped"] == len(ROWS) and cfg["n_train"] + cfg["n_eval"] == len(ROWS)


@pytest.mark.parametrize("victim", ["checkpoint/module/model.safetensors",
                                    "checkpoint/module/encoder_config.json",
                                    "checkpoint/module/tokenizer.json",
                                    "checkpoint/state.json", "checkpoint/state.safetensors"])
def test_resume_from_a_truncated_checkpoint_is_one_line(data, cli_main, tmp_path, victim):
    run = tmp_path / "run"
    assert cli_main("train-similarity", data / "train.csv", "--out", run, *TINY_ARGS)[0] == 0
    f = run / victim
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    code, _, err = cli_main("train-similarity", data / "train.csv", "--out", run, "--resume",
                            *TINY_ARGS[:1], "2", *TINY_ARGS[2:])
    assert_one_line_error(code, err, str(f))


def test_nan_weights_are_refused_by_encode_and_evaluate(data, model, cli_main, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    bad = tmp_path / "nan_model"
    shutil.copytree(model, bad)
    weights = load_file(bad / "model.safetensors")
    save_file({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
               for k, v in weights.items()}, bad / "model.safetensors")
    for args in (["encode", bad, data / "q.txt", "--out", tmp_path / "o.npy"],
                 ["evaluate-similarity", bad, data / "train.csv"]):
        code, _, err = cli_main(*args)
        assert_one_line_error(code, err, str(bad / "model.safetensors"))
    assert not (tmp_path / "o.npy").exists()
