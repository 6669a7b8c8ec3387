"""CLI: train-similarity / evaluate-similarity / encode, and one-line exit-2 errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli import cli

TEXTGAN = [sys.executable, "-c", "import sys; from cli import main; main(sys.argv[1:])"]
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
        (train[:1] + [str(d / "one.csv")] + train[1:], "two groups"),
        (train[:1] + [str(d / "latin1.csv")] + train[1:], "UTF-8"),
        (train[:1] + [str(d / "x.xlsx")] + train[1:], "unsupported file type"),
        (train[:1] + [str(d / "train.csv"), "--loss", "bogus"] + train[1:], "valid: softmax, am"),
        (["evaluate-similarity", str(broken), str(d / "train.csv")], "model.safetensors"),
        (["evaluate-similarity", str(d / "nomodel"), str(d / "train.csv")], "missing model"),
        (["encode", str(model), str(d / "missing.txt"), "--out", str(d / "o.npy")], "missing file"),
    ]


def test_bad_inputs_exit_2_with_one_line(data, model, capsys):
    from cli import main

    for args, needle in _bad_inputs(data, model):
        with pytest.raises(SystemExit) as stop:
            main(args)
        lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert stop.value.code == 2, args
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], (args, lines)
    assert not (data / "bad_run" / "model").exists()
    # the real entry point, once: exit code 2, one line, no traceback
    args, needle = _bad_inputs(data, model)[5]
    proc = subprocess.run(TEXTGAN + args, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and needle in proc.stderr
