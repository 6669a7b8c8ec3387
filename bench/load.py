"""Runtime under load: `make demo`'s command and one `train-similarity` on the FAQ, each run on an
idle machine and beside one CPU-bound process pinned to the same cores, for one or more code trees
(e.g. before/after a change). Goal (issue 17): the demo within 2x of its idle time beside one busy
process.

Each case is a fresh `python -m cli ...` process with PYTHONPATH set to the tree under test, so the
same interpreter and packages run every tree. The runs of one repeat are interleaved (tree x load)
so that slow drifts of the shared machine's background load hit every cell alike; the paired
ratio busy/idle is computed within a repeat. The 1-minute load average before each run is
recorded because other jobs on a shared machine make every figure noisy.

    flock /tmp/textgan-heavy.lock /work/main/.venv/bin/python bench/load.py \\
        --trees before=/work/main,after=. --repeats 1 --json bench/results/load.json

The environment is passed through as is, except OMP_NUM_THREADS/MKL_NUM_THREADS, which are
removed (a thread cap set by hand would hide what the CLI's own default does); --keep-env keeps
them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from math import nan
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    # the command `make demo` runs
    "demo": ["demo", "{data}/faq_en.csv", "--out", "{out}/demo", "--queries", "{data}/queries.txt",
             "--pairs", "{data}/faq_en_pairs.tsv"],
    "train-similarity": ["train-similarity", "{data}/faq_en.csv", "--out", "{out}/sim", "--quiet"],
}


def busy_process(cpus: set[int]) -> subprocess.Popen:
    """One CPU-bound python loop pinned to `cpus` (the cores the measured command may use)."""
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    os.sched_setaffinity(p.pid, cpus)
    return p


def run_case(case: str, tree: Path, busy: bool, extra: list[str], keep_env: bool, timeout: float | None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    if not keep_env:
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY"):
            env.pop(k, None)
    with tempfile.TemporaryDirectory(prefix="textgan-load-") as tmp:
        # run in the empty tmp folder: `python -m` puts the working folder first on sys.path
        cmd = [sys.executable, "-m", "cli"] + [a.format(out=tmp, data=ROOT / "data") for a in CASES[case]] + extra
        load1 = os.getloadavg()[0]
        hog = busy_process(os.sched_getaffinity(0)) if busy else None
        try:
            before = os.times()
            t0 = time.perf_counter()
            try:
                p = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:  # the child is killed; the run counts as "> timeout"
                p = None
            wall = time.perf_counter() - t0
            after = os.times()
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    if p is None:
        return {"wall_s": wall, "cpu_s": nan, "load1_before": load1, "timed_out": True}
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"wall_s": wall, "cpu_s": cpu, "load1_before": load1, "timed_out": False}


def ci95(xs: list[float]) -> tuple[float, float]:
    """Mean and half-width of a t 95% interval (nan with one value)."""
    t = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31, 10: 2.26}
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, float("nan")
    return m, t.get(len(xs), 2.0) * statistics.stdev(xs) / len(xs) ** 0.5


def mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else nan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", default=f"this={ROOT}", help="label=path,... code trees to compare")
    ap.add_argument("--cases", default="demo,train-similarity", help=f"comma list of {sorted(CASES)}")
    ap.add_argument("--loads", default="idle,busy", help="comma list of idle, busy (without a busy process / beside one)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=None, help="stop a run after this many seconds (shown as >T)")
    ap.add_argument("--extra", default="", help="extra CLI arguments for every run, e.g. '--threads 2'")
    ap.add_argument("--keep-env", action="store_true", help="keep OMP_NUM_THREADS/MKL_NUM_THREADS")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` as a package
    from bench import stats as _stats

    _stats.check_flags(args)
    if not all(lab and p for lab, _, p in (s.partition("=") for s in args.trees.split(","))):
        _stats.refuse(f"--trees must be LABEL=PATH,..., got {args.trees!r}")
    trees = [(lab, Path(p)) for lab, p in (s.split("=", 1) for s in args.trees.split(","))]
    _stats.existing(*(p / "cli.py" for _, p in trees))
    cases = _stats.pick(args.cases, CASES, "--cases")
    loads = [{"idle": False, "busy": True}[x] for x in _stats.pick(args.loads, ("idle", "busy"), "--loads")]
    if args.timeout is not None and not args.timeout > 0:
        _stats.refuse(f"--timeout must be > 0 seconds, got {args.timeout}")
    rows = []
    for rep in range(args.repeats):
        for case in cases:
            for label, tree in trees:
                for busy in loads:
                    r = run_case(case, tree, busy, args.extra.split(), args.keep_env, args.timeout)
                    r.update(case=case, tree=label, busy=busy, repeat=rep)
                    rows.append(r)
                    print(f"# {case:16s} {label:8s} {'busy' if busy else 'idle'}  {'>' if r['timed_out'] else ' '}{r['wall_s']:7.1f} s wall  "
                          f"{r['cpu_s']:7.1f} s cpu  load1 {r['load1_before']:.2f}", file=sys.stderr, flush=True)
    print(f"machine: {os.cpu_count()} cpus, affinity {sorted(os.sched_getaffinity(0))}, "
          f"extra args {args.extra!r}\n")
    print("| case | tree | idle wall s | busy wall s | busy/idle (paired, 95% CI) | idle cpu s | busy cpu s |")
    print("|---|---|---|---|---|---|---|")
    summary = []
    for case in cases:
        for label, _ in trees:
            cell = {b: [r for r in rows if r["case"] == case and r["tree"] == label and r["busy"] == b]
                    for b in (False, True)}
            ratios = [b["wall_s"] / i["wall_s"] for i, b in zip(cell[False], cell[True])]
            m, h = ci95(ratios) if ratios else (nan, nan)
            idle, busy, icpu, bcpu = (mean([r[key] for r in cell[b]]) for key, b in
                                      (("wall_s", False), ("wall_s", True), ("cpu_s", False), ("cpu_s", True)))
            cut = {b: ">" if any(r["timed_out"] for r in cell[b]) else "" for b in (False, True)}
            print(f"| {case} | {label} | {cut[False]}{idle:.1f} | {cut[True]}{busy:.1f} | {m:.2f} ± {h:.2f} "
                  f"| {icpu:.1f} | {bcpu:.1f} |")
            summary.append({"case": case, "tree": label, "idle_wall_s": idle, "busy_wall_s": busy,
                            "ratio_mean": m, "ratio_ci95": h, "n": len(ratios)})
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"runs": rows, "summary": summary, "extra": args.extra}, indent=1))


if __name__ == "__main__":
    main()
