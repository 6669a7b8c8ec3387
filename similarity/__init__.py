"""Sentence similarity: GRU (or sentence-transformers) encoders trained with margin softmax.

Public API: `load`, `SentenceEncoder`, `TrainConfig`, `train`, `evaluate`, `spearman`,
`load_groups`, `load_texts`, `load_pairs`, `make_loss`, `LOSS_NAMES`.
"""
from similarity.data import load_groups, load_pairs, load_texts
from similarity.evaluate import evaluate, spearman
from similarity.losses import LOSS_NAMES, make_loss
from similarity.model import SentenceEncoder, load
from similarity.train import TrainConfig, train

__all__ = ["load", "SentenceEncoder", "TrainConfig", "train", "evaluate", "spearman",
           "load_groups", "load_texts", "load_pairs", "make_loss", "LOSS_NAMES"]
