"""What a similarity model carries for out-of-domain scoring: its margin head (`energy-head`) and
the vectors of its training run's held-out sentences, on which a threshold keeps its promise.

A threshold fitted on sentences the encoder trained on is too lenient on new in-domain sentences
(the encoder pulled its training rows toward their groups): a 95% promise kept 87.5-93% on unseen
intent sets. `similarity.train` therefore saves the held-out split's vectors with the model, and
`heldout_scores` scores them with any scorer: index rows among them (a corpus indexed whole)
are scored without themselves.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from textgan.common.errors import InputError
from textgan.ood.head import head_scorer


def model_head(enc, name: str = ""):
    """The `energy-head` scorer of a loaded similarity model (InputError without a margin head)."""
    from textgan.common.vectors import encoder_meta

    scale = (enc.info.get("train_config") or {}).get("scale")
    return head_scorer(enc.prototypes, scale, encoder_meta(enc, name or None), name, enc.heldout)


def prototype_vectors(enc):
    """The (C, D) unit class weights of the model's margin head, or None (in-batch losses, plain folders)."""
    protos = getattr(enc, "prototypes", None)
    return None if protos is None else protos[1]


def needs_head(method: str, combine) -> bool:
    return method == "energy-head" or "energy-head" in (combine or [])


def calibrate_index_gate(enc, index, out, model_name: str, written=None) -> dict:
    """`textgan index`: fit the default out-of-domain gate of a just-saved in-RAM index on the
    model's held-out sentences (else on the index rows, and say so), record it in the index's
    meta.json (`meta["gate"]`, which `search` then uses) and return that record, with the promised
    and reached TPR (`textgan.ood.gate._fit_report`). `written`: the folder the index was written to
    when it is not yet `out` (it replaces `out` once its gate is fitted)."""
    from textgan.common.artifacts import save_json
    from textgan.ood.gate import gate_record, index_gate

    held = getattr(enc, "heldout", None)
    held = held if held is not None and len(held) >= 2 else None
    gate = index_gate(index, out, heldout=held, report=True, prototypes=prototype_vectors(enc))
    rec = gate_record(gate, gate.key)
    if gate.calibrated_on_held_out:
        rec["calibrated_on"] = f"held-out: {gate.report['n']} sentences of model {model_name} (never trained on)"
    elif held is not None:
        rec["calibrated_on"] = f"index rows: {gate.source}"
    elif (getattr(enc, "info", None) or {}).get("plain_sentence_transformers"):  # MiniLM never trained on them
        rec["calibrated_on"] = ("index rows: optimistic (a threshold fitted on the sentences it then judges); an "
                                "off-the-shelf model has no held-out sentences of this domain")
    else:
        rec["calibrated_on"] = ("index rows (training sentences): optimistic; the model kept no held-out "
                                "sentences (trained before they were kept, or without a held-out split)")
    index.meta["gate"] = rec
    save_json(index.meta, Path(written or out) / "meta.json")  # digests skip meta.json: the files stay verified
    return rec


def heldout_scores(enc, scorer, index=None) -> tuple[np.ndarray, str] | None:
    """(scores of the model's held-out vectors, where they come from), or None when the model has
    none (`textgan.ood.gate.held_out_scores`: index rows among them are scored without themselves)."""
    from textgan.ood.gate import held_out_scores

    held = getattr(enc, "heldout", None)
    if held is None or len(held) < 2:
        return None
    if scorer.method == "combined" and scorer.calibration is None and index is None:
        scorer.calibration = scorer.fit_calibration(held)  # no index rows to fit the z-scores on
    return held_out_scores(scorer, held, index)


def _outside(out: np.ndarray, *known: np.ndarray) -> np.ndarray:
    """Outlier vectors that are not corpus or held-out sentences (cosine < SAME_SENTENCE_COSINE): one
    on both sides of the selection's AUROC made it read chance; dropped with a count, none left refused."""
    import warnings

    from textgan.common.vectors import SAME_SENTENCE_COSINE

    same = np.zeros(len(out), bool)
    for k in known:
        if len(k):
            same |= (out @ np.asarray(k, np.float32).T).max(1) >= SAME_SENTENCE_COSINE
    if same.all():
        raise InputError(f"all {len(out)} outlier sentences are corpus or held-out sentences: give sentences "
                         "known to be out of scope", "--outliers")
    if same.any():
        warnings.warn(f"--outliers: dropped {int(same.sum())} sentence(s) that are also corpus or held-out "
                      f"sentences; {int((~same).sum())} kept", stacklevel=3)
    return out[~same]


def opengan_on_corpus(enc, model_path, texts, outlier_texts=None, steps: int = 2000, seed: int = 0):
    """`train-outlier --source opengan`: an OpenGAN on the corpus' vectors, its discriminator selected
    on the model's held-out vectors (else on a seeded 20% of the corpus kept out of the GAN) against
    the `outlier_texts` when given, else against generated vectors. Corpus rows that are held-out
    sentences are left out of the GAN, so the selection sees vectors it never trained on."""
    from textgan.ood.opengan import OpenGANConfig, train_opengan
    from textgan.common.vectors import SAME_SENTENCE_COSINE, encoder_meta

    x = enc.encode(list(texts))
    held = getattr(enc, "heldout", None)
    if held is not None and len(held) >= 2:
        same = (x @ held.T).max(1) >= SAME_SENTENCE_COSINE if len(x) else np.zeros(0, bool)
        train, source = x[~same], f"{len(held)} held-out sentences of the encoder's training run"
    else:
        rows = np.random.default_rng(seed).permutation(len(x))
        cut = max(2, len(x) // 5)
        train, held, source = x[rows[cut:]], x[rows[:cut]], f"{cut} corpus sentences kept out of the GAN"
    out = _outside(enc.encode(list(outlier_texts)), x, held) if outlier_texts else None
    model = train_opengan(train, held, OpenGANConfig(steps=steps, seed=seed), out,
                          meta={"encoder": encoder_meta(enc, model_path)})
    model.selection["held_out_source"] = source
    return model


def gate_fitter(enc, out, model_path, options, corpus=None):
    """What fits an index's out-of-domain gate (`calibrate_index_gate`) in its written folder before
    that folder replaces `out` (`VectorIndex.save`'s `before_publish`): a corpus the gate refuses,
    or an interrupt, leaves an older index at `out` whole (it was replaced first, then the gate
    failed). None when `options.gate` is off. An index on disk or in shards has no gate."""
    if not options.gate:
        return None

    def fit(index, folder) -> None:
        from textgan.metrics import FlatScores
        from textgan.ood.gate import gate_dir, no_gate_reason

        if no_gate_reason(index) is not None:
            return
        cache, existed = gate_dir(out), gate_dir(out).exists()
        try:
            calibrate_index_gate(enc, index, out, str(model_path), written=folder)
        except BaseException as exc:
            if not existed and not Path(out).exists():  # a failed first build leaves no cache beside no index
                shutil.rmtree(cache, ignore_errors=True)
            if isinstance(exc, FlatScores):  # its advice names score's options, which index has not
                raise InputError(f"{exc.finding}: the corpus' sentences read alike to the model (is --text-col the "
                                 "sentences' column?)", corpus) from None
            raise
    return fit
