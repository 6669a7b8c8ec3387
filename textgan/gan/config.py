"""`GANConfig`: one frozen, typed record of everything a GAN run depends on.

Fields left as None take the objective row's published default (penalty, optimiser,
learning rate, critic steps); `resolve()` fills them in and the resolved config is
what gets written to `config.json` beside the weights.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from textgan.errors import InputError
from textgan.gan.nets import Arch, Head
from textgan.gan.objectives import Optimizer, Penalty, make_objective
from textgan.gan.penalties import DEFAULT_WEIGHTS, PENALTIES


def config_from_dict(cls, d: dict):
    """Build a frozen config dataclass from JSON; unknown keys are an InputError."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise InputError(f"unknown {cls.__name__} keys {unknown}; valid: {', '.join(sorted(names))}")
    d = dict(d)
    if d.get("betas") is not None:
        d["betas"] = tuple(d["betas"])
    return cls(**d)


@dataclass(frozen=True)
class GANConfig:
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
    seed: seeds torch, numpy and random; log_every / checkpoint_every: in generator steps.
    """

    objective: str = "wgan-gp"
    steps: int = 2000
    batch_size: int = 256
    n_critic: int | None = None
    lr_g: float | None = None
    lr_d: float | None = None
    optimizer: Optimizer | None = None
    betas: tuple[float, float] | None = None
    penalty: Penalty | None = None
    penalty_weight: float | None = None
    lr_decay: Literal["none", "linear"] = "none"
    noise_dim: int = 16
    width: int = 256
    depth: int = 3
    arch: Arch = "mlp"
    head: Head = "linear"
    spectral_norm: bool = False
    critic_fourier: int = 0
    critic_fourier_scale: float = 1.0
    pack: int = 1
    ema: float = 0.999
    one_loss: bool = False
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 500

    def resolve(self) -> "GANConfig":
        """Fill every None from the objective row; validate ranges (InputError on bad values)."""
        row = make_objective(self.objective)
        pen = self.penalty if self.penalty is not None else row.penalty
        if pen not in PENALTIES:
            raise InputError(f"unknown penalty {pen!r}; valid: {', '.join(PENALTIES)}")
        lr = row.lr
        out = dataclasses.replace(
            self,
            n_critic=self.n_critic if self.n_critic is not None else row.n_critic,
            lr_g=self.lr_g if self.lr_g is not None else lr,
            lr_d=self.lr_d if self.lr_d is not None else lr,
            optimizer=self.optimizer if self.optimizer is not None else row.optimizer,
            betas=tuple(self.betas) if self.betas is not None else row.betas,
            penalty=pen,
            penalty_weight=self.penalty_weight if self.penalty_weight is not None else DEFAULT_WEIGHTS[pen],
        )
        for name in ("steps", "batch_size", "n_critic", "noise_dim", "width", "log_every", "checkpoint_every"):
            if getattr(out, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(out, name)}")
        if out.pack < 1 or out.batch_size % out.pack:
            raise InputError(f"batch_size ({out.batch_size}) must be a multiple of pack ({out.pack})")
        if not 0 <= out.ema < 1:
            raise InputError(f"ema must be in [0, 1), got {out.ema}")
        if out.optimizer not in ("adam", "rmsprop"):
            raise InputError(f"unknown optimizer {out.optimizer!r}; valid: adam, rmsprop")
        return out

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"]) if d["betas"] is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GANConfig":
        return config_from_dict(cls, d)


# Per-data presets: the defaults that work for each kind of data (bench/toy.py tunes "toy").
PRESETS: dict[str, GANConfig] = {
    # toy: tuned on grid-25 / ring-8 (bench/toy.py); LSGAN with a large batch and a linearly decayed
    # lr gave the best precision of the settings tried within 5 CPU minutes (see bench/toy.py)
    "toy": GANConfig(objective="lsgan", steps=8000, batch_size=512, noise_dim=4, width=128, depth=3,
                     lr_g=1e-3, lr_d=1e-3, lr_decay="linear", ema=0.999),
    # a plain 2-layer MLP: the residual 3-block net cost ~4x more per step on a CPU (WGAN-GP:
    # 1.7 s/step on a loaded 2-core machine) for sentence vectors of a few hundred dimensions
    "embeddings": GANConfig(objective="wgan-gp", steps=3000, batch_size=256, noise_dim=64, width=512, depth=2,
                            arch="mlp", head="sphere", ema=0.999),
    "images": GANConfig(objective="gan-ns", steps=3000, batch_size=128, noise_dim=32, width=256, depth=3,
                        head="tanh", penalty="r1", penalty_weight=1.0, ema=0.999),
}
