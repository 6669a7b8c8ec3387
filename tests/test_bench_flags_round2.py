"""bench/ scripts refuse malformed or out-of-range flags in one line (`error: ...`, exit 2) before any
model loads: each case below was a traceback (exit 1) or started the benchmark's work (sweep 22)."""
import os
import subprocess
import sys

import pytest

from helpers import ROOT

HERE = __file__  # an existing file for --data / --clinc, so a clone without ../shared reaches the flag

CASES = [
    ("retrieval.py", ["--sizes", "abc", "--data", HERE], "--sizes"),  # was a ValueError traceback
    ("retrieval.py", ["--kinds", "uniform", "--sizes", "0", "--data", HERE], "--sizes"),  # was "empty corpus"
    ("retrieval.py", ["--kinds", "uniform", "--sizes", "100", "--dim", "0", "--data", HERE], "--dim"),
    ("retrieval.py", ["--kinds", "bogus", "--data", HERE], "--kinds"),  # was argparse's usage and a line
    ("scale.py", ["--only", "ondisk", "--n", "1000", "--dim", "0", "--data", HERE], "--dim"),
    ("scale.py", ["--only", "ondisk", "--target-recall", "7", "--data", HERE], "--target-recall"),
    ("scale.py", ["--only", "ondisk", "--rerank", "abc", "--data", HERE], "--rerank"),
    ("scale.py", ["--only", "ondisk", "--memory-mb", "abc", "--data", HERE], "--memory-mb"),
    ("scale.py", ["--only", "pfc", "--pfc-groups", "0", "--data", HERE], "--pfc-groups"),
    ("scale.py", ["--only", "bogus", "--data", HERE], "--only"),  # was exit 0, nothing run
    ("scale.py", ["--skip", "bogus", "--data", HERE], "--skip"),
    ("toy.py", ["--preset-steps", "ring8=abc"], "--preset-steps"),  # was a ValueError traceback
    ("toy.py", ["--preset-steps", "ring9=100"], "--preset-steps"),
    ("toy.py", ["--packs", "abc"], "--packs"),
    ("toy.py", ["--datasets", "foo"], "--datasets"),  # was a KeyError after the runs
    ("toy.py", ["--sweep-batch", "0"], "--sweep-batch"),  # started the sweep
    ("toy.py", ["--objectives", "bogus"], "--objectives"),  # was a "diverged" row
    ("toy.py", ["--energy", "conditional"], "--energy"),  # needs intent labels the toy points lack
    ("ebm_temperature.py", ["--chains", "0"], "--chains"),
    ("ebm_temperature.py", ["--temps", "abc"], "--temps"),
    ("ebm_temperature.py", ["--dataset", "ring9"], "--dataset"),
    ("ebm_temperature.py", ["--seeds", "0"], "--seeds"),
    ("fewshot.py", ["--steps-grid", "0,abc", "--clinc", HERE], "--steps-grid"),
    ("fewshot.py", ["--shots", "x", "--clinc", HERE], "--shots"),
    ("fewshot.py", ["--kinds", "bogus", "--clinc", HERE], "--kinds"),
    ("small_data.py", ["--val-fraction", "2"], "--val-fraction"),  # was a full run
    ("small_data.py", ["--set", '{"epochs": 0}'], "--epochs"),  # TrainConfig's own check, before the teacher
    ("similarity.py", ["--gru", "{bad", "--clinc", HERE], "--gru"),  # was a JSONDecodeError traceback
    ("similarity.py", ["--gru", '{"no_such_field": 1}', "--clinc", HERE], "--gru"),
    ("similarity.py", ["--systems", "bogus", "--clinc", HERE], "--systems"),  # one line, but exit 1
    ("similarity.py", ["--lang", "zh", "--gru", "[]"], "--gru"),
    ("similarity.py", ["--lang", "zh", "--systems", "bogus"], "--systems"),  # was a KeyError after loading
    ("ood.py", ["--boot", "0", "--data", HERE], "--boot"),  # started training encoders
    ("ood.py", ["--protocols", "bogus", "--data", HERE], "--protocols"),
    ("ood.py", ["--encoders", "bogus", "--data", HERE], "--encoders"),
    ("ood.py", ["--scorers", "bogus", "--data", HERE], "--scorers"),
    ("ood.py", ["--vo-weight", "-1", "--data", HERE], "--vo-weight"),
    ("augment.py", ["--shots", "0", "--data", HERE], "--shots"),  # started training
    ("augment.py", ["--shots", "101", "--data", HERE], "--shots"),
    ("generation.py", ["--objectives", "bogus", "--clinc", HERE], "--objectives"),
    ("generation.py", ["--extra", "bogus", "--clinc", HERE], "--extra"),
    ("generation.py", ["--conditional", "meg", "--clinc", HERE], "--conditional"),
    ("longtail.py", ["--kinds", "bogus", "--clinc", HERE], "--kinds"),
    ("kplus1.py", ["--kplus1-steps", "-1", "--clinc", HERE], "--kplus1-steps"),
    ("load.py", ["--cases", "bogus"], "--cases"),  # was a KeyError traceback
    ("load.py", ["--loads", "sleepy"], "--loads"),
    ("load.py", ["--trees", "nolabel"], "--trees"),
]


@pytest.mark.parametrize("script, flags, flag", CASES, ids=[f"{s}{' '.join(f)}" for s, f, _ in CASES])
def test_bench_refuses_flag_in_one_line(tmp_path, script, flags, flag):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, f"bench/{script}", *flags, "--json", str(tmp_path / "out.json")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and flag in lines[0], p.stderr[-2000:]
    assert not (tmp_path / "out.json").exists()
