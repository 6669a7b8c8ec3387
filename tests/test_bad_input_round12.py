"""Inputs of the twelfth sweep: score and search judging one index two ways, options a command
read without using, group cells that became a group named "", labels 1 and "1" that merged, text
a word model cannot read, an IVF index that finds fewer neighbours than asked, and bars, caches
and pair files that said nothing of what they did."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import FAQ, ROOT, assert_one_line_error

COCO = ROOT.parent / "shared" / "data" / "coco_captions" / "captions_val2017.json"


@pytest.mark.skipif(not COCO.is_file(), reason="../shared/data/coco_captions not present")
def test_score_on_an_index_of_another_domain_fits_as_search_does(faq, tmp_path):
    """An FAQ model scoring against a caption index: `search` calibrated on the index rows, while
    `score` fitted on the FAQ held-out sentences (4% of them pass) and kept password questions in."""
    from textgan.workflow.core import index_corpus, search
    from textgan.workflow.score import score_texts

    caps = [a["caption"].strip().replace("\n", " ") for a in json.loads(COCO.read_text())["annotations"][:400]]
    (tmp_path / "coco.txt").write_text("\n".join(caps) + "\n", encoding="utf-8")
    model = faq[0]
    index_corpus(model, tmp_path / "coco.txt", tmp_path / "ix", progress=False)
    queries = ["how do i reset my password", "where is my parcel", "A man riding a horse on a beach."]
    res = score_texts(model, queries, index=tmp_path / "ix")
    assert "not of this index's domain" in res["threshold_source"]
    gated = search(tmp_path / "ix", queries, k=1, gate=True)
    assert res["in_domain"] == [g["in_domain"] for g in gated] == [False, False, True]


@pytest.mark.parametrize("args", [["--method", "energy-head"], ["--method", "flow", "--gan", "g"]],
                         ids=["energy-head", "flow"])
def test_score_refuses_an_index_its_method_does_not_read(tmp_path, cli_main, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.txt").write_text("hello there\n")
    code, _, err = cli_main("score", "model", "q.txt", "--index", "index", *args)
    assert_one_line_error(code, err, "--index: gives the corpus", f"--method {args[1]}")


def _blank_group(tmp_path) -> Path:
    rows = FAQ.read_text(encoding="utf-8").splitlines()
    text = rows[5].rsplit(",", 1)[0]
    rows[5] = f"{text},"
    (tmp_path / "blank.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return tmp_path / "blank.csv"


def test_a_blank_group_cell_is_refused_by_every_reader(tmp_path):
    """index, train-gan, train-kplus1 and train-outlier made it a group named ""."""
    from textgan.common.errors import InputError
    from textgan.workflow.core import read_corpus
    from textgan.workflow.rows import stream_rows

    path = _blank_group(tmp_path)
    with pytest.raises(InputError, match="row 5: empty value in column 'group'"):
        read_corpus(path, "text", "group")
    with pytest.raises(InputError, match="row 5: empty value in column 'group'"):
        list(stream_rows(path, "text", "group"))
    (tmp_path / "null.jsonl").write_text('{"text": "a b", "group": "x"}\n{"text": "c d", "group": null}\n')
    with pytest.raises(InputError, match="row 2: empty value in column 'group'"):
        read_corpus(tmp_path / "null.jsonl", "text", "group")


def test_labels_1_and_quoted_1_in_json_data_are_refused(tmp_path):
    import similarity
    from textgan.common.errors import InputError
    from textgan.workflow.core import read_corpus

    rows = [{"text": f"sentence {i}", "group": g} for i, g in enumerate([1, 1, "1", "1", "b", "b"])]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for read in (lambda: similarity.load_groups(tmp_path / "d.jsonl"),
                 lambda: read_corpus(tmp_path / "d.jsonl", "text", "group")):
        with pytest.raises(InputError, match=r"rows 1 and 3 hold 1 as a number and as a string"):
            read()
    (tmp_path / "s.json").write_text(json.dumps({"train": [[r["text"], r["group"]] for r in rows]}))
    with pytest.raises(InputError, match=r"split 'train': labels: rows 1 and 3"):
        similarity.load_groups(f"{tmp_path / 's.json'}:train")
    rows[2]["group"] = rows[3]["group"] = 2  # numbers alone (or strings alone) are fine
    (tmp_path / "ok.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert sorted(set(similarity.load_groups(tmp_path / "ok.jsonl")[1])) == ["1", "2", "b"]


@pytest.fixture(scope="module")
def word_model(tmp_path_factory):
    """A tiny English word-tokenizer GRU (no teacher): Chinese text is [UNK] to it."""
    import similarity

    texts, groups = similarity.load_groups(FAQ)
    cfg = similarity.TrainConfig(teacher="none", epochs=1, hidden_size=8, embed_dim=8, seed=0)
    return similarity.train(cfg, texts, groups, tmp_path_factory.mktemp("w") / "run", progress=False)


def test_text_a_word_model_cannot_read_is_warned_in_encode_and_search(word_model, tmp_path, cli_main):
    zh = ROOT / "data" / "faq_zh.csv"
    code, _, err = cli_main("encode", word_model, zh, "--text-col", "text", "--out", tmp_path / "v.npy")
    assert code == 0 and "of the sentences' tokens are unknown to the model's vocabulary" in err, err
    code, _, err = cli_main("index", word_model, FAQ, "--text-col", "text", "--out", tmp_path / "ix", "--no-progress")
    assert code == 0 and "unknown" not in err, err
    code, _, err = cli_main("search", tmp_path / "ix", "忘记密码了怎么办")
    assert code == 0 and "queries: 100% of the sentences' tokens are unknown" in err, err


def test_index_of_a_shard_folder_refuses_text_col(faq, tmp_path, cli_main):
    code, _, err = cli_main("encode", faq[0], ROOT / "data" / "queries.txt", "--shard-size", "5", "--out", tmp_path / "s")
    assert code == 0, err
    code, _, err = cli_main("index", faq[0], tmp_path / "s", "--text-col", "nope", "--out", tmp_path / "ix")
    assert_one_line_error(code, err, "--text-col: the corpus is a shard folder")
    assert not (tmp_path / "ix").exists()


def test_model2vec_bar_follows_the_run(monkeypatch):
    """model2vec's own "Encoding tokens" bar ignored --no-progress and a piped stderr."""
    pytest.importorskip("model2vec")
    import model2vec.distill as m2v
    from model2vec.distill import inference

    from similarity.static_init import _distil
    from similarity.teacher import resolve_teacher

    teacher = resolve_teacher("minilm")
    if teacher is None:
        pytest.skip("all-MiniLM-L6-v2 not installed")
    seen = []

    class Fake:
        embedding = np.ones((1, 4), np.float32)

        class tokenizer:  # noqa: N801 (model2vec's attribute name)
            @staticmethod
            def get_vocab():
                return {"password": 0}

    def fake_distill(**kwargs):
        seen.append(inference.tqdm(range(1)).disable)
        return Fake()

    monkeypatch.setattr(m2v, "distill", fake_distill)
    bar = inference.tqdm
    for progress in (False, True):
        teacher.progress = progress
        ids, vecs = _distil(teacher)
        assert vecs.shape == (1, 4)
    assert seen == [True, False]
    assert inference.tqdm is bar  # restored after each call


def test_a_teacher_cache_that_is_a_file_is_refused(tmp_path, cli_main, monkeypatch):
    from similarity.teacher import default_cache_dir
    from textgan.common.errors import InputError

    (tmp_path / "afile").write_text("x")
    code, _, err = cli_main("train-similarity", FAQ, "--teacher-cache", tmp_path / "afile", "--epochs", "1",
                            "--out", tmp_path / "o")
    assert_one_line_error(code, err, "--teacher-cache must be a folder, and it is a file")
    assert not (tmp_path / "o").exists()
    monkeypatch.setenv("TEXTGAN_CACHE_DIR", str(tmp_path / "afile"))
    with pytest.raises(InputError, match=r"\$TEXTGAN_CACHE_DIR must be a folder"):
        default_cache_dir()


def test_a_handful_of_pairs_is_warned_as_noise():
    from similarity.pairs import FEW_PAIRS, pair_scores

    with pytest.warns(UserWarning, match="only 2 pairs: their figures are noise-sized"):
        assert pair_scores([1.0, 0.0], None, "label", "p.tsv") == [1.0, 0.0]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pair_scores([i / FEW_PAIRS for i in range(FEW_PAIRS)], None, "score", "p.tsv")


def test_kplus1_drops_unlabelled_sentences_that_are_labelled(faq, tmp_path, cli_main):
    lines = FAQ.read_text(encoding="utf-8").splitlines()
    (tmp_path / "unl.txt").write_text("\n".join(r.rsplit(",", 1)[0].strip('"') for r in lines[1:41]) + "\n"
                                      + "a sentence nobody labelled\nanother new one\n", encoding="utf-8")
    code, _, err = cli_main("train-kplus1", faq[0], FAQ, "--unlabeled", FAQ, "--steps", "2", "--out", tmp_path / "a")
    assert_one_line_error(code, err, "--unlabeled: all 528 unlabelled sentences are labelled sentences too")
    code, _, err = cli_main("train-kplus1", faq[0], FAQ, "--unlabeled", tmp_path / "unl.txt", "--steps", "2",
                            "--batch-size", "16", "--out", tmp_path / "b")
    assert code == 0, err
    assert "dropped 40 sentence(s) that are also labelled sentences; 2 kept" in err
    assert json.loads((tmp_path / "b" / "config.json").read_text())["meta"]["unlabelled"] == 2


class _ShortIndex:
    """An IVF-like index: the second query finds one neighbour, the rest padded with -1 / -inf."""

    ntotal, dim, groups = 3, 2, None
    texts = ["a", "b", "c"]

    def search(self, v, k):
        scores = np.array([[0.9, 0.8], [0.7, -np.inf]], np.float32)[:, :k]
        ids = np.array([[0, 1], [2, -1]], np.int64)[:, :k]
        return scores, ids


def test_missing_ivf_neighbours_are_left_out_and_said():
    from textgan.ood.scoring import knn_score
    from textgan.workflow.core import neighbours

    with pytest.warns(UserWarning, match="fewer than k=2 neighbours for 1 of 2 vectors"):
        s = knn_score(np.ones((2, 2), np.float32), _ShortIndex(), k=2)
    assert np.allclose(s, [0.85, 0.7])  # the -inf pad no longer made the mean -inf
    with pytest.warns(UserWarning, match="fewer than k=2 neighbours for 1 of 2 queries"):
        hits = neighbours(_ShortIndex(), np.ones((2, 2), np.float32), 2)
    assert [len(h) for h in hits] == [2, 1]


@pytest.mark.parametrize("field,flag", [("hidden_size", "--hidden"), ("num_layers", "--layers"),
                                        ("tokenizer", "--tokenizer"), ("pooling", "--pooling"),
                                        ("ngram_buckets", "--ngram-buckets"), ("embed_init", "--embed-init")])
def test_a_transformer_backbone_refuses_gru_options(field, flag):
    import similarity
    from textgan.common.errors import InputError

    value = {"hidden_size": 64, "num_layers": 2, "tokenizer": "char", "pooling": "last", "ngram_buckets": 100,
             "embed_init": "random"}[field]
    with pytest.raises(InputError, match=f"{flag} sets a part of the GRU encoder; --backbone minilm"):
        similarity.TrainConfig(backbone="minilm", **{field: value}).resolved()
    assert similarity.TrainConfig(backbone="minilm").resolved().backbone == "minilm"
