"""Paired 95% intervals for the benches (../shared/BENCHMARKS.md, "Paired intervals").

Two ways to pair, both on the same test material for both methods:
- `paired_bootstrap`: per-item correctness (S, N) of two methods on the same N test items
  (S seeds or draws averaged); the item indices are resampled (1,000 times), the same
  indices for both methods and every seed, so the interval is about the items, not the seeds.
- `paired_episodes`: one accuracy per episode for each method on the same episodes; a
  t interval of the mean per-episode difference (episodes are the independent units).
Differences are in accuracy units; `fmt_diff` prints them in points (x100).
"""
from __future__ import annotations

import sys

import numpy as np

RESAMPLES = 1000


def refuse(message: str) -> None:
    """One line on stderr and exit status 2: how a bench refuses an out-of-range flag."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


# flags every bench names alike: counts that must be at least 1, and input paths that must exist
COUNTS = ("threads", "seeds", "steps", "episodes", "per_class", "epochs", "n", "rounds", "repeats", "queries",
          "jobs", "splits", "gan_steps", "images", "shots", "tail_size", "dim", "boot", "sweep_steps", "sweep_batch",
          "energy_steps", "pfc_groups", "sim_steps", "ddp_steps", "query_batch", "shard_size", "sentences",
          "batch_size", "kind_steps", "conditional_steps", "per_group", "val_episodes", "setfit_iterations",
          "draws", "train_per_intent", "gru_epochs")
# counts where 0 means "skip this part" (or "none of these sentences")
NON_NEGATIVE = ("kplus1_steps", "kplus1_draws", "setfit_episodes", "gmm_components", "finetune_steps",
                "coco_captions", "generic_unlabeled")
FRACTIONS = ("holdout", "test_fraction", "val_fraction")
INPUTS = ("data", "clinc")


def check_flags(args) -> None:
    """Refuse, before any model loads, the flags every bench shares: a count below 1 (`--threads 0`
    crashed torch, `--seeds 0` averaged nothing, `--repeats 0` printed NaN tables) and a missing
    input file (a FileNotFoundError traceback after minutes of work). Bench-specific ranges are
    checked by each bench."""
    from pathlib import Path

    for names, low in ((COUNTS, 1), (NON_NEGATIVE, 0)):
        for name in names:
            v = getattr(args, name, None)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not v >= low:
                refuse(f"--{name.replace('_', '-')} must be at least {low}, got {v}")
    for name in FRACTIONS:
        v = getattr(args, name, None)
        if isinstance(v, float) and not 0 < v < 1:
            refuse(f"--{name.replace('_', '-')} must be in (0, 1), got {v}")
    for name in INPUTS:
        v = getattr(args, name, None)
        if isinstance(v, (str, Path)) and str(v) and not str(v).startswith("hf:") and not Path(v).exists():
            refuse(f"{v}: missing file (--{name})")


def check_out(out, *inputs) -> None:
    """Refuse a --json output that is one of the bench's input files (it would be overwritten)."""
    from pathlib import Path

    if out is None:
        return
    for f in inputs:
        if f is not None and Path(f).exists() and Path(out).resolve() == Path(f).resolve():
            refuse(f"{out}: --json is an input file of this bench; writing there would replace it")


def pick(value: str, allowed, flag: str = "--systems") -> list[str]:
    """The names of a comma list, refused unless each is one of `allowed` (and there is one)."""
    names = [s for s in value.split(",") if s]
    if not names or set(names) - set(allowed):
        refuse(f"{flag} must name rows of {', '.join(allowed)}, got {value!r}")
    return names


def existing(*files) -> None:
    """Refuse a missing input file (None: an optional input not given)."""
    from pathlib import Path

    for f in files:
        if f is not None and not Path(f).is_file():
            refuse(f"{f}: missing file")


def positive_floats(value: str, flag: str) -> list[float]:
    """A comma list of finite numbers > 0 ('' for none), else one refusal line."""
    import math

    try:
        out = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        out = [float("nan")]
    if not all(math.isfinite(v) and v > 0 for v in out):
        refuse(f"{flag} {value!r}: every value must be a finite number > 0")
    return out


def at_least(value: int, low: int, flag: str) -> int:
    if value < low:
        refuse(f"{flag} must be >= {low}, got {value}")
    return value


def ints(value: str, flag: str, low: int = 1, high: int | None = None) -> list[int]:
    """A comma list of integers in [low, high] (at least one), else one refusal line: `int('abc')`
    was a traceback and `--sizes 0` one after minutes of other sizes."""
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        out = []
    if not out or not all(low <= v and (high is None or v <= high) for v in out):
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        refuse(f"{flag} {value!r}: must be a comma list of integers {span}")
    return out


def key_ints(value: str, flag: str, keys, low: int = 1) -> dict[str, int]:
    """`a=1,b=2` ('' for none) with each key one of `keys` and each value an integer >= low."""
    out = {}
    for item in (kv for kv in value.split(",") if kv.strip()):
        k, _, v = item.partition("=")
        try:
            n = int(v)
        except ValueError:
            n = None
        if k not in keys or n is None or n < low:
            refuse(f"{flag} {value!r}: each item must be NAME=N with NAME one of {', '.join(keys)} and N >= {low}")
        out[k] = n
    return out


def number(value: str, flag: str, low: float = 0.0, keep=("auto", "none")) -> str:
    """A flag handed on as text (to a child process): one of `keep`, or a finite number > low."""
    import math

    try:
        ok = value in keep or (math.isfinite(float(value)) and float(value) > low)
    except ValueError:
        ok = False
    if not ok:
        refuse(f"{flag} must be {' or '.join(keep)} or a finite number > {low:g}, got {value!r}")
    return value


def kinds(value: str, flag: str, labelled: bool) -> list[str]:
    """Generator kinds of textgan.gan.KINDS ('' for none): those that need intent labels (`labelled`) or
    those that do not. An unknown name otherwise failed after the encoders trained, or became a
    'diverged' row."""
    if not value:
        return []
    from textgan.gan import KINDS

    return pick(value, [k for k in KINDS if KINDS[k].needs_labels == labelled], flag)


def train_config(value: str, flag: str) -> dict:
    """A JSON object of similarity.TrainConfig overrides, built once here so that a typo (bad JSON, an
    unknown field, a value out of range) is refused before any model trains, not as a traceback after."""
    import json

    try:
        over = json.loads(value)
    except ValueError:
        over = None
    if not isinstance(over, dict):
        refuse(f"{flag} must be a JSON object of TrainConfig fields, got {value!r}")
    from similarity.config import TrainConfig
    from textgan.common.errors import InputError

    try:
        TrainConfig(**over)
    except (TypeError, ValueError, InputError) as exc:
        msg = " ".join(str(exc).split())
        refuse(msg if msg.startswith("--") else f"{flag}: {msg}")
    return over


def paired_bootstrap(a, b, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b and its 95% percentile interval, resampling test items.

    Args: a, b: per-item scores (N,) or (S, N) (S seeds / draws on the same N items), e.g. 0/1 correct.
    Returns: (difference of means, low, high).
    """
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same shape, got {a.shape} and {b.shape}")
    d = (a - b).mean(0)  # (N,): per-item difference averaged over seeds
    idx = np.random.default_rng(seed).integers(len(d), size=(resamples, len(d)))
    boot = d[idx].mean(1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(d.mean()), float(lo), float(hi)


def paired_episodes(a, b) -> tuple[float, float, float]:
    """Mean per-episode difference a - b with its 95% t interval: (mean, low, high)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    m = float(d.mean())
    if len(d) < 2:
        return m, float("nan"), float("nan")
    from scipy.stats import t

    half = float(t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return m, m - half, m + half


def mean_ci(values) -> tuple[float, float]:
    """Mean and 95% t half-width of independent values (episodes, seeds)."""
    v = np.asarray(values, float)
    if len(v) < 2:
        return float(v.mean()), float("nan")
    from scipy.stats import t

    return float(v.mean()), float(t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def excludes_zero(ci: tuple[float, float, float]) -> bool:
    _, lo, hi = ci
    return bool(lo > 0 or hi < 0)


def fmt_diff(ci: tuple[float, float, float], scale: float = 100.0, digits: int = 2) -> str:
    """'+0.87 [+0.59, +1.15]' (points by default); a '*' marks an interval excluding 0."""
    m, lo, hi = ci
    star = "*" if excludes_zero(ci) else ""
    return f"{scale * m:+.{digits}f} [{scale * lo:+.{digits}f}, {scale * hi:+.{digits}f}]{star}"


def fmt_mean(values, scale: float = 100.0, digits: int = 2) -> str:
    """'77.45 ± 0.61' (mean ± 95% half-width, points by default)."""
    m, h = mean_ci(values)
    return f"{scale * m:.{digits}f}" + ("" if np.isnan(h) else f" ± {scale * h:.{digits}f}")


def ci_dict(ci: tuple[float, float, float]) -> dict:
    """A CI as JSON: {"diff", "low", "high"} in accuracy units."""
    return {"diff": ci[0], "low": ci[1], "high": ci[2]}
