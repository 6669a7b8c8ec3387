"""Tokenizers trained on the training corpus with Hugging Face `tokenizers`.

One table row per kind: `word` (whole words, for space-separated languages), `wordpiece`
(sub-words, robust to typos and rare words) and `char` (one token per character, for
Chinese/Japanese). All share NFKC (full-width -> half-width) + lower-casing, [PAD]=0, [UNK]=1.
"""
from __future__ import annotations

from typing import Callable, Literal

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from textgan.common.errors import InputError

TokenizerKind = Literal["teacher", "word", "wordpiece", "char"]  # "teacher": similarity.teacher
SPECIALS = ["[PAD]", "[UNK]"]


def _word() -> tuple[Tokenizer, Callable]:
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    # Whitespace splits on \w+|[^\w\s]+ so punctuation is its own token.
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok, trainers.WordLevelTrainer


def _wordpiece() -> tuple[Tokenizer, Callable]:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok, trainers.WordPieceTrainer


def _char() -> tuple[Tokenizer, Callable]:
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    # Drop whitespace, then isolate every remaining character.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")])
    return tok, trainers.WordLevelTrainer


TOKENIZERS: dict[str, Callable[[], tuple[Tokenizer, Callable]]] = {
    "word": _word,
    "wordpiece": _wordpiece,
    "char": _char,
}


def train_tokenizer(texts: list[str], kind: str = "word", vocab_size: int = 30000,
                    min_frequency: int = 1) -> Tokenizer:
    """Train a tokenizer of `kind` on `texts`; ids 0 and 1 are [PAD] and [UNK]."""
    if kind not in TOKENIZERS:
        raise InputError(f"unknown tokenizer {kind!r}; valid: {', '.join(TOKENIZERS)}")
    tok, trainer_cls = TOKENIZERS[kind]()
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    trainer = trainer_cls(vocab_size=vocab_size, min_frequency=min_frequency,
                          special_tokens=SPECIALS, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    assert tok.token_to_id("[PAD]") == 0 and tok.token_to_id("[UNK]") == 1
    return tok
