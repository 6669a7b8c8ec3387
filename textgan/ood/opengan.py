"""OpenGAN (Kong & Ramanan, ICCV 2021): a GAN on a closed-set model's feature vectors whose
discriminator, selected on validation data, is the open-set score.

A plain GAN critic scores out-of-domain vectors poorly (bench/ood.py: `critic-gan`), because the
last critic of a GAN run is arbitrary far from the data. OpenGAN's point is the model selection:
the discriminator is evaluated every `eval_every` steps and the one that best separates held-out
in-domain vectors (never trained on: the held-out split a similarity model keeps) from the
negatives is kept: real outlier vectors when given (OpenGAN's validation outliers), else a bank of
the generator's samples drawn at every evaluation step, all steps together, each discriminator
judged against the whole bank after training. (Judging each discriminator only against the
samples of its own step rewards the steps where the generator is worst: on separable toy data
that kept a step-100 discriminator with AUROC 0.52 against far vectors, 0.99 with the bank.)
Score = the discriminator's logit (higher = more in-domain), served as the `critic` method.
Vectors only: the workflow layer encodes.
Saved: `config.json` (format, config, selection, encoder meta, digests) + `discriminator.safetensors`
+ `held_out.safetensors` (the held-out in-domain scores: a threshold's calibration).
"""
from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from textgan.common.args import MAX_COUNT
from textgan.common.errors import InputError
from textgan.metrics import auroc
from textgan.common.vectors import as_matrix
from textgan.ood.folder import read_held_out, read_scorer, save_scorer

FORMAT = "textgan-opengan/1"
WEIGHTS = "discriminator.safetensors"


@dataclass(frozen=True)
class OpenGANConfig:
    """steps, batch_size, lr (Adam, betas 0.5/0.999 as in DCGAN/OpenGAN), noise_dim, width: the GAN;
    eval_every: steps between two selections; seed."""

    steps: int = 2000
    batch_size: int = 256
    lr: float = 2e-4
    noise_dim: int = 64
    width: int = 256
    eval_every: int = 100
    seed: int = 0

    def validate(self) -> None:
        for name in ("steps", "batch_size", "noise_dim", "width", "eval_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1 or (name == "steps" and v > MAX_COUNT):
                raise InputError(f"opengan: {name} must be an integer in [1, {MAX_COUNT:,}], got {v!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise InputError(f"opengan: lr must be in (0, 1), got {self.lr!r}")


def _mlp(d_in: int, width: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, width), nn.LeakyReLU(0.2), nn.Linear(width, width), nn.LeakyReLU(0.2),
                         nn.Linear(width, d_out))


class OpenGAN:
    """The selected discriminator: `score(vectors)` (n,) = its logit; `held_out_scores`."""

    kind = "opengan"
    score_name = "critic"
    generative = True

    def __init__(self, net: nn.Module, config: OpenGANConfig, dim: int, meta: dict, selection: dict,
                 held_out: np.ndarray | None):
        self.net, self.config, self.dim, self.meta = net.eval(), config, dim, meta
        self.selection, self.held_out_scores = selection, held_out

    @torch.no_grad()
    def score(self, vectors) -> torch.Tensor:
        x = torch.from_numpy(as_matrix(vectors, "vectors", dim=self.dim))
        return self.net(x)[:, 0] if len(x) else x.new_zeros(0)

    def save(self, out: str | Path) -> Path:
        return save_scorer(out, WEIGHTS, self.net.state_dict(),
                           {"format": FORMAT, "kind": self.kind, "config": dataclasses.asdict(self.config),
                            "dim": self.dim, "selection": self.selection, "meta": self.meta}, self.held_out_scores)

    @classmethod
    def load(cls, path: str | Path) -> "OpenGAN":
        path = Path(path)
        info = read_scorer(path, FORMAT, "an OpenGAN")
        try:
            cfg, dim = OpenGANConfig(**info["config"]), int(info["dim"])
            cfg.validate()
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"config.json does not describe an OpenGAN ({exc})", path) from None
        from textgan.common.vectors import check_artefact_meta
        from textgan.gan.saved import load_sized

        meta = check_artefact_meta(info.get("meta", {}), path / "config.json")

        net = load_sized(lambda: _mlp(dim, cfg.width, 1), path / WEIGHTS)
        return cls(net, cfg, dim, meta, info.get("selection") or {}, read_held_out(path)[0])


def train_opengan(vectors, held_out, config: OpenGANConfig = OpenGANConfig(), outliers=None,
                  meta: dict | None = None) -> OpenGAN:
    """Train a GAN on (N, D) in-domain vectors and keep the discriminator that best separates the
    (M, D) `held_out` in-domain vectors (never trained on) from `outliers` (when given) or from a
    fixed noise batch of the generator at that step, by AUROC."""
    config.validate()
    cfg = config
    x = torch.from_numpy(as_matrix(vectors, "vectors"))
    dim = x.shape[1]
    v_in = torch.from_numpy(as_matrix(held_out, "held-out vectors", dim=dim))
    v_out = None if outliers is None else torch.from_numpy(as_matrix(outliers, "outlier vectors", dim=dim))
    for n, what in ((len(x), "training"), (len(v_in), "held-out"), (-1 if v_out is None else len(v_out), "outlier")):
        if 0 <= n < 2:
            raise InputError(f"opengan needs at least 2 {what} vectors, got {n}",
                             "--outliers" if what == "outlier" else None)
    unit = bool(torch.allclose(x.norm(dim=1), torch.ones(len(x)), atol=1e-3))
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    g_net, d_net = _mlp(cfg.noise_dim, cfg.width, dim), _mlp(dim, cfg.width, 1)
    opt_g = torch.optim.Adam(g_net.parameters(), cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d_net.parameters(), cfg.lr, betas=(0.5, 0.999))
    # per evaluation step, this many generated vectors join the bank (bounded: the bank is scored
    # by every kept discriminator)
    z_val = torch.randn(min(len(v_in), 512), cfg.noise_dim, generator=gen)

    def fake(z):
        out = g_net(z)
        return F.normalize(out, dim=-1) if unit else out  # unit data: samples on the sphere too

    best = (-1.0, 0, None)
    history, kept, bank = [], [], []
    for step in range(1, cfg.steps + 1):
        real = x[torch.randint(len(x), (cfg.batch_size,), generator=gen)]
        z = torch.randn(cfg.batch_size, cfg.noise_dim, generator=gen)
        d_loss = F.softplus(-d_net(real)).mean() + F.softplus(d_net(fake(z).detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-d_net(fake(z))).mean()  # non-saturating
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            if v_out is not None:
                with torch.no_grad():
                    auc = auroc(d_net(v_in)[:, 0].double().numpy(), d_net(v_out)[:, 0].double().numpy())
                history.append({"step": step, "val_auroc": auc})
                if auc > best[0]:
                    best = (auc, step, copy.deepcopy(d_net.state_dict()))
            else:
                with torch.no_grad():
                    bank.append(fake(z_val))
                kept.append((step, copy.deepcopy(d_net.state_dict())))
    if v_out is None:  # every kept discriminator against the generated vectors of all steps
        neg_bank = torch.cat(bank)
        for step, state in kept:
            d_net.load_state_dict(state)
            with torch.no_grad():
                auc = auroc(d_net(v_in)[:, 0].double().numpy(), d_net(neg_bank)[:, 0].double().numpy())
            history.append({"step": step, "val_auroc": auc})
            if auc > best[0]:
                best = (auc, step, state)
    d_net.load_state_dict(best[2])
    if best[0] < 0.5:  # its scores run backwards: every critic threshold would keep the outliers
        warnings.warn(f"the best OpenGAN discriminator (step {best[1]}) ranks the held-out in-domain vectors below "
                      f"the {'outliers' if v_out is not None else 'generated ones'} (validation AUROC {best[0]:.3f} "
                      "< 0.5): it tells nothing apart; train more --steps", stacklevel=2)
    selection = {"step": best[1], "val_auroc": best[0],
                 "against": "outliers" if v_out is not None else "generated (all steps)",
                 "n_held_out": len(v_in), "history": history}
    model = OpenGAN(d_net, cfg, dim, dict(meta or {}), selection, None)
    model.held_out_scores = model.score(v_in.numpy()).numpy().astype(np.float64)
    return model
