"""Few-shot hallucination: new vectors for groups with few sentences, from variation learned on the others.

An anchored generator (`textgan.gan.anchored`) is trained on the well-populated groups: it
learns how a group spreads around its prototype. A few-shot group then gets samples around
its own prototype (the margin head's class weight when the encoder has one, else the
normalised mean of its few vectors): variation transferred from base to novel classes
(Hariharan & Girshick ICCV 2017; Schwartz et al. NeurIPS 2018). The output is vectors with
their group labels, ready for a classifier (or `train-gan --labels`).
"""
from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from textgan.common.args import seed as check_seed, whole
from textgan.common.errors import InputError
from textgan.common.texts import as_labels


def check_per_group(per_group, n_groups: int, dim: int) -> int:
    """`per_group` is a whole number >= 1 whose output (n_groups * per_group, dim) fits in memory."""
    from textgan.gan.saved import check_sample_count

    per_group = whole(per_group, "--per-group")
    try:
        check_sample_count(int(per_group) * max(n_groups, 1), dim)
    except InputError as exc:  # "--n M would need about ..." -> the same estimate for this option
        raise InputError(f"--per-group {per_group} for {n_groups} groups makes {int(per_group) * n_groups} vectors "
                         f"that{str(exc).split(' would', 1)[1].join([' would', ''])}") from None
    return int(per_group)


def check_prototypes(prototypes, dim: int) -> dict[str, np.ndarray]:
    """{group: finite non-zero (dim,) vector} from a caller, or {} for None."""
    if prototypes is None:
        return {}
    if not isinstance(prototypes, dict):
        raise InputError(f"prototypes must be a dict {{group: vector}}, got {type(prototypes).__name__}")
    out = {}
    for name, v in prototypes.items():
        try:
            v = np.asarray(v, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError):
            v = np.zeros(0, np.float32)
        if v.shape != (dim,) or not np.isfinite(v).all() or not np.linalg.norm(v):
            raise InputError(f"prototype of group {name!r} must be a finite non-zero {dim}-d vector")
        out[str(name)] = v
    return out


def split_groups(groups: Sequence[str], max_shots: int) -> tuple[list[str], list[str], list[str]]:
    """(base groups with >= max_shots rows, few-shot groups with 1..max_shots-1, skipped: blank labels)."""
    counts = Counter(groups)
    skipped = [g for g in counts if not str(g).strip()]
    base = sorted(g for g, c in counts.items() if c >= max_shots and g not in skipped)
    few = sorted(g for g, c in counts.items() if c < max_shots and g not in skipped)
    return base, few, skipped


def hallucinate(vectors: np.ndarray, groups: Sequence[str], per_group: int, max_shots: int = 10, gan=None,
                out_gan=None, prototypes: dict | None = None, steps: int | None = None, seed: int = 0,
                encoder: dict | None = None, progress: bool = False) -> tuple[np.ndarray, list[str], dict]:
    """Vectors for every group with fewer than `max_shots` rows, learned from the other groups.

    Args:
        vectors: (N, D) unit vectors; groups: one label per row.
        per_group: generated vectors per few-shot group.
        gan: an anchored model (folder or loaded) already trained on base groups; None: train one
            on the groups with >= max_shots rows, for `steps` (default 1500), into `out_gan` (a
            temporary folder when None). `steps` and `out_gan` with a `gan` are refused: nothing is trained.
        prototypes: {group: vector} overriding the normalised mean (e.g. a margin head's weights).
        encoder: `encoder_meta` of the vectors' encoder (checked against a given `gan`).
    Returns:
        (generated (M, D), their group labels, a report: base / hallucinated groups with their shot
        counts and skipped groups with the reason).
    """
    import tempfile

    from textgan.workflow.gan_train import train_gan
    from textgan.gan import load
    from textgan.gan.anchored import prototype_of
    from textgan.common.vectors import as_matrix, check_same_encoder

    if gan is not None and (steps is not None or out_gan is not None):  # they would be ignored
        raise InputError("sets the training of the anchored model, and --gan gives one already trained",
                         "--steps" if steps is not None else "--out-gan")
    x = as_matrix(vectors, "vectors")
    groups = as_labels(groups, len(x))
    steps = 1500 if steps is None else steps
    max_shots, steps, seed = whole(max_shots, "--max-shots", 2), whole(steps, "--steps"), check_seed(seed)
    prototypes = check_prototypes(prototypes, x.shape[1])
    if unknown := sorted(set(prototypes) - set(groups)):  # a typo'd group kept its mean, silently
        warnings.warn(f"{len(unknown)} prototype(s) name no group of the data (e.g. {unknown[0]!r}): unused",
                      stacklevel=2)
    base, few, skipped = split_groups(groups, max_shots)
    report = {"skipped": {g: "no group label (hallucination needs a named group with at least one sentence)"
                          for g in skipped}}
    if not few:
        raise InputError(f"no group has fewer than {max_shots} sentences: nothing to augment", "--max-shots")
    per_group = check_per_group(per_group, len(few), x.shape[1])
    g_arr = np.asarray(groups)
    trained_here = gan is None
    if gan is None:
        if not base:
            raise InputError(f"no group has {max_shots} or more sentences to learn variation from", "--max-shots")
        keep = np.isin(g_arr, base)
        cfg = _base_config(steps, int(keep.sum()), seed)
        # without --out-gan the generator is scratch: trained in a folder removed once it is loaded
        # (every call used to leave an 11 MB textgan-augment-* folder in /tmp)
        with tempfile.TemporaryDirectory(prefix="textgan-augment-") as scratch:
            folder = Path(out_gan) if out_gan is not None else Path(scratch) / "gan"
            gan = train_gan(x[keep], folder, config=cfg, groups=g_arr[keep].tolist(), encoder=encoder,
                                     progress=progress)
            model = load(gan)
        if out_gan is None:
            gan = model  # its folder is gone: the errors below name no file
    else:
        model = load(gan) if isinstance(gan, (str, Path)) else gan
    if not hasattr(model, "sample_prototype"):
        raise InputError(f"augmenting needs an anchored model (it samples around any prototype), not kind "
                         f"{model.kind!r}", gan if isinstance(gan, (str, Path)) else None)
    check_same_encoder((model.meta or {}).get("encoder"), (encoder or {}).get("fingerprint"), "the generator",
                       gan if isinstance(gan, (str, Path)) else None, dim=x.shape[1])
    if not trained_here and (encoder or {}).get("fingerprint") and \
            not ((model.meta or {}).get("encoder") or {}).get("fingerprint"):  # as generate-embeddings says it
        warnings.warn(f"{gan if isinstance(gan, (str, Path)) else 'the generator'}: records no encoder (trained on raw "
                      "vectors; train-gan --model records it): nothing checks it matches the model's encoder",
                      stacklevel=2)
    if model.dim != x.shape[1]:
        raise InputError(f"the generator makes {model.dim}-d vectors, the data are {x.shape[1]}-d")
    out, labels = [], []
    for i, name in enumerate(few):
        proto = prototypes.get(name)
        if proto is None:
            proto = prototype_of(x[g_arr == name]).numpy()
        out.append(model.sample_prototype(per_group, proto, seed=seed + i).numpy())
        labels += [name] * per_group
    # the groups the generator learned from: these data's base groups, or a given generator's own
    report.update(base={g: int((g_arr == g).sum()) for g in base} if trained_here else
                  dict.fromkeys(model.groups or []),
                  hallucinated={g: int((g_arr == g).sum()) for g in few}, per_group=per_group)
    return np.concatenate(out).astype(np.float32), labels, report


def _base_config(steps: int, n_rows: int, seed: int):
    from textgan.gan import make_kind

    batch = min(256, 2 ** int(np.log2(max(n_rows, 1))))
    return make_kind("anchored").config(steps=steps, batch_size=batch, seed=seed)


def augment(model, data, per_group: int, out, text_col: str = "text", group_col: str = "group",
            max_shots: int = 10, gan=None, steps: int | None = None, seed: int = 0, progress: bool = False) -> dict:
    """Encode a grouped corpus and write generated vectors for its few-shot groups.

    Writes `<out>.npy` (M, D) and `<out>.labels.txt` (one group per line, the format
    `train-gan --labels` reads), atomically. Returns the `hallucinate` report plus the paths.

    Args:
        model: similarity model folder (or a loaded encoder).
        data: data file with a text and a group column.
        per_group: vectors per few-shot group; max_shots: groups with fewer sentences are few-shot.
        gan: an anchored model trained on base groups of the same encoder (default: train one for
            `steps`, 1500 when None; `steps` beside `gan` is refused).
    """
    from textgan.common.artifacts import atomic_file, output_lock, save_npy
    from textgan.common.paths import output_files
    from textgan.workflow.core import encoder_meta, folder_of, load_encoder, read_corpus

    from textgan.common.args import path as as_path

    from textgan.common.artifacts import check_output_file

    npy, labels_txt = output_files(as_path(out, "out"), (".npy", ".labels.txt"))
    for f in (npy, labels_txt):  # never inside a saved model (its digests break) nor over an input
        check_output_file(f, [p for p in (model, data, gan) if isinstance(p, (str, Path))])
    with output_lock(npy):  # two runs into one OUT would mix their pair of files
        enc = load_encoder(model)
        texts, groups = read_corpus(data, text_col, group_col, blank_groups=True)
        base, few, _ = split_groups(groups, max_shots)
        if not few:
            raise InputError(f"no group has fewer than --max-shots {max_shots} sentences: nothing to augment", data)
        check_per_group(per_group, len(few), int(enc.dim))
        vecs = enc.encode(texts, progress=progress)
        # each group's prototype is its normalised mean, as the generator's were: the margin head's
        # class weights (cosine 0.14 to the means on a 1-epoch FAQ model) put samples off their
        # group (own-group nearest row 46% vs 96.5% around the mean)
        x, labels, report = hallucinate(vecs, groups, per_group, max_shots=max_shots, gan=gan,
                                        steps=steps, seed=seed, progress=progress,
                                        encoder=encoder_meta(enc, folder_of(model)))
        save_npy(npy, x)
        with atomic_file(labels_txt) as fh:
            fh.writelines(f"{g}\n" for g in labels)
        report.update(vectors=str(npy), labels=str(labels_txt), n=len(labels))
        return report
