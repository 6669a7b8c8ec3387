"""How many threads a command computes with, and setting every thread pool of the process to it.

torch, faiss and numpy's BLAS each size their pools to the machine's core count, and their
OpenMP runtimes (libgomp) busy-wait at the end of each parallel region before sleeping. On
cores shared with other jobs (a container's CPU quota, a `taskset` mask, a busy neighbour)
those spinning threads steal the cores the real work needs: `make demo` took 7 min 48 s beside
other jobs against 69 s idle. So (1) a passive wait policy is set before any OpenMP runtime
loads, unless the user chose one, and (2) the thread count defaults to the CPUs this process
may actually use, not the machine's.

Imports nothing of the project and nothing heavy at import time: `cli.py` calls
`prefer_passive_waiting()` before torch or faiss are first imported.
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 mounts the cpu controller under one of these names (distributions differ)
_V1_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, self_cgroup: str | None = None) -> float | None:
    """CPUs the cgroup CFS quota allows (quota / period), or None when there is no quota.

    v2: `cpu.max` holds "QUOTA PERIOD" or "max PERIOD"; v1: `cpu.cfs_quota_us` (-1 = none) and
    `cpu.cfs_period_us`. Looked up in this process's own cgroup (`self_cgroup`: the text of
    /proc/self/cgroup) and every ancestor up to `root` (a parent's quota binds its children;
    inside a container the mount root is the container's cgroup), the tightest quota wins.
    A file that cannot be read or parsed counts as no quota: a thread default must never stop a
    command.
    """
    root = Path(root)
    if self_cgroup is None:
        try:
            self_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            self_cgroup = ""
    paths = {}  # controller -> this process's cgroup path below the mount, e.g. "/user.slice"
    for line in self_cgroup.splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        for c in controllers.split(",") if controllers else [""]:  # "" is the v2 unified line
            paths[c] = path.strip("/")
    limits = []
    if (root / "cgroup.controllers").is_file() or (root / "cpu.max").is_file():  # v2 (unified)
        for d in _chain(root, paths.get("", "")):
            limits.append(_read(d / "cpu.max", None))
    else:
        for d in _V1_DIRS:
            for sub in _chain(root / d, paths.get("cpu", "")):
                limits.append(_read(sub / "cpu.cfs_quota_us", sub / "cpu.cfs_period_us"))
    limits = [x for x in limits if x is not None]
    return min(limits) if limits else None


def _chain(base: Path, rel: str) -> list[Path]:
    """base/rel and each of its parents down to base."""
    parts = [p for p in rel.split("/") if p and p not in (".", "..")]
    return [base.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _read(quota_file: Path, period_file: Path | None) -> float | None:
    try:
        if period_file is None:  # v2: one file, "QUOTA PERIOD"
            quota, period = quota_file.read_text().split()[:2]
            return None if quota == "max" else _ratio(int(quota), int(period))
        return _ratio(int(quota_file.read_text()), int(period_file.read_text()))
    except (OSError, ValueError):
        return None


def _ratio(quota: int, period: int) -> float | None:
    return quota / period if quota > 0 and period > 0 else None


def available_cpus(affinity: set[int] | None = None, root: Path = CGROUP_ROOT,
                   self_cgroup: str | None = None) -> int:
    """The CPUs this process may use: its affinity mask, capped by the cgroup quota (rounded up:
    a quota of 1.5 CPUs still gives a second thread half a core), at least 1."""
    if affinity is None:
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    n = max(1, len(affinity))
    limit = cgroup_cpu_limit(root, self_cgroup)
    return n if limit is None else max(1, min(n, math.ceil(limit)))


def default_threads(environ: MutableMapping[str, str] = os.environ, **kwargs) -> int:
    """OMP_NUM_THREADS when the user (or torchrun, which sets 1 per worker) set a positive count,
    else `available_cpus()`."""
    first = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()  # OpenMP allows "4,2" (nested)
    if first.isdigit() and int(first) > 0:
        return int(first)
    n = available_cpus(**kwargs)
    if _IGNORED.get("OMP_NUM_THREADS") is not None:
        import warnings

        warnings.warn(f"OMP_NUM_THREADS={_IGNORED['OMP_NUM_THREADS']!r:.40} is not a positive whole number: ignored, "
                      f"using {n} thread(s) (the CPUs this process may use)", stacklevel=2)
    return n


# thread variables dropped from the environment as invalid, by name: default_threads says so
_IGNORED: dict[str, str] = {}


def drop_invalid_thread_count(environ: MutableMapping[str, str] = os.environ) -> None:
    """Remove an OMP_NUM_THREADS that is not positive whole numbers ("abc", "0", "-2") before an
    OpenMP runtime loads: libgomp printed its own "Invalid value" line beside the command's
    output; `default_threads` warns once instead."""
    raw = environ.get("OMP_NUM_THREADS")
    if raw is None or not raw.strip():
        return
    if not all(part.strip().isascii() and part.strip().isdigit() and int(part) > 0 for part in raw.split(",")):
        _IGNORED["OMP_NUM_THREADS"] = raw
        del environ["OMP_NUM_THREADS"]


# more threads than this many per usable CPU only add switching; --threads 100000 started
# 100,000 OS threads and exhausted the process limit of the whole machine
THREADS_PER_CPU = 4


def max_threads(**kwargs) -> int:
    """The largest thread count a command accepts: THREADS_PER_CPU per usable CPU, at least 8."""
    return max(8, THREADS_PER_CPU * available_cpus(**kwargs))


def prefer_passive_waiting(environ: MutableMapping[str, str] = os.environ) -> None:
    """Idle OpenMP threads sleep at once instead of spinning, unless the user chose a policy.

    Must run before torch/faiss load (each OpenMP runtime reads its environment once, at load).
    libgomp's PASSIVE also sets its spin count to 0; KMP_BLOCKTIME does the same for Intel's
    runtime (builds of torch linked to libiomp).
    """
    if "OMP_WAIT_POLICY" not in environ:
        environ["OMP_WAIT_POLICY"] = "PASSIVE"
        environ.setdefault("KMP_BLOCKTIME", "0")


def apply_threads(n: int) -> None:
    """Size every thread pool of this process, and of the processes it starts, to `n`."""
    # libraries loaded later (faiss is imported inside commands) and child processes (encode
    # workers) read these at load
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # allowed only before the first inter-op work (a second command in-process)
        pass
    if "faiss" in sys.modules:  # faiss brings its own OpenMP runtime
        sys.modules["faiss"].omp_set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=n)  # numpy's OpenBLAS and every OpenMP runtime loaded so far
