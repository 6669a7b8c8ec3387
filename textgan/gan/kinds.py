"""Model kinds beyond the core GAN, by name: trainers for the benches and loaders by `kind`.

Every folder written by these trainers has the core's `config.json` format plus a `kind`
field; the core GAN has none (read as "gan"). `load_model(dir)` dispatches on it, so one
call loads any of them; each loaded object has `.sample(n, seed=None)` (conditional GANs
also need `group=`), `.dim`, `.meta` and `.kind`.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from textgan.artifacts import load_json
from textgan.errors import InputError

# name -> "module:function"; imported on use so this table is cheap to read
_TRAINERS = {
    "meg": "textgan.gan.energy:train_meg",
    "ebm-langevin": "textgan.gan.langevin:train_ebm",
    "ogan": "textgan.gan.ogan:train_ogan",
}
_LOADERS = {
    "meg": "textgan.gan.energy:load_meg",
    "ebm-langevin": "textgan.gan.langevin:load_ebm",
    "ogan": "textgan.gan.ogan:load_ogan",
    "conditional": "textgan.gan.conditional:load_conditional",
}
ENERGY_KINDS = ("meg", "ebm-langevin")  # kinds with `.energy(x)`


def _resolve(spec: str):
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


class _Lazy(dict):
    """A dict of name -> function whose values are imported on first access."""

    def __getitem__(self, key):
        return _resolve(dict.__getitem__(self, key))

    def get(self, key, default=None):
        return self[key] if key in self else default

    def items(self):
        return [(k, self[k]) for k in self]

    def values(self):
        return [self[k] for k in self]


# `train(data, config, out_dir, meta=None, progress=True) -> Path`; config: own dataclass or a GANConfig
ENERGY_TRAINERS: dict = _Lazy(_TRAINERS)
KIND_LOADERS: dict = _Lazy(_LOADERS)


def make_trainer(name: str):
    """The trainer called `name`; unknown names raise InputError listing the valid ones."""
    if name not in ENERGY_TRAINERS:
        raise InputError(f"unknown model {name!r}; valid: {', '.join(ENERGY_TRAINERS)}")
    return ENERGY_TRAINERS[name]


def model_kind(path: str | Path) -> str:
    """The `kind` of a saved model folder ("gan" for the core GAN)."""
    info = load_json(Path(path) / "config.json")
    return info.get("kind", "gan") if isinstance(info, dict) else "gan"


def load_model(path: str | Path):
    """Load any saved generator / energy model folder, dispatching on its `kind`."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("not a folder (expected a trained model folder)", path)
    kind = model_kind(path)
    if kind == "gan":
        from textgan.gan.saved import load_generator

        return load_generator(path)
    if kind not in KIND_LOADERS:
        raise InputError(f"unknown model kind {kind!r}; valid: gan, {', '.join(KIND_LOADERS)}", path)
    return KIND_LOADERS[kind](path)
