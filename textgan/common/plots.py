"""Curves as PNGs beside the run (Agg backend, written atomically)."""
from __future__ import annotations

from pathlib import Path

from textgan.common.artifacts import atomic_file


def plot_curves(rows: list[dict], keys: tuple[str, ...], png: str | Path, title: str, x: str = "step") -> None:
    """One line per key of `rows` (dicts with `x` and the keys) against `x`; nothing when empty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if x in r]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in keys:
        pts = [(r[x], r[key]) for r in rows if key in r]
        if pts:
            ax.plot(*zip(*pts), label=key)
    ax.set_xlabel(x)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    with atomic_file(png, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
