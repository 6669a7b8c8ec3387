"""MLP and residual-MLP generator and critic for flat vectors or flattened images.

The generator maps noise (B, noise_dim) to data of shape (B, *shape); its output head
matches the data geometry: `linear` (R^D), `sphere` (projected onto the unit sphere, for
L2-normalised embeddings) or `tanh` (images scaled to [-1, 1]). The critic maps
(B, *shape) to scores (B,).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

Arch = Literal["mlp", "resmlp"]
Head = Literal["linear", "sphere", "tanh"]


class ResBlock(nn.Module):
    """x + W2 act(W1 act(x)): pre-activation residual block of constant width."""

    def __init__(self, width: int, act: type[nn.Module], wrap):
        super().__init__()
        self.body = nn.Sequential(act(), wrap(nn.Linear(width, width)), act(), wrap(nn.Linear(width, width)))

    def forward(self, x):
        return x + self.body(x)


def trunk(d_in: int, d_out: int, width: int, depth: int, arch: Arch, act: type[nn.Module], sn: bool) -> nn.Sequential:
    """`depth` hidden layers (mlp) or residual blocks (resmlp) of `width` units."""
    wrap = _sn if sn else (lambda m: m)
    if arch == "mlp":
        layers, d = [], d_in
        for _ in range(depth):
            layers += [wrap(nn.Linear(d, width)), act()]
            d = width
        return nn.Sequential(*layers, wrap(nn.Linear(d, d_out)))
    blocks = [ResBlock(width, act, wrap) for _ in range(depth)]
    return nn.Sequential(wrap(nn.Linear(d_in, width)), *blocks, act(), wrap(nn.Linear(width, d_out)))


class Generator(nn.Module):
    """z (B, noise_dim) ~ N(0, I) -> x (B, *shape)."""

    def __init__(self, shape: tuple[int, ...], noise_dim: int, width: int, depth: int, arch: Arch = "mlp",
                 head: Head = "linear", spectral_norm: bool = False):
        super().__init__()
        self.shape, self.noise_dim, self.head = tuple(shape), noise_dim, head
        self.net = trunk(noise_dim, math.prod(shape), width, depth, arch, nn.ReLU, spectral_norm)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(z)  # (B, D)
        if self.head == "sphere":
            x = nn.functional.normalize(x, dim=1)
        elif self.head == "tanh":
            x = torch.tanh(x)
        return x.view(z.shape[0], *self.shape)


class FourierFeatures(nn.Module):
    """x (B, D) -> [sin 2pi xW, cos 2pi xW] (B, 2F), W ~ N(0, scale^2) fixed (Tancik et al. 2020).

    A ReLU critic learns fine detail (sigma-0.01 modes) slowly (spectral bias); random
    Fourier features let it resolve small scales from the first step.
    """

    def __init__(self, d_in: int, n_features: int, scale: float, seed: int = 1234):
        super().__init__()
        w = torch.randn(d_in, n_features, generator=torch.Generator().manual_seed(seed)) * scale
        self.register_buffer("w", w)  # (D, F), saved with the weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        proj = 2 * math.pi * x @ self.w  # (B, F)
        return torch.cat([proj.sin(), proj.cos()], 1)


class Critic(nn.Module):
    """x (B, *shape) -> score (B / pack,); LeakyReLU(0.2) keeps gradients alive for the penalties."""

    def __init__(self, shape: tuple[int, ...], width: int, depth: int, arch: Arch = "mlp", spectral_norm: bool = False,
                 fourier: int = 0, fourier_scale: float = 1.0, pack: int = 1):
        super().__init__()
        self.pack = pack  # PacGAN (Lin et al. 2018): the critic judges `pack` samples jointly
        d = math.prod(shape)
        self.features = FourierFeatures(d, fourier, fourier_scale) if fourier else nn.Identity()
        d_in = pack * (d + 2 * fourier if fourier else d)
        self.fourier = fourier
        self.net = trunk(d_in, 1, width, depth, arch, lambda: nn.LeakyReLU(0.2), spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, D)
        if self.fourier:
            x = torch.cat([x, self.features(x)], 1)  # (B, D + 2F)
        if self.pack > 1:
            x = x.reshape(x.shape[0] // self.pack, -1)  # (B / pack, pack * (D + 2F))
        return self.net(x).squeeze(1)
