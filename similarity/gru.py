"""GRU sentence encoder: tokenizer.json -> embedding -> GRU -> pooling -> L2 normalisation.

This file is deliberately self-contained (torch, tokenizers, safetensors, json only):
`similarity.model` copies this very file into every saved GRU model folder as
`encoder.py` (the folder's name for it), where `modules.json` names `encoder.GRUEncoder`, so
`SentenceTransformer(path, trust_remote_code=True)` runs the same code as
`similarity.load(path)`. There is one source of the encoder code, never two.

Padding never changes a sentence's vector: the GRU runs on packed sequences and the
pooling masks padded positions.

The optional lexical part (`lexical_dim` > 0) appends a character n-gram TF-IDF vector to the
GRU's: the 1-`lexical_grams` character grams of each word (sklearn's `char_wb` analyzer; 1-3 for
space-separated text, single characters for Chinese, where a "word" is the whole unsegmented
sentence and its rare 3-grams crowd out the characters paraphrases share), hashed (crc32) into
LEX_BUCKETS rows of an IDF table fitted on the training text, then folded with a hashed sign
into `lexical_dim` columns (feature hashing, Weinberger et al. 2009). Grams never seen in
training keep the highest IDF, which is why this part generalises to groups (and characters)
the GRU never saw. The sentence vector is [sqrt(1 - w) * gru, sqrt(w) * lexical], renormalised:
its cosine is (1 - w) * GRU cosine + w * lexical cosine.
"""
from __future__ import annotations

import functools
import itertools
import json
import math
import os
import unicodedata
import zlib
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

CONFIG_NAME = "encoder_config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"
POOLINGS = ("max", "mean", "last")
QUANTIZE = (None, "int8")  # int8: dynamic quantization of the GRU (weights int8, activations on the fly)
LEX_BUCKETS = 2 ** 20  # rows of the lexical part's IDF table (a 4 MB float32 buffer)
LEX_MAX_CHARS = 2000  # a sentence's lexical grams come from its first characters only


@functools.lru_cache(maxsize=1 << 16)
def _word_grams(word: str, top: int = 3) -> tuple[int, ...]:
    """Buckets of the character 1-`top` grams of " word " (cached: words recur, Zipf's law)."""
    w = f" {word} "
    return tuple(zlib.crc32(w[i:i + n].encode("utf-8")) % LEX_BUCKETS
                 for n in range(1, top + 1) for i in range(max(len(w) - n + 1, 1)))


class GRUEncoder(nn.Module):
    """Embedding -> (bi)GRU -> max/mean/last pooling -> unit vector, with its own tokenizer.

    Also a sentence-transformers module: `preprocess` (tokenize), `forward(features)`,
    `save(path)` and the one-argument `load(path)` that sentence-transformers calls.
    """

    # sentence-transformers' save() writes the first module into the folder itself (as the
    # models this project writes do) and copies this file beside modules.json, where its
    # "encoder.GRUEncoder" is looked up on load; in a subfolder the reload found no encoder.py
    save_in_root = True
    config_keys = ("vocab_size", "embed_dim", "hidden_size", "num_layers", "bidirectional",
                   "pooling", "dropout", "max_length", "pad_id", "unk_id", "quantize", "ngram_buckets",
                   "lexical_dim", "lexical_weight", "lexical_grams", "lexical_nfkc")

    def __init__(self, vocab_size: int, embed_dim: int = 128, hidden_size: int = 128,
                 num_layers: int = 1, bidirectional: bool = True, pooling: str = "max",
                 dropout: float = 0.1, max_length: int = 64, pad_id: int = 0, unk_id: int = 1,
                 tokenizer: Tokenizer | None = None, quantize: str | None = None,
                 ngram_buckets: int = 0, lexical_dim: int = 0, lexical_weight: float = 0.5,
                 lexical_grams: int = 3, lexical_nfkc: bool = False):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if quantize not in QUANTIZE:
            raise ValueError(f"quantize must be one of {QUANTIZE}, got {quantize!r}")
        # as similarity.gru_folder checks them, for SentenceTransformer(path) too: max_length 0
        # encoded every sentence as [UNK], one vector for all
        if not (isinstance(max_length, int) and not isinstance(max_length, bool) and max_length >= 1):
            raise ValueError(f"max_length must be an integer >= 1, got {max_length!r}")
        for name, v in (("pad_id", pad_id), ("unk_id", unk_id)):
            if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < vocab_size):
                raise ValueError(f"{name} must be an integer in [0, vocab_size), got {v!r}")
        # the flag is applied by `quantize_()` once float weights are loaded (see `load`); the
        # folder keeps the float weights, so loading re-quantizes them to the same int8 values
        self.quantize, self._float_state = quantize, None
        self.vocab_size, self.embed_dim, self.hidden_size = vocab_size, embed_dim, hidden_size
        self.num_layers, self.bidirectional, self.pooling = num_layers, bidirectional, pooling
        self.dropout, self.max_length, self.pad_id, self.unk_id = dropout, max_length, pad_id, unk_id
        self.tokenizer = tokenizer
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        # hashed n-gram features (fastText-style subword/word units): the token bigram and trigram
        # ending at each position, hashed from the ids into `ngram_buckets` shared rows and added
        # to the token's embedding; for a character tokenizer these are Chinese words
        self.ngram_buckets = int(ngram_buckets)
        self.ngrams = nn.Embedding(ngram_buckets, embed_dim) if ngram_buckets else None
        if self.ngrams is not None:
            nn.init.normal_(self.ngrams.weight, std=0.1)
        self.lexical_dim, self.lexical_weight = int(lexical_dim), float(lexical_weight)
        if not (isinstance(lexical_grams, int) and not isinstance(lexical_grams, bool) and 1 <= lexical_grams <= 5):
            raise ValueError(f"lexical_grams must be an integer in [1, 5], got {lexical_grams!r}")  # as gru_folder
        self.lexical_grams = lexical_grams  # folders saved before the key have 1-3 grams
        # NFKC before the grams, as the tokenizer does (full-width "？１２３" read as "?123"); folders
        # saved before the key fitted their IDF on the raw text, so they keep it
        if not isinstance(lexical_nfkc, bool):
            raise ValueError(f"lexical_nfkc must be true or false, got {lexical_nfkc!r}")
        self.lexical_nfkc = lexical_nfkc
        if self.lexical_dim:
            # ln((1 + N) / (1 + df)) + 1 per bucket (sklearn's smooth IDF); `fit_lexical` sets it
            self.register_buffer("lexical_idf", torch.ones(LEX_BUCKETS))
        self.gru = nn.GRU(embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                          bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)

    def quantize_(self) -> "GRUEncoder":
        """Int8 dynamic quantization of the GRU in place (inference only: quantized weights take
        no gradients). The float weights are kept for `save`, so a saved quantized model loads
        to exactly these int8 weights."""
        import warnings

        if self._float_state is not None:
            return self
        self._float_state = {k: v.detach().clone() for k, v in self.state_dict().items()}
        holder = nn.Module()
        holder.gru = self.gru
        with warnings.catch_warnings():  # torch.ao's notice that eager quantization moves to torchao
            warnings.simplefilter("ignore")
            self.gru = torch.ao.quantization.quantize_dynamic(holder, {nn.GRU, nn.Linear},
                                                              dtype=torch.qint8).gru
        self.quantize = "int8"
        return self.eval()

    @property
    def gru_dim(self) -> int:
        """Width of the GRU's part of the vector (what the training heads see)."""
        return self.hidden_size * (2 if self.bidirectional else 1)

    @property
    def dim(self) -> int:
        return self.gru_dim + self.lexical_dim

    # --- the lexical part ------------------------------------------------------------
    def text_grams(self, text: str) -> Counter:
        """Counts of the text's hashed character 1-`lexical_grams` grams within space-padded words."""
        grams: Counter = Counter()
        for w in self._lexical_text(text).split():
            grams.update(_word_grams(w, self.lexical_grams))
        return grams

    def _lexical_text(self, text: str) -> str:
        text = text[:LEX_MAX_CHARS]
        return (unicodedata.normalize("NFKC", text) if self.lexical_nfkc else text).lower()

    def fit_lexical(self, texts: list[str]) -> None:
        """The IDF table from the document frequencies of `texts`' grams."""
        df = Counter(b for t in texts for b in self.text_grams(t))
        n = len(texts)
        idf = torch.full((LEX_BUCKETS,), math.log((1 + n) / 1) + 1)
        if df:
            rows = torch.tensor(list(df), dtype=torch.long)
            counts = torch.tensor(list(df.values()), dtype=torch.float64)
            idf[rows] = (torch.log((1 + n) / (1 + counts)) + 1).float()
        self.lexical_idf.copy_(idf)

    def lexical_features(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """lexical_ids (B, L) gram buckets and lexical_tf (B, L) sublinear counts (0: padding).

        Counted in numpy, all rows at once (a Counter per text cost a third of `encode`): the
        (row, bucket) keys of every gram, their unique values (sorted by row) and counts.
        """
        lengths, flat = [], []
        for t in texts:
            g = list(itertools.chain.from_iterable(_word_grams(w, self.lexical_grams)
                                                   for w in self._lexical_text(t).split()))
            lengths.append(len(g))
            flat.extend(g)
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        # np.unique's quicksort ignores that the keys come in row blocks; a stable sort uses them (2x faster)
        keys = np.sort(rows * LEX_BUCKETS + np.fromiter(flat, np.int64, len(flat)), kind="stable")
        first = np.flatnonzero(np.concatenate([keys[:1] == keys[:1], keys[1:] != keys[:-1]]))  # [] stays []
        keys, counts = keys[first], np.diff(np.append(first, len(keys)))
        row, bucket = keys // LEX_BUCKETS, keys % LEX_BUCKETS
        per_row = np.bincount(row, minlength=len(texts))
        col = np.arange(len(keys)) - np.repeat(np.cumsum(per_row) - per_row, per_row)  # place in its row
        width = max(int(per_row.max()) if len(texts) else 0, 1)
        ids = torch.zeros(len(texts), width, dtype=torch.long)
        tf = torch.zeros(len(texts), width)
        at = (torch.from_numpy(row), torch.from_numpy(col))
        ids[at] = torch.from_numpy(bucket)
        tf[at] = 1 + torch.log(torch.from_numpy(counts).float())
        return {"lexical_ids": ids, "lexical_tf": tf}

    def lexical(self, ids: torch.Tensor, tf: torch.Tensor) -> torch.Tensor:
        """(B, L) buckets and counts -> (B, lexical_dim) unit TF-IDF vectors, hashed and signed."""
        sign = 1 - 2 * (((ids * 2654435761) >> 20) & 1)  # a second hash of the bucket
        w = tf * self.lexical_idf[ids] * sign.to(tf.dtype)
        out = torch.zeros(ids.shape[0], self.lexical_dim, dtype=w.dtype, device=w.device)
        out.scatter_add_(1, ids % self.lexical_dim, w)
        return F.normalize(out, p=2, dim=-1)

    def combine(self, gru: torch.Tensor, lexical: torch.Tensor) -> torch.Tensor:
        """[sqrt(1 - w) gru, sqrt(w) lexical], unit length (a text with no gram keeps its GRU part)."""
        w = self.lexical_weight
        return F.normalize(torch.cat([math.sqrt(1 - w) * gru, math.sqrt(w) * lexical.to(gru.dtype)], -1),
                           p=2, dim=-1)

    def get_config_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.config_keys}

    # --- tokenisation --------------------------------------------------------------
    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, truncated to max_length; an empty text becomes [UNK]."""
        # encode_batch_fast (tokenizers >= 0.21) skips the character offsets: the same ids, 20% less time
        batch = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        encs = batch(list(texts), add_special_tokens=False)
        return [e.ids[: self.max_length] or [self.unk_id] for e in encs]

    def pad(self, ids: list[list[int]]) -> dict[str, torch.Tensor]:
        """Right-pad id lists into input_ids (B, T) and attention_mask (B, T)."""
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)  # (B,)
        width = int(lengths.max())
        mask = torch.arange(width)[None, :] < lengths[:, None]  # (B, T)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        # one tensor for all ids, scattered row-major into the unmasked cells (not one per row)
        input_ids[mask] = torch.tensor([i for x in ids for i in x], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": mask.long()}

    def preprocess(self, inputs, prompt: str | None = None, **kwargs) -> dict[str, torch.Tensor]:
        texts = [(prompt or "") + t for t in inputs]
        feats = self.pad(self.token_ids(texts))
        if self.lexical_dim:
            feats.update(self.lexical_features(texts))
        return feats

    def tokenize(self, texts, **kwargs) -> dict[str, torch.Tensor]:
        return self.preprocess(texts)

    # --- forward -------------------------------------------------------------------
    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and mask -> (B, D) L2-normalised sentence vectors."""
        lengths = attention_mask.sum(1).clamp(min=1)  # (B,)
        x = self.embedding(input_ids)  # (B, T, E)
        if self.ngrams is not None:
            x = x + self.ngrams(self.ngram_ids(input_ids, 2)) + self.ngrams(self.ngram_ids(input_ids, 3))
        x = self.drop(x)
        on_cpu = lengths.cpu()  # encode sends batches sorted longest first: no reordering to do (3% of encode)
        packed = nn.utils.rnn.pack_padded_sequence(x, on_cpu, batch_first=True,
                                                   enforce_sorted=bool((on_cpu[:-1] >= on_cpu[1:]).all()))
        out, h_n = self.gru(packed)
        if self.pooling == "last":
            # h_n: (layers * dirs, B, H); the top layer's final states of both directions.
            dirs = 2 if self.bidirectional else 1
            pooled = torch.cat([h_n[-dirs + d] for d in range(dirs)], dim=-1)  # (B, D)
        elif self.pooling == "max":  # padded with -inf, so no mask; amax keeps no indices (8% of encode)
            pooled = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, padding_value=float("-inf"))[0].amax(1)
        else:  # padded with 0: the sum needs no mask
            pooled = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)[0].sum(1) / lengths[:, None].to(x.dtype)
        return F.normalize(self.drop(pooled), p=2, dim=-1)

    def ngram_ids(self, input_ids: torch.Tensor, n: int) -> torch.Tensor:
        """(B, T) bucket of the n ids ending at each position (positions < n-1 hash a shorter
        prefix); a fixed polynomial hash, so saved models need no n-gram vocabulary."""
        h = input_ids.clone()
        for k in range(1, n):
            prev = F.pad(input_ids, (k, 0), value=self.pad_id)[:, : input_ids.shape[1]]
            h = h * 1_000_003 + prev + 1
            h = h % 2_147_483_647  # stays well inside int64 at every step
        return h % self.ngram_buckets

    def forward(self, features: dict) -> dict:
        """The sentence vector (`embed` is the GRU's part alone: what training sees)."""
        features = dict(features)
        emb = self.embed(features["input_ids"], features["attention_mask"])
        if self.lexical_dim:
            emb = self.combine(emb, self.lexical(features["lexical_ids"], features["lexical_tf"]))
        features["sentence_embedding"] = emb
        return features

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    get_embedding_dimension = get_sentence_embedding_dimension

    # --- persistence ---------------------------------------------------------------
    def save(self, output_path: str, *args, **kwargs) -> None:
        os.makedirs(output_path, exist_ok=True)
        with open(os.path.join(output_path, CONFIG_NAME), "w", encoding="utf-8") as fh:
            json.dump(self.get_config_dict(), fh, indent=2)
        state = self._float_state if self._float_state is not None else self.state_dict()
        state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
        save_file(state, os.path.join(output_path, WEIGHTS_NAME))
        # safetensors writes through a private temp file (mode 0600): readable like its neighbours
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(os.path.join(output_path, WEIGHTS_NAME), 0o666 & ~mask)
        self.tokenizer.save(os.path.join(output_path, TOKENIZER_NAME))

    @classmethod
    def load(cls, input_path: str) -> "GRUEncoder":
        _check_digests(input_path)
        config = _read_json(os.path.join(input_path, CONFIG_NAME))
        tokenizer = Tokenizer.from_file(os.path.join(input_path, TOKENIZER_NAME))
        model = cls(**config, tokenizer=tokenizer)
        weights = load_file(os.path.join(input_path, WEIGHTS_NAME))
        if not all(bool(torch.isfinite(v).all()) for v in weights.values() if v.is_floating_point()):
            raise ValueError(f"{os.path.join(input_path, WEIGHTS_NAME)}: weights contain NaN or inf")
        model.load_state_dict(weights)
        return (model.quantize_() if model.quantize else model).eval()


def _read_json(path: str):
    """A JSON file, or a ValueError naming it (nested past the recursion limit, a 5,000-digit integer)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: corrupt JSON ({exc.__class__.__name__})") from None


def _check_digests(folder: str) -> None:
    """The files this module reads, against the sha256 digests the textgan folder recorded
    (similarity_config.json), so `SentenceTransformer(path, trust_remote_code=True)` refuses an
    edited file as `similarity.load` does, and one whose record lost a file's digest. A folder re-saved
    by sentence-transformers has no record."""
    import hashlib

    record = os.path.join(folder, "similarity_config.json")
    if not os.path.isfile(record):
        return
    record = _read_json(record)
    digests = record.get("digests") if isinstance(record, dict) else None
    for name in (CONFIG_NAME, TOKENIZER_NAME, WEIGHTS_NAME):
        if not isinstance(digests, dict) or not isinstance(digests.get(name), str):  # deleting it is no way out
            raise ValueError(f"{os.path.join(folder, 'similarity_config.json')}: {name} has no recorded digest")
        h = hashlib.sha256()
        with open(os.path.join(folder, name), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != digests[name]:
            raise ValueError(f"{os.path.join(folder, name)}: checksum mismatch: the file changed or is corrupt "
                             "since it was saved")
