"""A trained model of any kind as a folder, and the protocol every loaded model follows.

Folder: `config.json` (format, kind, resolved config, shape, steps done, meta, library
versions, sha256 of every other file) + the kind's safetensors weights (+ `labels.json` for
the label-conditioned kinds). `config.json` names the kind, so `registry.load(folder)`
dispatches on it, like sentence-transformers' `modules.json`.

Every loaded model has `kind`, `dim`, `shape`, `meta`, `config` and
`sample(n, seed=None, group=None)`; kinds with a scorer also have `score(vectors)` (higher =
more like the training data) and `score_name` ("critic" or "energy").
"""
from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import torch
from torch import nn

from textgan.common.artifacts import (check_self_digest, file_sha256, folder_digests, library_versions, load_json,
                                      load_tensors, save_json, sealed, verify_digests)
from textgan.common.args import seed as check_seed, whole
from textgan.common.errors import InputError
from textgan.common.memory import check_fits

FORMAT = "textgan-gan/2"
# same files, no digests or versions; `kind` absent means "gan"; loads only with TEXTGAN_LOAD_UNCHECKED=1
# (UNCHECKED_ENV: nothing would vouch for its files; tests/test_kinds.py)
LEGACY_FORMATS = ("textgan-gan/1",)
CONFIG = "config.json"
# the JSON files of a model besides config.json: group names, the K+1 model's rejection threshold
MODEL_JSON = ("labels.json", "rejection.json")
# a 0.1 folder has no digests: loading one unchecked is the user's choice, never the folder's
UNCHECKED_ENV = "TEXTGAN_LOAD_UNCHECKED"


def model_files(out: Path) -> list[str]:
    """The files of a model folder that loaders read, and so that its digests cover: the weights and
    MODEL_JSON (not the run's metrics, plots or checkpoint)."""
    return sorted(p.name for p in Path(out).iterdir()
                  if p.is_file() and (p.suffix == ".safetensors" or p.name in MODEL_JSON))


def write_model_config(out: Path, kind: str, config, shape, steps_done: int, meta: dict | None,
                       extra: dict | None = None) -> None:
    """Write `config.json` last, with digests of the weight files already in `out`.

    Only the model's own files are hashed (not the run's metrics, plots or checkpoint).
    """
    names = model_files(out)
    digests = {k: v for k, v in folder_digests(out).items() if k in names}
    save_json(sealed({"format": FORMAT, "kind": kind, "config": config.to_dict(), "shape": list(shape),
                      "dim": math.prod(shape), "steps_done": int(steps_done), "meta": meta or {},
                      **(extra or {}), "versions": library_versions(), "files": digests}), out / CONFIG)


def read_model_config(path: str | Path) -> dict:
    """The checked `config.json` of a model folder (digests verified); `kind` always set."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("not a folder (expected a trained model folder)", path)
    from textgan.common.folders import wrong_kind

    problem = wrong_kind(path, "a generator / scorer folder (train-gan, train-outlier, train-kplus1)")
    if problem and not (path / CONFIG).is_file():
        raise InputError(problem, path)
    info = load_json(path / CONFIG)
    fmt = str(info.get("format", "")) if isinstance(info, dict) else ""
    for prefix, what in (("textgan-outlier/", "train-outlier"), ("textgan-opengan/", "train-outlier --source opengan")):
        if fmt.startswith(prefix):  # a scorer of sentences' vectors, read by `score --gan`, not a generator
            raise InputError(f"this is an outlier scorer folder ({what}): `score --gan` reads it; it generates "
                             "nothing", path)
    if not isinstance(info, dict) or info.get("format") not in (FORMAT, *LEGACY_FORMATS):
        raise InputError(problem or "not a textgan model folder (config.json has no textgan-gan format)", path)
    for key in ("config", "shape"):
        if key not in info:
            raise InputError(f"config.json has no {key!r}", path / CONFIG)
    if info["format"] in LEGACY_FORMATS and "files" not in info:
        if os.environ.get(UNCHECKED_ENV) != "1":
            raise InputError(f"saved by textgan 0.1, without checksums: its files cannot be checked; retrain it, "
                             f"or set {UNCHECKED_ENV}=1 to load it unchecked", path / CONFIG)
    else:
        verify_digests(path, info.get("files"), path / CONFIG, cover=model_files(path))
    info.setdefault("kind", "gan")
    _check_fields(info, path / CONFIG)
    from textgan.common.vectors import check_artefact_meta

    info["meta"] = check_artefact_meta(info.get("meta", {}), path / CONFIG)
    return info


def _count(v, least: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def _check_fields(info: dict, where: Path) -> None:
    """The top-level fields of config.json have the types `write_model_config` writes (config.json
    carries the other files' digests, not its own: an edited field must be named, not a traceback)."""
    shape = info["shape"]
    if not (isinstance(shape, list) and shape and all(_count(d, 1) for d in shape)):
        raise InputError(f"field 'shape' is {str(shape)[:40]!r}: expected a list of sizes >= 1", where)
    checks = {"kind": (lambda v: isinstance(v, str) and v, "expected a kind name"),
              "config": (lambda v: isinstance(v, dict), "expected an object"),
              "dim": (lambda v: v == math.prod(shape) and _count(v, 1), f"expected {math.prod(shape)}, the product "
                      "of 'shape'"),
              "steps_done": (_count, "expected an integer >= 0")}
    for key, (ok, want) in checks.items():
        if key in info and not ok(info[key]):
            raise InputError(f"field {key!r} is {str(info[key])[:40]!r}: {want}", where)


def stored_shapes(file: Path) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of a safetensors file, read from its header (nothing loaded)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), "pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"corrupt safetensors file ({str(exc).splitlines()[0][:200] if str(exc) else exc})",
                         file) from None


def stored_values(path: Path) -> int:
    """How many values the folder's weight files hold, read from their headers (nothing loaded)."""
    return sum(math.prod(shape) for name in model_files(path) if name.endswith(".safetensors")
               for shape in stored_shapes(path / name).values())


def load_sized(build, file: Path, layers: int = 1) -> nn.Module:
    """`build()`, a network sized by a config.json that its own digest does not cover, loaded with
    the weights of `file` once its shapes are those the file holds: checked on torch's meta device
    (nothing allocated), since an edited width or dim allocated gigabytes, or ran out of memory,
    before the mismatch showed. `layers`: how many the config asks for, at most one per tensor."""
    stored = stored_shapes(file)
    if layers > len(stored):
        raise InputError(f"config.json asks for {layers:,} layers, but the weights hold {len(stored)} tensors: "
                         "config.json was edited or belongs to another model", file)
    with torch.device("meta"):
        wanted = {k: tuple(v.shape) for k, v in build().state_dict().items()}
    if set(wanted) != set(stored):
        raise InputError(f"weights do not match config.json (it describes tensors {', '.join(sorted(wanted)[:3])}; "
                         f"the file holds {', '.join(sorted(stored)[:3])})", file)
    if odd := [k for k in wanted if wanted[k] != stored[k]]:
        raise InputError(f"weights do not match config.json ({odd[0]}: {wanted[odd[0]]} described, "
                         f"{stored[odd[0]]} held)", file)
    return load_weights(build(), file)


def check_sizes_against_weights(path: Path, info: dict) -> None:
    """Refuse, before any network is built, a config.json whose sizes describe networks far larger
    than the weight files hold: config.json carries the other files' digests, not its own, so an
    edited `depth` of 20000 built 15 GB of modules before the weights were found not to match."""
    from types import SimpleNamespace

    from textgan.gan.config import training_bytes

    cfg = info.get("config")
    try:
        ns = SimpleNamespace(**{"batch_size": 1, **cfg})
        parts = training_bytes(ns, int(info.get("dim") or math.prod(info["shape"])))
        layers = max(int(getattr(ns, "n_layers", 1)), 1)
        per_net = parts["weights"] // (16 * 2 * layers)
    except (TypeError, ValueError, KeyError, OverflowError):
        return  # not numbers: the kind's own config check names the field
    held = stored_values(path)
    if per_net * layers > 4 * held + 1_000_000:  # a flow's generator file holds all its n_layers couplings
        raise InputError(f"its sizes (width, depth, ...) describe networks of about {per_net * layers:,} values, "
                         f"but the weight files hold {held:,} in all: config.json was edited or belongs to another "
                         "model",
                         path / CONFIG)


def record_model_file(path: Path, name: str) -> None:
    """Add the digest of a file written into a finished model folder (the K+1 rejection threshold,
    fitted on the trained model) to its config.json."""
    info = load_json(path / CONFIG)
    check_self_digest(info, path / CONFIG)
    info["files"] = {**info["files"], name: file_sha256(path / name)}
    save_json(sealed(info), path / CONFIG)


def read_label_names(path: Path, n: int | None, other: str = "config.json") -> list[str]:
    """`labels.json` of a labelled kind: `n` distinct group names (None: any number of them). A
    name given twice made sampling by name take the first row's group, without a word."""
    names = load_json(path / "labels.json")
    if not isinstance(names, list) or not names or (n is not None and len(names) != n) \
            or not all(isinstance(x, str) for x in names):
        raise InputError(f"labels.json does not match {other}", path)
    if len(set(names)) < len(names):
        twice = next(x for i, x in enumerate(names) if x in names[:i])
        raise InputError(f"names group {twice!r:.60} twice", path / "labels.json")
    return names


def load_weights(net: nn.Module, file: Path) -> nn.Module:
    """Weights from safetensors into `net` (eval mode); a mismatch is an InputError naming the file."""
    try:
        net.load_state_dict(load_tensors(file, floats=True))
    except RuntimeError as exc:
        raise InputError(f"weights do not match config.json ({str(exc).splitlines()[0][:200]})", file) from None
    return net.eval()


EMA_FILE = "generator_ema.safetensors"


def pick_generator(path: Path, ema: bool) -> Path:
    """The EMA generator file when present and wanted, else the raw one."""
    f = path / EMA_FILE
    return f if ema and f.is_file() else path / "generator.safetensors"


SAMPLE_COPIES = 8  # peak bytes of sampling / bytes of the output, measured 6.5 for a flow, with a margin


def check_sample_count(n, dim: int) -> int:
    """n must be a whole number >= 1 whose sampling fits in half the free memory: the (n, dim) float32
    output, its numpy copy and the network's activations for the whole batch (a flow peaked at about
    6.5 KB a 256-d sample, 6.5 copies; counting the output alone let --n 5,000,000 past the check
    into the kernel's OOM killer)."""
    n = whole(n, "--n")
    need = int(n) * int(dim) * 4 * SAMPLE_COPIES
    check_fits(need, f"--n {n}", f"{dim}-d float32 vectors; sample in smaller parts")
    return int(n)


def rng(seed: int | None) -> torch.Generator:
    """A private RNG (the global one is never touched by sampling); None: a fresh seed."""
    seed = check_seed(seed)
    return torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**63))


def as_input(x, dim: int) -> torch.Tensor:
    """Vectors to score: (n, dim) finite float32 tensor, else InputError."""
    from textgan.common.vectors import as_matrix

    return torch.from_numpy(as_matrix(x, "vectors", dim=dim))


def _checked_sample(fn):
    @functools.wraps(fn)
    def sample(self, n, seed=None, group=None, **options):
        n = check_sample_count(n, self.dim)
        return fn(self, n, seed=check_seed(seed), group=group, **options)
    return sample


def _plain_score(fn):
    """Scores without the autograd graph (it held about 120 KB per scored vector) or its grad flag."""
    @functools.wraps(fn)
    def score(self, *args, **kwargs):
        with torch.no_grad():
            return fn(self, *args, **kwargs).detach()
    return score


class SavedModel:
    """Base of every loaded kind: the protocol fields and the unconditional `group` check."""

    kind: str = ""
    score_name: str | None = None  # "critic" / "energy" for kinds with a scorer
    config = None
    shape: tuple[int, ...] = ()
    meta: dict = {}

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    @property
    def groups(self) -> list[str] | None:
        return None

    def _check_group(self, group) -> None:
        if group is not None and getattr(self, "group_names", None):  # learnt from labels, samples between groups
            raise InputError(f"kind {self.kind!r} samples between the groups it learnt, never one group; drop "
                             f"--group, or train --kind conditional to sample a group", "--group")
        if group is not None:
            raise InputError(f"this model is unconditional (kind {self.kind!r}); sampling a group needs a "
                             f"model trained with group labels (--kind conditional)", "--group")

    def sample(self, n: int, seed: int | None = None, group: str | None = None) -> torch.Tensor:
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs):
        """Every kind's `sample` checks its count (whole, >= 1, fits in memory) and seed first: the
        loaded model is public API (`textgan.load_generator(...).sample(n)`), not only the CLI."""
        super().__init_subclass__(**kwargs)
        if "sample" in cls.__dict__:
            cls.sample = _checked_sample(cls.__dict__["sample"])
        if "score" in cls.__dict__:
            cls.score = _plain_score(cls.__dict__["score"])

    def score(self, vectors) -> torch.Tensor:
        raise InputError(f"a {self.kind!r} model has no scorer")

    @torch.no_grad()
    def _unpacked_critic(self) -> None:
        """Refuse to score single vectors with a PacGAN critic (it gives one score per pack of M)."""
        pack = getattr(self.config, "pack", 1)
        if pack > 1:
            raise InputError(f"this model's critic was trained with --pack {pack}: it scores packs of {pack} "
                             f"samples, not single vectors; train with --pack 1 to score vectors")

    def _batched(self, fn, vectors, batch: int = 8192) -> torch.Tensor:
        x = as_input(vectors, self.dim)
        return torch.cat([fn(c) for c in x.split(batch)]) if len(x) else x.new_zeros(0)
