"""Critic regularisers that need the network or the samples, kept apart from the losses.

Each `penalty(critic, real, fake, v_real, v_fake, weight)` returns a scalar added to the
critic loss; `real`/`fake` are (B, ...) batches, `v_*` the critic scores (B,). Weight
clipping is not a loss term: `clip_weights` runs after each critic step.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from textgan.common.errors import InputError

Tensor = torch.Tensor


def _grad_norms(critic: nn.Module, x: Tensor) -> Tensor:
    """Per-input gradient norm ||d critic / d x||_2 over all non-batch dims: (S,).

    S = B, or B / pack for a packed critic (one score per pack of samples).
    """
    x = x.detach().requires_grad_(True)
    v = critic(x)  # (S,)
    (g,) = torch.autograd.grad(v.sum(), x, create_graph=True)
    return g.reshape(v.shape[0], -1).norm(dim=1)


def gradient_penalty(critic, real, fake, v_real, v_fake, weight: float = 10.0) -> Tensor:
    """WGAN-GP: lam E[(||grad D(x_hat)|| - 1)^2] at per-sample interpolates (Gulrajani et al. 2017)."""
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), dtype=real.dtype)  # (B, 1, ...)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    return weight * ((_grad_norms(critic, x_hat) - 1) ** 2).mean()


def div_penalty(critic, real, fake, v_real, v_fake, weight: float = 2.0, p: float = 6.0) -> Tensor:
    """WGAN-div: k E[||grad D||^p] at real and fake points, k=2, p=6 (Wu et al. 2018, arXiv:1712.01026)."""
    norms = torch.cat([_grad_norms(critic, real), _grad_norms(critic, fake)])  # (2B,)
    return weight * (norms**p).mean()


def r1_penalty(critic, real, fake, v_real, v_fake, weight: float = 10.0) -> Tensor:
    """R1: (gamma/2) E_real[||grad D(x)||^2] (Mescheder et al. 2018, arXiv:1801.04406)."""
    return 0.5 * weight * (_grad_norms(critic, real) ** 2).mean()


def _qp(order: int):
    def qp_penalty(critic, real, fake, v_real, v_fake, weight: float = 10.0) -> Tensor:
        """GAN-QP quadratic term E[(T_r - T_f)^2 / (2 lam d(x_r, x_f))] (Su 2018, arXiv:1811.07296).

        d is the per-dimension *mean* distance, as in Su's reference code: mean |dx| (L1) or
        sqrt(mean dx^2) (L2). The raw norm would be D (or sqrt D) times larger and so make the
        penalty that much weaker than the lam = 10 it was tuned with.
        """
        diff = (real - fake).detach().reshape(v_real.shape[0], -1)  # (S, D)
        d = diff.abs().mean(1) if order == 1 else diff.pow(2).mean(1).sqrt()  # (S,)
        return ((v_real - v_fake) ** 2 / (2 * weight * d.clamp_min(1e-8))).mean()

    return qp_penalty


def no_penalty(critic, real, fake, v_real, v_fake, weight: float = 0.0) -> Tensor:
    return v_real.new_zeros(())


PENALTIES: dict[str, Callable[..., Tensor]] = {
    "none": no_penalty,
    "clip": no_penalty,  # applied as clip_weights after the optimiser step
    "gp": gradient_penalty,
    "div": div_penalty,
    "r1": r1_penalty,
    "qp-l1": _qp(1),
    "qp-l2": _qp(2),
}
# published weight of each penalty (clip: the clipping bound c)
DEFAULT_WEIGHTS: dict[str, float] = {"none": 0.0, "clip": 0.01, "gp": 10.0, "div": 2.0, "r1": 10.0,
                                     "qp-l1": 10.0, "qp-l2": 10.0}


def make_penalty(name: str) -> Callable[..., Tensor]:
    try:
        return PENALTIES[name]
    except KeyError:
        raise InputError(f"unknown penalty {name!r}; valid: {', '.join(PENALTIES)}") from None


@torch.no_grad()
def clip_weights(critic: nn.Module, c: float = 0.01) -> None:
    """Clamp every critic parameter to [-c, c] (Arjovsky et al. 2017, Algorithm 1)."""
    for p in critic.parameters():
        p.clamp_(-c, c)
