"""How much memory this process may still allocate, and the check that refuses a size up front.

A size nobody can allocate (`--width 100000000`, `--set buffer_size=1000000000`, `interpolate
--steps 1000000000000`) is a user error: one `error:` line before any work, not a traceback
from the allocator, nor the kernel's OOM killer minutes into a run.
"""
from __future__ import annotations

import os

from textgan.common.errors import InputError


def available_memory() -> int:
    """Bytes this process may still allocate: MemAvailable (free + reclaimable page cache),
    capped by a cgroup v2 memory limit; 1 TiB when neither can be read."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 1 << 40
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as fh:
            used = int(fh.read().strip())
        if limit != "max":
            avail = min(avail, max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return avail


def check_fits(need: int, what: str, hint: str) -> None:
    """Refuse `what` when its estimated `need` (bytes) exceeds half the available memory."""
    avail = available_memory()
    if need > avail // 2:
        raise InputError(f"{what} would need about {need / 2**30:.1f} GiB, more than half of this machine's "
                         f"available memory ({avail / 2**30:.1f} GiB); {hint}")
