"""textgan: generative text similarity.

The public API (encode, build_index, search, train_gan, generate, decode, ...) is loaded on
first use. Why not import it here: the names pull in torch, faiss and the encoders, and every
`textgan` command, `--help` included, imports this package. Measured on the project's 2-core
machine (2026-12-03): `textgan --help` takes 0.14-0.21 s with this lazy table and 2.3-3.0 s
with the names imported directly (`import textgan.workflow.core, ...` alone: 3.2-4.0 s).
There is no import cycle to dodge: `import similarity` works in a fresh process either way.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> (module, the name it has there), where the two differ
_RENAMED: dict[str, tuple[str, str]] = {
    "load_generator": ("textgan.gan", "load"),
    "train_semisup": ("textgan.workflow.kplus1", "train"),
}
# public name -> module that defines it under the same name
_API: dict[str, str] = {
    **{name: "textgan.workflow.core" for name in (
        "encode", "read_corpus", "index_corpus", "search", "generate", "decode", "generate_embeddings",
        "interpolate", "slerp")},
    **{name: "textgan.workflow.gan_train" for name in ("train_gan", "train_gan_on_corpus")},
    **{name: "textgan.metrics" for name in ("typical_nn_cosine", "group_coverage")},
    "build_index": "textgan.index.build", "load_index": "textgan.index.build", "VectorIndex": "textgan.index.build",
    "IndexOptions": "textgan.index.options",
    "GANConfig": "textgan.gan", "run_demo": "textgan.workflow.demo",
    "score_texts": "textgan.workflow.score",
    "augment": "textgan.workflow.fewshot", "hallucinate": "textgan.workflow.fewshot",
    "classify": "textgan.workflow.kplus1",
    "InputError": "textgan.common.errors",
}


# subpackages the README documents as `textgan.<name>`: reachable after `import textgan` alone
_SUBPACKAGES = ("common", "gan", "index", "metrics", "ood", "workflow")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"textgan.{name}")
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in _RENAMED:
        module, attr = _RENAMED[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'textgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_API) + list(_RENAMED) + list(_SUBPACKAGES))
