"""`TrainConfig`: everything that defines a similarity training run, checked before any work.

`resolved()` fills the loss row's default scale/margin and refuses every out-of-range value
with a one-line `InputError` naming the option as the CLI spells it (`--lr`, `--hidden`);
options without a CLI flag are named by their field. Checks are one table, `CHECKS`.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Literal, get_args

from similarity.gru import POOLINGS
from similarity.losses import LOSS_NAMES, MARGINS, check_margin, default_hyper
from similarity.tokenization import TOKENIZERS, TokenizerKind
from textgan.common.args import finite, plain_fields
from textgan.common.errors import InputError

LrDecay = Literal["constant", "linear"]
EmbedInit = Literal["teacher", "teacher-static", "random"]

# Per-backbone defaults for the fields left None. Transformers: a small lr with warm-up and few
# epochs (the usual sentence-transformers fine-tuning recipe) and freshly initialised class
# weights that must move much faster than the pre-trained encoder, hence the head multiplier.
BACKBONE_DEFAULTS: dict[str, dict[str, Any]] = {
    "gru": dict(epochs=12, batch_size=64, lr=2e-3, head_lr_mult=1.0, warmup=0.0),
    "transformer": dict(epochs=2, batch_size=64, lr=2e-5, head_lr_mult=500.0, warmup=0.1),
}
# The GRU below SMALL_DATA training sentences: the fields left None take this row instead (the
# demo's batch and lr, more epochs). At batch 64 a few hundred sentences give a handful of steps
# an epoch: on FAQ's validation split (264 sentences) kNN top-1 0.538 -> 0.742, on the Chinese
# leave-groups-out protocol +4.3 points (README, Encoder levers). CLINC150-sized data is unchanged.
SMALL_DATA = 1000
SMALL_DATA_ROW: dict[str, Any] = dict(batch_size=16, lr=5e-3, epochs=30)
# A transformer below SMALL_DATA: its row's 2 epochs at batch 64 are ~10 steps. FAQ's validation split
# (bench/small_data.py): fine-tuned MiniLM kNN / LOO top-1 0.818 / 0.621 -> 0.856 / 0.652 (off the shelf
# 0.780 / 0.629, the GRU 0.727 / 0.447)
SMALL_DATA_TRANSFORMER_ROW: dict[str, Any] = dict(batch_size=16, epochs=8)
# The width of the GRU's lexical part (similarity.gru), on by default for character-tokenized
# (Chinese) text and, for other text, from SMALL_DATA training sentences on (`for_data_size`).
# Leave-groups-out LOO top-1 of the char GRU alone -> with it: SMP2017 0.830 -> 0.903,
# data/faq_zh.csv 0.289 -> 0.439: groups the GRU never saw share characters with their own
# sentences. English: CLINC150 unseen intents 0.939 -> 0.949 and STS-B dev 77.5 -> 79.1 (weight
# 0.2), MRPC AUROC 0.700 -> 0.739 (weight 0.5), but less kNN top-1 on the demo-sized FAQ split
# (264 sentences: 0.712 -> 0.689 at 0.2, 0.644 at 0.5), where paraphrases share few words: hence
# off below SMALL_DATA (README, Encoder levers).
LEXICAL_AUTO = 512
# Its default weight: 0.5 for char text (SMP2017 0.903 at 0.5, 0.902 at 0.7, 0.889 at 0.3); 0.2
# otherwise, chosen on CLINC150 val: unseen-intent LOO 0.953 (best 0.955 at 0.4), seen-intent kNN
# 0.9455 (0.9445 at 0), oos_val AUROC 0.9818 (0.9804 at 0), while at 0.5 unseen intents scored as
# out-of-scope fell from 0.932 to 0.918 AUROC.
LEXICAL_WEIGHT = {"char": 0.5, "other": 0.2}
# Its grams: 1-3 characters within space-separated words; single characters for char text, where
# the "word" is a whole unsegmented sentence: chosen on validation figures of five Chinese sets
# (README, "Chinese lexical grams"), e.g. faq_zh unseen-group LOO 0.439 (1-3) -> 0.621 (1-1)
LEXICAL_GRAMS = {"char": 1, "other": 3}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; safe CPU defaults. Fields left None are filled
    by `resolved()` (loss row, backbone row, teacher)."""

    loss: str = "am"
    scale: float | None = None  # None: the loss row's default (30 for margin softmax)
    margin: float | None = None  # None: the loss row's default (0.35 for AM-Softmax)
    backbone: str = "gru"  # "gru", "minilm" or a local sentence-transformers folder
    # Distillation (similarity.distil): "minilm", a local sentence-transformers folder or
    # "none"; None means "minilm" for the GRU ("none" with --tokenizer char) and "none" for
    # transformer backbones.
    teacher: str | None = None
    # weights: the margin loss dwarfs both terms at weight 1; these were picked on CLINC150 val,
    # the unseen intents' val sentences, COCO caption groups and STS-B (not CLINC test)
    distil_weight: float = 10.0  # weight of 1 - cos(projected student, teacher)
    distil_sim_weight: float = 30.0  # weight of the in-batch similarity-matrix MSE
    # None: "teacher" (the teacher's own tokenizer) with a teacher, else "word". "word" is
    # deterministic; a trained "wordpiece" scores better on CLINC150 but the tokenizers
    # WordPiece trainer breaks count ties in hash order: its vocab varies by run.
    tokenizer: TokenizerKind | None = None
    # None: "teacher-static" with the teacher's tokenizer ("teacher" without model2vec), else "random"
    embed_init: EmbedInit | None = None
    # distillation-only augmented copies per training sentence (similarity.augment); None: auto
    # (many for small data, none from 4,000 sentences on; 0 without a teacher)
    augment: int | None = None
    # multiplier of both distillation weights; None: auto, growing as sentences per group fall
    # (similarity.distil.auto_distil_scale); 1 = the weights as given
    distil_scale: float | None = None
    ssl_weight: float = 0.0  # SimCSE term: two dropout views of a sentence are positives
    ngram_buckets: int = 0  # hashed token bigram/trigram embeddings added to the GRU's input; 0 = off
    # width of the character n-gram TF-IDF part appended to the GRU's vector (similarity.gru); 0 = off,
    # None: LEXICAL_AUTO for --tokenizer char and from SMALL_DATA training sentences on, else 0
    lexical_dim: int | None = None
    # share of the cosine that comes from the lexical part; None: LEXICAL_WEIGHT's row
    lexical_weight: float | None = None
    # its character grams are 1..lexical_grams long; None: LEXICAL_GRAMS' row
    lexical_grams: int | None = None
    vocab_size: int = 30000
    min_frequency: int = 1
    embed_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: Literal["max", "mean", "last"] = "max"
    dropout: float = 0.1
    max_length: int = 64
    # None: the backbone's row of BACKBONE_DEFAULTS (lr, head_lr_mult, warmup too), or for the GRU on
    # fewer than SMALL_DATA sentences SMALL_DATA_ROW (batch_size and lr too; applied by train())
    epochs: int | None = None
    batch_size: int | None = None  # None: 64, or SMALL_DATA_ROW's below SMALL_DATA sentences
    lr: float | None = None
    lr_decay: LrDecay = "linear"
    head_lr_mult: float | None = None  # class-weight learning rate / encoder learning rate
    warmup: float | None = None  # share of the steps with a linearly rising learning rate
    per_group: int = 4  # sentences per group in a batch for in-batch losses
    # margin losses: share of the groups in each step's softmax (Partial FC, An et al. 2022);
    # 1 = all. Below 1 only for very many groups: each step then costs (B, rate * C) logits.
    partial_fc: float = 1.0
    max_steps: int | None = None  # cap on optimizer steps (bounded fine-tuning)
    eval_fraction: float = 0.2  # held out per group when no eval data is given
    patience: int = 3
    seed: int = 0
    # outliers in training (similarity.outliers): an uncertainty loss on the margin head's
    # energy, on virtual outliers of this source ("none": off) and on `train(outliers=...)`
    virtual_outliers: str = "none"
    vo_weight: float = 0.1  # VOS's weight of the uncertainty loss
    vo_start: int = 2  # 1-based epoch from which the loss applies (the queues fill before)
    vo_queue: int = 32  # sentence vectors kept per group
    vo_candidates: int = 64  # Gaussian draws per group of the batch; the least likely is kept
    # long tail (similarity.tail_synth): synthetic rows of rare groups for the margin head
    tail_synth: str = "none"
    tail_synth_weight: float = 1.0  # weight of the margin loss on the synthetic rows
    tail_synth_rows: int = 16  # synthetic rows per step
    tail_below: int | None = None  # tail = groups with fewer sentences; None: half the median group

    def __post_init__(self) -> None:
        # a bad value fails where the config is written, not minutes later inside train();
        # None fields are resolved (and then checked) by resolved()
        plain_fields(self)  # numpy scalars (a pandas cell, np.int64(5)) as int/float, which JSON can save
        if self.loss not in LOSS_NAMES:
            raise InputError(f"unknown loss {self.loss!r}; valid: {', '.join(LOSS_NAMES)}")
        _check_fields(self)

    def resolved(self) -> "TrainConfig":
        """Fill None scale/margin with the loss row's defaults; refuse bad values (InputError)."""
        if self.loss not in LOSS_NAMES:
            raise InputError(f"unknown loss {self.loss!r}; valid: {', '.join(LOSS_NAMES)}")
        s, m = default_hyper(self.loss)
        cfg = dataclasses.replace(self, scale=s if self.scale is None else self.scale,
                                  margin=m if self.margin is None else self.margin)
        gru = cfg.backbone == "gru"
        row = BACKBONE_DEFAULTS["gru" if gru else "transformer"]
        cfg = dataclasses.replace(cfg, **{k: v for k, v in row.items() if getattr(cfg, k) is None})
        # char text (Chinese) with the English MiniLM: no teacher by default (its vectors of Chinese
        # are near noise; bench/similarity.py --lang zh measures both); any --teacher still works
        teacher = cfg.teacher if cfg.teacher is not None else (
            "minilm" if gru and cfg.tokenizer != "char" else "none")
        tokenizer = cfg.tokenizer or ("teacher" if gru and teacher != "none" else "word")
        if cfg.embed_init is None and tokenizer == "teacher":
            # teacher-static wins on the demo-sized validation split and ties on a CLINC150
            # subset (README, Encoder levers); the input embeddings when model2vec is missing
            from similarity.static_init import model2vec_available

            embed_init = "teacher-static" if model2vec_available() else "teacher"
        else:
            embed_init = cfg.embed_init or "random"
        lexical = cfg.lexical_dim if cfg.lexical_dim is not None else (
            LEXICAL_AUTO if gru and tokenizer == "char" else 0)
        weight = cfg.lexical_weight if cfg.lexical_weight is not None else \
            LEXICAL_WEIGHT["char" if tokenizer == "char" else "other"]
        grams = cfg.lexical_grams if cfg.lexical_grams is not None else \
            LEXICAL_GRAMS["char" if tokenizer == "char" else "other"]
        cfg = dataclasses.replace(cfg, teacher=teacher, tokenizer=tokenizer, embed_init=embed_init,
                                  lexical_dim=lexical, lexical_weight=weight, lexical_grams=grams)
        _check_fields(cfg, resolved=True)
        if lexical and not gru:
            raise InputError("--lexical-dim adds a part to the GRU's vector; it applies to the GRU backbone only")
        if not gru and (mine := next((f for f, flag in GRU_ONLY if getattr(self, f) != _DEFAULT[f]), None)):
            raise InputError(f"{dict(GRU_ONLY)[mine]} sets a part of the GRU encoder; --backbone {cfg.backbone} is a "
                             "transformer with its own tokenizer, sizes and pooling: drop it")
        if cfg.augment is not None and cfg.augment > 0 and teacher == "none":
            raise InputError("--augment makes distillation-only copies; it needs a teacher (--teacher minilm|PATH)")
        check_margin(cfg.loss, cfg.margin)
        if cfg.loss not in MARGINS and cfg.partial_fc != 1:
            raise InputError(f"--partial-fc samples the classes of a margin loss; loss {cfg.loss!r} has none")
        if cfg.backbone != "gru":
            from similarity.model import resolve_backbone

            resolve_backbone(cfg.backbone)
        if teacher == "none" and ("teacher" in (tokenizer, embed_init) or embed_init == "teacher-static"):
            raise InputError(f"--tokenizer teacher and --embed-init teacher need a teacher; "
                             f"pass --teacher minilm|PATH or --tokenizer {'|'.join(TOKENIZERS)}")
        if embed_init in ("teacher", "teacher-static") and tokenizer != "teacher":
            raise InputError(f"--embed-init {embed_init} needs the teacher's tokenizer (--tokenizer teacher)")
        if embed_init == "teacher-static":
            from similarity.static_init import check_model2vec

            check_model2vec()
        if not gru and "teacher" in (tokenizer, embed_init) and cfg.tokenizer is not None:
            raise InputError("--tokenizer applies to the GRU backbone only")
        from similarity.outliers import check_source

        if isinstance(cfg.lr, (int, float)) and cfg.lr > LR_WARN:  # Adam moves each weight by about lr a step
            warnings.warn(f"--lr {cfg.lr:g} is far above the rates that train this model (default "
                          f"{row['lr']:g}): expect a diverged or useless model", stacklevel=2)
        check_source(cfg.virtual_outliers)
        if cfg.virtual_outliers != "none" and cfg.loss not in MARGINS:
            raise InputError(f"--virtual-outliers trains the energy of a margin head; loss {cfg.loss!r} has none")
        if cfg.virtual_outliers != "none":
            check_vo_start(cfg)
        from similarity.tail_synth import check_synth

        if check_synth(cfg.tail_synth).injected and cfg.epochs < 2:  # its GAN is fitted on epoch 1's vectors
            raise InputError(f"--tail-synth {cfg.tail_synth} is fitted after the first epoch: with --epochs "
                             f"{cfg.epochs} it would add nothing (give 2 or more)")
        if cfg.tail_synth != "none" and cfg.loss not in MARGINS:
            raise InputError(f"--tail-synth adds rows to a margin head; loss {cfg.loss!r} has none")
        from similarity.teacher import resolve_teacher

        resolve_teacher(teacher)  # a missing or foreign teacher fails before any data is read
        return cfg


# options that build the GRU (field, CLI flag): a transformer backbone keeps its own
GRU_ONLY = (("tokenizer", "--tokenizer"), ("embed_init", "--embed-init"), ("ngram_buckets", "--ngram-buckets"),
            ("hidden_size", "--hidden"), ("embed_dim", "--embed-dim"), ("num_layers", "--layers"),
            ("pooling", "--pooling"), ("bidirectional", "bidirectional"), ("vocab_size", "vocab_size"),
            ("min_frequency", "min_frequency"))
_DEFAULT = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def for_data_size(cfg: TrainConfig, n_sentences: int) -> TrainConfig:
    """`cfg` with SMALL_DATA_ROW (a transformer backbone: SMALL_DATA_TRANSFORMER_ROW) in its None
    fields when it trains on fewer than SMALL_DATA sentences; from SMALL_DATA on, a GRU's lexical
    part (LEXICAL_AUTO) when `lexical_dim` is None; otherwise `cfg` unchanged (`resolved()` then
    fills the backbone's row)."""
    if n_sentences >= SMALL_DATA:
        keep = cfg.backbone != "gru" or cfg.lexical_dim is not None
        return cfg if keep else dataclasses.replace(cfg, lexical_dim=LEXICAL_AUTO)
    row = SMALL_DATA_ROW if cfg.backbone == "gru" else SMALL_DATA_TRANSFORMER_ROW
    return dataclasses.replace(cfg, **{k: v for k, v in row.items() if getattr(cfg, k) is None})


def _check_fields(cfg: TrainConfig, resolved: bool = False) -> None:
    """CHECKS over the fields; before resolved(), a None field is left for it to fill."""
    for field, flag, need, ok in CHECKS:
        value = getattr(cfg, field)
        if (resolved or value is not None) and not ok(value):
            raise InputError(f"{flag} must be {need}, got {value!r}")


def check_vo_start(cfg: TrainConfig) -> None:
    """The outlier loss must start within the run (also checked when real outliers are given)."""
    from similarity.outliers import check_source

    injected = check_source(cfg.virtual_outliers).injected
    if injected and cfg.vo_start < 2:  # fitted on epoch 1's queues: from epoch 1 it was a no-op
        raise InputError(f"--virtual-outliers {cfg.virtual_outliers} is a generator fitted after the first epoch: "
                         f"--vo-start must be 2 or more{' (and --epochs 2 or more)' if cfg.epochs < 2 else ''}")
    if cfg.vo_start > cfg.epochs:
        raise InputError(f"the outlier loss (--outliers / --virtual-outliers) starts at epoch --vo-start "
                         f"{cfg.vo_start}{' (its default)' if cfg.vo_start == TrainConfig.vo_start else ''}, after "
                         f"the last epoch ({cfg.epochs}): pass " + (f"--epochs {cfg.vo_start} or more" if injected else
                                                                     f"--vo-start {cfg.epochs} or more --epochs"))


IN_BATCH = ("triplet", "infonce")  # losses of the batch's own pairs: no class-weight head
ACTS_THROUGH = (  # (options, when they act: f(effective config, files given), what they set)
    (("distil_weight", "distil_sim_weight", "distil_scale", "teacher_cache"), lambda c, f: c.teacher != "none",
     "the distillation term, and this run has no teacher (--teacher none, or none by default for this language)"),
    (("vo_weight", "vo_start"), lambda c, f: c.virtual_outliers != "none" or bool(f["outliers"]),
     "the uncertainty loss, which needs --virtual-outliers or --outliers"),
    (("tail_synth_weight", "tail_synth_rows", "tail_below"), lambda c, f: c.tail_synth != "none",
     "the long-tail rows, which need --tail-synth"),
    (("lexical_weight", "lexical_grams"), lambda c, f: bool(c.lexical_dim),
     "the lexical part, and this model has none (give --lexical-dim N)"),
    (("scale",), lambda c, f: c.loss != "triplet", "a logit scale, and the triplet loss has none"),
    (("head_lr_mult",), lambda c, f: c.loss not in IN_BATCH,
     "the class-weight head's learning rate, and in-batch losses (triplet, infonce) have no head"),
    (("max_unlabeled",), lambda c, f: bool(f["unlabeled"] or f["outliers"]),
     "the size cap of --unlabeled / --outliers, and neither is given"),
    (("eval_fraction",), lambda c, f: f.get("eval") is None,
     "the share of DATA held out, and held-out data is given (--eval-data / eval_texts)"),
)


def check_acting(fields: dict, effective, files: dict, refuse: bool = True) -> None:
    """An option the run would silently ignore is refused: the user believes it acted (the CLI's
    flags). `similarity.train` warns instead (`refuse=False`) for the fields its config sets away
    from their defaults: one base config shared by a control run and its variants is common there.
    `fields`: the options given (None = not given); `files`: {"unlabeled", "outliers"} paths or None."""
    for names, on, what in ACTS_THROUGH:
        name = next((n for n in names if fields.get(n) is not None), None)
        if name is not None and not on(effective, files):
            if refuse:
                raise InputError(f"sets {what}", "--" + name.replace("_", "-"))
            warnings.warn(f"{name}={fields[name]!r} sets {what}: it has no effect in this run", stacklevel=3)
    if effective.loss in IN_BATCH and fields.get("batch_size") is not None \
            and fields["batch_size"] < 2 * effective.per_group:
        warnings.warn(f"--batch-size {fields['batch_size']}: in-batch losses draw at least 2 groups x "
                      f"{effective.per_group} sentences, so batches hold {2 * effective.per_group} rows", stacklevel=2)


def non_default(config: TrainConfig) -> dict:
    """The fields of `config` set away from TrainConfig's defaults: what an API caller chose."""
    base = TrainConfig()
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if getattr(config, f.name) != getattr(base, f.name)}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and finite(v)


def _int_in(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _one_of(choices) -> tuple[str, Callable[[Any], bool]]:
    return f"one of {', '.join(choices)}", lambda v: v in choices


LR_WARN = 0.1  # above it a run is warned: each Adam step moves a weight by about lr
_BIG = 10**9  # "no upper limit" for counts, while still refusing absurd values
# capped far below float32's 3.4e38: an lr or scale near it overflows inside Adam or the logits
_POSITIVE = "a finite number > 0 (at most 1e6)"


def _positive(v: Any) -> bool:
    return _number(v) and 0 < v <= 1e6


# (field, flag as the CLI spells it, what it must be, test)
CHECKS: tuple[tuple[str, str, str, Callable[[Any], bool]], ...] = (
    ("lr", "--lr", _POSITIVE, _positive),
    ("batch_size", "--batch-size", "an integer in [1, 10**9]", _int_in(1, _BIG)),
    ("epochs", "--epochs", "an integer in [1, 10**9]", _int_in(1, _BIG)),
    ("hidden_size", "--hidden", "an integer in [1, 16384]", _int_in(1, 16384)),
    ("embed_dim", "--embed-dim", "an integer in [1, 16384]", _int_in(1, 16384)),
    ("num_layers", "--layers", "an integer in [1, 64]", _int_in(1, 64)),
    ("max_length", "max_length", "an integer in [1, 100000]", _int_in(1, 100_000)),
    ("vocab_size", "vocab_size", "an integer in [3, 10000000] ([PAD], [UNK] and a word)",
     _int_in(3, 10_000_000)),
    ("min_frequency", "min_frequency", "an integer in [1, 10**9]", _int_in(1, _BIG)),
    ("dropout", "dropout", "a number in [0, 1)", lambda v: _number(v) and 0 <= v < 1),
    ("scale", "--scale", _POSITIVE, _positive),
    # cos - m lies in [-1 - m, 1 - m]: beyond a few units a margin only shifts every logit off the
    # chart (1e30 trained a constant loss of 3e31); SphereFace's integer margins stop well below 16
    ("margin", "--margin", "a number in [-2, 16]", lambda v: _number(v) and -2 <= v <= 16),
    ("head_lr_mult", "--head-lr-mult", _POSITIVE, _positive),
    ("warmup", "--warmup", "a number in [0, 1)", lambda v: _number(v) and 0 <= v < 1),
    ("distil_weight", "--distil-weight", "a finite number >= 0 (at most 1e6)",
     lambda v: _number(v) and 0 <= v <= 1e6),
    ("distil_sim_weight", "--distil-sim-weight", "a finite number >= 0 (at most 1e6)",
     lambda v: _number(v) and 0 <= v <= 1e6),
    ("augment", "--augment", "an integer in [0, 64] (or None: auto)",
     lambda v: v is None or _int_in(0, 64)(v)),
    ("distil_scale", "--distil-scale", "a finite number > 0 (at most 1e3; or None: auto)",
     lambda v: v is None or (_number(v) and 0 < v <= 1e3)),
    ("ssl_weight", "--ssl-weight", "a finite number >= 0 (at most 1e6)",
     lambda v: _number(v) and 0 <= v <= 1e6),
    ("ngram_buckets", "--ngram-buckets", "an integer in [0, 10000000]", _int_in(0, 10_000_000)),
    ("lexical_dim", "--lexical-dim", "an integer in [0, 65536]", _int_in(0, 65536)),
    ("lexical_weight", "--lexical-weight", "a number in (0, 1)", lambda v: _number(v) and 0 < v < 1),
    ("lexical_grams", "--lexical-grams", "an integer in [1, 5] (or None: auto)",
     lambda v: v is None or _int_in(1, 5)(v)),
    ("per_group", "per_group", "an integer in [2, 10**9]", _int_in(2, _BIG)),
    ("partial_fc", "--partial-fc", "a number in (0, 1]", lambda v: _number(v) and 0 < v <= 1),
    ("patience", "--patience", "an integer in [1, 10**9]", _int_in(1, _BIG)),
    ("max_steps", "--max-steps", "an integer >= 1 (or None)",
     lambda v: v is None or _int_in(1, _BIG)(v)),
    ("eval_fraction", "--eval-fraction", "a number in (0, 0.5]", lambda v: _number(v) and 0 < v <= 0.5),
    ("seed", "--seed", "an integer in [0, 2**32)", _int_in(0, 2**32 - 1)),
    ("bidirectional", "bidirectional", "True or False", lambda v: isinstance(v, bool)),
    ("tokenizer", "--tokenizer", *_one_of(("teacher",) + tuple(TOKENIZERS))),
    ("embed_init", "--embed-init", *_one_of(get_args(EmbedInit))),
    ("backbone", "--backbone", "gru, minilm or a local sentence-transformers folder",
     lambda v: isinstance(v, str) and bool(v.strip())),
    ("teacher", "--teacher", "minilm, none or a local sentence-transformers folder",
     lambda v: isinstance(v, str) and bool(v)),
    ("pooling", "--pooling", *_one_of(POOLINGS)),
    ("lr_decay", "lr_decay", *_one_of(get_args(LrDecay))),
    ("vo_weight", "--vo-weight", _POSITIVE, _positive),  # 0 trained as if the outliers were not asked for
    ("vo_start", "--vo-start", "an integer in [1, 10**9]", _int_in(1, _BIG)),
    ("vo_queue", "vo_queue", "an integer in [2, 100000]", _int_in(2, 100_000)),
    ("vo_candidates", "vo_candidates", "an integer in [1, 100000]", _int_in(1, 100_000)),
    ("tail_synth_weight", "--tail-synth-weight", _POSITIVE, _positive),
    ("tail_synth_rows", "--tail-synth-rows", "an integer in [1, 100000]", _int_in(1, 100_000)),
    ("tail_below", "--tail-below", "an integer >= 2 (default: half the median group's size)",
     lambda v: v is None or _int_in(2, _BIG)(v)),
)
