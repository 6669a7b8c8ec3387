"""textgan: generative text similarity.

`import textgan` is cheap: the workflow API (encode, build_index, search, train_gan,
generate, decode, ...) is loaded on first use, which also keeps leaf modules such as
`textgan.common.errors` importable from `similarity` without an import cycle.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it (filled in as the workflow grows)
_API: dict[str, str] = {
    **{name: "textgan.workflow.core" for name in (
        "encode", "read_corpus", "index_corpus", "search", "train_gan", "train_gan_on_corpus",
        "generate", "decode", "generate_embeddings", "interpolate", "slerp")},
    **{name: "textgan.metrics" for name in ("typical_nn_cosine", "group_coverage")},
    "build_index": "textgan.index.build", "load_index": "textgan.index.build", "VectorIndex": "textgan.index.build",
    "IndexOptions": "textgan.index.options",
    "load_generator": "textgan.gan", "GANConfig": "textgan.gan", "run_demo": "textgan.workflow.demo",
    "score_texts": "textgan.workflow.score",
    "augment": "textgan.workflow.fewshot", "hallucinate": "textgan.workflow.fewshot",
    "classify": "textgan.workflow.semisup", "train_semisup": "textgan.workflow.semisup",
    "InputError": "textgan.common.errors",
}


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'textgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_API))
