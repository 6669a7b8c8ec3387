"""Does the teacher read the training sentences' language? (a warning, never a refusal)

A sentence-transformers folder's model card (README.md front matter) lists its `language:`
codes; the training sentences' script is counted from their characters. Chinese, Japanese or
Korean text with a teacher whose card lists none of zh/ja/ko/multilingual (all-MiniLM-L6-v2 is
`en`) gets a warning: its vectors of such text are near noise (0.49 kNN top-1 on a Chinese
intent set), and distilling toward them is worse than no teacher (README, Chinese).
"""
from __future__ import annotations

from pathlib import Path

CJK_CODES = {"zh", "ja", "ko", "multilingual"}


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x3040 <= o <= 0x30FF
            or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF)


def cjk_share(texts: list[str], limit: int = 2000) -> float:
    """Share of CJK characters among the letters of (the first `limit`) sentences."""
    letters = cjk = 0
    for t in texts[:limit]:
        for ch in t:
            if ch.isalpha():
                letters += 1
                cjk += _is_cjk(ch)
    return cjk / letters if letters else 0.0


def card_languages(folder: str | Path) -> list[str]:
    """`language:` codes of a model card's front matter (a string or a YAML list); [] if none."""
    p = Path(folder) / "README.md"
    if not p.is_file():
        return []
    lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or lines[0].strip() != "---":
        return []
    out, in_list = [], False
    for ln in lines[1:]:
        if ln.strip() == "---":
            break
        if ln.startswith("language:"):
            value = ln.split(":", 1)[1].strip()
            in_list = not value
            out += [value.strip("'\"")] if value else []
        elif in_list and ln.lstrip().startswith("- "):
            out.append(ln.strip()[2:].strip("'\""))
        else:
            in_list = False
    return [c.lower() for c in out if c]


def language_warning(teacher_name: str, folder: str | Path, texts: list[str]) -> str | None:
    """A one-line warning when the sentences are mostly CJK and the teacher's card says it
    reads none of those languages; None otherwise (also when the card names no language)."""
    langs = card_languages(folder)
    if not langs or cjk_share(texts) < 0.3 or CJK_CODES & set(langs):
        return None
    return (f"teacher {teacher_name} is a {'/'.join(langs)} model (its model card) but the training "
            f"sentences are mostly Chinese/Japanese/Korean; its vectors of them are weak targets: "
            f"pass --teacher none, or a teacher in their language")


def scoring_warning(name: str, folder: str | Path, texts: list[str]) -> str | None:
    """`language_warning` for a model scored on the sentences (evaluate-similarity): its figures on
    text of a language it does not read are no measure of the task (MiniLM's kNN top-1 0.49 on a
    Chinese intent set, where a char TF-IDF scores 0.80)."""
    langs = card_languages(folder)
    if not langs or cjk_share(texts) < 0.3 or CJK_CODES & set(langs):
        return None
    return (f"{name} is a model for {'/'.join(langs)} (its model card) but the sentences are mostly "
            f"Chinese/Japanese/Korean: its figures on them are a floor, not a fair comparison")


def for_language(cfg, texts: list[str], announce: bool = True):
    """`cfg` with `--tokenizer char` (and so no teacher) when nothing was chosen by hand and the
    sentences are mostly CJK while the default teacher's card reads none of those languages:
    distilling from the English MiniLM scored below no teacher on both Chinese sets we measured
    (README, Chinese). `--teacher none` alone also gets `char`. Any --tokenizer given, or a
    --teacher, --embed-init or --augment given otherwise, keeps `cfg`."""
    import dataclasses
    import warnings

    if cfg.backbone != "gru" or cfg.tokenizer not in (None, "word") or cjk_share(texts) < 0.3:
        return cfg
    if cfg.tokenizer == "word":  # given by hand: kept, but it reads each unsegmented sentence as one token
        unspaced = sum(len(t.split()) == 1 for t in texts[:2000]) / max(1, len(texts[:2000]))
        if announce and unspaced >= 0.5:  # Korean separates words by spaces
            warnings.warn(f"--tokenizer word splits on spaces, and {unspaced:.0%} of the sentences have none "
                          "(mostly Chinese/Japanese/Korean): each is one token and every unseen sentence reads as "
                          "unknown; --tokenizer char reads characters", stacklevel=3)
        return cfg
    if cfg.teacher == "none" and cfg.embed_init in (None, "random"):
        # no teacher's vocabulary to follow: the word tokenizer would read each unsegmented
        # sentence as one token, and every unseen sentence as [UNK] (held-out top-1 0.0 measured)
        if announce:
            warnings.warn("the sentences are mostly Chinese/Japanese/Korean and there is no teacher: "
                          "training with --tokenizer char (words are not separated by spaces)", stacklevel=3)
        return dataclasses.replace(cfg, tokenizer="char")
    if (cfg.teacher, cfg.embed_init, cfg.augment) != (None, None, None):
        return cfg
    from similarity.model import minilm_path

    path = minilm_path()
    if path is None or CJK_CODES & set(card_languages(path)):
        return cfg
    if announce:
        warnings.warn("the sentences are mostly Chinese/Japanese/Korean and the default teacher "
                      "all-MiniLM-L6-v2 reads English: training with --tokenizer char, no teacher and "
                      "a character n-gram part (--lexical-dim 512) "
                      "(train-similarity --tokenizer teacher distils from it anyway)", stacklevel=3)
    return dataclasses.replace(cfg, tokenizer="char")
