"""Say it when training did not help: the trained model's held-out figures beside its teacher's.

`train-similarity` writes `<out>/heldout.json` (the model's best held-out figure and the teacher's
off the shelf on the same sentences) and prints both; the demo report does the same. When the
model is worse by more than `TOLERANCE`, one line says what to do instead.
"""
from __future__ import annotations

TOLERANCE = 0.005  # half a point: below it the two are a tie on a few hundred sentences


def recommendation(model: dict, teacher: dict, teacher_name: str,
                   keys: tuple[str, ...] = ("knn_top1", "loo_top1")) -> str | None:
    """One line when the model is below the teacher on any of `keys` (both dicts hold them)."""
    worse = [k for k in keys if k in model and k in teacher and model[k] < teacher[k] - TOLERANCE]
    if not worse:
        return None
    gaps = ", ".join(f"{k} {model[k]:.3f} vs {teacher[k]:.3f}" for k in worse)
    return (f"the trained model is below its teacher {teacher_name} off the shelf on held-out sentences "
            f"({gaps}): use the teacher itself where its speed is acceptable, or add sentences per "
            f"group or in-domain --unlabeled text and train again")
