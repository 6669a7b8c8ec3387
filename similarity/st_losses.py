"""The margin table as sentence-transformers losses, for `SentenceTransformerTrainer(loss=...)`.

    from similarity.st_losses import MarginLoss
    loss = MarginLoss(model, num_labels=150)              # AM-Softmax, s=30, m=0.35
    loss = MarginLoss(model, num_labels=150, loss="aam")  # any row of similarity.losses.MARGINS
    SentenceTransformerTrainer(model=model, train_dataset=ds, loss=loss).train()

The dataset has one text column and an integer `label` column (0..num_labels-1), as for the
library's own batch triplet losses. The class weights live in the loss module; the trainer
optimises them with the model (it collects every parameter of the loss).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn

from similarity.losses import MARGINS, MarginSoftmaxLoss, make_loss
from textgan.common.errors import InputError


class MarginLoss(nn.Module):
    """A margin-softmax row (`loss`, default "am") over the model's sentence embeddings."""

    def __init__(self, model, num_labels: int, loss: str = "am", scale: float | None = None,
                 margin: float | None = None):
        super().__init__()
        if loss not in MARGINS:
            raise InputError(f"unknown margin loss {loss!r}; valid: {', '.join(MARGINS)}")
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 2:
            raise InputError(f"num_labels must be an integer >= 2, got {num_labels!r}")
        self.model = model
        self.head: MarginSoftmaxLoss = make_loss(loss, model.get_embedding_dimension(), num_labels,
                                                 scale, margin)

    def forward(self, sentence_features: Iterable[dict[str, torch.Tensor]],
                labels: torch.Tensor) -> torch.Tensor:
        emb = self.model(next(iter(sentence_features)))["sentence_embedding"]  # (B, D)
        return self.head(emb, labels.long())

    def get_config_dict(self) -> dict[str, Any]:
        return {"loss": self.head.name, "scale": self.head.scale, "margin": self.head.margin,
                "num_labels": int(self.head.weight.shape[0])}

    @property
    def citation(self) -> str:
        return "Wang et al. 2018, Additive Margin Softmax for Face Verification, arXiv:1801.05599"


class AMSoftmaxLoss(MarginLoss):
    """AM-Softmax / CosFace (Wang et al. 2018, arXiv:1801.05599) as a sentence-transformers loss."""

    def __init__(self, model, num_labels: int, scale: float = 30.0, margin: float = 0.35):
        super().__init__(model, num_labels, "am", scale, margin)
