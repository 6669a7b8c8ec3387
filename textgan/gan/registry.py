"""The one registry of model kinds: every caller (CLI, workflow, scoring, sampling, loading,
benches, tests) reads `KINDS`.

A kind is one config dataclass + one `Step` (its update, run by the shared trainer loop) +
one saved class (`load` from a folder, `sample`, and `score` where it has one). A saved
folder's `config.json` names its kind, so `load(folder)` returns the right object.
Adding a kind is one row here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from textgan.common.args import flag, path as as_path
from textgan.common.errors import InputError
from textgan.gan.anchored import AnchoredConfig, AnchoredStep, SavedAnchored
from textgan.gan.began import BEGANConfig, BEGANStep, SavedBEGAN
from textgan.gan.bigan_qp import BiGANQPConfig, BiGANQPStep, SavedBiGANQP
from textgan.gan.boundary import BoundaryConfig, BoundaryStep, SavedBoundary
from textgan.gan.conditional import ConditionalConfig, ConditionalStep, SavedConditional, encode_labels
from textgan.gan.config import GANConfig, KindConfig
from textgan.gan.energy import MEGConfig, MEGStep, SavedMEG
from textgan.gan.flow import FlowConfig, FlowStep, SavedFlow
from textgan.gan.gan import GANStep, SavedGAN
from textgan.gan.glann import GLANNConfig, GLANNStep, SavedGLANN
from textgan.gan.kplus1 import KPlus1Config, KPlus1Step, SavedKPlus1
from textgan.gan.langevin import EBMConfig, EBMStep, SavedEBM
from textgan.gan.ogan import OGANConfig, OGANStep, SavedOGAN
from textgan.common.artifacts import load_json
from textgan.gan.saved import CONFIG, SavedModel, check_self_digest, check_sizes_against_weights, read_model_config
from textgan.gan.trainer import Step, run


@dataclass(frozen=True)
class Kind:
    name: str
    config: type[KindConfig]
    step: type[Step]
    saved: type[SavedModel]
    summary: str
    reference: str

    @property
    def needs_labels(self) -> bool:
        return self.step.needs_labels

    @property
    def samples_groups(self) -> bool:
        """Its models sample a named group (`sample(group=...)`); `boundary` learns from labels but
        samples the space between groups."""
        return self.saved.groups is not SavedModel.groups

    @property
    def scorer(self) -> str | None:
        """"critic", "energy" or "likelihood": what `score()` of a loaded model of this kind returns."""
        return self.saved.score_name


KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("gan", GANConfig, GANStep, SavedGAN,
         "generator + critic trained with any row of the objectives table (--objective)",
         "Goodfellow et al. 2014 and the table's rows"),
    Kind("conditional", ConditionalConfig, ConditionalStep, SavedConditional,
         "class-conditional GAN: G(z, group), projection critic D(x, group); needs group labels",
         "Mirza & Osindero 2014; Miyato & Koyama 2018"),
    Kind("meg", MEGConfig, MEGStep, SavedMEG,
         "energy model + maximum-entropy generator (MI estimator), MALA refinement at sampling",
         "Kumar et al. 2019"),
    Kind("ebm-langevin", EBMConfig, EBMStep, SavedEBM,
         "energy model sampled by Langevin dynamics from a replay buffer at temperature T, no generator",
         "Du & Mordatch 2019"),
    Kind("ogan", OGANConfig, OGANStep, SavedOGAN,
         "GAN whose critic doubles as an encoder (correlation term); encode / reconstruct",
         "Su 2019"),
    Kind("anchored", AnchoredConfig, AnchoredStep, SavedAnchored,
         "class-anchored GAN: G(z, p) = normalise(p + residual), conditioned on the group's prototype p "
         "(also samples unseen groups); self-modulation or concat; needs group labels",
         "Hariharan & Girshick 2017; Chen et al. 2019 (self-modulation); Miyato & Koyama 2018"),
    Kind("kplus1", KPlus1Config, KPlus1Step, SavedKPlus1,
         "semi-supervised K+1 classifier (K groups + generated) with a feature-matching generator; "
         "unlabelled rows via textgan.workflow.kplus1 / train-kplus1; classify",
         "Salimans et al. 2016; Croce et al. 2020 (GAN-BERT)"),
    Kind("bigan-qp", BiGANQPConfig, BiGANQPStep, SavedBiGANQP,
         "encoder + generator against a GAN-QP critic of joint (x, z) pairs, with reconstruction; encode",
         "Donahue et al. 2017; Su 2018 (GAN-QP)"),
    Kind("glann", GLANNConfig, GLANNStep, SavedGLANN,
         "GLO latent codes per row + IMLE mapping from noise to codes; no adversary",
         "Hoshen, Li & Malik 2019"),
    Kind("began", BEGANConfig, BEGANStep, SavedBEGAN,
         "autoencoder critic balanced by the k_t equilibrium controller",
         "Berthelot et al. 2017"),
    Kind("flow", FlowConfig, FlowStep, SavedFlow,
         "RealNVP normalising flow: exact log-likelihood (the score) and sampling",
         "Dinh et al. 2017"),
    Kind("boundary", BoundaryConfig, BoundaryStep, SavedBoundary,
         "GAN whose generator seeks low-density boundary samples (classifier unsure); needs group labels",
         "Lee et al. 2018"),
]}


def make_kind(name: str) -> Kind:
    """The registry row called `name`; unknown names raise InputError listing the valid ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(f"unknown model kind {name!r}; valid: {', '.join(KINDS)}", "--kind") from None


def kind_of_config(config: KindConfig) -> Kind:
    """The kind whose config class `config` is (exact class: ConditionalConfig is not a GANConfig's kind)."""
    for kind in KINDS.values():
        if type(config) is kind.config:
            return kind
    raise InputError(f"{type(config).__name__} is not the config of any model kind; valid: "
                     f"{', '.join(k.config.__name__ for k in KINDS.values())}")


def train_gan(data, config: KindConfig, out_dir: str | Path, groups: Sequence | None = None,
              meta: dict | None = None, progress: bool = True, resume: bool = False, callback=None) -> Path:
    """Train the kind named by `config`'s class on `data` and save it to `out_dir`; returns the folder.

    Args:
        data: float tensor or array (N, D) (or (N, C, H, W) for the core GAN); finite.
        config: a kind's config (`GANConfig`, `ConditionalConfig`, `MEGConfig`, `EBMConfig`,
            `OGANConfig`); None fields take their defaults.
        out_dir: run folder: config.json, weights, metrics.jsonl, losses.png, checkpoint/.
        groups: one label per row, for the label-conditioned kinds (and refused by the others).
        meta: JSON-able dict saved with the model (e.g. the encoder fingerprint).
        progress: tqdm bar. resume: continue from `out_dir/checkpoint` (same data and config,
            except steps / learning rates / logging intervals).
        callback: called as callback(steps_done, losses) after every step.
    """
    kind = kind_of_config(config)
    labels = names = None
    if kind.needs_labels:
        if groups is None:
            raise InputError(f"kind {kind.name!r} needs one group label per vector (--labels or --group-col)")
        if len(groups) != len(data):
            raise InputError(f"{len(groups)} group labels for {len(data)} vectors")
        labels, names = encode_labels(groups)
        if len(names) < kind.step.min_groups:
            raise InputError(f"kind {kind.name!r} learns from group labels and found one group ({names[0]!r}): "
                             f"train --kind gan for one group, or check the labels", "--labels/--group-col")
    elif groups is not None:
        raise InputError(f"kind {kind.name!r} does not use group labels; use --kind conditional or drop them")
    return run(kind.step, data, config, out_dir, labels=labels, label_names=names, meta=meta,
               progress=progress, resume=resume, callback=callback)


def load(path: str | Path, ema: bool = True) -> SavedModel:
    """Load any trained model folder; the kind is read from its config.json.

    Args: path: the folder. ema: prefer the generator's EMA weights when saved.
    Returns: an object with `kind`, `dim`, `shape`, `meta`, `config`, `sample(n, seed, group)`
        and, for kinds with a scorer, `score(vectors)` / `score_name`.
    """
    path = as_path(path, "the generator")
    ema = flag(ema, "ema")
    info = read_model_config(path)
    kind = KINDS.get(info["kind"])
    if kind is None:
        raise InputError(f"unknown model kind {info['kind']!r} in config.json (made by a newer textgan?); "
                         f"this version knows {', '.join(KINDS)}", path)
    check_sizes_against_weights(path, info)
    try:
        model = kind.saved.load(path, info, ema=ema)
        # last: an edit the checks above name (a size, a type) is told as such; one they pass is caught here
        check_self_digest(load_json(path / CONFIG), path / CONFIG)
        return model
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            if exc.path is None:  # a check of the config block (an edited value): the file to fix
                raise InputError(str(exc), path / CONFIG) from None
            raise
        raise InputError(f"config.json does not describe a loadable {kind.name!r} model "
                         f"({exc.__class__.__name__}: {exc})", path) from None


def sample(model: SavedModel, n: int, seed: int | None = None, group: str | None = None) -> torch.Tensor:
    """`model.sample` with the count checked first (>= 1, fits in memory): (n, D)."""
    from textgan.gan.saved import check_sample_count

    n = check_sample_count(n, model.dim)
    group = group.strip() if isinstance(group, str) else group  # labels are read from files stripped
    return model.sample(n, seed=seed, group=group).reshape(n, -1)


def auto_head(data) -> str:
    """"sphere" when every row is a unit vector (L2-normalised embeddings), else "linear"."""
    x = torch.as_tensor(data).float()
    return "sphere" if bool(((x.norm(dim=1) - 1).abs() < 1e-3).all()) else "linear"


def train_by_name(name: str, data, out_dir: str | Path, groups: Sequence | None = None, head: str = "auto",
                  progress: bool = False, **fields) -> Path:
    """Train kind `name` with its default config, `fields` overriding it (benches, quick use).

    `head="auto"` picks the unit sphere when every training row has norm 1, for the kinds that
    have an output head.
    """
    kind = make_kind(name)
    names = {f.name for f in dataclasses.fields(kind.config)}
    if "head" in names:
        fields["head"] = auto_head(data) if head == "auto" else head
    return train_gan(data, kind.config(**fields), out_dir, groups=groups, progress=progress)
