"""A trained GAN as a folder: `config.json` + `generator[_ema].safetensors` + `critic.safetensors`.

`load_generator(dir).sample(n, seed)` gives (n, D) vectors (or (n, *shape) with
`flat=False`) from the EMA weights when present, without touching the global RNG.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from textgan.artifacts import load_json, load_tensors, save_json, save_tensors
from textgan.errors import InputError
from textgan.gan.config import GANConfig
from textgan.gan.nets import Critic, Generator

FORMAT = "textgan-gan/1"


def build_networks(config: GANConfig, shape: tuple[int, ...]) -> tuple[Generator, Critic]:
    g = Generator(shape, config.noise_dim, config.width, config.depth, config.arch, config.head)
    d = Critic(shape, config.width, config.depth, config.arch, config.spectral_norm, config.critic_fourier,
               config.critic_fourier_scale, config.pack)
    return g, d


def save_gan(out: Path, config: GANConfig, shape, g: Generator, d: Critic, g_ema: Generator | None,
             meta: dict | None, steps_done: int) -> None:
    """Write the model files into `out` (each file atomically)."""
    save_tensors(g.state_dict(), out / "generator.safetensors")
    save_tensors(d.state_dict(), out / "critic.safetensors")
    if g_ema is not None:
        save_tensors(g_ema.state_dict(), out / "generator_ema.safetensors")
    save_json({"format": FORMAT, "config": config.to_dict(), "shape": list(shape), "dim": math.prod(shape),
               "steps_done": steps_done, "meta": meta or {}}, out / "config.json")


@dataclass
class SavedGenerator:
    """A loaded generator: `.sample(n, seed)`, `.dim`, `.shape`, `.config`, `.meta`."""

    net: Generator
    config: GANConfig
    shape: tuple[int, ...]
    meta: dict
    uses_ema: bool

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, flat: bool = True, batch: int = 8192) -> torch.Tensor:
        """Args: n: number of samples; seed: private RNG seed (None: fresh); flat: (n, D) or (n, *shape)."""
        if n < 0:
            raise InputError(f"n must be >= 0, got {n}")
        gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
        self.net.eval()
        out = [self.net(torch.randn(min(batch, n - i), self.config.noise_dim, generator=gen))
               for i in range(0, n, batch)]
        x = torch.cat(out) if out else torch.empty(0, *self.shape)
        return x.reshape(n, -1) if flat else x


def _read_config(path: Path) -> dict:
    info = load_json(path / "config.json")
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError("not a textgan GAN folder (config.json has no textgan-gan format)", path)
    return info


def load_generator(path: str | Path, ema: bool = True) -> SavedGenerator:
    """Args: path: folder written by `train_gan`; ema: prefer EMA weights when saved."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("not a folder (expected a trained GAN folder)", path)
    info = _read_config(path)
    if info.get("kind", "gan") != "gan":  # meg / ebm-langevin / ogan / conditional have their own loaders
        from textgan.gan.kinds import load_model

        return load_model(path)
    config, shape = GANConfig.from_dict(info["config"]), tuple(info["shape"])
    g, _ = build_networks(config, shape)
    wfile = path / "generator_ema.safetensors"
    use_ema = ema and wfile.is_file()
    wfile = wfile if use_ema else path / "generator.safetensors"
    try:
        g.load_state_dict(load_tensors(wfile))
    except RuntimeError as exc:
        raise InputError(f"weights do not match config.json ({str(exc).splitlines()[0][:200]})", wfile) from None
    return SavedGenerator(g, config, shape, info.get("meta", {}), use_ema)


def load_critic(path: str | Path) -> tuple[Critic, GANConfig]:
    """The trained critic: scores (B, *shape) -> (B,)."""
    path = Path(path)
    info = _read_config(path)
    config = GANConfig.from_dict(info["config"])
    _, d = build_networks(config, tuple(info["shape"]))
    try:
        d.load_state_dict(load_tensors(path / "critic.safetensors"))
    except RuntimeError as exc:
        raise InputError(f"weights do not match config.json ({str(exc).splitlines()[0][:200]})", path) from None
    return d.eval(), config
