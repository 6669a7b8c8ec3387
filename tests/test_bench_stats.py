"""bench/stats.py: the paired intervals every bench reports, checked against closed forms."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import stats  # noqa: E402


def test_paired_bootstrap_is_paired_over_items():
    rng = np.random.default_rng(0)
    base = rng.random(2000) < 0.7  # per-item correctness; b wins on exactly 40 extra items
    a, b = base.copy(), base.copy()
    flip = np.flatnonzero(~base)[:40]
    b[flip] = True
    m, lo, hi = stats.paired_bootstrap(a, b, seed=1)
    assert m == pytest.approx(-40 / 2000)
    # paired: the interval comes from the 40 discordant items only, so it is narrow (sd of a
    # mean of 2000 draws from {0, -1} with p = 0.02: about 0.0031); an unpaired interval of two
    # 70% accuracies would be +- 0.028
    assert hi < 0 and hi - lo < 0.016 and lo > -0.035
    assert stats.excludes_zero((m, lo, hi))
    # identical methods: a zero-width interval at 0
    assert stats.paired_bootstrap(a, a) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_averages_seeds_on_the_same_items():
    a = np.array([[1, 1, 0, 0], [1, 0, 0, 0]])  # 2 seeds x 4 items
    b = np.zeros((2, 4))
    m, lo, hi = stats.paired_bootstrap(a, b, resamples=2000)
    assert m == pytest.approx(3 / 8)
    assert 0 <= lo <= m <= hi <= 1
    with pytest.raises(ValueError, match="same shape"):
        stats.paired_bootstrap(a, b[:, :3])


def test_paired_episodes_matches_the_t_interval():
    a = np.array([0.80, 0.82, 0.78, 0.85, 0.81])
    b = a - np.array([0.01, 0.02, 0.00, 0.03, 0.01])
    m, lo, hi = stats.paired_episodes(a, b)
    d = a - b
    half = 2.7764451051977987 * d.std(ddof=1) / np.sqrt(5)  # t(0.975, 4 df)
    assert (m, lo, hi) == pytest.approx((0.014, 0.014 - half, 0.014 + half))
    assert stats.fmt_diff((m, lo, hi)).startswith("+1.40 [")
    assert stats.fmt_diff((m, lo, hi)) == "+1.40 [-0.02, +2.82]"  # includes 0: no star
    assert stats.fmt_diff((0.01, 0.002, 0.02)).endswith("]*")
    assert stats.fmt_mean([0.5, 0.7]).startswith("60.00 ± ")


def test_refuse_prints_one_line_and_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        stats.at_least(0, 1, "--episodes")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: --episodes must be >= 1, got 0\n"


@pytest.mark.parametrize("script, flags, needle", [
    ("similarity_zh.py", ["--splits", "0"], "--splits must be at least 1, got 0"),  # was an import error as a script
    ("toy.py", ["--jobs", "0"], "--jobs must be at least 1, got 0"),  # was a ValueError traceback
    ("load.py", ["--repeats", "0"], "--repeats must be at least 1, got 0"),  # was NaN tables, exit 0
    ("small_data.py", ["--holdout", "0"], "--holdout must be in (0, 1), got 0.0"),  # was a full run
    ("fewshot.py", ["--threads", "0"], "--threads must be at least 1, got 0"),  # was torch's RuntimeError
    ("augment.py", ["--data", "/no/such.json"], "/no/such.json: missing file (--data)"),  # was after MiniLM loaded
    ("toy.py", ["--energy-temps", "abc"], "--energy-temps 'abc': every value must be a finite number > 0"),
    # --clinc: any existing file, so a clone without ../shared reaches the flag under test
    ("generation.py", ["--ebm-temps", "0", "--clinc", __file__],
     "--ebm-temps '0': every value must be a finite number > 0"),
])
def test_every_bench_refuses_shared_flags_before_any_work(tmp_path, script, flags, needle):
    """Started from another folder, as a script: one line, exit 2, within seconds."""
    import subprocess
    import sys

    from helpers import ROOT

    p = subprocess.run([sys.executable, str(ROOT / "bench" / script), *flags], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [f"error: {needle}"], p.stderr[-2000:]


def test_check_flags_lets_valid_flags_through():
    import argparse

    stats.check_flags(argparse.Namespace(threads=2, seeds=3, holdout=0.25, data=__file__, clinc=None, shots="1,5"))
