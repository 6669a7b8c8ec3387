"""Thread counts under load (issue 17): the default respects the CPUs the process may use
(affinity, cgroup v1/v2 quota), `--threads` sizes torch's pool inside a command, the CLI makes
idle OpenMP threads sleep (passive wait) unless the user chose a policy, `--quiet` /
`--no-progress` also silence transformers' own bars, and under torchrun a bad input is one
`error:` line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from helpers import ROOT, run_cli
from textgan.common import threads
from textgan.common.errors import InputError

FOUR = {0, 1, 2, 3}


def _v2(tmp_path, text):
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def _v1(tmp_path, quota, period="100000", folder="cpu"):
    d = tmp_path / folder
    d.mkdir()
    (d / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (d / "cpu.cfs_period_us").write_text(f"{period}\n")
    return tmp_path


@pytest.mark.parametrize("cpu_max, limit, expected", [
    ("max 100000\n", None, 4),       # no quota: the affinity mask decides
    ("200000 100000\n", 2.0, 2),
    ("150000 100000\n", 1.5, 2),     # a fractional CPU still earns a thread
    ("50000 100000\n", 0.5, 1),      # less than one CPU: one thread, never zero
    ("800000 100000\n", 8.0, 4),     # a quota above the mask: the mask decides
    ("garbage\n", None, 4),          # unreadable: no quota, the command still runs
])
def test_cgroup_v2_quota_caps_the_affinity(tmp_path, cpu_max, limit, expected):
    root = _v2(tmp_path, cpu_max)
    assert threads.cgroup_cpu_limit(root) == limit
    assert threads.available_cpus(FOUR, root) == expected


@pytest.mark.parametrize("quota, period, folder, expected", [
    ("-1", "100000", "cpu", 4),
    ("100000", "100000", "cpu", 1),
    ("300000", "100000", "cpu,cpuacct", 3),
    ("250000", "100000", "cpu", 3),
])
def test_cgroup_v1_quota_caps_the_affinity(tmp_path, quota, period, folder, expected):
    assert threads.available_cpus(FOUR, _v1(tmp_path, quota, period, folder)) == expected


def test_the_process_own_cgroup_and_its_ancestors_count(tmp_path):
    # v2 without a container namespace: the quota sits on a parent of the process's cgroup
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    (tmp_path / "job.slice" / "run-1.scope").mkdir(parents=True)
    (tmp_path / "job.slice" / "cpu.max").write_text("100000 100000\n")
    (tmp_path / "job.slice" / "run-1.scope" / "cpu.max").write_text("max 100000\n")
    me = "0::/job.slice/run-1.scope\n"
    assert threads.cgroup_cpu_limit(tmp_path, me) == 1.0
    assert threads.available_cpus(FOUR, tmp_path, me) == 1
    (tmp_path / "job.slice" / "run-1.scope" / "cpu.max").write_text("50000 100000\n")  # tighter child
    assert threads.cgroup_cpu_limit(tmp_path, me) == 0.5
    assert threads.cgroup_cpu_limit(tmp_path, "0::/elsewhere\n") is None  # not this process's slice


def test_v1_own_cgroup_path(tmp_path):
    _v1(tmp_path, "-1", folder="cpu,cpuacct")
    d = tmp_path / "cpu,cpuacct" / "docker" / "abc"
    d.mkdir(parents=True)
    (d / "cpu.cfs_quota_us").write_text("300000\n")
    (d / "cpu.cfs_period_us").write_text("100000\n")
    me = "12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n"
    assert threads.available_cpus(FOUR, tmp_path, me) == 3
    assert threads.available_cpus(FOUR, tmp_path, "12:cpu,cpuacct:/../../x\n") == 4  # never above the root


def test_affinity_alone_without_cgroup_files(tmp_path):
    assert threads.cgroup_cpu_limit(tmp_path) is None
    assert threads.available_cpus({5}, tmp_path) == 1
    assert threads.available_cpus({0, 1, 2, 3, 4, 5}, tmp_path) == 6
    # the real process: its own mask, at most
    assert 1 <= threads.available_cpus() <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize("omp, expected", [("3", 3), ("2,1", 2), ("0", 4), ("many", 4), ("", 4), (None, 4)])
def test_default_threads_follows_omp_num_threads_when_set(tmp_path, omp, expected):
    env = {} if omp is None else {"OMP_NUM_THREADS": omp}
    assert threads.default_threads(env, affinity=FOUR, root=_v2(tmp_path, "max 100000")) == expected


def test_passive_wait_policy_unless_the_user_chose_one():
    env = {}
    threads.prefer_passive_waiting(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    threads.prefer_passive_waiting(env)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_importing_cli_sets_the_wait_policy_before_torch_loads(preset, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME")}
    env["PYTHONPATH"] = str(ROOT)
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = ("import os, sys; import cli; import torch; "
            "print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)")
    # torch must not have been imported by `import cli` itself: checked before the explicit import
    probe = "import sys, cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == [expected, "True"], out.stderr
    early = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert early.stdout.strip() == "False", early.stderr


@pytest.fixture
def seen(monkeypatch):
    """Run `encode` in-process up to its model load, recording torch's thread count and whether
    transformers' bars are on at that moment; the thread settings are restored afterwards."""
    import similarity
    from transformers.utils import logging as hf_logging

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "HF_HUB_DISABLE_PROGRESS_BARS",
                "TEXTGAN_THREADS"):
        monkeypatch.delenv(var, raising=False)
    record = {}

    def fake_load(model, *a, **k):
        record.update(threads=torch.get_num_threads(), omp=os.environ.get("OMP_NUM_THREADS"),
                      bars=hf_logging.is_progress_bar_enabled())
        raise InputError("stop here", model)

    monkeypatch.setattr(similarity, "load", fake_load)
    hf_logging.enable_progress_bar()
    yield record
    hf_logging.enable_progress_bar()
    torch.set_num_threads(1)


def _encode(capsys, tmp_path, *extra):
    code, _, err = run_cli(capsys, "encode", "MODEL", ROOT / "data" / "queries.txt", "--out", tmp_path / "q.npy",
                           *extra)
    assert code == 2 and "stop here" in err, err


def test_threads_option_sets_torch_inside_the_command(capsys, tmp_path, seen):
    _encode(capsys, tmp_path, "--threads", "2")
    assert seen["threads"] == 2 and seen["omp"] == "2"
    _encode(capsys, tmp_path, "--threads", "1")
    assert seen["threads"] == 1 and seen["omp"] == "1"


def test_threads_default_is_the_available_cpus(capsys, tmp_path, seen, monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda **_: 2)
    _encode(capsys, tmp_path)
    assert seen["threads"] == 2
    monkeypatch.setenv("TEXTGAN_THREADS", "1")  # the option's environment variable
    _encode(capsys, tmp_path)
    assert seen["threads"] == 1


def test_threads_zero_is_refused(capsys, tmp_path, seen):
    code, _, err = run_cli(capsys, "encode", "MODEL", "x.txt", "--out", tmp_path / "q.npy", "--threads", "0")
    assert code == 2 and "--threads" in err and not seen


def test_absurd_thread_counts_are_refused_before_any_thread_starts(capsys, tmp_path, seen, monkeypatch):
    """--threads 100000 started 100,000 OS threads and took the machine's process table with it."""
    monkeypatch.setattr(threads, "available_cpus", lambda **_: 2)
    code, _, err = run_cli(capsys, "encode", "MODEL", "x.txt", "--out", tmp_path / "q.npy", "--threads", "100000")
    assert code == 2 and err.strip() == "error: --threads must be at most 8 (4 per CPU this process may use), " \
                                        "got 100000" and not seen
    monkeypatch.setenv("OMP_NUM_THREADS", "5000")
    code, _, err = run_cli(capsys, "encode", "MODEL", "x.txt", "--out", tmp_path / "q.npy")
    assert code == 2 and "error: OMP_NUM_THREADS must be at most 8" in err and not seen
    _encode(capsys, tmp_path, "--threads", "8")  # 4 per CPU is still accepted
    assert seen["threads"] == 8


def test_every_computing_command_has_threads():
    import cli

    names = {n for n, c in cli.cli.commands.items() if any(p.name == "threads" for p in c.params)}
    assert names == set(cli.cli.commands) - set(cli.LISTINGS)
    assert {"demo", "train-similarity", "train-gan", "encode", "index", "search", "score"} <= names


def test_no_progress_also_hides_the_transformers_bars(capsys, tmp_path, seen):
    _encode(capsys, tmp_path, "--progress")
    assert seen["bars"] is True
    _encode(capsys, tmp_path, "--no-progress")
    assert seen["bars"] is False and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"


def test_torchrun_bad_input_is_one_error_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "cli",
                        "train-gan", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "run")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    errors = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.startswith("error:")]
    assert p.returncode != 0
    assert errors == [f"error: {tmp_path / 'missing.npy'}: missing file"], p.stderr[-3000:]
