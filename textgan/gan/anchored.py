"""Class-anchored conditional GAN: each group's spread around its prototype, G(z, p) = n(p + r(z, p)).

The generator is conditioned on a group's *prototype vector* p (D,), not on a label index,
and outputs the prototype plus a learned residual, projected onto the unit sphere
(`head="sphere"`) for sentence vectors. Because the condition is a vector, the model also
samples a group it never trained on, given its prototype or the mean of a few of its
examples: what it learned is how groups spread, the variation that transfers from base to
novel classes in low-shot learning (Hariharan & Girshick ICCV 2017; Schwartz et al.
NeurIPS 2018, the delta-encoder).

Prototypes: the normalised mean of each group's training vectors, or given from outside
(`prototypes=` a JSON file {group: vector}, e.g. a margin head's class weights); groups the
file lacks fall back to their mean. Conditioning of the generator: `concat` (an MLP on
[z, c(p)]) or `selfmod`, self-modulated normalisation (Chen et al. ICLR 2019,
arXiv:1810.01365): every hidden layer is LayerNorm(h) * (1 + gamma(z, c)) + beta(z, c).
The critic is a projection critic whose class embedding is a linear map of the prototype,
D(x, p) = psi(phi(x)) + <V p, phi(x)> (Miyato & Koyama 2018, arXiv:1802.05637).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from textgan.common.artifacts import load_json, load_tensors, save_json, save_tensors
from textgan.common.errors import InputError
from textgan.common.texts import known_groups
from textgan.gan.config import GANConfig, flag
from textgan.gan.conditional import ConditionalStep
from textgan.gan.nets import Head, trunk
from textgan.gan.saved import (SavedModel, as_input, check_sample_count, load_weights, pick_generator,
                               read_label_names, rng)

Tensor = torch.Tensor
GenCond = Literal["concat", "selfmod"]


@dataclass(frozen=True)
class AnchoredConfig(GANConfig):
    """A `GANConfig` plus: gen_cond: "concat" or "selfmod" (self-modulation); embed_dim: size of the
    prototype's code c(p); residual_init: scale of the last generator layer at start (samples begin
    near their prototype); prototypes: optional JSON file {group: vector} overriding group means;
    anchor_shots: 0 conditions on the group prototype; k > 0 on the normalised mean of a random
    1..k rows of the group, drawn afresh each step, as a few-shot group's prototype is at sampling
    time (the generator then learns where a group lies given a few of its members)."""

    # on FAQ vectors (demo encoder) WGAN-GP with 2 critic steps covered the held-out sentences
    # best (coverage 0.89 vs 0.74 for hinge at 1e-3, which collapsed onto the prototypes)
    objective: str = "wgan-gp"
    n_critic: int | None = 2
    lr_g: float | None = 1e-4
    lr_d: float | None = 1e-4
    noise_dim: int = 32
    width: int = 256
    depth: int = 2
    head: Head = "sphere"
    gen_cond: GenCond = "selfmod"
    embed_dim: int = 64
    residual_init: float = 0.1
    prototypes: str | None = None
    anchor_shots: int = 0

    def validate(self) -> None:
        if self.anchor_shots < 0:
            raise InputError(f"{flag('anchor_shots')} must be >= 0, got {self.anchor_shots}")
        if not self.residual_init > 0:
            raise InputError(f"{flag('residual_init')} must be > 0, got {self.residual_init}")
        super().validate()


class SelfModMLP(nn.Module):
    """u (B, U) -> (B, out): hidden layers LayerNorm(W h) * (1 + gamma_l(u)) + beta_l(u), then ReLU."""

    def __init__(self, d_in: int, d_out: int, width: int, depth: int):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(d_in if i == 0 else width, width) for i in range(depth)])
        self.norms = nn.ModuleList([nn.LayerNorm(width, elementwise_affine=False) for _ in range(depth)])
        self.mods = nn.ModuleList([nn.Linear(d_in, 2 * width) for _ in range(depth)])  # (gamma, beta) per layer
        for m in self.mods:  # start as plain LayerNorm: gamma = beta = 0
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        self.out = nn.Linear(width, d_out)

    def forward(self, u: Tensor) -> Tensor:
        h = u
        for lin, norm, mod in zip(self.layers, self.norms, self.mods):
            gamma, beta = mod(u).chunk(2, dim=1)  # (B, width) each
            h = torch.relu(norm(lin(h)) * (1 + gamma) + beta)
        return self.out(h)


class AnchoredGenerator(nn.Module):
    """(z (B, nz), p (B, D)) -> x (B, D) = head(p + r(z, c(p)))."""

    def __init__(self, dim: int, noise_dim: int, embed_dim: int, width: int, depth: int, cond: GenCond,
                 head: Head, residual_init: float):
        super().__init__()
        self.noise_dim, self.head = noise_dim, head
        self.code = nn.Linear(dim, embed_dim)  # c(p): a bottleneck code of the prototype
        d_in = noise_dim + embed_dim
        if cond == "selfmod":
            self.net = SelfModMLP(d_in, dim, width, depth)
            last = self.net.out
        else:
            self.net = trunk(d_in, dim, width, depth, "mlp", nn.ReLU, False)
            last = self.net[-1]
        with torch.no_grad():
            last.weight.mul_(residual_init)
            last.bias.zero_()

        self.register_buffer("max_residual", torch.tensor(1.0))  # set from the data by the trainer

    def forward(self, z: Tensor, p: Tensor) -> Tensor:
        r = self.net(torch.cat([z, self.code(p)], 1))  # (B, D)
        # soft norm clip at the data's largest offset from a prototype: the residual can spread a
        # group but never cancel its prototype (unbounded, it learned to, and every group collapsed)
        norm = r.norm(dim=1, keepdim=True).clamp_min(1e-8)
        x = p + r * (self.max_residual * torch.tanh(norm / self.max_residual) / norm)
        if self.head == "sphere":
            x = nn.functional.normalize(x, dim=1)
        elif self.head == "tanh":
            x = torch.tanh(x)
        return x


class PrototypeCritic(nn.Module):
    """(x (B, D), p (B, D)) -> (B / pack,): psi(phi(x)) + <V p, phi(x)>; with `pack` M > 1 phi reads M
    consecutive samples concatenated and V p sums their M prototypes (PacGAN, as `CondCritic`)."""

    def __init__(self, dim: int, width: int, depth: int, sn: bool, pack: int = 1):
        super().__init__()
        self.pack = pack
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        self.phi = nn.Sequential(trunk(pack * dim, width, width, depth, "mlp", act, sn), act())  # (S, width)
        self.psi = nn.Linear(width, 1)
        self.embed = nn.Linear(dim, width, bias=False)

    def forward(self, x: Tensor, p: Tensor) -> Tensor:
        s = x.shape[0] // self.pack
        h = self.phi(x.reshape(s, -1))  # (S, width)
        e = self.embed(p).reshape(s, self.pack, -1).sum(1)  # (S, width)
        return self.psi(h).squeeze(1) + (e * h).sum(1)


def _nets(cfg: AnchoredConfig, dim: int) -> tuple[AnchoredGenerator, PrototypeCritic]:
    g = AnchoredGenerator(dim, cfg.noise_dim, cfg.embed_dim, cfg.width, cfg.depth, cfg.gen_cond, cfg.head,
                          cfg.residual_init)
    return g, PrototypeCritic(dim, cfg.width, cfg.depth, cfg.spectral_norm, cfg.pack)


def group_means(data: Tensor, labels: Tensor, k: int) -> Tensor:
    """Normalised mean of each group's rows: (K, D); the always-available prototype."""
    sums = torch.zeros(k, data.shape[1]).index_add_(0, labels, data)
    return nn.functional.normalize(sums, dim=1)


def prototype_of(examples) -> Tensor:
    """The prototype of a group known by a few example vectors (n, D): their normalised mean (D,)."""
    x = torch.as_tensor(np.asarray(examples, dtype=np.float32))
    if x.dim() == 1:
        x = x[None]
    if len(x) == 0:
        raise InputError("a prototype needs at least one example vector")
    return nn.functional.normalize(x.mean(0), dim=0)


def save_prototypes(names, vectors, path: str | Path) -> Path:
    """Write externally given prototypes (e.g. a margin head's class weights) as the JSON file
    `AnchoredConfig(prototypes=...)` reads: {group: [floats]}."""
    v = np.asarray(vectors, dtype=np.float32)
    names = [str(n) for n in names]
    if v.ndim != 2 or len(v) != len(names):
        raise InputError(f"{len(names)} prototype names for prototype array of shape {v.shape}")
    if len(set(names)) < len(names):  # a JSON object keeps the last row of a repeated name, under it
        twice = next(n for n in names if names.count(n) > 1)
        raise InputError(f"prototype names repeat ({twice!r} names {names.count(twice)} rows): one row per group")
    save_json({n: row.tolist() for n, row in zip(names, v)}, path)
    return Path(path)


def read_prototypes(path: str | Path, names: list[str], dim: int, fallback: Tensor) -> Tensor:
    """Prototypes (K, D) for `names` from a JSON file {group: vector}; missing groups keep `fallback`."""
    given = load_json(path)
    if not isinstance(given, dict):
        raise InputError("expected a JSON object {group: vector}", path)
    if unknown := sorted(set(given) - set(names)):
        warnings.warn(f"{path}: {len(unknown)} prototype(s) name no training group (e.g. {unknown[0]!r}): unused",
                      UserWarning, stacklevel=2)
    out = fallback.clone()
    for i, n in enumerate(names):
        if n in given:
            try:
                v = torch.tensor(given[n], dtype=torch.float32)
            except (TypeError, ValueError, RuntimeError):
                v = torch.zeros(0)
            if v.shape != (dim,) or not torch.isfinite(v).all() or v.norm() == 0:
                raise InputError(f"prototype of {n!r} is not a finite non-zero {dim}-d vector", path)
            out[i] = nn.functional.normalize(v, dim=0)
    return out


class AnchoredStep(ConditionalStep):
    """The conditional kind's update with prototype vectors as the condition."""

    kind = "anchored"
    needs_labels = True
    min_groups = 1  # offsets around one prototype are still a model (few-shot may have one base group)

    def build(self) -> None:
        k = len(self.label_names)
        norm = float(self.data.reshape(len(self.data), -1).norm(dim=1).median()) if len(self.data) else 1.0
        if self.cfg.head == "sphere" and abs(norm - 1) > 0.05:  # samples of norm 1 for data of norm 14, unsaid
            warnings.warn(f"the vectors' median norm is {norm:.3g}, and the anchored kind's sphere head generates unit "
                          f"vectors: its samples are not in the data's space; normalise the vectors first (textgan "
                          f"encode writes unit vectors) or pass {flag('head')} linear", stacklevel=2)
        protos = group_means(self.data, self.labels, k)
        if self.cfg.prototypes is not None:
            protos = read_prototypes(self.cfg.prototypes, self.label_names, self.dim, protos)
        self.state["prototypes"] = protos  # (K, D), checkpointed and saved with the model
        g, d = _nets(self.cfg, self.dim)
        order = torch.argsort(self.labels, stable=True)
        counts = torch.bincount(self.labels, minlength=k)
        if self.cfg.anchor_shots > int(counts.max()):  # k draws with replacement from fewer rows: repeats
            raise InputError(f"{flag('anchor_shots')} {self.cfg.anchor_shots} is more than the largest group's "
                             f"{int(counts.max())} rows")
        self.by_group = (order, torch.cumsum(counts, 0) - counts, counts)  # rows of group c: order[start_c:+n_c]
        offsets = (self.data - protos[self.labels]).norm(dim=1)  # (N,)
        g.max_residual.fill_(float(torch.quantile(offsets, 0.99)) if len(offsets) else 1.0)
        self.setup(g, d)

    def condition(self, y: Tensor) -> Tensor:
        """The condition of each row of group y (B,): its prototype, or the mean of 1..k random members."""
        if not self.cfg.anchor_shots:
            return self.state["prototypes"][y]
        order, start, count = self.by_group
        k = int(torch.randint(1, self.cfg.anchor_shots + 1, ()))
        pick = start[y, None] + (torch.rand(len(y), k) * count[y, None]).long()  # (B, k)
        return nn.functional.normalize(self.data[order[pick]].mean(1), dim=1)

    def save(self, out: Path) -> dict:
        save_tensors({"prototypes": self.state["prototypes"]}, out / "prototypes.safetensors")
        return super().save(out)


class SavedAnchored(SavedModel):
    """A trained anchored GAN: `.sample(n, seed, group)` for a trained group, `.sample_prototype(n,
    prototype, seed)` for any group (e.g. `prototype_of(examples)`), `.groups`, `.prototypes`, `.score`."""

    kind = "anchored"
    score_name = "critic"

    def __init__(self, net, critic, config, groups, prototypes: Tensor, shape, meta):
        self.net, self.critic, self.config, self._groups, self.prototypes, self.shape, self.meta = \
            net, critic, config, groups, prototypes, tuple(shape), meta

    @property
    def groups(self) -> list[str]:
        return self._groups

    def prototype(self, group: str) -> Tensor:
        try:
            return self.prototypes[self._groups.index(str(group))]
        except ValueError:
            raise InputError(f"unknown group {group!r}; {known_groups(self._groups)} (for a new "
                             f"group, sample around its prototype: sample_prototype)", "--group") from None

    @torch.no_grad()
    def sample_prototype(self, n: int, prototype, seed: int | None = None) -> Tensor:
        """n vectors around any prototype (D,): (n, D)."""
        n = check_sample_count(n, self.dim)
        shape = np.shape(prototype)
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[0] != 1):
            raise InputError(f"the prototype must be one {self.dim}-d vector, got an array of shape {shape} (for "
                             "several example vectors, pass prototype_of(examples))")
        p = as_input(np.asarray(prototype, dtype=np.float32).reshape(1, -1), self.dim)
        if not float(p.norm()):
            raise InputError("the prototype is an all-zero vector: it has no direction to sample around")
        p = nn.functional.normalize(p, dim=1).expand(n, -1)
        z = torch.randn(n, self.config.noise_dim, generator=rng(seed))
        return self.net(z, p)

    def sample(self, n: int, seed: int | None = None, group: str | None = None) -> Tensor:
        if group is None:
            raise InputError(f"this model is conditional: name a group to sample ("
                             f"{known_groups(self._groups)})", "--group")
        return self.sample_prototype(n, self.prototype(group), seed)

    def score(self, vectors, group: str | None = None) -> Tensor:
        """D(x, p) for a named group, or the max over all groups when None: (n,)."""
        ps = [self.prototype(group)] if group is not None else list(self.prototypes)

        def best(x):
            return torch.stack([self.critic(x, p.expand(len(x), -1)) for p in ps], 1).max(1).values

        self._unpacked_critic()
        return self._batched(best, vectors)

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedAnchored":
        cfg = AnchoredConfig.from_dict(info["config"])
        protos = load_tensors(path / "prototypes.safetensors", floats=True)["prototypes"]
        names = read_label_names(path, info.get("n_classes"), "prototypes.safetensors / config.json")
        if len(names) != len(protos):
            raise InputError("labels.json does not match prototypes.safetensors / config.json", path)
        dim = int(info["dim"])
        g, d = _nets(cfg, dim)
        load_weights(g, pick_generator(path, ema))
        load_weights(d, path / "critic.safetensors")
        return cls(g, d, cfg, [str(s) for s in names], protos, (dim,), info["meta"])
