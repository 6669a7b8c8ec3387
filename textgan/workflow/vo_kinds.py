"""Generators of the kinds registry as virtual-outlier sources of `train-similarity`
(`--virtual-outliers flow|boundary|anchored`) and of rare groups' synthetic rows (`--tail-synth
anchored`): `similarity` may not import `textgan.gan`, so the workflow builds the sampler and
injects it (`similarity.outliers.KindSampler`).

Each epoch of the loss the generator is refitted on the queued sentence vectors (a few hundred
steps; it lives in a temporary folder) and then sampled every step:
  flow      RealNVP: `candidates` draws per requested outlier, the least likely kept (VOS's
            selection with a density model instead of class Gaussians);
  boundary  a boundary GAN (Lee et al., ICLR 2018): its samples are pushed toward the low-density
            rim of the data by construction;
  anchored  the class-anchored GAN (`textgan.gan.anchored`) sampled around the row's own group with
            its residual widened, n(p + T (g(z, p) - p)), T = `temperature`, and of `candidates`
            draws the one least like its prototype kept: the group's learned spread, pushed past
            its edge (the issue's "raised temperature / widened residual").
"""
from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from textgan.common.errors import InputError

KIND_SOURCES = ("flow", "boundary", "anchored")


@dataclass
class KindSampler:
    """Refit-and-sample adapter of one kind; `steps` per refit, `candidates` per outlier (flow)."""

    kind: str
    steps: int = 300
    candidates: int = 8
    temperature: float = 2.0  # anchored: residual widening
    model: object = None

    def fit(self, vectors: np.ndarray, labels: np.ndarray, seed: int) -> None:
        from textgan.gan import load, train_by_name

        # a batch never larger than the queues (few groups fill few rows)
        common = dict(steps=self.steps, seed=int(seed), log_every=10**9, checkpoint_every=10**9,
                      batch_size=min(256, len(vectors)))
        with tempfile.TemporaryDirectory(prefix="textgan-vo-") as tmp:
            if self.kind == "flow":
                with warnings.catch_warnings():  # its advice is for a flow folder served by `score`, not this one
                    warnings.filterwarnings("ignore", message=r"holdout \S+ keeps no row out of training")
                    train_by_name("flow", vectors, f"{tmp}/m", holdout=0.0, width=128, **common)
            else:
                train_by_name(self.kind, vectors, f"{tmp}/m", groups=[str(g) for g in labels.tolist()],
                              width=128, **common)
            self.model = load(f"{tmp}/m")

    def sample(self, labels: np.ndarray, seed: int) -> np.ndarray:
        n = len(labels)
        if self.kind == "anchored":
            return self._widened(labels, seed)
        if self.kind != "flow":
            return self.model.sample(n, seed=seed).numpy()
        cand = self.model.sample(n * self.candidates, seed=seed)  # (n K, D)
        logp = self.model.log_prob(cand).reshape(n, self.candidates)
        pick = logp.argmin(1)  # the least likely of each row's K draws
        return cand.reshape(n, self.candidates, -1)[torch.arange(n), pick].numpy()

    def _widened(self, labels: np.ndarray, seed: int) -> np.ndarray:
        """Widened anchored draws for the rows whose group the last refit saw (others: none)."""
        known = {g: i for i, g in enumerate(self.model.groups)}
        rows = [known[str(g)] for g in labels.tolist() if str(g) in known]
        if not rows:
            return np.zeros((0, self.model.prototypes.shape[1]), np.float32)
        return _rows_widened(self.model, self.model.prototypes[rows], self.temperature, self.candidates,
                             seed).numpy()


def tail_sampler(source: str) -> KindSampler | None:
    """The injected sampler of a `--tail-synth` row that needs one (`anchored`: plain draws around
    the tail group's prototype, no widening), else None."""
    from similarity.tail_synth import SYNTH

    row = SYNTH.get(source)
    if row is None or not row.injected:
        return None
    return KindSampler(source, temperature=1.0, candidates=1)


def kind_sampler(source: str) -> KindSampler | None:
    """The injected sampler of a `--virtual-outliers` row that needs one, else None."""
    from similarity.outliers import SOURCES

    row = SOURCES.get(source)
    if row is None or not row.injected:
        return None
    if source not in KIND_SOURCES:
        raise InputError(f"--virtual-outliers {source}: no generator adapter; valid: {', '.join(KIND_SOURCES)}")
    return KindSampler(source)


def _rows_widened(model, protos: torch.Tensor, temperature: float, candidates: int, seed: int) -> torch.Tensor:
    """(n, D): per prototype row, `candidates` widened draws of `model` and the least similar kept."""
    n, k = len(protos), candidates
    p = torch.nn.functional.normalize(protos, dim=1).repeat_interleave(k, 0)  # (n k, D)
    z = torch.randn(n * k, model.config.noise_dim, generator=torch.Generator().manual_seed(int(seed)))
    with torch.no_grad():
        x = model.net(z, p)
    wide = torch.nn.functional.normalize(p + temperature * (x - p), dim=1)
    far = (wide * p).sum(1).reshape(n, k).argmin(1)  # the draw least like its prototype
    return wide.reshape(n, k, -1)[torch.arange(n), far]
