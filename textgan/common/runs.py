"""The run folder both trainers write (`textgan.gan.trainer`, `similarity.train`): the resume
check, the divergence stop, `metrics.jsonl` and the curve plot.

A run is identified by a dict of named parts (the config, a digest of the data, the model
kind, ...) that every checkpoint records; resuming needs the same parts, except the config
fields the trainer lets a resumed run change. Metric rows are appended as training goes and
cut back to the checkpoint's position on resume, so a resumed run's file reads like an
uninterrupted one's. Under torchrun only the main process writes (`main=False` elsewhere).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from textgan.common.artifacts import atomic_file, clean_stale_temps
from textgan.common.paths import naming
from textgan.common.errors import InputError
from textgan.common.plots import plot_curves

# identity part -> what it means when a resume presents another value (checked in this order)
_PARTS = (
    ("kind", None),  # message built below: it names both kinds
    ("encoder_fingerprint", "the training vectors come from another encoder than the checkpoint's"),
    ("shape", "the training data differ from the checkpoint's"),
    ("rows", "the training data differ from the checkpoint's"),
    ("data_sha256", "the data (training rows or labels; for train-similarity also --eval-data and --unlabeled) differ "
                    "from the checkpoint's"),
    ("groups", "the training data differ from the checkpoint's"),
    ("labels", "the group labels differ from the checkpoint's"),
)


def run_identity(config: dict, may_change: tuple[str, ...] = (), **parts) -> dict:
    """What a checkpoint records of its run: the config without the fields a resume may change,
    plus named parts (kind, shape, rows, data_sha256, groups, labels, encoder_fingerprint)."""
    return {"config": {k: v for k, v in config.items() if k not in may_change}, **parts}


def _mismatch(old: dict, new: dict, may_change: tuple[str, ...]) -> str:
    for part, message in _PARTS:
        if old.get(part) != new.get(part):
            return message or f"the checkpoint is of kind {old.get('kind')!r}, not {new.get('kind')!r}"
    old_conf, new_conf = old.get("config", {}), new.get("config", {})
    diff = sorted(k for k in set(old_conf) | set(new_conf) if old_conf.get(k) != new_conf.get(k))
    if diff:
        return (f"the config differs from the checkpoint's ({', '.join(diff)}); only "
                f"{', '.join(may_change) or 'nothing'} may change on resume")
    return "the run's settings differ from the checkpoint's"


class RunFolder:
    """A training run's folder: resume check, divergence stop, metrics.jsonl, curve plot.

    Args:
        out: the run folder. x: the metric rows' position key ("step" or "epoch"), also the
        unit of checkpoint positions in messages. main: whether this process writes files.
        lower: what to lower after a divergence (the flags), for the message.
    """

    def __init__(self, out: Path, x: str = "step", main: bool = True, lower: str = "the learning rate"):
        self.out, self.x, self.main, self.lower = Path(out), x, main, lower
        self.metrics = self.out / "metrics.jsonl"
        self.checkpoint = self.out / "checkpoint"
        self.last_good = 0  # position of the last checkpoint written or resumed from (0: none)

    def check_resume(self, saved: dict, current: dict, may_change: tuple[str, ...] = ()) -> None:
        """Refuse to resume a checkpoint whose recorded identity differs from this run's."""
        old = run_identity(saved.get("config", {}), may_change, **{k: v for k, v in saved.items() if k != "config"})
        new = run_identity(current.get("config", {}), may_change,
                           **{k: v for k, v in current.items() if k != "config"})
        if old != new:
            raise InputError(f"cannot resume: {_mismatch(old, new, may_change)}; use a new --out", self.checkpoint)

    def restart(self, done: int, rows: list[dict] | None = None) -> None:
        """Start metrics.jsonl at position `done`: rewritten from `rows` (a checkpoint's history)
        when given, else emptied (done == 0) or cut to the rows at or before `done`."""
        self.last_good = done
        if not self.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(self.out, any_name=True)  # a kill -9 mid-plot left .curves.png.tmp-HOST-PID-*
        if rows is None and done == 0:
            self.metrics.unlink(missing_ok=True)
            return
        if rows is None:
            rows = [r for r in self.rows() if r[self.x] <= done]
        with atomic_file(self.metrics) as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)

    def rows(self) -> list[dict]:
        """The metric rows logged so far; a line torn by a kill is skipped."""
        if not self.metrics.exists():
            return []
        out = []
        for line in self.metrics.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(row, dict) and self.x in row:
                out.append(row)
        return out

    def log(self, row: dict) -> None:
        """Append one metric row (it holds `x`)."""
        if self.main:
            with naming(self.metrics), open(self.metrics, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")  # naming: a full disk's write error names no file

    def checkpointed(self, position: int) -> None:
        """Record that a checkpoint at `position` now exists (named if training diverges later)."""
        self.last_good = position

    def check_finite(self, values: dict[str, float], what: str) -> None:
        """Stop the run (InputError) when a loss or weight value is NaN or inf."""
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            vals = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
            raise self.diverged(f"{what} (non-finite: {vals})")

    def diverged(self, what: str) -> InputError:
        """The error that stops a diverged run, saying which checkpoint is kept and what to do."""
        keep = (f"the last good checkpoint ({self.x} {self.last_good}) is kept: rerun with --resume and "
                f"{self.lower}" if self.last_good else "no checkpoint was written yet")
        return InputError(f"{what}; training stopped, {keep}", self.out)

    def plot(self, keys: tuple[str, ...], name: str, title: str) -> None:
        """Curves of `keys` against `x` from metrics.jsonl, as `name` in the run folder."""
        if self.main:
            plot_curves(self.rows(), keys, self.out / name, title, x=self.x)
