"""Tampered index folders, shard manifests and every other artefact folder (similarity model, GAN
run, outlier / OpenGAN scorer, K+1 model, the search gate's cached threshold): each is one
InputError (one `error:` line), never a traceback, endless recursion, or a file read outside the
folder; checking cannot be switched off by deleting the digests, and a threshold that is not a
finite number is refused even with its digest recomputed."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from textgan.common.artifacts import folder_digests
from textgan.common.errors import InputError
from textgan.index.build import build_index, load_index
from textgan.index.members import join_indexes


def _unit_rows(n: int) -> np.ndarray:
    """(n, 8) random unit vectors, seed 0."""
    x = np.random.default_rng(0).standard_normal((n, 8)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(a RAM index folder of 60 rows, a sharded index of two RAM members, a shard folder)."""
    from textgan.workflow.encode import finalize, shard_name, write_shard

    root = tmp_path_factory.mktemp("tamper")
    x = _unit_rows(60)
    texts = [f"sentence {i}" for i in range(60)]
    enc = {"fingerprint": "a" * 16, "dim": 8}
    build_index(x[:30], texts[:30], encoder=enc, factory="IVF4,Flat").save(root / "ram")
    build_index(x[30:], texts[30:], encoder=enc).save(root / "ram2")
    join_indexes([root / "ram", root / "ram2"], root / "sharded")
    v = root / "vecs"
    v.mkdir()
    (v / "encode.json").write_text(json.dumps({"fingerprint": "a" * 16, "dim": 8, "shard_size": 30, "corpus": {}}))
    for k in range(2):
        write_shard(v, k, [(t, None) for t in texts[30 * k:30 * k + 30]], x[30 * k:30 * k + 30], "a" * 16)
    assert finalize(v, 2, 60) is not None
    return root


def _edit(folder, key, change, rehash=False):
    meta = json.loads((folder / key).read_text())
    change(meta)
    if rehash:
        meta["digests"] = folder_digests(folder, skip=("meta.json",))
    (folder / key).write_text(json.dumps(meta))


def _set(k, v):
    return lambda m: m.__setitem__(k, v)


def _member(i, v):
    return lambda m: m["members"].__setitem__(i, v)


RAM_CASES = [  # (what, change of meta.json, words of the error)
    ("params a string", _set("params", "nprobe=4"), "'params' must map"),
    ("params a list", _set("params", [4]), "'params' must map"),
    ("params an unknown knob", _set("params", {"warp_speed": 3}), "FAISS refused"),
    ("storage disk on a RAM index", _set("storage", "disk"), "'shards' must hold"),
    ("storage unknown", _set("storage", "cloud"), "unknown storage"),
    ("digests a list", _set("digests", ["index.faiss"]), "'digests' must map"),
    ("digests deleted", lambda m: m.pop("digests"), "records no digests"),
    ("digest outside", lambda m: m["digests"].__setitem__("../../etc/hostname", "0" * 64), "outside the folder"),
    ("one file's digest deleted", lambda m: m["digests"].pop("texts.jsonl"), "texts.jsonl has no recorded digest"),
    ("n a string", _set("n", "30"), "'n' must be an integer"),
    ("version from the future", _set("version", 99), "version 99 is newer"),
    ("version a string", _set("version", "1"), "'version' must be an integer"),
    ("metric l2", _set("metric", "l2"), "is not 'inner_product'"),
    ("factory null", _set("factory", None), "'factory' must be a FAISS factory"),
]


@pytest.mark.parametrize("what,change,words", RAM_CASES, ids=[c[0] for c in RAM_CASES])
def test_tampered_ram_index_meta(built, tmp_path, what, change, words):
    ix = tmp_path / "ix"
    shutil.copytree(built / "ram", ix)
    assert load_index(ix).ntotal == 30
    _edit(ix, "meta.json", change)
    with pytest.raises(InputError, match=words):
        load_index(ix)


def test_an_l2_index_swapped_in_is_refused_with_digests_recomputed(built, tmp_path):
    """Same shape, same meta.json, but distances instead of similarities: every threshold and
    ranking would read upside down."""
    import faiss

    ix = tmp_path / "ix"
    shutil.copytree(built / "ram", ix)
    l2 = faiss.IndexFlatL2(8)
    l2.add(_unit_rows(30))
    faiss.write_index(l2, str(ix / "index.faiss"))
    _edit(ix, "meta.json", lambda m: m.pop("index_bytes"), rehash=True)
    with pytest.raises(InputError, match="index.faiss: FAISS index metric is 1, not inner product"):
        load_index(ix)


def test_non_utf8_texts_are_one_error_even_with_digests_recomputed(built, tmp_path):
    ix = tmp_path / "ix"
    shutil.copytree(built / "ram", ix)
    lines = (ix / "texts.jsonl").read_bytes().splitlines(keepends=True)
    lines[4] = b'{"text": "caf\xe9"}\n'  # Latin-1, not UTF-8
    (ix / "texts.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(InputError, match="texts.jsonl: checksum mismatch"):
        load_index(ix)
    _edit(ix, "meta.json", lambda m: None, rehash=True)
    with pytest.raises(InputError, match="texts.jsonl: corrupt texts file at line 5"):
        load_index(ix)


SHARDED_CASES = [
    ("member '.' (itself: endless recursion)", _member(0, {"path": ".", "n": 30}), "outside the folder"),
    ("member a string", _member(1, "part-00001"), "is not an object"),
    ("member outside the folder", _member(0, {"path": "../../..", "n": 30}), "outside the folder"),
    ("member an absolute path", _member(0, {"path": "/tmp", "n": 30}), "not a relative path"),
    ("members not a list", _set("members", "part-00000"), "lists no members"),
    ("a member's digest deleted", lambda m: m["digests"].pop("part-00001/meta.json"), "no digest of member"),
]


@pytest.mark.parametrize("what,change,words", SHARDED_CASES, ids=[c[0] for c in SHARDED_CASES])
def test_tampered_sharded_index_meta(built, tmp_path, what, change, words):
    ix = tmp_path / "sub" / "deeper" / "ix"
    shutil.copytree(built / "sharded", ix)
    assert load_index(ix).ntotal == 60
    _edit(ix, "meta.json", change)
    with pytest.raises(InputError, match=words):
        load_index(ix)


def test_member_linked_outside_the_folder_is_refused(built, tmp_path):
    ix = tmp_path / "ix"
    shutil.copytree(built / "sharded", ix)
    shutil.rmtree(ix / "part-00001")
    (ix / "part-00001").symlink_to(built / "ram2")  # the same bytes, but served from another folder
    with pytest.raises(InputError, match="outside the folder"):
        load_index(ix)


MANIFEST_CASES = [
    ("no encoder", lambda m: m.pop("encoder"), "no encoder fingerprint"),
    ("encoder a string", _set("encoder", "aaaa"), "no encoder fingerprint"),
    ("shard name outside", lambda m: m["shards"][0].__setitem__("name", "../shard-00000"), "outside the folder"),
    ("sha256 of a file outside", lambda m: m["shards"][0]["sha256"].__setitem__("../../x", "0"), "outside the folder"),
    ("shards a dict", _set("shards", {}), "lists no shards"),
    ("rows not a count", lambda m: m["shards"][1].__setitem__("rows", "30"), "needs a name, a whole number of rows"),
    ("n disagrees with the rows", _set("n", 61), "'n' says 61"),
    ("a newer version", _set("version", 7), "'version' 7 is not a shard format this textgan reads"),
]


@pytest.mark.parametrize("what,change,words", MANIFEST_CASES, ids=[c[0] for c in MANIFEST_CASES])
def test_tampered_shard_manifest(built, tmp_path, what, change, words):
    from textgan.index.shards import open_shards

    v = tmp_path / "v"
    shutil.copytree(built / "vecs", v)
    assert open_shards(v).n == 60
    _edit(v, "manifest.json", change)
    with pytest.raises(InputError, match=words):
        open_shards(v)


MANIFEST_DIGEST_CASES = [
    ("a shard's .npy sha256 deleted", lambda m: m["shards"][0]["sha256"].pop("shard-00000.npy"),
     "records no sha256 of shard-00000.npy"),
    ("a shard's texts sha256 deleted", lambda m: m["shards"][1]["sha256"].pop("shard-00001.texts.jsonl"),
     "records no sha256 of shard-00001.texts.jsonl"),
]


@pytest.mark.parametrize("what,change,words", MANIFEST_DIGEST_CASES, ids=[c[0] for c in MANIFEST_DIGEST_CASES])
def test_a_shard_checksum_cannot_be_deleted(built, tmp_path, what, change, words):
    from textgan.index.shards import open_shards

    v = tmp_path / "v"
    shutil.copytree(built / "vecs", v)
    _edit(v, "manifest.json", change)
    with pytest.raises(InputError, match=words):
        open_shards(v)


# --- every other artefact folder --------------------------------------------------------------

@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """{kind: a small saved folder}: similarity model, GAN run, outlier and OpenGAN scorers, K+1 model."""
    import torch

    from similarity.gru import GRUEncoder
    from similarity.model import SentenceEncoder
    from similarity.tokenization import train_tokenizer
    from textgan.gan import make_kind, train_gan
    from textgan.gan.kplus1 import KPlus1Config
    from textgan.ood.opengan import OpenGANConfig, train_opengan
    from textgan.ood.outlier import OutlierConfig, train_outlier
    from textgan.workflow import kplus1

    root = tmp_path_factory.mktemp("folders")
    x = _unit_rows(64)
    groups = [f"g{i % 4}" for i in range(64)]
    torch.manual_seed(0)
    tok = train_tokenizer(["reset my password", "where is my parcel", "cancel my order"], "word")
    SentenceEncoder(GRUEncoder(tok.get_vocab_size(), 8, 6, tokenizer=tok).eval()).save(root / "similarity")
    small = dict(steps=1, batch_size=16)
    train_gan(x, make_kind("gan").config(**small, width=8, noise_dim=4), root / "gan", progress=False)
    train_outlier(x, OutlierConfig(**small, width=8), groups).save(root / "outlier")
    train_opengan(x, x[:8], OpenGANConfig(**small, width=8, noise_dim=4)).save(root / "opengan")
    kplus1.train(x[:32], groups[:32], x[32:], root / "kplus1", KPlus1Config(**small, width=8, noise_dim=4))
    return root


def _load(kind, path):
    import similarity
    from textgan.gan import load
    from textgan.ood.scoring import load_scorer
    from textgan.workflow.kplus1 import classify_vectors

    if kind == "similarity":
        return similarity.load(path)
    if kind == "kplus1":
        return classify_vectors(path, np.eye(8, dtype=np.float32)[:2])
    return load_scorer(path) if kind in ("outlier", "opengan") else load(path)


# (kind, file holding the digests, their key, a file the loader reads)
HOLDERS = {"similarity": ("similarity_config.json", "digests", "model.safetensors"),
           "gan": ("config.json", "files", "generator.safetensors"),
           "outlier": ("config.json", "files", "classifier.safetensors"),
           "opengan": ("config.json", "files", "discriminator.safetensors"),
           "kplus1": ("config.json", "files", "rejection.json")}
DIGEST_CASES = [  # (what, change of the digests (d: the dict, f: a file the loader reads), words)
    ("digests deleted", None, "records no digests"),
    ("digests a list", lambda d, f: list(d), "must map file names to sha256"),
    ("one file's digest deleted", lambda d, f: {k: v for k, v in d.items() if k != f}, "has no recorded digest"),
    ("a digest outside", lambda d, f: dict(d, **{"../../etc/hostname": "0" * 64}), "lies outside the folder"),
]


@pytest.mark.parametrize("what,change,words", DIGEST_CASES, ids=[c[0] for c in DIGEST_CASES])
@pytest.mark.parametrize("kind", list(HOLDERS))
def test_checking_cannot_be_switched_off(folders, tmp_path, kind, what, change, words):
    holder, key, read = HOLDERS[kind]
    f = tmp_path / kind
    shutil.copytree(folders / kind, f)
    assert (f / read).is_file()
    _load(kind, f)
    info = json.loads((f / holder).read_text())
    if change is None:
        del info[key]
    else:
        info[key] = change(info[key], read)
    (f / holder).write_text(json.dumps(info))
    with pytest.raises(InputError, match=words) as got:
        _load(kind, f)
    assert str(got.value).startswith(str(f))


BAD_THRESHOLDS = [("NaN", float("nan")), ("inf", float("inf")), ("a string", "0.5"), ("missing", None)]


@pytest.mark.parametrize("what,value", BAD_THRESHOLDS, ids=[c[0] for c in BAD_THRESHOLDS])
def test_a_kplus1_threshold_is_checked_even_with_its_digest_recomputed(folders, tmp_path, what, value):
    from textgan.common.artifacts import file_sha256

    f = tmp_path / "k"
    shutil.copytree(folders / "kplus1", f)
    assert np.isfinite(_load("kplus1", f)["threshold"])
    rej = json.loads((f / "rejection.json").read_text())
    rej["threshold"] = value
    (f / "rejection.json").write_text(json.dumps(rej))  # json writes NaN / Infinity
    with pytest.raises(InputError, match="rejection.json: checksum mismatch"):
        _load("kplus1", f)
    from textgan.gan.saved import sealed

    info = json.loads((f / "config.json").read_text())  # the digests recomputed, config.json's own too
    info["files"]["rejection.json"] = file_sha256(f / "rejection.json")
    (f / "config.json").write_text(json.dumps(sealed(info)))
    with pytest.raises(InputError, match=r"rejection.json: 'threshold' must be a finite number"):
        _load("kplus1", f)


GATE_CASES = [("NaN", float("nan"), "must be a finite number"), ("inf", float("inf"), "must be a finite number"),
              ("a cosine above 1", 2.0, "must be a finite number in \\[-1, 1\\]"),
              ("a string", "0.5", "must be a finite number")]


@pytest.mark.parametrize("what,value,words", GATE_CASES, ids=[c[0] for c in GATE_CASES])
def test_the_gate_s_cached_threshold_is_checked(built, tmp_path, what, value, words):
    """A NaN threshold flagged every query out of domain."""
    from textgan.ood.gate import _digest, index_gate

    ix = tmp_path / "ix"
    shutil.copytree(built / "ram", ix)
    idx = load_index(ix)
    fitted = index_gate(idx, ix, method="knn").threshold
    cache = tmp_path / ".ix.gate" / "knn_950.json"
    assert index_gate(idx, ix, method="knn").threshold == fitted  # read back from the cache
    info = json.loads(cache.read_text())
    info["threshold"] = value
    cache.write_text(json.dumps(info))
    with pytest.raises(InputError, match="knn_950.json: checksum mismatch"):
        index_gate(idx, ix, method="knn")
    info["digest"] = _digest({k: info[k] for k in ("index", "method", "tpr", "threshold", "source")})
    cache.write_text(json.dumps(info))
    with pytest.raises(InputError, match=f"knn_950.json: the recorded threshold {words}"):
        index_gate(idx, ix, method="knn")


def test_an_unreadable_gate_cache_is_refitted_with_a_warning(built, tmp_path):
    """A torn or hand-edited cache file once broke every later search ("corrupt JSON")."""
    from textgan.ood.gate import index_gate

    ix = tmp_path / "ix"
    shutil.copytree(built / "ram", ix)
    idx = load_index(ix)
    fitted = index_gate(idx, ix, method="knn").threshold
    cache = tmp_path / ".ix.gate" / "knn_950.json"
    cache.write_text('{"threshold": "abc"')
    with pytest.warns(UserWarning, match="knn_950.json.*refitting the cached threshold"):
        assert index_gate(idx, ix, method="knn").threshold == fitted
    assert json.loads(cache.read_text())["threshold"] == fitted  # rewritten whole


# --- a similarity model's encoder_config.json and tokenizer.json, digests recomputed --------------

def _config(key, value):
    def change(f):
        cfg = json.loads((f / "encoder_config.json").read_text())
        cfg[key] = value
        (f / "encoder_config.json").write_text(json.dumps(cfg))
    return change


def _tokenizer(texts=None):
    def change(f):
        from tokenizers import Tokenizer, models

        from similarity.tokenization import train_tokenizer

        if texts is not None:  # another model's tokenizer: trained on other sentences
            train_tokenizer(texts, "word").save(str(f / "tokenizer.json"))
        else:  # a BPE tokenizer over the same vocabulary: a kind no GRU folder is saved with
            vocab = json.loads((f / "tokenizer.json").read_text())["model"]["vocab"]
            Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]")).save(str(f / "tokenizer.json"))
    return change


ENCODER_CASES = [  # (what, change of the folder, file named, words)
    ("max_length -5", _config("max_length", -5), "encoder_config.json", "max_length must be an integer >= 1, got -5"),
    ("max_length a string", _config("max_length", "64"), "encoder_config.json", "max_length must be an integer"),
    ("bidirectional a number", _config("bidirectional", 1), "encoder_config.json", "bidirectional must be true or"),
    ("pooling unknown", _config("pooling", "median"), "encoder_config.json", "pooling must be one of max, mean, last"),
    ("dropout 1.5", _config("dropout", 1.5), "encoder_config.json", "dropout must be a number in [0, 1)"),
    ("an unknown field", _config("warp", 9), "encoder_config.json", "unknown field(s) warp"),
    ("pad_id past the vocabulary", _config("pad_id", 10 ** 6), "encoder_config.json", "is not below vocab_size"),
    ("embed_dim not the weights'", _config("embed_dim", 9), "encoder_config.json", "does not match the weights"),
    ("vocab_size not the weights'", _config("vocab_size", 10 ** 5), "encoder_config.json", "does not match the weight"),
    ("another model's tokenizer", _tokenizer([f"word{i} other{i} sentence" for i in range(50)]), "tokenizer.json",
     "it is another model's tokenizer"),
    ("an unknown tokenizer kind", _tokenizer(), "tokenizer.json", "unknown tokenizer kind 'BPE'"),
]


@pytest.mark.parametrize("what,change,named,words", ENCODER_CASES, ids=[c[0] for c in ENCODER_CASES])
def test_a_tampered_encoder_folder_is_refused_with_digests_recomputed(folders, tmp_path, what, change, named,
                                                                      words):
    import similarity
    from similarity.model import _fingerprint

    f = tmp_path / "m"
    shutil.copytree(folders / "similarity", f)
    change(f)
    with pytest.raises(InputError, match="checksum mismatch"):
        similarity.load(f)

    def rehash(m):  # what a tamperer who knows the format does: digests and fingerprint recomputed
        m["digests"] = folder_digests(f, skip=("similarity_config.json",))
        m["fingerprint"] = _fingerprint(f)

    _edit(f, "similarity_config.json", rehash)
    with pytest.raises(InputError) as got:
        similarity.load(f)
    assert str(got.value).startswith(f"{f / named}: ") and words in str(got.value)


def test_a_swapped_tokenizer_changes_the_fingerprint(folders, tmp_path):
    """Digests recomputed but not the fingerprint that indexes and generators trust: refused."""
    import similarity

    f = tmp_path / "m"
    shutil.copytree(folders / "similarity", f)
    words = json.loads((f / "tokenizer.json").read_text())["model"]["vocab"]
    _tokenizer(sorted(words))(f)  # the same words, other ids: passes every size check
    _edit(f, "similarity_config.json", lambda m: m.__setitem__("digests", folder_digests(
        f, skip=("similarity_config.json",))))
    with pytest.raises(InputError, match="similarity_config.json: fingerprint .* is not the one of the folder"):
        similarity.load(f)
