"""Semi-supervised intent classification with the K+1 GAN (`textgan.gan.kplus1`): train on a few
labelled and many unlabelled sentence vectors; classify sentences with a group, a confidence
and out-of-scope rejection.

Rejection: the K+1 classifier's in-domain score log Z(x) (its real-vs-generated evidence) is
thresholded with `textgan.ood.scoring.choose_threshold` so that `tpr` of the unlabelled training
vectors pass (they are taken as in scope; the labelled ones are memorised and score too high); the threshold is stored in `rejection.json` beside the model.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from textgan.common.artifacts import load_json, save_json
from textgan.common.errors import InputError
from textgan.common.texts import as_labels, as_sentences, is_blank, text_key
from textgan.common.vectors import as_matrix, check_same_encoder
from textgan.gan.saved import record_model_file

REJECTION = "rejection.json"  # one of textgan.gan.saved.MODEL_JSON: covered by the model's digests


def train(labelled, labels: Sequence[str], unlabelled, out, config=None, encoder: dict | None = None,
          tpr: float = 0.95, progress: bool = False, resume: bool = False) -> Path:
    """Train a K+1 model on labelled (L, D) and unlabelled (U, D) vectors; returns the model folder.

    Args:
        labelled, labels: the labelled vectors and one group per row.
        unlabelled: vectors without labels (at least one row).
        config: a `KPlus1Config` (default: its defaults, batch lowered to fit small data).
        encoder: `encoder_meta` of the vectors' encoder (recorded; `classify` checks it).
        tpr: share of labelled vectors kept in scope by the stored rejection threshold.
    """
    from textgan.gan.conditional import encode_labels
    from textgan.gan.kplus1 import KPlus1Config, KPlus1Step
    from textgan.gan.trainer import run
    from textgan.metrics import typical_nn_cosine
    from textgan.ood.scoring import check_tpr, choose_threshold

    tpr = check_tpr(tpr)  # before any work: a bad tpr left a trained folder without its threshold
    from textgan.common.args import flag

    progress, resume = flag(progress, "progress"), flag(resume, "resume")
    from textgan.common.vectors import check_artefact_meta

    check_artefact_meta({"encoder": encoder}, "encoder")  # as train_gan: a bad one was refused after training
    if config is not None and not isinstance(config, KPlus1Config):  # another kind's config: an AttributeError
        raise InputError(f"config is a {type(config).__name__}; train_semisup takes a KPlus1Config")
    xl = as_matrix(labelled, "labelled vectors")
    from textgan.common.vectors import check_real

    check_real(unlabelled, "unlabelled vectors")
    try:
        xu = np.asarray(unlabelled, dtype=np.float32)
    except (TypeError, ValueError) as exc:  # sentences given where vectors are asked: a bare ValueError
        raise InputError(f"unlabelled vectors are not a numeric array ({str(exc)[:80]})") from None
    if xu.size == 0:
        raise InputError("no unlabelled vectors: K+1 training needs unlabelled data (or use a supervised classifier)")
    xu = as_matrix(xu, "unlabelled vectors", dim=xl.shape[1])
    labels = as_labels(labels, len(xl), "labels")  # 1 and "1" were one group, NaN a group "nan"
    if len(set(labels)) < 2:  # one group: every sentence, off-topic ones too, was put in it at confidence 1
        raise InputError(f"K+1 needs labelled sentences of at least 2 groups, found {len(set(labels))}", "labels")
    ids, names = encode_labels(labels)
    x = np.concatenate([xl, xu])
    y = torch.cat([ids, torch.full((len(xu),), -1, dtype=torch.long)])
    cfg = config or KPlus1Config()
    if cfg.batch_size == KPlus1Config.batch_size:  # the default batch (also beside --steps), lowered for small data
        cfg = dataclasses.replace(cfg, batch_size=min(cfg.batch_size, 2 ** int(np.log2(len(x)))))
    meta = {"encoder": encoder, "typical_nn_cosine": typical_nn_cosine(x), "labelled": len(xl),
            "unlabelled": len(xu)}
    path = run(KPlus1Step, torch.from_numpy(x), cfg, out, labels=y, label_names=names, meta=meta,
               progress=progress, resume=resume)
    from textgan.gan import load

    s = load(path).score(xu).numpy()  # the labelled rows are memorised: their scores run high
    if len(s) < 1 / (1 - tpr):
        warnings.warn(f"the rejection threshold is fitted on {len(s)} unlabelled sentence(s): keeping {tpr:.0%} of "
                      f"them is their lowest score (give {math.ceil(1 / (1 - tpr))} or more)", stacklevel=2)
    save_json({"score": "log Z (K+1 in-domain evidence)", "on": "the unlabelled training vectors", "tpr": tpr,
               "threshold": choose_threshold(s, tpr)},
              Path(path) / REJECTION)
    record_model_file(Path(path), REJECTION)  # checksummed like the weights
    return Path(path)


def load_rejection(path: Path) -> float | None:
    """The stored rejection threshold of a K+1 folder (its digest was checked with the model), or None.

    A NaN threshold flagged every sentence out of scope: anything but a finite number is refused,
    even with a recomputed digest."""
    from textgan.ood.gate import check_recorded

    f = Path(path) / REJECTION
    if not f.is_file():
        return None
    info = load_json(f)
    info = info if isinstance(info, dict) else {}
    return check_recorded(info.get("threshold"), info.get("tpr"), f)


def load_classifier(path):
    from textgan.gan import load

    m = load(path) if isinstance(path, (str, Path)) else path
    if not hasattr(m, "kind"):  # None, a number: neither a folder nor a loaded model
        from textgan.common.args import path as as_path

        as_path(path, "model (a K+1 model folder or a loaded one)")
    if not hasattr(m, "probabilities"):
        raise InputError(f"not a K+1 classifier (kind {m.kind!r}); train one with `textgan train-kplus1`",
                         path if isinstance(path, (str, Path)) else None)
    return m


def classify_vectors(model, vectors) -> dict:
    """{"group": [...], "confidence": (n,), "score": (n,), "in_scope": (n,) bool or None}."""
    m = load_classifier(model)
    p = m.probabilities(vectors).numpy()
    s = m.score(vectors).numpy()
    rej = load_rejection(Path(model)) if isinstance(model, (str, Path)) else None
    return {"group": [m.groups[i] for i in p.argmax(1)], "confidence": p.max(1), "score": s,
            "in_scope": None if rej is None else s >= rej, "threshold": rej}


def classify(model, sentences: Sequence[str], encoder=None) -> list[dict]:
    """Classify sentences: one {"text", "group", "confidence", "score", "in_scope"} per sentence.

    Args:
        model: a K+1 model folder. encoder: the similarity model (default: the one the K+1 model
            recorded); refused when it is not the encoder the model was trained on.
    """
    from textgan.workflow.core import load_encoder

    m = load_classifier(model)
    rec = (m.meta or {}).get("encoder") or {}
    if encoder is None:
        encoder = rec.get("path")
        if not encoder or not Path(encoder).exists():
            raise InputError("the K+1 model does not record a usable encoder path: pass --encoder", model)
    enc = load_encoder(encoder)
    check_same_encoder(rec, enc.fingerprint, "the K+1 model", model, dim=int(enc.dim))
    sentences = as_sentences(sentences, "sentences")
    if not sentences:
        raise InputError("no sentences to classify")
    if (blank := next((i for i, t in enumerate(sentences) if is_blank(t)), None)) is not None:  # as score_texts
        raise InputError(f"sentence {blank + 1} is blank (it would be classified as the empty sentence)", "sentences")
    from similarity.evaluate import warn_unknown_tokens

    warn_unknown_tokens(enc, sentences, "sentences")
    r = classify_vectors(model, enc.encode(sentences))
    if r["threshold"] is None:  # a train-gan --kind kplus1 folder: rows that read as "all in scope"
        warnings.warn(f"{model}: the K+1 model has no out-of-scope threshold ({REJECTION}, fitted by train-kplus1): "
                      "in_scope is null and no sentence is flagged", stacklevel=2)
    return [{"text": t, "group": g, "confidence": float(c), "score": float(s),
             "in_scope": None if r["in_scope"] is None else bool(i)}
            for t, g, c, s, i in zip(sentences, r["group"], r["confidence"], r["score"],
                                     r["in_scope"] if r["in_scope"] is not None else [None] * len(sentences))]


def train_on_corpus(model, labelled_data, unlabelled_texts, out, text_col: str = "text", group_col: str = "group",
                    config=None, progress: bool = False, resume: bool = False) -> Path:
    """Encode a labelled corpus and unlabelled sentences with a similarity model; train K+1 on them."""
    from textgan.workflow.core import encoder_meta, folder_of, load_encoder, read_corpus

    enc = load_encoder(model)
    texts, groups = read_corpus(labelled_data, text_col, group_col)
    if groups is None or len(set(groups)) < 2:  # one group leaves the classifier nothing to tell apart
        n = 0 if groups is None else len(set(groups))
        raise InputError(f"K+1 needs labelled sentences of at least 2 groups, found {n}", labelled_data)
    unl = list(unlabelled_texts)
    if not unl:
        raise InputError("no unlabelled sentences")
    known = {text_key(t) for t in texts}  # the rejection threshold is fitted on the unlabelled rows: keep them new
    if (shared := sum(text_key(u) in known for u in unl)):
        unl = [u for u in unl if text_key(u) not in known]
        if not unl:
            raise InputError(f"all {shared} unlabelled sentences are labelled sentences too: give other, "
                             "unlabelled ones", "--unlabeled")
        warnings.warn(f"--unlabeled: dropped {shared} sentence(s) that are also labelled sentences; {len(unl)} kept",
                      stacklevel=2)
    meta = encoder_meta(enc, folder_of(model))
    from similarity.evaluate import warn_unknown_tokens

    # the rejection threshold is fitted on them: text the model cannot read let every query through
    warn_unknown_tokens(enc, unl, "--unlabeled")
    return train(enc.encode(texts), groups, enc.encode(unl), out, config=config, encoder=meta, progress=progress,
                 resume=resume)
