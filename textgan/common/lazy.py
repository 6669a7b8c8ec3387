"""Submodules reachable as attributes of their package (`textgan.index.build` after `import
textgan` alone, as the README spells the API) without importing them all up front."""
from __future__ import annotations

import importlib
import pkgutil


def submodule(package: str, path, name: str):
    """`package.name` imported on first use when it is a module of `path`; else AttributeError."""
    if name in {m.name for m in pkgutil.iter_modules(path)}:
        return importlib.import_module(f"{package}.{name}")
    raise AttributeError(f"module {package!r} has no attribute {name!r}")
