"""The figures of a character TF-IDF on the data a model is evaluated on: the baseline that a model
without a teacher (a Chinese run, `--teacher none`) must beat, shown where no teacher is.

A new user's Chinese STS run read Spearman 0.616 for the model against 0.378 for the English MiniLM
(a floor on Chinese) and took it for a win; a char TF-IDF scored 0.681 on the same pairs.
"""
from __future__ import annotations

import numpy as np

NAME = "tf-idf (char_wb 1-3)"


def tfidf_vectors(fit_texts: list[str], *texts: list[str]):
    """Sparse, L2-normalised char_wb 1-3 gram TF-IDF rows of each list in `texts`, the IDF fitted on
    `fit_texts` (the training sentences, or the evaluated sentences themselves: it reads no label)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)
    vec.fit(fit_texts)
    return tuple(vec.transform(t) for t in texts)


def grouped_figures(texts: list[str], groups: list[str], ref_texts: list[str] | None = None,
                    ref_groups: list[str] | None = None) -> dict:
    """`knn_top1` against the reference (when given) and leave-one-out top-k, as `similarity.evaluate`
    reports them, of the TF-IDF rows (repeated sentences dropped as there)."""
    from collections import Counter

    from similarity.heldout_rows import drop_duplicates
    from similarity.evaluate import knn_top1, loo_topk

    texts, groups, _ = drop_duplicates(list(texts), list(groups))
    out = {"n": len(texts)}
    if ref_texts:
        emb, ref = tfidf_vectors(texts + list(ref_texts), texts, ref_texts)
        out["knn_top1"] = knn_top1(emb, groups, ref, list(ref_groups))
    else:
        emb, = tfidf_vectors(texts, texts)
    if any(c >= 2 for c in Counter(groups).values()):
        out.update(loo_topk(emb, groups))
    return out


def pair_figures(a: list[str], b: list[str], scores: list[float], positives: list[float] | None = None) -> dict:
    """`similarity.pair_metrics`' figures of the TF-IDF cosines of the pairs."""
    from similarity.pairs import cosine_figures

    ea, eb = tfidf_vectors(list(a) + list(b), a, b)
    return cosine_figures(np.asarray(ea.multiply(eb).sum(1), dtype=np.float64).ravel(), scores, positives)
