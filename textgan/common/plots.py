"""Curves and PCA scatter plots as PNGs beside the run (Agg backend, written atomically)."""
from __future__ import annotations

import sys
from pathlib import Path

from textgan.common.artifacts import atomic_file
from textgan.common.paths import temp_folder
from textgan.common.runlock import writable


def _matplotlib() -> None:
    """matplotlib on the Agg backend. Without a writable config folder (a read-only HOME) it printed
    two notices of its own on stderr; it gets a temporary one, removed at exit, instead."""
    import os

    if "MPLCONFIGDIR" not in os.environ and "matplotlib" not in sys.modules:
        if not writable(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"):
            os.environ["MPLCONFIGDIR"] = temp_folder("textgan-mpl-")
    import matplotlib

    matplotlib.use("Agg")


def plot_curves(rows: list[dict], keys: tuple[str, ...], png: str | Path, title: str, x: str = "step") -> None:
    """One line per key of `rows` (dicts with `x` and the keys) against `x`; nothing when empty."""
    _matplotlib()
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


def plot_pca(real, fake, png: str | Path, title: str) -> None:
    """Real (N, D) and generated (M, D) vectors on the first two principal axes of the real ones."""
    _matplotlib()
    import matplotlib.pyplot as plt
    import numpy as np

    mu = real.mean(0)
    # principal axes of the real vectors; generated ones are projected onto the same axes
    _, _, vt = np.linalg.svd(real - mu, full_matrices=False)
    pr, pf = (real - mu) @ vt[:2].T, (fake - mu) @ vt[:2].T  # (N, 2), (M, 2)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(pr[:, 0], pr[:, 1], s=8, alpha=0.5, label=f"real ({len(real)})")
    ax.scatter(pf[:, 0], pf[:, 1], s=8, alpha=0.5, marker="x", label=f"generated ({len(fake)})")
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    ax.legend()
    fig.tight_layout()
    with atomic_file(png, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
