"""The `energy-head` scorer: the free energy of a similarity model's margin head.

A model trained with a margin loss keeps its unit class weights (prototypes, (C, D)) and scale s.
The in-domain score is -E(x) = logsumexp_c(s cos(x, W_c)) (Liu et al. 2020, "Energy-based
Out-of-distribution Detection"): high near any group, low far from all of them. Training with
`--virtual-outliers` / `--outliers` (similarity.outliers) shapes exactly this quantity. Vectors
only: the workflow layer reads the prototypes from the model and builds the scorer.
"""
from __future__ import annotations

import numpy as np
import torch

from textgan.common.errors import InputError


class HeadEnergy:
    """-E(x) of a margin head: `.score(vectors)` -> (n,) tensor, higher = more in-domain."""

    kind = "head"
    score_name = "energy-head"
    generative = False

    def __init__(self, prototypes: np.ndarray, scale: float, meta: dict | None = None,
                 held_out: np.ndarray | None = None):
        p = np.asarray(prototypes, dtype=np.float32)
        if p.ndim != 2 or len(p) < 1:
            raise InputError(f"the margin head needs (C, D) prototypes, got shape {p.shape}")
        self.prototypes = torch.nn.functional.normalize(torch.from_numpy(p), dim=-1)
        self.scale, self.meta, self.dim = float(scale), dict(meta or {}), int(p.shape[1])
        # scores of in-domain vectors the encoder never trained on (its held-out split), for a threshold
        self.held_out_scores = None if held_out is None or not len(held_out) else \
            self.score(held_out).numpy().astype(np.float64)

    def score(self, vectors) -> torch.Tensor:
        v = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise InputError(f"energy-head: vectors of size {self.dim} expected, got shape {tuple(v.shape)}")
        v = torch.nn.functional.normalize(v, dim=-1)
        return torch.logsumexp(self.scale * v @ self.prototypes.T, dim=1)


def head_scorer(prototypes, scale, encoder_meta: dict, name: str = "", held_out=None):
    """A `ModelScorer` for `energy-head` from a model's (group names, prototypes) and scale;
    a model without a margin head is an InputError."""
    from textgan.ood.scoring import ModelScorer

    if prototypes is None or scale is None:
        raise InputError("energy-head needs the margin head of a model trained with a margin loss; "
                         "this model has none", name or None)
    model = HeadEnergy(prototypes[1], scale, {"encoder": encoder_meta}, held_out)
    return ModelScorer(model, "head", model.meta, model.dim, ("energy-head",), name)
