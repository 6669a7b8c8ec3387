"""Outlier classifier: in-domain vectors vs generated pseudo-outliers (outlier exposure without
real outliers).

A small MLP is trained with the corpus vectors as positives and pseudo-outliers from one
source as negatives. With group labels it is a (K+1)-way classifier (the K groups + "outlier",
as in Zhan et al., ACL 2021) and the score is the log-odds of being in domain,
    score(x) = logsumexp_k l_k(x) - l_out(x);
without labels it is a binary classifier and the score is its logit.

Sources of pseudo-outliers (one table, `SOURCES`):
  boundary     samples of a boundary GAN (kind "boundary": low density, close to the data;
               Lee et al., ICLR 2018);
  conditional  a class-conditional generator fed a mixture of two groups' label embeddings
               (between classes);
  mixup        convex mixtures of two vectors of different groups (Zhan et al., ACL 2021), the
               non-GAN baseline; theta ~ U(0.25, 0.75) keeps them away from either endpoint;
  sphere       uniform noise on the sphere (the naive baseline).
Unit-vector data get samples projected onto the unit sphere. A share `holdout` of the
corpus never trains the classifier: its scores are saved as the in-domain calibration of
thresholds. Saved: `config.json` (format, source and the generator folder it used, encoder
meta, digests) + `classifier.safetensors` + `held_out.safetensors`; no pickle.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from textgan.common.args import MAX_COUNT, whole
from textgan.common.errors import InputError
from textgan.common.vectors import as_matrix
from textgan.ood.folder import read_held_out, read_scorer, save_scorer

FORMAT = "textgan-outlier/1"
WEIGHTS = "classifier.safetensors"
Source = Literal["boundary", "conditional", "mixup", "sphere"]


@dataclass(frozen=True)
class OutlierConfig:
    """Args: source: a row of `SOURCES`; head: "cosine" (logits = scale x max cosine to learned
    prototypes, `prototypes` per group, initialised on the group's rows; outlier logit = a learned
    bias: evidence for a group falls off with the distance to it) or "mlp" (width, depth: a free
    MLP, whose scores far from both the data and the pseudo-outliers are arbitrary);
    steps, batch_size (positives and as many negatives per step), lr: training; pool: pseudo-outliers drawn once (0: 2x the rows);
    holdout: share of rows kept for calibration; seed."""

    source: Source = "mixup"
    head: Literal["cosine", "mlp"] = "cosine"
    prototypes: int = 4
    steps: int = 1500
    batch_size: int = 256
    width: int = 256
    depth: int = 2
    lr: float = 1e-3
    pool: int = 0
    holdout: float = 0.1
    seed: int = 0

    def validate(self) -> None:
        if self.head not in ("cosine", "mlp"):
            raise InputError(f"unknown outlier classifier head {self.head!r}; valid: cosine, mlp")
        if self.source not in SOURCES:
            raise InputError(f"unknown outlier source {self.source!r}; valid: {', '.join(SOURCES)}")
        for name in ("steps", "batch_size", "width", "depth", "prototypes"):  # "256" from a config.json too
            whole(getattr(self, name), f"--{name.replace('_', '-')}", maximum=MAX_COUNT if name == "steps" else None)
        if not self.lr > 0 or self.pool < 0 or not 0 <= self.holdout < 1:
            raise InputError(f"need lr > 0, pool >= 0 and holdout in [0, 1); got {self.lr}, {self.pool}, "
                             f"{self.holdout}")


# --- sources of pseudo-outliers: (x (N, D), group ids (N,) | None, generator | None, n, rng) -> (n, D)

def _pairs_of_groups(ids: np.ndarray | None, n_rows: int, n: int, rng: np.random.Generator):
    """n pairs of row ids (i, j) whose groups differ (any pairs without groups)."""
    i, j = rng.integers(n_rows, size=n), rng.integers(n_rows, size=n)
    if ids is not None and len(np.unique(ids)) > 1:
        same = ids[i] == ids[j]
        while same.any():
            j[same] = rng.integers(n_rows, size=int(same.sum()))
            same = ids[i] == ids[j]
    return i, j


def mixup_outliers(x, ids, model, n, rng):
    i, j = _pairs_of_groups(ids, len(x), n, rng)
    theta = rng.uniform(0.25, 0.75, size=(n, 1)).astype(np.float32)
    return theta * x[i] + (1 - theta) * x[j]


def sphere_outliers(x, ids, model, n, rng):
    g = rng.standard_normal((n, x.shape[1])).astype(np.float32)
    return g / np.linalg.norm(g, axis=1, keepdims=True) * float(np.linalg.norm(x, axis=1).mean())


def boundary_outliers(x, ids, model, n, rng):
    return model.sample(n, seed=int(rng.integers(2**31))).numpy()


def conditional_outliers(x, ids, model, n, rng):
    """G(z, theta e_a + (1 - theta) e_b) for two different groups a, b of a conditional model."""
    return model.sample_between(n, seed=int(rng.integers(2**31)), theta=(0.25, 0.75)).numpy()


# name -> (function, kind of generator model it needs or None, uses a generator: "generative")
SOURCES: dict[str, tuple[Callable, str | None, bool]] = {
    "boundary": (boundary_outliers, "boundary", True),
    "conditional": (conditional_outliers, "conditional", True),
    "mixup": (mixup_outliers, None, False),
    "sphere": (sphere_outliers, None, False),
}


def check_generator(source: str, generator) -> None:
    """A GAN source needs a loaded model of its kind (`SOURCES`); the others need none."""
    needs = SOURCES[source][1]
    if needs is None and generator is not None:  # silently unused, the user would think it was
        raise InputError(f"outlier source {source!r} uses no generator: drop --generator, or pick a source "
                         f"that samples one ({', '.join(k for k, v in SOURCES.items() if v[1])})")
    if needs is not None and (generator is None or generator.kind != needs):
        raise InputError(f"outlier source {source!r} needs a trained {needs!r} model (--generator)"
                         + ("" if generator is None else f", got a {generator.kind!r} model"))


def pseudo_outliers(source: str, x: np.ndarray, ids: np.ndarray | None, n: int, seed: int = 0,
                    generator=None) -> np.ndarray:
    """n pseudo-outliers (n, D) of `source` for the rows x (N, D); on the unit sphere when x is."""
    check_generator(source, generator)
    out = np.asarray(SOURCES[source][0](x, ids, generator, n, np.random.default_rng(seed)), dtype=np.float32)
    if np.allclose(np.linalg.norm(x[:256], axis=1), 1.0, atol=1e-3):
        out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


# --- the classifier ---------------------------------------------------------------------------

class CosineHead(nn.Module):
    """x (B, D) -> logits (B, K+1): s * max_m cos(x, w_{k,m}) for the K groups, then a learned
    outlier logit b (K = 1 without groups: the corpus is one group)."""

    def __init__(self, dim: int, k: int, per_group: int):
        super().__init__()
        self.k, self.m = k, per_group
        self.w = nn.Parameter(torch.randn(k * per_group, dim))  # (K*M, D), group-major
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.bias = nn.Parameter(torch.tensor(5.0))

    @torch.no_grad()
    def init_from(self, x: torch.Tensor, ids: torch.Tensor | None) -> None:
        """Each group's prototypes start at random rows of that group (random directions for a
        group with no training row: its one sentence may be in the held-out split)."""
        ids = torch.zeros(len(x), dtype=torch.long) if ids is None else ids
        for c in range(self.k):
            rows = x[ids == c]
            pick = rows[torch.randint(len(rows), (self.m,))] if len(rows) else torch.randn(self.m, x.shape[1])
            self.w[c * self.m:(c + 1) * self.m] = pick

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cos = F.normalize(x, dim=1) @ F.normalize(self.w, dim=1).T  # (B, K*M)
        per_group = cos.view(len(x), self.k, self.m).max(2).values  # (B, K)
        out = self.bias.expand(len(x), 1)
        return torch.cat([self.log_scale.exp() * per_group, out], 1)


def _net(dim: int, k: int, cfg: OutlierConfig) -> nn.Module:
    """The classifier for k groups (0: none): (B, D) -> (B, k+1) logits, or (B, 1) for a binary MLP."""
    from textgan.gan.nets import trunk

    if cfg.head == "cosine":
        return CosineHead(dim, max(k, 1), cfg.prototypes)
    return trunk(dim, k + 1 if k else 1, cfg.width, cfg.depth, "mlp", nn.ReLU, False)


def _log_odds(logits: torch.Tensor) -> torch.Tensor:
    """In-domain log-odds (B,): logsumexp of the K group logits minus the outlier logit (last)."""
    if logits.shape[1] == 1:
        return logits[:, 0]
    return torch.logsumexp(logits[:, :-1], dim=1) - logits[:, -1]


class OutlierClassifier:
    """A trained outlier classifier: `score(vectors)` (n,) = in-domain log-odds; `held_out_scores`."""

    score_name = "outlier"
    kind = "outlier"

    def __init__(self, net: nn.Module, config: OutlierConfig, dim: int, groups: list[str] | None, meta: dict,
                 source: dict, held_out: np.ndarray | None):
        self.net, self.config, self.dim, self.groups, self.meta = net.eval(), config, dim, groups, meta
        self.source, self.held_out_scores = source, held_out
        self.held_out_rows: np.ndarray | None = None  # their row ids in the training vectors

    @torch.no_grad()
    def score(self, vectors) -> torch.Tensor:
        x = torch.from_numpy(as_matrix(vectors, "vectors", dim=self.dim))
        return torch.cat([_log_odds(self.net(c)) for c in x.split(8192)]) if len(x) else x.new_zeros(0)

    def save(self, out: str | Path) -> Path:
        return save_scorer(out, WEIGHTS, self.net.state_dict(),
                           {"format": FORMAT, "kind": "outlier", "config": dataclasses.asdict(self.config),
                            "dim": self.dim, "groups": self.groups, "source": self.source, "meta": self.meta},
                           self.held_out_scores, self.held_out_rows)

    @classmethod
    def load(cls, path: str | Path) -> "OutlierClassifier":
        path = Path(path)
        info = read_scorer(path, FORMAT, "an outlier classifier")
        try:
            cfg = OutlierConfig(**info["config"])
            cfg.validate()
            groups, dim = info["groups"], whole(info["dim"], "dim")  # int("256") read a string as a width
            if groups is not None and not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)):
                raise TypeError(f"groups must be a list of names, got {groups!r:.40}")
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"config.json does not describe an outlier classifier ({exc})", path) from None
        from textgan.common.vectors import check_artefact_meta
        from textgan.gan.saved import load_sized

        meta = check_artefact_meta(info.get("meta", {}), path / "config.json")

        depth = cfg.depth if cfg.head == "mlp" else 1
        net = load_sized(lambda: _net(dim, len(groups) if groups else 0, cfg), path / WEIGHTS, depth)
        held, rows = read_held_out(path)
        clf = cls(net, cfg, dim, groups, meta, info.get("source") or {}, held)
        clf.held_out_rows = rows
        return clf


def train_outlier(vectors, config: OutlierConfig = OutlierConfig(), groups: Sequence | None = None,
                  generator=None, meta: dict | None = None) -> OutlierClassifier:
    """Train an outlier classifier on (N, D) in-domain vectors (and optional N group labels).

    Args:
        config: the source and the classifier's settings.
        generator: a loaded model (`textgan.gan.load`) for the GAN sources, or its folder.
        meta: JSON-able, saved with the classifier (e.g. {"encoder": ...}).
    """
    from textgan.gan.flow import split_holdout
    from textgan.common.state import seed_all

    config.validate()
    cfg = config
    x = as_matrix(vectors, "in-domain vectors", min_rows=2)
    gen_path = None
    if isinstance(generator, (str, Path)):
        from textgan.gan import load

        gen_path, generator = str(Path(generator).resolve()), load(generator)
    if generator is not None:  # its samples must live in the space of the vectors
        from textgan.common.vectors import check_same_encoder

        check_same_encoder((generator.meta or {}).get("encoder"), ((meta or {}).get("encoder") or {}).get("fingerprint"),
                           f"the {generator.kind} generator", gen_path, dim=x.shape[1])
    names, ids = (None, None)
    if groups is not None:
        if len(groups) != len(x):
            raise InputError(f"{len(groups)} group labels for {len(x)} vectors")
        names_arr, ids = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
        names = [str(s) for s in names_arr]
        singles = int((np.bincount(ids) == 1).sum())
        if singles:
            warnings.warn(f"{singles} group(s) with a single sentence: too few to learn a group from "
                          "(kept as in-domain rows)", stacklevel=2)
        if len(names) == 1 and cfg.source == "mixup":
            warnings.warn("one group: mixup mixes any two of its vectors, as without groups (mixtures between "
                          "groups need two or more)", stacklevel=2)
    seed_all(cfg.seed)
    train, held = (t.numpy() for t in split_holdout(len(x), cfg.holdout, cfg.seed))
    xt, it = x[train], None if ids is None else ids[train]
    pool = pseudo_outliers(cfg.source, xt, it, cfg.pool or 2 * len(xt), cfg.seed, generator)
    k = len(names) if names else 0
    net = _net(x.shape[1], k, cfg)
    if isinstance(net, CosineHead):
        net.init_from(torch.from_numpy(xt), None if it is None else torch.from_numpy(it.astype(np.int64)))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    xt_t, pool_t = torch.from_numpy(xt), torch.from_numpy(pool)
    yt = torch.from_numpy(it.astype(np.int64)) if it is not None else None
    B = cfg.batch_size
    for _ in range(cfg.steps):
        r, f = torch.randint(len(xt_t), (B,)), torch.randint(len(pool_t), (B,))
        l_in, l_out = net(xt_t[r]), net(pool_t[f])  # (B, K+1) or (B, 1)
        if l_in.shape[1] > 1:  # (K+1)-way; a cosine head without groups has K = 1
            y_in = yt[r] if yt is not None else torch.zeros(B, dtype=torch.long)
            loss = F.cross_entropy(l_in, y_in) + F.cross_entropy(l_out, torch.full((B,), l_in.shape[1] - 1,
                                                                                   dtype=torch.long))
        else:
            loss = F.softplus(-l_in[:, 0]).mean() + F.softplus(l_out[:, 0]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            raise InputError("the outlier classifier diverged (non-finite loss); lower its lr")
    source = {"name": cfg.source, "generative": SOURCES[cfg.source][2], "generator": gen_path,
              "generator_kind": getattr(generator, "kind", None),
              "generator_config": generator.config.to_dict() if generator is not None else None}
    clf = OutlierClassifier(net, cfg, x.shape[1], names, meta or {}, source, None)
    if len(held):
        clf.held_out_rows = np.sort(held)
        clf.held_out_scores = clf.score(x[clf.held_out_rows]).numpy().astype(np.float64)
    return clf
