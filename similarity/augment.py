"""Augmented copies of the training sentences, as distillation-only inputs (`--augment`).

With a few hundred labelled sentences the student sees too little of the teacher's space: it
learns the training groups, not the teacher. TinyBERT (Jiao et al. 2020) distils on perturbed
copies of the task sentences; here the perturbations are cheap and tokenizer-free:
- word dropout: each unit dropped with probability 0.2 (at least one dropped, two kept);
- span crop: a contiguous 50-90% of the units;
- shuffle: a few adjacent pairs swapped (local order noise, the words stay).
A unit is a whitespace word, or a character for text written without spaces (Chinese).
A one-word sentence in a spaced language has one unit: it is never cut into letters.
The teacher labels every copy (its vectors are the targets), so a copy that drifts from its
source group still teaches the right thing: where the teacher puts that sentence.

`auto_copies(n)` picks the number of copies per sentence from the data size: many when the
data is small (the teacher is then most of the signal), none from 4,000 sentences on.
"""
from __future__ import annotations

import random

from textgan.common.errors import InputError

OPS = ("dropout", "crop", "shuffle")
AUG_BUDGET = 4000  # auto copies aim at about this many augmented sentences in all
MAX_AUTO_COPIES = 8


def auto_copies(n_sentences: int) -> int:
    """Copies per sentence for `--augment auto`: AUG_BUDGET / n, at most MAX_AUTO_COPIES, 0 when
    n >= AUG_BUDGET (large data already covers the teacher's space; the teacher encoding of
    copies would only cost time)."""
    if n_sentences >= AUG_BUDGET:
        return 0
    return min(MAX_AUTO_COPIES, max(1, round(AUG_BUDGET / max(n_sentences, 1))))


def units(text: str) -> tuple[list[str], str]:
    """(units, joiner): whitespace words when there are two or more; the characters of text
    written without spaces (Chinese, Japanese); else the one word."""
    from similarity.language import cjk_share

    words = text.split()
    if len(words) >= 2 or cjk_share([text]) < 0.5:
        return words, " "
    return [c for c in text.strip() if not c.isspace()], ""


def perturb(text: str, op: str, rng: random.Random) -> str | None:
    """One perturbed copy of `text` (None when it has fewer than 3 units: nothing to vary)."""
    u, sep = units(text)
    n = len(u)
    if n < 3:
        return None
    if op == "dropout":
        keep = [w for w in u if rng.random() >= 0.2]
        if len(keep) == n:  # always change something
            keep.pop(rng.randrange(n))
        if len(keep) < 2:
            keep = u[:2] if rng.random() < 0.5 else u[-2:]
        return sep.join(keep)
    if op == "crop":
        size = max(2, min(n - 1, round(n * rng.uniform(0.5, 0.9))))
        start = rng.randrange(n - size + 1)
        return sep.join(u[start:start + size])
    if op == "shuffle":
        u = list(u)
        for _ in range(max(1, n // 4)):
            i = rng.randrange(n - 1)
            u[i], u[i + 1] = u[i + 1], u[i]
        return sep.join(u)
    raise ValueError(f"unknown augmentation {op!r}; valid: {', '.join(OPS)}")


def augment(texts: list[str], copies: int, seed: int = 0) -> list[str]:
    """`copies` perturbed copies per sentence (ops in turn, seeded), dropping copies equal to
    any training sentence or to another copy. Sentences under 3 units are skipped; when no
    sentence has 3 units there is nothing to augment and that is an InputError."""
    if copies < 1:
        return []
    if not any(len(units(t)[0]) >= 3 for t in texts):
        raise InputError(f"--augment needs sentences of 3 or more words (or characters); all "
                         f"{len(texts)} training sentences are shorter; pass --augment 0")
    rng = random.Random(seed * 7919 + 17)
    seen = set(texts)
    out = []
    for k in range(copies):
        for i, t in enumerate(texts):
            for attempt in range(3):  # a collision (e.g. a short sentence) gets two retries
                c = perturb(t, OPS[(i + k + attempt) % len(OPS)], rng)
                if c is None:
                    break
                if c not in seen:
                    seen.add(c)
                    out.append(c)
                    break
    return out


def training_copies(cfg, texts: list[str]) -> tuple[str, ...]:
    """`cfg.augment` copies per sentence (None: `auto_copies`) for the distillation term; none without a teacher."""
    if cfg.teacher == "none" or cfg.augment == 0:
        return ()
    copies = cfg.augment
    if copies is None:  # auto: quietly nothing when no sentence can be varied
        if not any(len(units(t)[0]) >= 3 for t in texts):
            return ()
        copies = auto_copies(len(texts))
    return tuple(augment(texts, copies, cfg.seed))
