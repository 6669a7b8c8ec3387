"""`TrainConfig`: everything that defines a similarity training run, checked before any work.

`resolved()` fills the loss row's default scale/margin and refuses every out-of-range value
with a one-line `InputError` naming the option as the CLI spells it (`--lr`, `--hidden`);
options without a CLI flag are named by their field. Checks are one table, `CHECKS`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, get_args

from similarity.encoder import POOLINGS
from similarity.losses import LOSS_NAMES, MARGINS, check_margin, default_hyper
from similarity.tokenization import TOKENIZERS, TokenizerKind
from textgan.errors import InputError

LrDecay = Literal["constant", "linear"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; safe CPU defaults (tuned on CLINC150)."""

    loss: str = "am"
    scale: float | None = None  # None: the loss row's default (30 for margin softmax)
    margin: float | None = None  # None: the loss row's default (0.35 for AM-Softmax)
    backbone: str = "gru"  # "gru", "minilm" or a local sentence-transformers folder
    # "word" is deterministic; "wordpiece" scores better on CLINC150 (loo, OOS, STS-B) but
    # the tokenizers WordPiece trainer breaks count ties in hash order: its vocab varies by run.
    tokenizer: TokenizerKind = "word"
    vocab_size: int = 30000
    min_frequency: int = 1
    embed_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: Literal["max", "mean", "last"] = "max"
    dropout: float = 0.1
    max_length: int = 64
    epochs: int = 12
    batch_size: int = 64
    lr: float = 2e-3
    lr_decay: LrDecay = "linear"
    head_lr_mult: float = 1.0  # class-weight learning rate / encoder learning rate
    per_group: int = 4  # sentences per group in a batch for in-batch losses
    max_steps: int | None = None  # cap on optimizer steps (bounded fine-tuning)
    eval_fraction: float = 0.2  # held out per group when no eval data is given
    patience: int = 3
    seed: int = 0

    def resolved(self) -> "TrainConfig":
        """Fill None scale/margin with the loss row's defaults; refuse bad values (InputError)."""
        if self.loss not in LOSS_NAMES:
            raise InputError(f"unknown loss {self.loss!r}; valid: {', '.join(LOSS_NAMES)}")
        s, m = default_hyper(self.loss)
        cfg = dataclasses.replace(self, scale=s if self.scale is None else self.scale,
                                  margin=m if self.margin is None else self.margin)
        for field, flag, need, ok in CHECKS:
            value = getattr(cfg, field)
            if not ok(value):
                raise InputError(f"{flag} must be {need}, got {value!r}")
        if cfg.loss in MARGINS:
            check_margin(cfg.loss, cfg.margin)
        if cfg.backbone != "gru":
            from similarity.model import resolve_backbone

            resolve_backbone(cfg.backbone)
        return cfg


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int_in(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _one_of(choices) -> tuple[str, Callable[[Any], bool]]:
    return f"one of {', '.join(choices)}", lambda v: v in choices


_BIG = 10**9  # "no upper limit" for counts, while still refusing absurd values
# capped far below float32's 3.4e38: an lr or scale near it overflows inside Adam or the logits
_POSITIVE = "a finite number > 0 (at most 1e6)"


def _positive(v: Any) -> bool:
    return _number(v) and 0 < v <= 1e6


# (field, flag as the CLI spells it, what it must be, test)
CHECKS: tuple[tuple[str, str, str, Callable[[Any], bool]], ...] = (
    ("lr", "--lr", _POSITIVE, _positive),
    ("batch_size", "--batch-size", "an integer >= 1", _int_in(1, _BIG)),
    ("epochs", "--epochs", "an integer >= 1", _int_in(1, _BIG)),
    ("hidden_size", "--hidden", "an integer in [1, 16384]", _int_in(1, 16384)),
    ("embed_dim", "--embed-dim", "an integer in [1, 16384]", _int_in(1, 16384)),
    ("num_layers", "--layers", "an integer in [1, 64]", _int_in(1, 64)),
    ("max_length", "max_length", "an integer in [1, 100000]", _int_in(1, 100_000)),
    ("vocab_size", "vocab_size", "an integer in [3, 10000000] ([PAD], [UNK] and a word)",
     _int_in(3, 10_000_000)),
    ("min_frequency", "min_frequency", "an integer >= 1", _int_in(1, _BIG)),
    ("dropout", "dropout", "a number in [0, 1)", lambda v: _number(v) and 0 <= v < 1),
    ("scale", "--scale", _POSITIVE, _positive),
    ("margin", "--margin", "a finite number", _number),
    ("head_lr_mult", "head_lr_mult", _POSITIVE, _positive),
    ("per_group", "per_group", "an integer >= 2", _int_in(2, _BIG)),
    ("patience", "--patience", "an integer >= 1", _int_in(1, _BIG)),
    ("max_steps", "--max-steps", "an integer >= 1 (or None)",
     lambda v: v is None or _int_in(1, _BIG)(v)),
    ("eval_fraction", "--eval-fraction", "a number in (0, 1)", lambda v: _number(v) and 0 < v < 1),
    ("seed", "--seed", "an integer in [0, 2**32)", _int_in(0, 2**32 - 1)),
    ("bidirectional", "bidirectional", "True or False", lambda v: isinstance(v, bool)),
    ("tokenizer", "--tokenizer", *_one_of(tuple(TOKENIZERS))),
    ("pooling", "--pooling", *_one_of(POOLINGS)),
    ("lr_decay", "lr_decay", *_one_of(get_args(LrDecay))),
)
