"""Train a generative model on sentence vectors: the API's `train_gan` and `train_gan_on_corpus`
(textgan.workflow.core holds the rest of the workflow)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from textgan.common.errors import InputError
from textgan.common.texts import as_labels


def train_gan_on_corpus(model, corpus, out, config=None, text_col: str | None = None,
                        group_col: str | None = None, progress: bool = True, resume: bool = False,
                        kind: str | None = None):
    """Encode a corpus with a similarity model, then train a model of any kind on its vectors.

    With `group_col` the groups are the labels of a conditional kind. The model folder
    records the encoder's fingerprint (so it is never decoded with an index of another
    encoder, nor resumed on another encoder's vectors) and the corpus' typical neighbour
    cosine (for novelty flags).
    """
    from textgan.common.vectors import encoder_meta
    from textgan.workflow.core import folder_of, load_encoder, read_corpus

    enc = load_encoder(model)
    if config is not None:  # before the corpus is encoded
        from textgan.gan.config import check_training_memory

        check_training_memory(config.resolved(), int(enc.dim))
    texts, groups = read_corpus(corpus, text_col, group_col)
    vectors = enc.encode(texts, progress=progress)
    return train_gan(vectors, out, config=config, groups=groups, encoder=encoder_meta(enc, folder_of(model)),
                     progress=progress, resume=resume, kind=kind)


def train_gan(vectors: np.ndarray, out, config=None, encoder: dict | None = None, groups=None,
              progress: bool = True, resume: bool = False, kind: str | None = None, prototypes=None):
    """Train a generative model of any kind on (N, D) sentence vectors and save it to `out`.

    Args:
        vectors: (N, D) float array (e.g. `encode(...)` output).
        out: model folder to write.
        config: a kind's config (`GANConfig`, `AnchoredConfig`, `ConditionalConfig`, ...; default:
            the kind's own defaults for `anchored`, else the `embeddings` preset of the kind).
        encoder: `encoder_meta(...)` of the encoder that made the vectors; recorded so the
            model is never decoded with an index of another encoder, and checked on resume.
        groups: one label per row; they make the default kind `anchored` (class-anchored),
            and a plain `GANConfig` becomes an anchored one.
        resume: continue from the folder's last checkpoint.
        kind: a registry name (`textgan kinds`) when `config` is None.
        prototypes: for the anchored kind, prototypes given from outside (e.g. a margin head's
            class weights): `(names, (C, D) array)` or a JSON file {group: vector}; groups not
            given use the normalised mean of their vectors. An array pair is written beside
            `out` as `<out>.prototypes.json` (the config records that file).
    Returns:
        The model folder path.
    """
    import dataclasses
    import os

    from textgan.common.vectors import check_artefact_meta, tensor_values
    from textgan.gan import PRESETS, carry_over, make_kind, train_gan as train_kind
    from textgan.gan.anchored import AnchoredConfig, save_prototypes
    from textgan.gan.config import GANConfig

    from textgan.common.args import flag

    progress, resume = flag(progress, "progress"), flag(resume, "resume")
    if not isinstance(out, (str, os.PathLike)) or not str(out):
        raise InputError(f"out: pass the model folder to write (a path), not {out!r:.40}")
    check_artefact_meta({"encoder": encoder}, "encoder")  # before training: a bad one made the folder unloadable

    if config is None:
        name = kind or ("anchored" if groups is not None else "gan")
        config = make_kind(name).config() if name == "anchored" else \
            carry_over(make_kind(name).config, PRESETS["embeddings"])
    elif groups is not None and type(config) is GANConfig:
        config = carry_over(AnchoredConfig, config)
    if kind is not None and type(config) is not make_kind(kind).config:  # silently trained the config's kind
        raise InputError(f"config is a {type(config).__name__}, kind {kind!r} takes a {make_kind(kind).config.__name__}")
    if vectors is None or isinstance(vectors, (str, bytes, os.PathLike)):  # a path: the CLI reads files, not this
        raise InputError(f"vectors: pass an (N, D) array of numbers, not {type(vectors).__name__} (files: "
                         "textgan.gan.load_vectors)")
    if hasattr(vectors, "detach"):
        vectors = tensor_values(vectors)
    elif not hasattr(vectors, "__len__"):  # a generator of rows: read once
        vectors = list(vectors)
    try:
        if np.iscomplexobj(vectors):  # float32 would keep the real part and drop the rest, silently
            raise InputError("vectors are complex numbers; pass real (N, D) vectors")
        x = np.asarray(vectors, dtype=np.float32)
    except InputError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(f"vectors are not a numeric (N, D) array ({str(exc)[:80]})") from None
    from textgan.gan.data import MAX_ABS

    with np.errstate(invalid="ignore"):  # NaN and inf are refused by the trainer, by name
        big = float(np.nanmax(np.abs(np.where(np.isfinite(x), x, 0)))) if x.size else 0.0
    if big > MAX_ABS:  # as load_vectors refuses for train-gan: the losses overflowed into a "diverged" run
        raise InputError(f"vectors: values up to {big:.3g}: training overflows float32 beyond {MAX_ABS:g}; "
                         "standardise the vectors first")
    if encoder and encoder.get("dim") is not None and x.ndim == 2 and x.shape[1] != encoder["dim"]:
        raise InputError(f"encoder: records {encoder['dim']}-d vectors, the vectors are {x.shape[1]}-d")
    written = None
    if prototypes is not None:
        if not isinstance(config, AnchoredConfig):
            raise InputError(f"prototypes are used by the anchored kind only, not {type(config).__name__}")
        if isinstance(prototypes, dict):  # {group: vector}, as hallucinate takes them
            prototypes = (list(prototypes), [np.asarray(v, dtype=np.float32).reshape(-1) for v in prototypes.values()])
        if isinstance(prototypes, (tuple, list)):
            if len(prototypes) != 2:
                raise InputError("prototypes must be (names, vectors), {group: vector} or a JSON file path")
            prototypes = written = save_prototypes(*prototypes, Path(str(Path(out)) + ".prototypes.json"))
        elif not isinstance(prototypes, (str, Path)):
            raise InputError(f"prototypes must be (names, vectors), {{group: vector}} or a JSON file path, got "
                             f"{type(prototypes).__name__}")
        config = dataclasses.replace(config, prototypes=str(prototypes))
    from textgan.metrics import typical_nn_cosine

    meta = {"encoder": encoder}
    if x.ndim == 2 and x.shape[1] > 0 and len(x) > 1 and np.isfinite(x).all():
        meta["typical_nn_cosine"] = typical_nn_cosine(x)
    try:
        return train_kind(x, config, out, groups=None if groups is None else as_labels(groups, len(x)), meta=meta,
                          progress=progress, resume=resume)
    except BaseException:
        if written is not None:  # no model to go with it
            Path(written).unlink(missing_ok=True)
        raise
