"""Class-conditional GANs on labelled vectors: G(z, y) and D(x, y) for any row of the objectives table.

The generator sees a learned label embedding concatenated to its noise (Mirza & Osindero
2014). The critic is a projection discriminator, D(x, y) = psi(phi(x)) + <emb(y), phi(x)>
(Miyato & Koyama 2018, arXiv:1802.05637), or, with `critic_cond="concat"`, an MLP on
[x, emb(y)]. Fakes in a critic step reuse the real batch's labels, so the core penalties
(gradient penalty at interpolates, R1, ...) apply unchanged to D(., y) with y held fixed.
The saved folder stores the label names in `labels.json`; sampling asks for one by name.
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import torch
from torch import nn

from textgan.common.artifacts import load_json, save_json
from textgan.common.errors import InputError
from textgan.common.texts import known_groups, text_lines
from textgan.gan.config import GANConfig
from textgan.gan.gan import AdversarialStep
from textgan.gan.nets import Arch, Head, trunk
from textgan.gan.saved import SavedModel, load_weights, pick_generator, read_label_names, rng

Tensor = torch.Tensor
CriticCond = Literal["projection", "concat"]


@dataclass(frozen=True)
class ConditionalConfig(GANConfig):
    """A `GANConfig` plus: critic_cond: "projection" or "concat"; embed_dim: label embedding size."""

    critic_cond: CriticCond = "projection"
    embed_dim: int = 128


class CondGenerator(nn.Module):
    """(z (B, nz), y (B,)) -> x (B, D): an MLP on [z, emb(y)]."""

    def __init__(self, dim: int, noise_dim: int, n_classes: int, embed_dim: int, width: int, depth: int,
                 arch: Arch = "mlp", head: Head = "linear"):
        super().__init__()
        self.noise_dim, self.head = noise_dim, head
        self.embed = nn.Embedding(n_classes, embed_dim)
        self.net = trunk(noise_dim + embed_dim, dim, width, depth, arch, nn.ReLU, False)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        return self.from_embedding(z, self.embed(y))

    def from_embedding(self, z: Tensor, e: Tensor) -> Tensor:
        """(z (B, nz), label embedding e (B, embed_dim)) -> x (B, D); e may lie between the labels' rows."""
        x = self.net(torch.cat([z, e], 1))  # (B, D)
        if self.head == "sphere":
            x = nn.functional.normalize(x, dim=1)
        elif self.head == "tanh":
            x = torch.tanh(x)
        return x


class CondCritic(nn.Module):
    """(x (B, D), y (B,)) -> score (B / pack,): projection (Miyato & Koyama 2018) or concat.

    With `pack` M > 1 (PacGAN, Lin et al. 2018) the critic judges M consecutive samples jointly:
    phi reads their concatenation (B / M, M * D) and the projection term sums the M labels'
    embeddings; concat packs the M pairs [x, emb(y)]. M = 1 is the unpacked critic exactly.
    """

    def __init__(self, dim: int, n_classes: int, embed_dim: int, width: int, depth: int, arch: Arch = "mlp",
                 sn: bool = False, mode: CriticCond = "projection", pack: int = 1):
        super().__init__()
        self.mode, self.pack = mode, pack
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        if mode == "projection":
            self.phi = nn.Sequential(trunk(pack * dim, width, width, depth, arch, act, sn), act())  # (S, width)
            self.psi = nn.Linear(width, 1)
            self.embed = nn.Embedding(n_classes, width)
        else:
            self.embed = nn.Embedding(n_classes, embed_dim)
            self.net = trunk(pack * (dim + embed_dim), 1, width, depth, arch, act, sn)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        s = x.shape[0] // self.pack  # S scores, one per pack
        if self.mode == "projection":
            h = self.phi(x.reshape(s, -1))  # (S, width)
            e = self.embed(y).reshape(s, self.pack, -1).sum(1)  # (S, width)
            return self.psi(h).squeeze(1) + (e * h).sum(1)
        return self.net(torch.cat([x, self.embed(y)], 1).reshape(s, -1)).squeeze(1)


def _nets(cfg: ConditionalConfig, dim: int, k: int) -> tuple[CondGenerator, CondCritic]:
    g = CondGenerator(dim, cfg.noise_dim, k, cfg.embed_dim, cfg.width, cfg.depth, cfg.arch, cfg.head)
    d = CondCritic(dim, k, cfg.embed_dim, cfg.width, cfg.depth, cfg.arch, cfg.spectral_norm, cfg.critic_cond,
                   cfg.pack)
    return g, d


def encode_labels(groups: Sequence) -> tuple[Tensor, list[str]]:
    """Label names -> (ids (N,), sorted names). Groups of one row are kept (a few-shot set may
    have them) but counted in a warning: a conditional model learns each from a single vector."""
    counts = Counter(str(g) for g in groups)
    names = sorted(counts)
    if not names:
        raise InputError("no group labels given")
    if (blank := next((i for i, g in enumerate(groups) if not str(g).strip()), None)) is not None:
        raise InputError(f"group label {blank + 1} is blank: every vector needs a named group")
    singles = sum(1 for c in counts.values() if c == 1)
    if singles:
        warnings.warn(f"{singles} of {len(names)} group(s) have a single sentence: the model learns each "
                      f"from one vector", stacklevel=2)
    index = {n: i for i, n in enumerate(names)}
    return torch.tensor([index[str(g)] for g in groups], dtype=torch.long), names


class ConditionalStep(AdversarialStep):
    kind = "conditional"
    needs_labels = True

    def build(self) -> None:
        self.setup(*_nets(self.cfg, self.dim, len(self.label_names)))

    def condition(self, y: Tensor) -> Tensor:
        """What G and D are conditioned on for labels y (B,): the labels themselves (the anchored kind
        overrides this with prototype vectors)."""
        return y

    def train_step(self, step: int) -> dict[str, float]:
        cfg, B = self.cfg, self.cfg.batch_size
        for _ in range(cfg.n_critic):
            x, y = self.rows_and_labels()  # (B, D), (B,)
            c = self.condition(y)
            with torch.no_grad():
                fake = self.g(self.noise(B), c)
            critic_c = lambda v, c=c: self.d(v, c)  # noqa: E731  D(., c) with the batch's condition fixed
            v_r, v_f = critic_c(x), critic_c(fake)
            d_loss = self.obj.d_loss(v_r, v_f)
            pen = self.penalty(critic_c, x, fake, v_r, v_f, cfg.penalty_weight)
            self.critic_update(d_loss + pen)
        self.d.requires_grad_(False)
        x, y = self.rows_and_labels()  # labels drawn with the data's frequencies
        c = self.condition(y)
        v_f = self.d(self.g(self.noise(B), c), c)
        with torch.no_grad():
            v_r = self.d(x, c) if self.g_uses_real else None
        g_loss = self.obj.g_loss(v_r, v_f)
        self.generator_update(g_loss)
        self.d.requires_grad_(True)
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "penalty": pen.item()}

    def save(self, out: Path) -> dict:
        self.save_generator_critic(out)
        save_json(self.label_names, out / "labels.json")
        return {"n_classes": len(self.label_names)}


class SavedConditional(SavedModel):
    """A trained conditional GAN: `.sample(n, seed, group=NAME)`, `.groups`, `.score(x, group=None)`."""

    kind = "conditional"
    score_name = "critic"

    def __init__(self, net: CondGenerator, critic: CondCritic, config: ConditionalConfig, groups: list[str],
                 shape, meta: dict):
        self.net, self.critic, self.config, self._groups, self.shape, self.meta = \
            net, critic, config, groups, tuple(shape), meta

    @property
    def groups(self) -> list[str]:
        return self._groups

    def label_id(self, group: str) -> int:
        try:
            return self._groups.index(str(group))
        except ValueError:
            raise InputError(f"unknown group {group!r}; {known_groups(self._groups)}", "--group") from None

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, group: str | None = None) -> Tensor:
        """Args: n: samples; seed: private RNG seed (None: fresh); group: label name (required)."""
        if group is None:
            raise InputError(f"this model is conditional: name a group to sample ("
                             f"{known_groups(self._groups)})", "--group")
        y = self.label_id(group)
        z = torch.randn(n, self.config.noise_dim, generator=rng(seed))
        return self.net(z, torch.full((n,), y, dtype=torch.long)).reshape(n, -1)

    @torch.no_grad()
    def sample_between(self, n: int, seed: int | None = None, theta: tuple[float, float] = (0.25, 0.75)) -> Tensor:
        """n samples between two groups, (n, D): G(z, t e_a + (1 - t) e_b) for random groups a != b
        (a == b with one group) and t ~ U(theta); the `conditional` pseudo-outliers of `textgan.ood`."""
        g, k = rng(seed), len(self._groups)
        a = torch.randint(k, (n,), generator=g)
        b = (a + torch.randint(1, max(k, 2), (n,), generator=g)) % k  # != a when k > 1
        t = torch.empty(n, 1).uniform_(*theta, generator=g)
        e = t * self.net.embed.weight[a] + (1 - t) * self.net.embed.weight[b]  # (n, embed_dim)
        z = torch.randn(n, self.config.noise_dim, generator=g)
        return self.net.from_embedding(z, e).reshape(n, -1)

    def score(self, vectors, group: str | None = None) -> Tensor:
        """D(x, y) for a named group, or the max over all groups when None: (n,)."""
        ks = [self.label_id(group)] if group is not None else range(len(self._groups))

        def best(x):
            return torch.stack([self.critic(x, torch.full((len(x),), k, dtype=torch.long)) for k in ks], 1).max(1).values

        self._unpacked_critic()
        return self._batched(best, vectors)

    @classmethod
    def load(cls, path: Path, info: dict, ema: bool = True) -> "SavedConditional":
        cfg = ConditionalConfig.from_dict(info["config"])
        names = read_label_names(path, info.get("n_classes"))
        dim = int(info["dim"])
        g, d = _nets(cfg, dim, len(names))
        load_weights(g, pick_generator(path, ema))
        load_weights(d, path / "critic.safetensors")
        return cls(g, d, cfg, [str(s) for s in names], (dim,), info["meta"])


def read_labels(path: str | Path, n: int | None = None) -> list[str]:
    """Group labels for conditional training: a .txt file (one per line) or a JSON list.

    Args: path: the file. n: expected count (the number of training vectors), checked when given.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("not a file (a folder?): the labels are a .txt or JSON file" if path.exists()
                         else "missing file", path)
    if path.suffix.lower() == ".json":
        labels = load_json(path)
        if not isinstance(labels, list):
            raise InputError("expected a JSON list of labels", path)
        for i, x in enumerate(labels):  # null, true, [..] or "" would become a group named "None", ...
            if not (isinstance(x, str) and x.strip() or isinstance(x, int) and not isinstance(x, bool)):
                raise InputError(f"label {i + 1} is {x!r:.40}: labels must be non-blank strings or integers",
                                 path)
        from textgan.common.texts import check_label_types

        check_label_types(labels, "labels", path)  # 1 and "1" would merge into one group as text
        labels = [str(x).strip() for x in labels]
    else:
        try:
            # utf-8-sig: a BOM is not part of the first label
            labels = [ln.strip() for ln in text_lines(path.read_text(encoding="utf-8-sig"))]
        except UnicodeDecodeError:
            raise InputError("not UTF-8 text", path) from None
        while labels and not labels[-1]:  # blank lines that end the file label nothing
            labels.pop()
        if "" in labels:  # dropping it would shift every later label onto the wrong vector
            raise InputError(f"line {labels.index('') + 1} is blank: one label a line, one line a vector", path)
    if not labels:
        raise InputError("no labels", path)
    if n is not None and len(labels) != n:
        table = Path(path).suffix.lower() in (".csv", ".tsv", ".json", ".jsonl", ".parquet")
        raise InputError(f"{len(labels)} labels for {n} vectors" + (
            " (a labels file is one label a line, not a table: for a data file's column pass the corpus with "
            "--model and --group-col)" if table else ""), path)
    return labels
