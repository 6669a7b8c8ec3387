"""Sentence similarity: GRU (or sentence-transformers) encoders trained with margin softmax.

Losses (`similarity.losses`, built by name): "am" (AM-Softmax, the default), "aam" and
"aam-easy" (ArcFace), "sphereface" (SphereFace's monotone psi with lambda annealing: use it
rather than "a-softmax", whose simple min(cos, cos 4theta) form is kept for comparison and
parks samples about 72 degrees from their class), "softmax" (no margin), and the in-batch
baselines "infonce" and "triplet".

The GRU is distilled from a teacher by default (`similarity.teacher`, `similarity.distil`:
all-MiniLM-L6-v2, its WordPiece tokenizer and token embeddings); `TrainConfig(teacher="none")`
trains from scratch. `similarity.st_losses.MarginLoss` puts the margin table into
`SentenceTransformerTrainer`.

Public API: `load`, `SentenceEncoder`, `TrainConfig`, `train`, `evaluate`, `spearman`,
`load_groups`, `load_texts`, `load_pairs`, `load_pair_groups` (paraphrase pairs joined into groups),
`pair_metrics` (Spearman; AUROC, AP, best accuracy / F1 for 0/1 labels), `make_loss`, `LOSS_NAMES`.
"""
from similarity.config import TrainConfig
from similarity.data import load_groups, load_pairs, load_texts
from similarity.evaluate import evaluate, spearman
from similarity.losses import LOSS_NAMES, make_loss
from similarity.model import SentenceEncoder, load
from similarity.pairs import load_pair_groups, pair_metrics
from similarity.train import train

__all__ = ["load", "SentenceEncoder", "TrainConfig", "train", "evaluate", "spearman",
           "load_groups", "load_texts", "load_pairs", "load_pair_groups", "pair_metrics", "make_loss",
           "LOSS_NAMES"]
