"""Toy mode-coverage data and metrics (PacGAN / VEEGAN protocol, benchmark G1).

Ring-8: modes at (cos 2pi i/8, sin 2pi i/8), sigma 0.01. Grid-25: modes at
{-4,-2,0,2,4}^2, sigma 0.05 (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).
A sample is high quality if it lies within 3 sigma of its nearest mode; a mode is
captured if it has at least one high-quality sample; reverse KL compares the histogram
of high-quality samples over modes with the uniform distribution.
"""
from __future__ import annotations

import math

import torch

from textgan.common.errors import InputError


def ring_centers(k: int = 8, radius: float = 1.0) -> torch.Tensor:
    a = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return radius * torch.stack([a.cos(), a.sin()], 1).float()  # (k, 2)


def grid_centers(values=(-4.0, -2.0, 0.0, 2.0, 4.0)) -> torch.Tensor:
    v = torch.tensor(values)
    return torch.cartesian_prod(v, v)  # (25, 2)


# name -> (mode centres (K, 2), sigma)
TOY_DATASETS: dict[str, tuple[torch.Tensor, float]] = {
    "ring8": (ring_centers(), 0.01),
    "grid25": (grid_centers(), 0.05),
}


def toy_data(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """n samples (n, 2) of an equal-weight Gaussian mixture from `TOY_DATASETS`."""
    if name not in TOY_DATASETS:
        raise InputError(f"unknown toy dataset {name!r}; valid: {', '.join(TOY_DATASETS)}")
    centers, sigma = TOY_DATASETS[name]
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(centers), (n,), generator=gen)
    return centers[idx] + sigma * torch.randn(n, 2, generator=gen)


def mode_metrics(samples: torch.Tensor, name: str) -> dict[str, float]:
    """{"modes": captured modes, "hq": percent high quality, "rkl": KL(mode histogram || uniform)}."""
    centers, sigma = TOY_DATASETS[name]
    dist = torch.cdist(samples.float(), centers)  # (n, K)
    near, which = dist.min(1)
    hq = near <= 3 * sigma
    counts = torch.bincount(which[hq], minlength=len(centers)).double()  # (K,)
    k = len(centers)
    if counts.sum() == 0:
        rkl = math.log(k)
    else:
        p = counts / counts.sum()
        p = p[p > 0]
        rkl = float((p * (p * k).log()).sum())
    return {"modes": int((counts > 0).sum()), "hq": 100.0 * float(hq.float().mean()), "rkl": rkl}
