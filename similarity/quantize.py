"""Int8 dynamic quantization of a GRU encoder (`textgan quantize-similarity`, `similarity.quantize`).

`torch.ao.quantization.quantize_dynamic` stores the GRU's weights as int8 and quantizes its
activations on the fly; embedding lookup and pooling stay float. A quantized model folder keeps
the float weights and `"quantize": "int8"` in `encoder_config.json`; `similarity.load` and
`SentenceTransformer(path, trust_remote_code=True)` (the folder's own copy of the encoder
file) both quantize on load, so every loader runs the same int8 weights. What it costs in
quality and buys in speed: bench/similarity.py (`gru-distil-int8`) and the README.
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

from similarity.model import SentenceEncoder, load
from textgan.common.errors import InputError


def quantize(model: str | Path | SentenceEncoder) -> SentenceEncoder:
    """A quantized copy of a GRU encoder (a model folder or a loaded `SentenceEncoder`); the
    original is left as it was. Transformer backbones are refused (InputError)."""
    enc = load(model)
    if enc.backbone != "gru":
        raise InputError("int8 quantization applies to GRU encoders; this model is "
                         f"{enc.backbone}", model if isinstance(model, (str, Path)) else None)
    module = copy.deepcopy(enc.module)
    if module._float_state is None:
        module.quantize_()
    else:
        warnings.warn("the model is already int8: its copy is the same model", stacklevel=2)
    info = {k: v for k, v in enc.info.items() if k not in ("digests", "fingerprint")}
    out = SentenceEncoder(module, "gru", info, enc.prototypes)
    # the float model's held-out vectors: `index`/`score` fit their thresholds on them (int8 moves
    # a vector by a cosine of ~4e-4 at most, far inside a threshold's spread, and inside
    # SAME_SENTENCE_COSINE, which finds them among index rows); without them the copy would
    # calibrate on its training rows and say the model never kept any
    out.heldout, out.trained = enc.heldout, enc.trained
    return out


def quantize_folder(src: str | Path, out: str | Path) -> Path:
    """Write a quantized copy of the model folder `src` to `out` (atomically)."""
    return quantize(src).save(out)
