"""Reading a saved GRU encoder folder (encoder_config.json + tokenizer.json + model.safetensors),
checked piece by piece.

The folder's digests prove the files are the ones saved, unless someone recomputed them: so the
config's fields are checked for type and range (`max_length: -5` tokenised every sentence to
nothing), and the tokenizer against the weights (another model's tokenizer.json emits ids past
the embedding rows, or ids whose [PAD]/[UNK] are elsewhere). Each refusal is one InputError
naming the file.
"""
from __future__ import annotations

from pathlib import Path

from similarity.gru import CONFIG_NAME, POOLINGS, QUANTIZE, TOKENIZER_NAME, WEIGHTS_NAME, GRUEncoder
from textgan.common.artifacts import load_json, load_tensors
from textgan.common.errors import InputError

# the kinds of tokenizer a GRU folder is saved with (similarity.tokenization, or the teacher's WordPiece)
TOKENIZER_MODELS = ("WordLevel", "WordPiece")


def _int(v, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


# field -> (check, what it must be); the fields of GRUEncoder.config_keys
FIELDS = {
    "vocab_size": (lambda v: _int(v, 2), "an integer >= 2"),
    "embed_dim": (lambda v: _int(v, 1), "an integer >= 1"),
    "hidden_size": (lambda v: _int(v, 1), "an integer >= 1"),
    "num_layers": (lambda v: _int(v, 1), "an integer >= 1"),
    "bidirectional": (lambda v: isinstance(v, bool), "true or false"),
    "pooling": (lambda v: v in POOLINGS, f"one of {', '.join(POOLINGS)}"),
    "dropout": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1, "a number in [0, 1)"),
    "max_length": (lambda v: _int(v, 1), "an integer >= 1"),
    "pad_id": (lambda v: _int(v, 0), "an integer >= 0"),
    "unk_id": (lambda v: _int(v, 0), "an integer >= 0"),
    "quantize": (lambda v: v in QUANTIZE, f"one of {', '.join(str(q).lower() if q is None else q for q in QUANTIZE)}"),
    "ngram_buckets": (lambda v: _int(v, 0), "an integer >= 0"),
    "lexical_dim": (lambda v: _int(v, 0), "an integer >= 0"),
    "lexical_weight": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1,
                       "a number in (0, 1)"),
    "lexical_grams": (lambda v: _int(v, 1) and v <= 5, "an integer in [1, 5]"),
    "lexical_nfkc": (lambda v: isinstance(v, bool), "true or false"),
}


def check_config(config, file: Path) -> dict:
    """encoder_config.json's fields: known names, each of the right type and range."""
    if not isinstance(config, dict):
        raise InputError("not an encoder config (expected a JSON object)", file)
    unknown = sorted(set(config) - set(FIELDS))
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(unknown)}; valid: {', '.join(FIELDS)}", file)
    if "vocab_size" not in config:
        raise InputError("no vocab_size", file)
    for name, value in config.items():
        ok, what = FIELDS[name]
        if not ok(value):
            raise InputError(f"{name} must be {what}, got {value!r:.40}", file)
    for name in ("pad_id", "unk_id"):
        if config.get(name, 0) >= config["vocab_size"]:
            raise InputError(f"{name} {config[name]} is not below vocab_size {config['vocab_size']}", file)
    return config


def check_tokenizer(tokenizer, config: dict, file: Path) -> None:
    """The tokenizer serves these weights: a known kind, every id it emits has an embedding row,
    and its [PAD]/[UNK] tokens sit at the config's ids."""
    import json

    kind = json.loads(tokenizer.to_str()).get("model", {}).get("type")
    if kind not in TOKENIZER_MODELS:
        raise InputError(f"unknown tokenizer kind {kind!r}; valid: {', '.join(TOKENIZER_MODELS)}", file)
    n = tokenizer.get_vocab_size(with_added_tokens=True)
    if n > config["vocab_size"]:
        raise InputError(f"the tokenizer has {n} tokens, the encoder's embedding {config['vocab_size']} rows: "
                         "it is another model's tokenizer", file)
    for name, default in (("pad_id", 0), ("unk_id", 1)):
        token = tokenizer.id_to_token(config.get(name, default))
        if token is None or not (token.startswith("[") and token.endswith("]")):
            raise InputError(f"{name} {config.get(name, default)} is {token!r} in this tokenizer, not a special "
                             "token: it is another model's tokenizer", file)


def check_weights(state: dict, config: dict, file: Path) -> None:
    """The embedding has vocab_size x embed_dim (the config's other sizes are checked by loading)."""
    emb = state.get("embedding.weight")
    want = (config["vocab_size"], config.get("embed_dim", 128))
    if emb is None or tuple(emb.shape) != want:
        got = None if emb is None else tuple(emb.shape)
        raise InputError(f"vocab_size x embed_dim {want[0]} x {want[1]} does not match the weights' embedding "
                         f"{got} in {WEIGHTS_NAME}", file)


def load_gru(path: Path) -> GRUEncoder:
    """A GRU encoder folder; missing, corrupt, inconsistent or NaN-holding files are InputErrors."""
    from tokenizers import Tokenizer

    path = Path(path)
    config = check_config(load_json(path / CONFIG_NAME), path / CONFIG_NAME)
    tok_path = path / TOKENIZER_NAME
    if not tok_path.is_file():
        raise InputError("missing file", tok_path)
    try:
        tokenizer = Tokenizer.from_file(str(tok_path))
    except Exception as exc:
        raise InputError(f"corrupt tokenizer ({str(exc).splitlines()[0][:120]})", tok_path) from None
    check_tokenizer(tokenizer, config, tok_path)
    state = load_tensors(path / WEIGHTS_NAME, floats=True)
    check_weights(state, config, path / CONFIG_NAME)
    try:
        module = GRUEncoder(**config, tokenizer=tokenizer)
        module.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"weights do not match the config ({str(exc).splitlines()[0][:160]})",
                         path / WEIGHTS_NAME) from None
    return (module.quantize_() if module.quantize else module).eval()
