"""Typed, frozen configs: `KindConfig` (what every model kind's trainer needs) and `GANConfig`.

Each model kind has one config dataclass derived from `KindConfig`; its class names the kind
(see `textgan.gan.registry`). Fields left as None in a `GANConfig` take the objective row's
published default (penalty, optimiser, learning rate, critic steps). Two verbs check a config:
`validate()` raises an InputError for a bad value (kinds extend it with their own checks) and
`resolved()` returns a new config with every default filled in, validated; the resolved config
is what gets written beside the weights.
"""
from __future__ import annotations

import dataclasses
import functools
import numbers
import types
import typing
from dataclasses import dataclass
from typing import Literal

from textgan.common.args import MAX_SEED, finite, plain_fields
from textgan.common.errors import InputError
from textgan.common.memory import check_fits
from textgan.gan.nets import Arch, Head
from textgan.gan.objectives import Optimizer, Penalty, make_objective
from textgan.gan.penalties import DEFAULT_WEIGHTS

# fields that must be >= 1 / > 0 when a config has them (CLI flag = field with "-" for "_")
AT_LEAST_ONE = ("steps", "batch_size", "n_critic", "noise_dim", "width", "depth", "log_every",
                "checkpoint_every", "pack", "embed_dim", "n_langevin", "buffer_size", "code_dim", "imle_pool",
                "latent_dim")
FLOAT32_TINY = 1.4e-45  # the smallest positive float32 (a subnormal): below it a rate is 0 in the optimiser
POSITIVE = ("lr_g", "lr_d", "step_size", "temperature", "mala_step_size", "sample_temperature", "lr_z", "lr_t")
NON_NEGATIVE = ("penalty_weight", "entropy_weight", "energy_l2", "alpha", "corr_weight", "mala_steps",
                "sample_steps", "critic_fourier", "critic_fourier_scale", "rec_x", "rec_z", "input_noise",
                "unsup_weight")
# chain lengths run at every `sample` call: an edited config.json (its own digest is not recorded)
# of 10**12 ran for hours; the defaults are 0-60, papers use at most a few thousand
MAX_CHAIN = {"mala_steps": 100_000, "sample_steps": 100_000, "n_langevin": 100_000}
MAX_STEPS = 10**9  # training steps (a billion steps is years on a CPU), as train-similarity caps --epochs


# the config fields train-gan takes as flags; the others are set with --set NAME=VALUE
CLI_FLAGS = frozenset({"steps", "batch_size", "n_critic", "lr_g", "lr_d", "optimizer", "penalty", "penalty_weight",
                       "lr_decay", "noise_dim", "width", "depth", "arch", "head", "spectral_norm", "ema", "one_loss",
                       "pack", "seed", "checkpoint_every", "objective"})


def flag(name: str) -> str:
    """How a user sets field `name`: its train-gan flag, else `--set name=...`."""
    return "--" + name.replace("_", "-") if name in CLI_FLAGS else f"--set {name}"


@functools.cache
def _field_types(cls) -> dict:
    return typing.get_type_hints(cls)  # the annotations are strings (`from __future__ import annotations`)


def _shown(v) -> str:
    """A value as a message shows it: a 5,000-digit --set value filled the terminal."""
    r = repr(v)
    return r if len(r) <= 80 else f"{r[:60]}... ({len(r)} characters)"


def misfit(value, tp) -> str | None:
    """What `value` must be to fit the annotation `tp` ("one of mlp, resmlp"), None if it fits.

    Without this a `--set head=foo` trained a model no loader could build, and `mala_steps=1.5`
    trained and then crashed `sample` (range(1.5)).
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        ok = any(value == a and type(value) is type(a) for a in args)
        return None if ok else "one of " + ", ".join(map(str, args))
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        whys = [misfit(value, a) for a in args if a is not type(None)]
        return None if None in whys else " or ".join(whys)
    if origin is tuple:
        ok = (isinstance(value, (tuple, list)) and len(value) == len(args)
              and all(misfit(v, a) is None for v, a in zip(value, args)))
        return None if ok else f"a list of {len(args)} numbers like [0.5, 0.999]"
    if tp is bool:
        return None if isinstance(value, bool) else "true or false"
    if tp is int:
        return None if isinstance(value, numbers.Integral) and not isinstance(value, bool) else "a whole number"
    if tp is float:
        return None if isinstance(value, numbers.Real) and not isinstance(value, bool) else "a number"
    if tp is str:
        return None if isinstance(value, str) else "text"
    return None


def config_from_dict(cls, d: dict):
    """Build a frozen config dataclass from JSON; unknown keys are an InputError."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise InputError(f"unknown {cls.__name__} keys {unknown}; valid: {', '.join(sorted(names))}")
    cfg = cls(**d)  # types checked on construction, ranges here: an edited file is refused
    cfg.validate()
    return cfg


@dataclass(frozen=True)
class KindConfig:
    """Args (shared by every kind):
    steps: training updates (generator updates for the GAN kinds); batch_size: rows per update.
    seed: seeds torch, numpy and random; log_every / checkpoint_every: in steps.
    """

    steps: int = 2000
    batch_size: int = 256
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 500

    def __post_init__(self):
        """Every field fits its annotation (type, Literal choices), whoever built the config:
        flags, `--set`, a preset, or a config.json read back (InputError names the flag)."""
        plain_fields(self)  # np.int64(5) from a pandas cell is 5 (JSON cannot save a numpy scalar)
        for name, tp in _field_types(type(self)).items():
            v = getattr(self, name)
            if isinstance(v, list):  # JSON has no tuples; a list in a frozen config would not hash
                object.__setattr__(self, name, v := tuple(v))
            why = misfit(v, tp)
            if why is not None:
                raise InputError(f"{flag(name)} must be {why}, got {_shown(v)}")

    def validate(self) -> None:
        """Range checks on every field this config has; InputError names the CLI flag."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or v is None:
                continue
            if isinstance(v, (int, float)) and not finite(v):  # inf, nan, or an int past float range
                raise InputError(f"{flag(f.name)} must be a finite number, got {v}")
            if f.name in AT_LEAST_ONE and v < 1:
                raise InputError(f"{flag(f.name)} must be >= 1, got {v}")
            if f.name in POSITIVE and v < FLOAT32_TINY:  # 1e-300 is 0 in float32: a generator that never moves
                raise InputError(f"{flag(f.name)} must be > 0{' (as a float32: >= 1.4e-45)' if v > 0 else ''}, got {v}")
            if f.name in NON_NEGATIVE and v < 0:
                raise InputError(f"{flag(f.name)} must be >= 0, got {v}")
            if f.name in ("steps", "n_critic") and v > MAX_STEPS:  # 10**20 ran until killed
                raise InputError(f"{flag(f.name)} must be at most {MAX_STEPS:,}, got {v:,}")
            if f.name in MAX_CHAIN and v > MAX_CHAIN[f.name]:
                raise InputError(f"{flag(f.name)} must be at most {MAX_CHAIN[f.name]:,} (a chain this long runs for "
                                 f"hours), got {v:,}")
        if not 0 <= self.seed <= MAX_SEED:  # larger seeds wrap in torch's and numpy's generators
            raise InputError(f"--seed must be in [0, 2**32 - 1], got {self.seed}")
        if hasattr(self, "ema") and not 0 <= self.ema < 1:
            raise InputError(f"--ema must be in [0, 1), got {self.ema}")
        if getattr(self, "betas", None) is not None and not all(0 <= b < 1 for b in self.betas):
            raise InputError(f"{flag('betas')} must be in [0, 1), got {self.betas}")

    def resolved(self):
        """The config with every default filled in, validated (kinds without defaults to fill:
        the config itself)."""
        self.validate()
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d.get("betas") is not None:
            d["betas"] = list(d["betas"])
        return d

    @classmethod
    def from_dict(cls, d: dict):
        return config_from_dict(cls, d)


@dataclass(frozen=True)
class NetConfig(KindConfig):
    """KindConfig + the MLP networks (`textgan.gan.nets`): width, depth, arch, spectral_norm
    (on the critic / energy net) and the generator's output head (linear, sphere or tanh)."""

    width: int = 256
    depth: int = 3
    arch: Arch = "mlp"
    head: Head = "linear"
    spectral_norm: bool = False


@dataclass(frozen=True)
class GeneratorConfig(NetConfig):
    """NetConfig + a generator: noise_dim, and ema (decay of its moving average, 0: off)."""

    noise_dim: int = 16
    ema: float = 0.999


@dataclass(frozen=True)
class SentenceNetsConfig(KindConfig):
    """KindConfig + a generator and a critic with their Adam settings, defaulting to what suits
    unit sentence vectors (sphere head, two layers); the sentence-vector kinds (BEGAN, BiGAN-QP)
    share these fields."""

    noise_dim: int = 32
    width: int = 256
    depth: int = 2
    head: Head = "sphere"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    ema: float = 0.999


@dataclass(frozen=True)
class GANConfig(GeneratorConfig):
    """Args:
    objective: row of `OBJECTIVES` (`textgan objectives` lists them).
    steps: generator updates; batch_size: samples per player per update.
    n_critic: critic updates per generator update (None: row default).
    lr_g, lr_d: generator / critic learning rates (TTUR when they differ; None: row default).
    optimizer, betas: Adam or RMSProp (None: row default); betas only for Adam.
    penalty, penalty_weight: critic regulariser from `PENALTIES` and its weight (None: row default).
    lr_decay: `linear` decays both learning rates to 0 over `steps` (sharper samples late).
    noise_dim, width, depth, arch, head, spectral_norm: networks (spectral norm on the critic).
    critic_fourier, critic_fourier_scale: random Fourier input features of the critic (0: off).
    pack: PacGAN packing, the critic scores `pack` samples jointly (batch_size must be a multiple).
    ema: decay of the generator's exponential moving average (0: off); sampling uses it.
    one_loss: synchronous single-backward update (Su 2019) instead of alternating steps.
    """

    objective: str = "wgan-gp"
    n_critic: int | None = None
    lr_g: float | None = None
    lr_d: float | None = None
    optimizer: Optimizer | None = None
    betas: tuple[float, float] | None = None
    penalty: Penalty | None = None
    penalty_weight: float | None = None
    lr_decay: Literal["none", "linear"] = "none"
    critic_fourier: int = 0
    critic_fourier_scale: float = 1.0
    pack: int = 1
    one_loss: bool = False

    def resolved(self) -> "GANConfig":
        """Every None filled from the objective row, validated (InputError on bad values)."""
        row = make_objective(self.objective)
        pen = self.penalty if self.penalty is not None else row.penalty
        out = dataclasses.replace(
            self,
            n_critic=self.n_critic if self.n_critic is not None else row.n_critic,
            lr_g=self.lr_g if self.lr_g is not None else row.lr,
            lr_d=self.lr_d if self.lr_d is not None else row.lr,
            optimizer=self.optimizer if self.optimizer is not None else row.optimizer,
            betas=tuple(self.betas) if self.betas is not None else row.betas,
            penalty=pen,
            penalty_weight=self.penalty_weight if self.penalty_weight is not None else DEFAULT_WEIGHTS.get(pen),
        )
        out.validate()
        return out

    def validate(self) -> None:
        """KindConfig's range checks plus the packing (the choices are checked on construction)."""
        super().validate()
        if self.batch_size % self.pack:
            raise InputError(f"--batch-size ({self.batch_size}) must be a multiple of --pack ({self.pack})")


def training_bytes(cfg: KindConfig, dim: int) -> dict[str, int]:
    """A rough lower bound on what training `cfg` on `dim`-d rows allocates, by cause (bytes).

    Read from whichever of the shared field names a kind has, so every kind is covered: two
    MLPs (generator and critic, or a flow's layers), each weight with its gradient and two Adam
    moments; a batch of activations (GLANN maps `imle_pool` noise draws per code); the EBM's
    replay buffer. Real runs need more, so only sizes that cannot fit are refused.
    """
    w, d = getattr(cfg, "width", 0), max(getattr(cfg, "depth", 1), 1)
    nz = sum(getattr(cfg, f, 0) for f in INPUT_SIZES)
    nets = 2 * max(getattr(cfg, "n_layers", 1), 1)
    rows = cfg.batch_size * max(getattr(cfg, "imle_pool", 1), 1) * max(getattr(cfg, "anchor_shots", 1), 1)
    return {"weights": 4 * 4 * nets * ((nz + dim) * w + (d - 1) * w * w + w * dim),
            "activations": 4 * rows * (nz + dim + d * w),
            "buffer": 4 * getattr(cfg, "buffer_size", 0) * dim}


# the input sizes of a kind's networks (noise, latent, embedding, Fourier features, code)
INPUT_SIZES = ("noise_dim", "latent_dim", "embed_dim", "critic_fourier", "code_dim")
# each part of `training_bytes`: what it is and the fields that size it
PARTS = {"weights": ("network weights", ("width", "depth", "n_layers") + INPUT_SIZES),
         "activations": ("activations", ("batch_size", "imle_pool", "anchor_shots")),
         "buffer": ("replay buffer", ("buffer_size",))}


def _named(cfg: KindConfig, fields: tuple[str, ...]) -> str:
    """The flags of `fields` that `cfg` sets above 0, the largest value first: what to lower."""
    have = sorted((f for f in fields if isinstance(getattr(cfg, f, None), int) and getattr(cfg, f) > 0),
                  key=lambda f: -getattr(cfg, f))
    return "/".join(flag(f) for f in have[:3]) or "the sizes"


def check_training_memory(cfg: KindConfig, dim: int) -> None:
    """Refuse, before anything is allocated, a config whose training cannot fit in memory."""
    parts = training_bytes(cfg, dim)
    what, fields = PARTS[max(parts, key=parts.get)]
    check_fits(sum(parts.values()), f"training on {dim}-d vectors (mostly {_named(cfg, fields)}: {what})",
               "choose smaller settings")


def carry_over(cls, src: KindConfig, **overrides):
    """A `cls` config taking every field of `src` that `cls` also has (None fields skipped).

    Presets are GANConfigs; this turns one into another kind's config (MEG, EBM, ...).
    """
    names = {f.name for f in dataclasses.fields(cls)}
    kw = {f.name: getattr(src, f.name) for f in dataclasses.fields(src)
          if f.name in names and getattr(src, f.name) is not None}
    return cls(**{**kw, **overrides})


# Per-data presets: the defaults that work for each kind of data (bench/toy.py tunes "toy").
PRESETS: dict[str, GANConfig] = {
    # toy: tuned on grid-25 / ring-8 (bench/toy.py); LSGAN with a large batch and a linearly decayed
    # lr gave the best precision of the settings tried (see bench/toy.py)
    "toy": GANConfig(objective="lsgan", steps=8000, batch_size=512, noise_dim=4, width=128, depth=3,
                     lr_g=1e-3, lr_d=1e-3, lr_decay="linear", ema=0.999),
    # a plain 2-layer MLP: the residual 3-block net costs several times more per step on a CPU
    # for sentence vectors of a few hundred dimensions
    "embeddings": GANConfig(objective="wgan-gp", steps=3000, batch_size=256, noise_dim=64, width=512, depth=2,
                            arch="mlp", head="sphere", ema=0.999),
    "images": GANConfig(objective="gan-ns", steps=3000, batch_size=128, noise_dim=32, width=256, depth=3,
                        head="tanh", penalty="r1", penalty_weight=1.0, ema=0.999),
}
