"""GAN objectives as one table of (critic loss, generator loss) functions of critic scores.

Every loss takes raw critic scores `v` (shape (B,)) and returns a scalar to *minimise*.
Anything that needs the critic network or the samples themselves (gradient penalty,
WGAN-div, R1, GAN-QP's quadratic term, weight clipping) lives in `penalties.py`; each
table row names its default penalty, optimiser, learning rate and critic steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F

from textgan.common.errors import InputError

Tensor = torch.Tensor
LossFn = Callable[[Tensor, Tensor], Tensor]  # (real scores (B,), fake scores (B,)) -> scalar


# --- f-GAN (Nowozin et al. 2016, https://arxiv.org/abs/1606.00709, Table 2) ---------------
# Each divergence is (output activation g_f, conjugate f*); the critic maximises
#   F = E_P[g_f(v)] - E_Q[f*(g_f(v))].
# `conj_act` is f*(g_f(v)) simplified by hand so no row evaluates log(1 - exp(t)).
@dataclass(frozen=True)
class FDivergence:
    activation: Callable[[Tensor], Tensor]  # g_f: R -> dom f*
    conjugate: Callable[[Tensor], Tensor]  # literal f*(t), for reference tests only
    conj_act: Callable[[Tensor], Tensor]  # f*(g_f(v)) in stable form
    name: str


LOG2 = math.log(2.0)

F_DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence(lambda v: v, lambda t: torch.exp(t - 1), lambda v: torch.exp(v - 1), "Kullback-Leibler"),
    "reverse-kl": FDivergence(lambda v: -torch.exp(-v), lambda t: -1 - torch.log(-t), lambda v: v - 1, "reverse KL"),
    "pearson": FDivergence(lambda v: v, lambda t: 0.25 * t * t + t, lambda v: 0.25 * v * v + v, "Pearson chi^2"),
    # 1 - exp(-v) < 1, so 1 - t = exp(-v) exactly: no cancellation
    "neyman": FDivergence(lambda v: 1 - torch.exp(-v), lambda t: 2 - 2 * torch.sqrt(1 - t),
                          lambda v: 2 - 2 * torch.exp(-0.5 * v), "Neyman chi^2"),
    "hellinger": FDivergence(lambda v: 1 - torch.exp(-v), lambda t: t / (1 - t), lambda v: torch.expm1(v),
                             "squared Hellinger"),
    # g = log 2 - softplus(-v)  =>  2 - e^g = 2 sigmoid(-v)  =>  f*(g) = softplus(v) - log 2
    "js": FDivergence(lambda v: LOG2 - F.softplus(-v), lambda t: -torch.log(2 - torch.exp(t)),
                      lambda v: F.softplus(v) - LOG2, "Jensen-Shannon"),
    # g = -softplus(-v) = log sigmoid(v)  =>  1 - e^g = sigmoid(-v)  =>  f*(g) = softplus(v)
    "gan": FDivergence(lambda v: -F.softplus(-v), lambda t: -torch.log(1 - torch.exp(t)),
                       lambda v: F.softplus(v), "GAN"),
    "tv": FDivergence(lambda v: 0.5 * torch.tanh(v), lambda t: t, lambda v: 0.5 * torch.tanh(v), "total variation"),
}


def _fgan(div: FDivergence) -> tuple[LossFn, LossFn]:
    def d_loss(real: Tensor, fake: Tensor) -> Tensor:
        """f-GAN critic loss -F (Nowozin et al. 2016, eq. 6)."""
        return -div.activation(real).mean() + div.conj_act(fake).mean()

    def g_loss(real: Tensor, fake: Tensor) -> Tensor:
        """f-GAN generator loss -E_Q[g_f(v)]: the paper's non-saturating heuristic (Sec. 3.2)."""
        return -div.activation(fake).mean()

    return d_loss, g_loss


# --- the rest of the table -------------------------------------------------------------
def gan_d(real: Tensor, fake: Tensor) -> Tensor:
    """Original GAN critic loss -log D(x) - log(1 - D(G(z))), D = sigmoid(v) (Goodfellow et al. 2014)."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def gan_g_minimax(real: Tensor, fake: Tensor) -> Tensor:
    """Saturating generator loss E log(1 - D(G(z))) (Goodfellow et al. 2014, Algorithm 1)."""
    return -F.softplus(fake).mean()


def gan_g_ns(real: Tensor, fake: Tensor) -> Tensor:
    """Non-saturating generator loss -E log D(G(z)) (Goodfellow et al. 2014, Sec. 3)."""
    return F.softplus(-fake).mean()


def wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    """Critic loss E[f(G(z))] - E[f(x)] (Arjovsky et al. 2017, https://arxiv.org/abs/1701.07875)."""
    return fake.mean() - real.mean()


def wasserstein_g(real: Tensor, fake: Tensor) -> Tensor:
    """Generator loss -E[f(G(z))] (Arjovsky et al. 2017)."""
    return -fake.mean()


def lsgan_d(real: Tensor, fake: Tensor) -> Tensor:
    """Least squares critic loss with a=0, b=1 (Mao et al. 2017, https://arxiv.org/abs/1611.04076)."""
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()


def lsgan_g(real: Tensor, fake: Tensor) -> Tensor:
    """Least squares generator loss with c=1 (Mao et al. 2017)."""
    return 0.5 * ((fake - 1) ** 2).mean()


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge critic loss (Lim & Ye 2017, https://arxiv.org/abs/1705.02894; Miyato et al. 2018)."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def qp_d(real: Tensor, fake: Tensor) -> Tensor:
    """GAN-QP critic loss without its quadratic term: -E[T(x_r) - T(x_f)] (Su 2018, arXiv:1811.07296)."""
    return -(real - fake).mean()


def qp_g(real: Tensor, fake: Tensor) -> Tensor:
    """GAN-QP generator loss E[T(x_r) - T(x_f)] over paired samples (Su 2018)."""
    return (real - fake).mean()


Penalty = Literal["none", "clip", "gp", "div", "r1", "qp-l1", "qp-l2"]
Optimizer = Literal["adam", "rmsprop"]


@dataclass(frozen=True)
class Objective:
    """One row: the two losses plus the defaults that make the row work as published."""

    name: str
    family: str
    d_loss: LossFn
    g_loss: LossFn
    d_text: str
    g_text: str
    penalty: Penalty = "none"
    optimizer: Optimizer = "adam"
    lr: float = 2e-4
    n_critic: int = 1
    betas: tuple[float, float] = (0.5, 0.999)
    reference: str = ""


_GF = "E_P[g_f(v)] - E_Q[f*(g_f(v))]"
OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in [
        Objective("gan-minimax", "original", gan_d, gan_g_minimax, "softplus(-v_r) + softplus(v_f)",
                  "-softplus(v_f)", reference="Goodfellow et al. 2014"),
        Objective("gan-ns", "original", gan_d, gan_g_ns, "softplus(-v_r) + softplus(v_f)", "softplus(-v_f)",
                  reference="Goodfellow et al. 2014"),
        Objective("wgan", "wasserstein", wasserstein_d, wasserstein_g, "v_f - v_r", "-v_f", penalty="clip",
                  optimizer="rmsprop", lr=5e-5, n_critic=5, reference="Arjovsky et al. 2017"),
        Objective("wgan-gp", "wasserstein", wasserstein_d, wasserstein_g, "v_f - v_r", "-v_f", penalty="gp",
                  lr=1e-4, n_critic=5, betas=(0.0, 0.9), reference="Gulrajani et al. 2017"),
        Objective("wgan-div", "wasserstein", wasserstein_d, wasserstein_g, "v_f - v_r", "-v_f", penalty="div",
                  lr=2e-4, n_critic=5, betas=(0.5, 0.999), reference="Wu et al. 2018"),
        *[
            Objective(f"f-{key}", "f-gan", *_fgan(div), f"-({_GF}), f={key}", "-g_f(v_f)",
                      reference="Nowozin et al. 2016")
            for key, div in F_DIVERGENCES.items()
        ],
        Objective("lsgan", "least-squares", lsgan_d, lsgan_g, "(v_r-1)^2/2 + v_f^2/2", "(v_f-1)^2/2",
                  reference="Mao et al. 2017"),
        Objective("hinge", "hinge", hinge_d, wasserstein_g, "relu(1-v_r) + relu(1+v_f)", "-v_f",
                  reference="Lim & Ye 2017"),
        Objective("gan-qp-l1", "gan-qp", qp_d, qp_g, "v_f - v_r + (v_r-v_f)^2/(2 lam mean|x_r-x_f|)", "v_r - v_f",
                  penalty="qp-l1", reference="Su 2018"),
        Objective("gan-qp-l2", "gan-qp", qp_d, qp_g, "v_f - v_r + (v_r-v_f)^2/(2 lam rms(x_r-x_f))", "v_r - v_f",
                  penalty="qp-l2", reference="Su 2018"),
    ]
}


def make_objective(name: str) -> Objective:
    """Return the table row called `name`; unknown names raise InputError listing the valid ones."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise InputError(f"unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}", "--objective") from None
