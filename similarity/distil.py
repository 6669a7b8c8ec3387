"""Distillation toward a teacher's sentence vectors, and the unlabelled sentences it may use.

`Distiller` adds two terms to the margin loss, on unit student vectors s (B, D) and unit
teacher vectors t (B, Dt) of the same sentences:
- projection: 1 - cos(W s, t) with a learnt linear map W (Dt, D), the student-to-teacher
  regression of Reimers & Gurevych 2020 (arXiv:2004.09813) in cosine form;
- similarity matrix: mean squared difference of the in-batch cosine matrices s s^T and t t^T
  (similarity-preserving distillation, Tung & Mori 2019, arXiv:1907.09682). It needs no
  projection and is scale free: the student copies which sentences are close, not where.
Sentences from `--unlabeled` enter these terms only, never the margin loss.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from textgan.common.errors import InputError

MAX_UNLABELED = 200_000  # --max-unlabeled default: bounds teacher time and memory


class Distiller(nn.Module):
    """weight * (1 - cos(W s, t)) + sim_weight * MSE(s s^T, t t^T); returns a scalar."""

    def __init__(self, dim: int, teacher_dim: int, weight: float = 1.0, sim_weight: float = 1.0):
        super().__init__()
        self.weight, self.sim_weight = weight, sim_weight
        self.proj = nn.Linear(dim, teacher_dim, bias=False)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        s, t = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)  # (B, D), (B, Dt)
        loss = student.new_zeros(())
        if self.weight:
            loss = loss + self.weight * (1 - F.cosine_similarity(self.proj(s), t, dim=-1)).mean()
        if self.sim_weight and len(s) > 1:
            loss = loss + self.sim_weight * F.mse_loss(s @ s.T, t @ t.T)  # (B, B) each
        return loss


def load_unlabeled(path: str | Path, text_col: str = "text", limit: int = MAX_UNLABELED,
                   purpose: str = "to distil on") -> list[str]:
    """Sentences for the distillation term: a .txt file (one per line, streamed: a file larger
    than memory fails at line `limit` + 1, not after reading it all) or a column of a data file.

    Args:
        path: .txt or data file (.csv .tsv .json .jsonl .parquet).
        text_col: column of a data file; it must exist there.
        limit: refuse more sentences than this (one-line error naming the limit).
    """
    from similarity.data import _clean, read_table

    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"--max-unlabeled must be an integer >= 1, got {limit!r}")
    from textgan.common.folders import not_a_file
    from textgan.common.saved_dataset import saved_folder

    p = Path(path)
    saved = saved_folder(str(p)) is not None  # a save_to_disk folder (FOLDER:SPLIT)
    if not p.is_file() and not saved:
        raise InputError(not_a_file(p), p)
    if saved or p.suffix.lower() != ".txt":
        texts = [t for t in _clean(read_table(p, [text_col])[text_col], text_col, p) if t]
    else:
        texts = []
        with open(p, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError:
                    raise InputError(f"not valid UTF-8 (line {lineno})", p) from None
                if line:
                    texts.append(line)
                if len(texts) > limit:
                    break
    if not texts:
        raise InputError(f"empty: no sentence {purpose}", p)
    if len(texts) > limit:
        raise InputError(f"more than {limit:,} sentences; subsample it or raise --max-unlabeled", p)
    return texts


# sentences per group at and above which the distillation weights are used as given: CLINC150
# (100 per intent) and COCO caption groups, where the defaults were tuned, are far above it
REF_PER_GROUP = 24
MAX_AUTO_SCALE = 4.0


def auto_distil_scale(n_sentences: int, n_groups: int) -> float:
    """Multiplier of the distillation weights for `--distil-scale auto`: REF_PER_GROUP / (sentences
    per group), between 1 and MAX_AUTO_SCALE. Few sentences per group means the margin loss
    fits the training groups quickly and then only pulls away from the teacher's space."""
    per_group = n_sentences / max(n_groups, 1)
    return float(min(MAX_AUTO_SCALE, max(1.0, REF_PER_GROUP / max(per_group, 1e-9))))


def simcse_loss(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Unsupervised SimCSE (Gao et al. 2021): rows i of `a` and `b` (B, D) are two dropout views of
    one sentence; each row of `a` must pick its own view among all rows of `b` (in-batch
    negatives). Cross-entropy over cos(a_i, b_j) / temperature, symmetric in a and b."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / temperature  # (B, B)
    target = torch.arange(len(a))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def no_teacher_for_unlabeled(given) -> str:
    """Why unlabeled sentences cannot be used: the run has no teacher, and who removed it."""
    why = ("--teacher none" if given.teacher == "none" else
           "mostly Chinese/Japanese/Korean text trains with --tokenizer char and no teacher by default, "
           "as all-MiniLM-L6-v2 reads English" if given.tokenizer is None else
           f"--tokenizer {given.tokenizer} trains without a teacher by default")
    return (f"--unlabeled needs a teacher: it serves the distillation term only, and this run has none ({why}); "
            "pass --teacher PATH (a sentence-transformers folder for the language) or --teacher minilm, or drop "
            "--unlabeled")
